import { z } from 'zod';
import type { AlertSeverity, PrismaClient } from '../../generated/prisma/client.ts';
import { type BackupState, type DeploymentBackupState, gatherBackupState, type Overdue } from '../backups/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { SqlQuery } from '../db/index.ts';
import type { Principal } from './principal.ts';
import { countOpenUploads, type UploadCounts } from './upload-counts.ts';
import type { SharedResults } from './shared-result.ts';

/** Open alerts listed on the overview; more are counted, not listed. */
const ALERTS_LISTED = 50;

/**
 * Deployments per page of the overview. The whole workspace is ranked (attention first), one page is rendered: a
 * workspace of 1,000 deployments rendered in full cost ~0.5 s per request and more than 1 MB of HTML.
 */
export const OVERVIEW_PAGE_SIZE = 50;

/** How long the dashboard shares one workspace's overview between requests. */
export const OVERVIEW_SHARE_MS = 2_000;

const PAGE_ERROR = 'must be a whole number from 1';
/** The overview's query: `?page=N` (1-based); the last page when N is beyond it. */
export const overviewQuerySchema = z.object({
  page: z.coerce
    .number({ error: PAGE_ERROR })
    .int({ error: PAGE_ERROR })
    .min(1, { error: PAGE_ERROR })
    .max(1_000_000, { error: PAGE_ERROR })
    .default(1),
});

/** One page of `items` (1-based, clamped to the last page; page 1 of none is empty) and where it sits. */
export function pageOf<T>(
  items: readonly T[],
  page: number,
  size: number,
): { items: T[]; page: number; pageCount: number; first: number; total: number } {
  const pageCount = Math.max(1, Math.ceil(items.length / size));
  const current = Math.min(Math.max(1, Math.floor(page)), pageCount);
  const start = (current - 1) * size;
  return { items: items.slice(start, start + size), page: current, pageCount, first: start + 1, total: items.length };
}

export type LastBackupStatus = 'RUNNING' | 'FAILED' | 'SUCCEEDED' | 'NONE';

/** One backup-enabled deployment on the overview. */
export interface OverviewDeployment {
  id: string;
  name: string;
  recipeSlug: string;
  deploymentStatus: string;
  scheduleDescription: string;
  scheduleValid: boolean;
  /** The most recent backup's status: running now, failed since the last success, the last success, or none yet. */
  lastBackup: { status: LastBackupStatus; at: Date | null; error: string | null };
  overdue: Overdue | null;
  failuresSinceLastSuccess: number;
  storedBackups: number;
  storedBytes: bigint;
}

export interface OverviewAlert {
  id: string;
  severity: AlertSeverity;
  kind: string;
  message: string;
  occurrences: number;
  lastSeenAt: Date;
  deployment: { id: string; name: string } | null;
}

export interface Overview {
  /** One page of the deployments, needing attention first (failing, overdue, blocked), then by name. */
  deployments: OverviewDeployment[];
  /** Where that page sits: 1-based page, pages in all, the 1-based position of its first row, deployments in all. */
  paging: { page: number; pageCount: number; first: number; total: number };
  totals: BackupState['totals'];
  volume: BackupState['volume'];
  alerts: OverviewAlert[];
  openAlerts: number;
  /** Off-site copies of the workspace's backups waiting for their upload, and those given up on. */
  uploads: UploadCounts;
  /** The workspace's backups and test-restores in the job queue; null when it was not (or could not be) read. */
  queue: { waiting: number; running: number; oldestWaitingSeconds: number | null } | null;
}

/**
 * The principal's workspace: every backup-enabled deployment with its last backup, the totals, the open alerts and
 * the off-site uploads still to do or failed.
 */
export async function loadOverview(
  db: PrismaClient,
  principal: Pick<Principal, 'workspaceId'>,
  options: RankOptions & {
    /** 1-based; default 1. */
    page?: number;
    pageSize?: number;
    /**
     * Where concurrent requests share one computation of a workspace's overview, kept briefly (the dashboard page
     * passes the process's; none: computed for this call alone).
     */
    shared?: SharedResults<RankedOverview>;
  },
): Promise<Overview> {
  const compute = () => rankOverview(db, principal.workspaceId, options);
  const ranked = options.shared
    ? await options.shared.get(principal.workspaceId, options.now.getTime(), compute)
    : await compute();
  const { items, ...paging } = pageOf(ranked.deployments, options.page ?? 1, options.pageSize ?? OVERVIEW_PAGE_SIZE);
  return { ...ranked, deployments: items, paging };
}

