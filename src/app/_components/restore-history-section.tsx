import { formatBytes } from '../../lib/shared/index.ts';
import {
  describeProgress,
  emptyRestoresMessage,
  formatDuration,
  formatInstant,
  type RestoreHistoryItem,
  type RestoreNextStep,
  type TestRestoreSummary,
} from '../../lib/web/index.ts';
import { StatusBadge } from './status-badge.tsx';

const KIND_WORDS: Record<string, string> = {
  DESTRUCTIVE: 'over the live data',
  SCRATCH: 'into a scratch database',
  TEST: 'scheduled test-restore',
};

const STEP_WORDS: Record<RestoreNextStep['state'], string> = {
  'awaiting-approval':
    'Proposed without a confirmation token: a person must approve it first, which re-counts the live data and prints a token (valid 15 minutes, works once).',
  'awaiting-confirmation':
    'Planned: whoever planned or approved it holds the confirmation token and can confirm it; anyone may approve it again for a new token (the old one stops working).',
  expired: 'Its confirmation token has expired: approve it again to re-plan and get a new token.',
};

interface RestoreHistorySectionProps {
  items: RestoreHistoryItem[];
  /** For the empty state: whether test-restores are scheduled, and when the next one runs. */
  testRestore: TestRestoreSummary;
  /** Whether the session may approve and confirm restores (restore scope); else those steps are not offered. */
  canRestore: boolean;
  now: Date;
}

/**
 * The latest restores of a deployment: live, scratch and test-restores with their result; a PROPOSED one with the
 * plan of what it overwrites and how a person approves, confirms or cancels it (never a token).
 */
export function RestoreHistorySection({ items, testRestore, now, canRestore }: RestoreHistorySectionProps) {
  return (
    <section className="card" aria-label="Restores">
      <h2>Restores</h2>
      {items.length === 0 ? (
        <p className="empty">{emptyRestoresMessage(testRestore, now)}</p>
      ) : (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th>Restore</th>
                <th>Requested</th>
                <th>Duration</th>
                <th>Backup</th>
                <th>Target</th>
                <th>Who</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <RestoreRows key={item.id} item={item} now={now} canRestore={canRestore} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function RestoreRows({ item, now, canRestore }: { item: RestoreHistoryItem; now: Date; canRestore: boolean }) {
  return (
    <>
      <tr data-restore-id={item.id} data-restore-kind={item.kind} data-status={item.status}>
        <td className="nowrap">
          <StatusBadge status={item.status} />
          <div className="muted">{KIND_WORDS[item.kind] ?? item.kind}</div>
        </td>
        <td className="nowrap">
          {formatInstant(item.createdAt, { seconds: true })}
          {item.finishedAt ? (
            <div className="muted">ended {formatInstant(item.finishedAt, { seconds: true })}</div>
          ) : null}
        </td>
        <td className="nowrap">
          {item.status === 'RUNNING' && item.startedAt ? (
            <span className="progress" data-progress>
              <progress max={1} />{' '}
              <span className="muted">
                {describeProgress({ ...item, startedAt: item.startedAt }, now, { verb: 'sent into the pod' }).text}
              </span>
            </span>
          ) : item.status === 'QUEUED' ? (
            'waiting for a worker'
          ) : (
            formatDuration(item.durationMs)
          )}
        </td>
        <td className="nowrap">
          <span title={`sha256 ${item.backupSha256}`}>{formatInstant(item.backupStartedAt)}</span>
          {item.backupRecordId ? null : <div className="muted">since pruned</div>}
        </td>
        <td>
          <code>{item.target}</code>
        </td>
        <td>
          {item.requestedBy}
          {item.confirmedBy ? <div className="muted">confirmed by {item.confirmedBy}</div> : null}
        </td>
        <td>
          <RestoreResult item={item} />
        </td>
      </tr>
      {item.nextStep ? (
        <tr className="restore-plan" data-plan-for={item.id}>
          <td colSpan={7}>
            <ProposalDetails item={item} step={item.nextStep} canRestore={canRestore} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function RestoreResult({ item }: { item: RestoreHistoryItem }) {
  if (item.error) {
    return (
      <span className="error-text">
        {item.errorKind ? <strong>{item.errorKind}: </strong> : null}
        {item.error}
      </span>
    );
  }
  const parts = [
    item.countsSummary,
    item.bytesRestored === null ? null : `${formatBytes(BigInt(item.bytesRestored))} restored`,
  ].filter(Boolean);
  if (parts.length > 0) return <span>{parts.join(' · ')}</span>;
  return <span className="muted">{item.status === 'PROPOSED' ? 'waiting for a person' : '—'}</span>;
}

/** A proposal's plan, and the commands and API paths that take it further: the token itself is never shown here. */
function ProposalDetails({
  item,
  step,
  canRestore,
}: {
  item: RestoreHistoryItem;
  step: RestoreNextStep;
  canRestore: boolean;
}) {
  return (
    <div className="proposal" data-next-step={step.state}>
      <p>
        <strong>{STEP_WORDS[step.state]}</strong>
        {step.state === 'awaiting-confirmation' && item.confirmExpiresAt
          ? ` The token is valid until ${formatInstant(item.confirmExpiresAt, { seconds: true })}.`
          : ''}
      </p>
      {item.plan ? <pre className="plan">{item.plan}</pre> : null}
      {canRestore ? null : (
        <p className="muted" data-missing-scope="restore">
          Approving and confirming restores needs a token with the restore scope.
        </p>
      )}
      {canRestore ? (
        <dl className="steps">
          <div>
            <dt>Approve</dt>
            <dd>
              <code>{step.approveCommand}</code> or <code>POST {step.approvePath}</code>
            </dd>
          </div>
          <div>
            <dt>Confirm</dt>
            <dd>
              <code>{step.confirmCommand}</code> or <code>POST {step.confirmPath}</code> with{' '}
              <code>{'{"token": "<token>"}'}</code>
            </dd>
          </div>
          <div>
            <dt>Cancel</dt>
            <dd>
              <code>{step.cancelCommand}</code>
            </dd>
          </div>
        </dl>
      ) : null}
    </div>
  );
}
