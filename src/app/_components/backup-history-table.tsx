import {
  type BackupHistoryItem,
  type BackupRecordJson,
  describeOffsiteCopies,
  describeProgress,
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
export function BackupHistoryTable({
  items,
  offsiteEnabled,
  queued = null,
  now = new Date(),
}: {
  items: BackupHistoryItem[];
  offsiteEnabled: boolean;
  /** A backup asked for and waiting for a worker (it has no record yet). */
  queued?: { jobId: string; since: string } | null;
  now?: Date;
}) {
  // A running backup's bar fills towards the size of the previous successful one (raw bytes, as progress counts).
  const previous = items.find((item) => item.status === 'SUCCEEDED' && item.progressBytes !== null);
  const expectedBytes = previous?.progressBytes ? BigInt(previous.progressBytes) : null;
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
          {queued ? (
            <tr data-job-id={queued.jobId} data-status="QUEUED">
              <td className="nowrap">
                <StatusBadge status="QUEUED" />
              </td>
              <td>API</td>
              <td className="nowrap">{formatInstant(queued.since, { seconds: true })}</td>
              <td colSpan={6} className="muted">
                waiting for a worker to take it
              </td>
            </tr>
          ) : null}
          {items.map((item) => (
            <tr key={item.id} data-backup-id={item.id} data-status={item.status}>
              <td className="nowrap">
                <StatusBadge status={item.status} />
                {item.pinned ? (
                  <span className="pin" data-pinned title="Pinned: retention never prunes this backup">
                    📌 pinned
                  </span>
                ) : null}
                {item.suspicious ? (
                  <span className="suspicious" data-suspicious title={item.suspiciousReason ?? undefined}>
                    ⚠ suspicious
                  </span>
                ) : null}
                {item.encryptedTo.length > 0 ? (
                  <span
                    className="encrypted"
                    data-encrypted={item.encryptedTo.join(' ')}
                    title={`Encrypted (age) to ${item.encryptedTo.join(', ')}: restoring it needs the identity of one of them`}
                  >
                    🔒 encrypted
                  </span>
                ) : null}
              </td>
              <td>{TRIGGER_WORDS[item.trigger] ?? item.trigger}</td>
              <td className="nowrap">{formatInstant(item.startedAt, { seconds: true })}</td>
              <td className="nowrap">
                {item.status === 'RUNNING' ? (
                  <RunningProgress item={item} now={now} expectedBytes={expectedBytes} />
                ) : (
                  formatDuration(item.durationMs)
                )}
              </td>
              <td className="number">
                {item.sizeBytes === null ? '—' : formatBytes(BigInt(item.sizeBytes))}
                {/* The stored extension says the format, then the store's compression and encryption: .sql.zst.age */}
                {item.extension && item.status === 'SUCCEEDED' ? (
                  <div className="muted" data-extension>
                    .{item.extension}
                  </div>
                ) : null}
              </td>
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
        title={`${item.verifyMethod}, ${formatInstant(item.verifiedAt, { seconds: true })}${describeTableCounts(item)}`}
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

/** `, 6 of 6 tables` for the verified mark's title; empty when the dump's tables were not counted. */
function describeTableCounts(item: BackupRecordJson): string {
  if (item.dumpTableCount === null) return '';
  return item.liveTableCount === null
    ? `, ${item.dumpTableCount} tables (the live ones not counted)`
    : `, ${item.dumpTableCount} of ${item.liveTableCount} tables`;
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

/** A running backup's bar (towards the previous backup's size, when there is one), bytes, rate and elapsed time. */
function RunningProgress({
  item,
  now,
  expectedBytes,
}: {
  item: BackupRecordJson;
  now: Date;
  expectedBytes: bigint | null;
}) {
  const progress = describeProgress(item, now, { expectedBytes });
  return (
    <span className="progress" data-progress>
      <progress max={1} {...(progress.fraction === null ? {} : { value: progress.fraction })} />{' '}
      <span className="muted">{progress.text}</span>
    </span>
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