/** The whole workspace's overview, every deployment ranked (attention first), before paging. */
export type RankedOverview = Omit<Overview, 'paging'>;

/** What ranking a workspace's overview needs besides the database. */
interface RankOptions {
  now: Date;
  overdueGraceMs: number;
  retryDelayMs: number;
  backupRoot: string;
  jobs?: JobQueue;
  /** The database's statements without Prisma (`Database.query`), for the deployments' state; absent: Prisma. */
  query?: SqlQuery;
}

async function rankOverview(db: PrismaClient, workspaceId: string, options: RankOptions): Promise<RankedOverview> {
  const where = { workspaceId, resolvedAt: null };
  const [state, alerts, openAlerts, uploads, queue] = await Promise.all([
    gatherBackupState(db, {
      now: options.now,
      overdueGraceMs: options.overdueGraceMs,
      retryDelayMs: options.retryDelayMs,
      backupRoot: options.backupRoot,
      workspaceId,
      query: options.query,
    }),
    db.alert.findMany({
      where,
      // The enum sorts INFO < WARNING < CRITICAL.
      orderBy: [{ severity: 'desc' }, { lastSeenAt: 'desc' }],
      take: ALERTS_LISTED,
      include: { deployment: { select: { id: true, name: true } } },
    }),
    db.alert.count({ where }),
    countOpenUploads(db, { workspaceId }),
    options.jobs ? workspaceQueue(db, options.jobs, workspaceId) : null,
  ]);
  return {
    deployments: orderForAttention(state.deployments.map(toOverviewDeployment)),
    totals: state.totals,
    volume: state.volume,
    alerts: alerts.map(({ id, severity, kind, message, occurrences, lastSeenAt, deployment }) => ({
      id,
      severity,
      kind,
      message,
      occurrences,
      lastSeenAt,
      deployment,
    })),
    openAlerts,
    uploads,
    queue,
  };
}

/** The workspace's backups and test-restores in the job queue; null when the queue cannot be read. */
async function workspaceQueue(db: PrismaClient, jobs: JobQueue, workspaceId: string): Promise<Overview['queue']> {
  try {
    const deployments = await db.deployment.findMany({ where: { workspaceId }, select: { id: true } });
    const stats = await jobs.stats({ deploymentIds: deployments.map((deployment) => deployment.id) });
    const oldest = stats.map((queue) => queue.oldestReadySeconds).filter((seconds) => seconds !== null);
    return {
      waiting: stats.reduce((sum, queue) => sum + queue.ready + queue.deferred, 0),
      running: stats.reduce((sum, queue) => sum + queue.running, 0),
      oldestWaitingSeconds: oldest.length > 0 ? Math.max(...oldest) : null,
    };
  } catch {
    return null;
  }
}

function toOverviewDeployment(state: DeploymentBackupState): OverviewDeployment {
  const lastFailure = state.recentFailures[0];
  const lastBackup: OverviewDeployment['lastBackup'] = state.running
    ? { status: 'RUNNING', at: state.running.startedAt, error: null }
    : lastFailure
      ? { status: 'FAILED', at: lastFailure.startedAt, error: lastFailure.error ?? lastFailure.errorKind }
      : state.lastBackupAt
        ? { status: 'SUCCEEDED', at: state.lastBackupAt, error: null }
        : { status: 'NONE', at: null, error: null };
  return {
    id: state.id,
    name: state.name,
    recipeSlug: state.recipeSlug,
    deploymentStatus: state.status,
    scheduleDescription: state.scheduleDescription,
    scheduleValid: state.scheduleValid,
    lastBackup,
    overdue: state.overdue,
    failuresSinceLastSuccess: state.failuresSinceLastSuccess,
    storedBackups: state.storedBackups,
    storedBytes: state.storedBytes,
  };
}

/** Failing and overdue deployments first, then those whose backups cannot run at all, then the healthy ones; by name within. */
export function orderForAttention(deployments: OverviewDeployment[]): OverviewDeployment[] {
  const rank = (deployment: OverviewDeployment) =>
    deployment.failuresSinceLastSuccess > 0 && deployment.overdue
      ? 0
      : deployment.failuresSinceLastSuccess > 0
        ? 1
        : deployment.overdue
          ? 2
          : !deployment.scheduleValid || deployment.deploymentStatus !== 'RUNNING'
            ? 3
            : 4;
  return [...deployments].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}
