import {
  type BackupHistoryItem,
  type BackupRecordJson,
  describeOffsiteCopies,
  formatDuration,
  formatInstant,
  shortSha256,
} from '../../lib/web/index.ts';
import { formatBytes } from '../../lib/shared/index.ts';
import { CopyButton } from './copy-button.tsx';
import { StatusBadge } from './status-badge.tsx';

const TRIGGER_WORDS: Record<string, string> = { SCHEDULE: 'schedule', AGENT: 'agent', MANUAL: 'manual', API: 'API' };

/**
 * A deployment's backups, newest first: one row per attempt, the failure's reason on failed ones, the off-site copies
 * of good ones (`offsiteEnabled`: a destination is configured) and a marker on pinned ones.
 */
export function BackupHistoryTable({ items, offsiteEnabled }: { items: BackupHistoryItem[]; offsiteEnabled: boolean }) {
  return (
    <div className="table-scroll">
      <table>
        <thead>
          <tr>
            <th>Status</th>
            <th>Trigger</th>
            <th>Started</th>
            <th>Duration</th>
            <th className="number">Size</th>
            <th>sha256</th>
            <th>Format check</th>
            <th>Off-site</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={item.id} data-backup-id={item.id} data-status={item.status}>
              <td className="nowrap">
                <StatusBadge status={item.status} />
                {item.pinned ? (
                  <span className="pin" data-pinned title="Pinned: retention never prunes this backup">
                    📌 pinned
                  </span>
                ) : null}
              </td>
              <td>{TRIGGER_WORDS[item.trigger] ?? item.trigger}</td>
              <td className="nowrap">{formatInstant(item.startedAt, { seconds: true })}</td>
              <td className="nowrap">{item.status === 'RUNNING' ? 'running…' : formatDuration(item.durationMs)}</td>
              <td className="number">{item.sizeBytes === null ? '—' : formatBytes(BigInt(item.sizeBytes))}</td>
              <td className="nowrap">
                {item.sha256 ? (
                  <>
                    <code title={item.sha256}>{shortSha256(item.sha256)}</code>
                    <CopyButton
                      value={item.sha256}
                      label={`Copy the sha256 of the backup started ${formatInstant(item.startedAt, { seconds: true })}`}
                    />
                  </>
                ) : (
                  '—'
                )}
              </td>
              <td>
                <VerificationState item={item} />
              </td>
              <td>
                <OffsiteCopies item={item} offsiteEnabled={offsiteEnabled} />
              </td>
              <td>
                <BackupDetails item={item} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The format check's result beside the status: it never changes the status, but a failed check means trouble. */
function VerificationState({ item }: { item: BackupRecordJson }) {
  if (item.status !== 'SUCCEEDED') return <span className="muted">—</span>;
  if (item.verifyMethod && item.verifiedAt) {
    return (
      <span
        className="nowrap"
        style={{ color: 'var(--ok)' }}
        data-verify="verified"
        title={`${item.verifyMethod}, ${formatInstant(item.verifiedAt, { seconds: true })}`}
      >
        ✓ verified
      </span>
    );
  }
  if (item.verifyMethod) {
    return (
      <span className="error-text" data-verify="error">
        <strong>✗ verify error ({item.verifyMethod}): </strong>
        {item.verifyError ?? 'the check failed without a recorded reason'}
      </span>
    );
  }
  return (
    <span className="muted" data-verify="unchecked">
      not checked
    </span>
  );
}

/** One line per destination: ✓ uploaded, pending (with the next attempt), or ✗ failed with the reason as its title. */
function OffsiteCopies({ item, offsiteEnabled }: { item: BackupHistoryItem; offsiteEnabled: boolean }) {
  const lines = describeOffsiteCopies(item, offsiteEnabled);
  if (lines.length === 0) return <span className="muted">—</span>;
  return (
    <ul className="offsite">
      {lines.map((line) => (
        <li key={line.text} className={`offsite-${line.tone}`} data-offsite={line.tone} title={line.detail}>
          {line.text}
        </li>
      ))}
    </ul>
  );
}

function BackupDetails({ item }: { item: BackupRecordJson }) {
  if (item.status === 'FAILED') {
    return (
      <span className="error-text">
        {item.errorKind ? <strong>{item.errorKind}: </strong> : null}
        {item.error ?? 'failed without a recorded reason'}
      </span>
    );
  }
  if (item.status === 'SUCCEEDED' && item.fileName) {
    return (
      <a href={`/api/backups/${item.id}/download`} download={item.fileName} title={item.fileName}>
        Download
      </a>
    );
  }
  return <span className="muted">{item.status === 'RUNNING' ? 'dumping the database…' : '—'}</span>;
}
