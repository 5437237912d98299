import { formatBytes } from '../../lib/shared/index.ts';
import {
  formatDuration,
  formatRelative,
  loadOverview,
  type Overview,
  createSharedResults,
  OVERVIEW_PAGE_SIZE,
  OVERVIEW_SHARE_MS,
  overviewQuerySchema,
  type RankedOverview,
  toOverviewRows,
} from '../../lib/web/index.ts';
import { requirePagePrincipal } from '../_server/page-auth.ts';
import { OverviewTable } from '../_components/overview-table.tsx';

export const dynamic = 'force-dynamic';

/** One computation of a workspace's overview serves every request within OVERVIEW_SHARE_MS (this process). */
const globalForOverview = globalThis as typeof globalThis & { opsOverviews?: ReturnType<typeof sharedOverviews> };
const sharedOverviews = () => createSharedResults<RankedOverview>({ ttlMs: OVERVIEW_SHARE_MS, maxKeys: 1_000 });

const SEVERITY_TONE: Record<string, string> = { CRITICAL: 'bad', WARNING: 'warn', INFO: 'info' };

/** The workspace at a glance: every deployment with backups on, the ones needing attention first, and open alerts. */
export default async function BackupsOverviewPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { principal, context } = await requirePagePrincipal('/backups');
  const query = overviewQuerySchema.safeParse({ page: firstValue((await searchParams).page) });
  // A page number that is not one shows the first page: the overview is for people, not an API.
  const page = query.success ? query.data.page : 1;
  const { config, database } = context.runtime;
  const now = new Date();
  const offsiteEnabled = Boolean(config.S3_BUCKET);
  const overview = await loadOverview(database.prisma, principal, {
    now,
    overdueGraceMs: config.BACKUP_OVERDUE_GRACE_MINUTES * 60_000,
    retryDelayMs: config.BACKUP_RETRY_MINUTES * 60_000,
    backupRoot: config.BACKUP_ROOT,
    query: database.query,
    jobs: await context.jobs(),
    page,
    shared: (globalForOverview.opsOverviews ??= sharedOverviews()),
  });
  return (
    <>
      <h1>Backups</h1>
      <p className="subtitle">
        Every deployment with scheduled backups in this workspace; the ones that need you come first.
      </p>
      <Totals overview={overview} offsiteEnabled={offsiteEnabled} />
      <Alerts overview={overview} now={now} />
      <section className="card">
        <h2>Deployments</h2>
        {overview.deployments.length === 0 ? (
          <p className="empty">
            No deployment in this workspace has scheduled backups turned on yet. Once a deployment has backups enabled
            with a schedule, it appears here with its last backup.
          </p>
        ) : (
          <>
            <OverviewTable rows={toOverviewRows(overview.deployments, now)} />
            <Pages paging={overview.paging} />
          </>
        )}
      </section>
    </>
  );
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Where this page sits among the deployments, with links to the previous and next pages. */
function Pages({ paging }: { paging: Overview['paging'] }) {
  const { page, pageCount, first, total } = paging;
  const last = Math.min(total, first + OVERVIEW_PAGE_SIZE - 1);
  if (pageCount === 1) return null;
  return (
    <nav className="pages" aria-label="Pages of deployments">
      {page > 1 ? <a href={`/backups?page=${page - 1}`}>← previous</a> : null}
      <span className="muted">
        deployments {first}–{last} of {total} (page {page} of {pageCount})
      </span>
      {page < pageCount ? <a href={`/backups?page=${page + 1}`}>next →</a> : null}
    </nav>
  );
}

function Totals({ overview, offsiteEnabled }: { overview: Overview; offsiteEnabled: boolean }) {
  const { totals, volume, uploads, queue } = overview;
  return (
    <div className="stats">
      <div className="stat">
        <strong>{totals.enabled}</strong>
        <span>with backups on</span>
      </div>
      <div className={`stat${totals.failing > 0 ? ' bad' : ''}`}>
        <strong>{totals.failing}</strong>
        <span>failing</span>
      </div>
      <div className={`stat${totals.overdue > 0 ? ' warn' : ''}`}>
        <strong>{totals.overdue}</strong>
        <span>overdue</span>
      </div>
      <div className="stat">
        <strong>{totals.running}</strong>
        <span>running now</span>
      </div>
      <div className="stat">
        <strong>{formatBytes(totals.storedBytes)}</strong>
        <span>
          stored in {totals.storedBackups} backup{totals.storedBackups === 1 ? '' : 's'}
        </span>
      </div>
      {queue ? (
        <div
          className={`stat${queue.oldestWaitingSeconds !== null && queue.oldestWaitingSeconds > 600 ? ' warn' : ''}`}
          data-stat="queue"
        >
          <strong>{queue.waiting}</strong>
          <span>
            waiting for a worker
            {queue.oldestWaitingSeconds !== null
              ? `, the oldest for ${formatDuration(queue.oldestWaitingSeconds * 1_000)}`
              : ''}
          </span>
        </div>
      ) : null}
      {volume ? (
        <div className="stat">
          <strong>{formatBytes(volume.freeBytes)}</strong>
          <span>free on the backup volume</span>
        </div>
      ) : null}
      {offsiteEnabled || uploads.pending + uploads.failed > 0 ? (
        <>
          <div className="stat" data-stat="uploads-pending">
            <strong>{uploads.pending}</strong>
            <span>waiting for off-site upload</span>
          </div>
          <div className={`stat${uploads.failed > 0 ? ' bad' : ''}`} data-stat="uploads-failed">
            <strong>{uploads.failed}</strong>
            <span>failed off-site upload{uploads.failed === 1 ? '' : 's'}</span>
          </div>
        </>
      ) : (
        <div className="stat" data-stat="offsite-off">
          <strong>off</strong>
          <span>off-site copies (set S3_BUCKET)</span>
        </div>
      )}
    </div>
  );
}

function Alerts({ overview, now }: { overview: Overview; now: Date }) {
  if (overview.openAlerts === 0) return null;
  return (
    <section className="card" aria-label="Open alerts">
      <h2>Open alerts ({overview.openAlerts})</h2>
      <ul className="alerts">
        {overview.alerts.map((alert) => (
          <li key={alert.id}>
            <span className={`badge ${SEVERITY_TONE[alert.severity] ?? 'neutral'}`}>{alert.severity}</span>
            <span className="message">
              {alert.deployment ? (
                <>
                  <a href={`/deployments/${alert.deployment.id}/backups`}>{alert.deployment.name}</a>:{' '}
                </>
              ) : null}
              {alert.message}
            </span>
            <span className="muted nowrap">
              {alert.occurrences > 1 ? `${alert.occurrences} times, last ` : ''}
              {formatRelative(alert.lastSeenAt, now)}
            </span>
          </li>
        ))}
      </ul>
      {overview.openAlerts > overview.alerts.length ? (
        <p className="muted">and {overview.openAlerts - overview.alerts.length} more, less severe or older.</p>
      ) : null}
    </section>
  );
}
