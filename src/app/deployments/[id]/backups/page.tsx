import { notFound } from 'next/navigation.js';
import { formatBytes, isRecordId } from '../../../../lib/shared/index.ts';
import {
  type DeploymentBackupSummary,
  describeSpan,
  formatInstant,
  formatRelative,
  hasScope,
  listBackupHistory,
  listRestoreHistory,
  loadDeploymentBackupSummary,
} from '../../../../lib/web/index.ts';
import { requirePagePrincipal } from '../../../_server/page-auth.ts';
import { BackupHistoryPanel } from '../../../_components/backup-history-panel.tsx';
import { RestoreHistorySection } from '../../../_components/restore-history-section.tsx';
import { StatusBadge } from '../../../_components/status-badge.tsx';

export const dynamic = 'force-dynamic';

/** Backups listed per history page. */
const PAGE_SIZE = 20;
/** Latest restores listed. */
const RESTORES_SHOWN = 10;

interface PageProps {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}

/**
 * One deployment's backups: the schedule and where it stands, retention and off-site copies, trends, "Back up now",
 * the history, and the latest restores.
 */
export default async function DeploymentBackupsPage({ params, searchParams }: PageProps) {
  const { id } = await params;
  const { cursor: cursorParam } = await searchParams;
  const { principal, context } = await requirePagePrincipal(`/deployments/${encodeURIComponent(id)}/backups`);
  const { prisma } = context.runtime.database;
  const now = new Date();
  const summary = await loadDeploymentBackupSummary(prisma, principal, id, {
    now,
    overdueGraceMs: context.runtime.config.BACKUP_OVERDUE_GRACE_MINUTES * 60_000,
  });
  if (!summary) notFound();
  const cursor = typeof cursorParam === 'string' && isRecordId(cursorParam) ? cursorParam : null;
  const [listed, restores] = await Promise.all([
    listBackupHistory(
      context.runtime.database.query,
      { workspaceId: principal.workspaceId, deploymentId: summary.id },
      { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
    ),
    listRestoreHistory(prisma, summary.id, { limit: RESTORES_SHOWN }, now),
  ]);
  // A cursor that is not one of its backups (a link edited by hand) shows an empty page, as the API refuses it.
  const history = listed.kind === 'page' ? listed : { items: [], nextCursor: null };
  const offsiteBucket = context.runtime.config.S3_BUCKET ?? null;
  return (
    <>
      <a className="back" href="/backups">
        ← All backed-up deployments
      </a>
      <h1>{summary.name}</h1>
      <p className="subtitle">
        {summary.recipeSlug} in namespace <code>{summary.namespace}</code> · deployment {summary.status}
      </p>
      {summary.overdue ? (
        <p className="notice warn" role="status">
          The scheduled backup of {formatInstant(summary.overdue.since)} has not been made: it is{' '}
          {describeSpan(summary.overdue.lateByMs)} late.
        </p>
      ) : null}
      <ScheduleFacts
        summary={summary}
        now={now}
        offsiteBucket={offsiteBucket}
        reserve={describeReserve(
          context.runtime.config.BACKUP_MIN_FREE_BYTES,
          context.runtime.config.BACKUP_MIN_FREE_PERCENT,
        )}
      />
      <TestRestoreFacts summary={summary} now={now} />
      <BackupHistoryPanel
        deploymentId={summary.id}
        initialItems={history.items}
        cursor={cursor}
        nextCursor={history.nextCursor}
        pageSize={PAGE_SIZE}
        backupBlockedBy={summary.manualBackupBlockedBy}
        canOperate={hasScope(principal, 'operate')}
        emptyMessage={emptyHistoryMessage(summary, now, cursor !== null)}
        offsiteEnabled={offsiteBucket !== null}
      />
      <RestoreHistorySection
        items={restores}
        testRestore={summary.testRestore}
        now={now}
        canRestore={hasScope(principal, 'restore')}
      />
    </>
  );
}

/** The volume's free-space reserve in words, as configured. */
function describeReserve(minFreeBytes: number, minFreePercent: number): string {
  const parts = [
    ...(minFreeBytes > 0 ? [formatBytes(minFreeBytes)] : []),
    ...(minFreePercent > 0 ? [`${minFreePercent} % of the volume`] : []),
  ];
  return parts.length > 0 ? `backups stop when less than ${parts.join(' or ')} is free` : 'no free-space reserve';
}

function ScheduleFacts({
  summary,
  now,
  offsiteBucket,
  reserve,
}: {
  summary: DeploymentBackupSummary;
  now: Date;
  offsiteBucket: string | null;
  reserve: string;
}) {
  const { uploads } = summary;
  return (
    <section className="card" aria-label="Schedule">
      <dl className="facts">
        <div>
          <dt>Schedule</dt>
          <dd>
            {summary.backupEnabled ? summary.scheduleDescription : 'scheduled backups are off'}
            {summary.schedule ? (
              <small>
                cron <code>{summary.schedule}</code>
              </small>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Next run</dt>
          <dd>
            {summary.nextRunAt ? formatInstant(summary.nextRunAt) : '—'}
            {summary.nextRunAt ? <small>{formatRelative(summary.nextRunAt, now)}</small> : null}
          </dd>
        </div>
        <div>
          <dt>Last success</dt>
          <dd>
            {summary.lastSuccessAt ? formatInstant(summary.lastSuccessAt) : 'never'}
            <small>
              {summary.lastSuccessAt ? `${formatRelative(summary.lastSuccessAt, now)} · ` : ''}
              {summary.overdue ? (
                <StatusBadge status="OVERDUE" />
              ) : summary.backupEnabled ? (
                'on schedule'
              ) : (
                'not scheduled'
              )}
            </small>
          </dd>
        </div>
        <div>
          <dt>Retention</dt>
          <dd>
            {summary.retentionDescription}
            <small>
              {summary.storedBackups} stored, {formatBytes(summary.storedBytes)} · pinned backups are never pruned
            </small>
          </dd>
        </div>
        <div>
          <dt>Quota</dt>
          <dd data-quota>
            {summary.maxBackupBytes === null
              ? 'no size cap per backup'
              : `at most ${formatBytes(summary.maxBackupBytes)} per backup`}
            <small>{reserve}</small>
          </dd>
        </div>
        <div>
          <dt>Off-site copies</dt>
          <dd data-offsite-summary>
            {offsiteBucket ? (
              <>
                S3 bucket <code>{offsiteBucket}</code>
              </>
            ) : (
              'off: backups are kept on the local volume only'
            )}
            <small>
              {offsiteBucket || uploads.pending + uploads.failed > 0 ? (
                <>
                  {uploads.pending} waiting for upload
                  {uploads.failed > 0 ? <span className="error-text"> · {uploads.failed} failed</span> : null}
                </>
              ) : (
                'set S3_BUCKET to copy each backup to S3-compatible storage'
              )}
            </small>
          </dd>
        </div>
      </dl>
    </section>
  );
}

/** The last scheduled test-restore (restored into a scratch database, counted, compared, dropped) and the next one. */
function TestRestoreFacts({ summary, now }: { summary: DeploymentBackupSummary; now: Date }) {
  const { testRestore } = summary;
  if (!testRestore.schedule && !testRestore.last) return null;
  const last = testRestore.last;
  return (
    <section className="card" aria-label="Test-restores" data-test-restore={last?.status ?? 'NONE'}>
      {testRestore.shrinkWarning ? (
        <p className="notice warn" role="status">
          {testRestore.shrinkWarning}
        </p>
      ) : null}
      <dl className="facts">
        <div>
          <dt>Test-restore schedule</dt>
          <dd>
            {testRestore.scheduleDescription}
            {testRestore.schedule ? (
              <small>
                cron <code>{testRestore.schedule}</code>
              </small>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Next test-restore</dt>
          <dd>
            {testRestore.dueNow
              ? 'due: runs in the next worker cycle'
              : testRestore.nextRunAt
                ? formatInstant(testRestore.nextRunAt)
                : '—'}
            {testRestore.nextRunAt && !testRestore.dueNow ? (
              <small>{formatRelative(testRestore.nextRunAt, now)}</small>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Last test-restore</dt>
          <dd>
            {last ? <StatusBadge status={last.status} /> : 'never'}
            {last ? (
              <small>
                {last.finishedAt ? `${formatInstant(last.finishedAt)} · ` : ''}backup of{' '}
                {formatInstant(last.backupStartedAt)}
                {last.counts ? ` · ${last.counts}` : ''}
              </small>
            ) : null}
            {last?.error ? (
              <small>
                <span className="error-text">{last.error}</span>
              </small>
            ) : null}
          </dd>
        </div>
      </dl>
    </section>
  );
}

function emptyHistoryMessage(summary: DeploymentBackupSummary, now: Date, olderPage: boolean): string {
  if (olderPage) return 'There are no older backups.';
  const scheduled = summary.nextRunAt
    ? `The first scheduled backup runs ${formatRelative(summary.nextRunAt, now)} (${formatInstant(summary.nextRunAt)}).`
    : 'No scheduled backup will run: turn scheduled backups on with a schedule to have them made for you.';
  return `No backups yet. ${scheduled}${summary.manualBackupBlockedBy ? '' : ' Or make one now with "Back up now".'}`;
}
