import { statfs } from 'node:fs/promises';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { findRecipe } from '../recipes/index.ts';
import { findOverdue, shouldRunBackup, type BackupDecision, type Overdue } from './backup-due.ts';
import { describeCron, nextFireTime, tryParseCron } from '../cron/index.ts';

/** More stored backups than this and the agent is told to suggest pruning. */
export const PRUNE_SUGGESTION_THRESHOLD = 20;
/** Failed attempts listed per deployment (the count covers all of them). */
const FAILURES_LISTED = 3;

export interface FailedAttempt {
  id: string;
  startedAt: Date;
  errorKind: string | null;
  error: string | null;
}

/** One backup-enabled deployment as a cycle sees it. */
export interface DeploymentBackupState {
  id: string;
  workspaceId: string;
  workspaceSlug: string;
  name: string;
  status: string;
  recipeSlug: string;
  hasDataExport: boolean;
  backupEnabled: boolean;
  schedule: string | null;
  timezone: string;
  /** "every day at 03:00 (UTC)", or why the schedule is unusable. */
  scheduleDescription: string;
  /** The schedule parses and can fire at least once. */
  scheduleValid: boolean;
  retention: number;
  lastBackupAt: Date | null;
  nextRunAt: Date | null;
  /** Whether a backup is due now, and if not, why. */
  decision: BackupDecision;
  overdue: Overdue | null;
  storedBackups: number;
  storedBytes: bigint;
  /** Failed attempts since the last success (newest first, at most 3 listed) and how many there are. */
  recentFailures: FailedAttempt[];
  failuresSinceLastSuccess: number;
  running: { id: string; startedAt: Date; trigger: string } | null;
}

export interface BackupState {
  gatheredAt: Date;
  deployments: DeploymentBackupState[];
  totals: {
    enabled: number;
    due: number;
    overdue: number;
    failing: number;
    running: number;
    storedBackups: number;
    storedBytes: bigint;
  };
  /** Deployments with more than PRUNE_SUGGESTION_THRESHOLD stored backups. */
  pruneSuggestions: Array<{ deploymentId: string; name: string; storedBackups: number; retention: number }>;
  /** The backup volume's filesystem (null when it cannot be read). */
  volume: { totalBytes: bigint; usedBytes: bigint; freeBytes: bigint } | null;
}

export interface StateOptions {
  now: Date;
  overdueGraceMs: number;
  retryDelayMs: number;
  /** Only this workspace (the agent's scope); null: all. */
  workspaceId?: string | null;
  /** Root of the backup volume, for its used/free bytes. */
  backupRoot?: string;
}

export interface DeploymentRow {
  id: string;
  workspaceId: string;
  workspaceSlug: string;
  name: string;
  status: string;
  recipeSlug: string;
  backupEnabled: boolean;
  backupSchedule: string | null;
  backupTimezone: string;
  backupRetention: number;
  lastBackupAt: Date | null;
  createdAt: Date;
}

export interface StatsRow {
  deploymentId: string;
  storedBackups: number;
  storedBytes: string | null;
  lastFailedAt: Date | null;
}

export interface RecordRow {
  id: string;
  deploymentId: string;
  status: string;
  trigger: string;
  startedAt: Date;
  errorKind: string | null;
  error: string | null;
  /** How many listed-kind records (FAILED since the last success, or RUNNING) the deployment has in all. */
  sameStatusCount: number;
}

/**
 * Gathers the backup state of every backup-enabled deployment in three queries, whatever their number: the
 * deployments (with workspace), per-deployment record statistics, and the records worth listing (failures since
 * the last success, running backups). Decisions (due, overdue) are then computed in memory from the schedules.
 */
export async function gatherBackupState(db: PrismaClient, options: StateOptions): Promise<BackupState> {
  const scope = options.workspaceId ?? null;
  const [deployments, stats, records] = await Promise.all([
    db.$queryRaw<DeploymentRow[]>`
      SELECT d.id, d."workspaceId", w.slug AS "workspaceSlug", d.name, d.status::text AS status, d."recipeSlug",
             d."backupEnabled", d."backupSchedule", d."backupTimezone", d."backupRetention", d."lastBackupAt",
             d."createdAt"
        FROM "Deployment" d JOIN "Workspace" w ON w.id = d."workspaceId"
       WHERE d."backupEnabled" AND (${scope}::text IS NULL OR d."workspaceId" = ${scope})
       ORDER BY w.slug, d.name`,
    // Aggregated before any join: one pass over the records, grouped by deployment (the scope filter uses the
    // record's own workspaceId). Failures since the last success are counted in the third query.
    db.$queryRaw<StatsRow[]>`
      SELECT r."deploymentId",
             (count(*) FILTER (WHERE r.status = 'SUCCEEDED'))::int AS "storedBackups",
             (sum(r."sizeBytes") FILTER (WHERE r.status = 'SUCCEEDED'))::text AS "storedBytes",
             max(r."startedAt") FILTER (WHERE r.status = 'FAILED') AS "lastFailedAt"
        FROM "BackupRecord" r
       WHERE (${scope}::text IS NULL OR r."workspaceId" = ${scope})
       GROUP BY r."deploymentId"`,
    db.$queryRaw<RecordRow[]>`
      SELECT id, "deploymentId", status, trigger, "startedAt", "errorKind", error, "sameStatusCount" FROM (
        SELECT r.id, r."deploymentId", r.status::text AS status, r.trigger::text AS trigger, r."startedAt", r."errorKind", r.error,
               row_number() OVER (PARTITION BY r."deploymentId", r.status ORDER BY r."startedAt" DESC) AS position,
               (count(*) OVER (PARTITION BY r."deploymentId", r.status))::int AS "sameStatusCount"
          FROM "BackupRecord" r JOIN "Deployment" d ON d.id = r."deploymentId"
         WHERE d."backupEnabled" AND (${scope}::text IS NULL OR d."workspaceId" = ${scope})
           AND (r.status = 'RUNNING'
                OR (r.status = 'FAILED' AND (d."lastBackupAt" IS NULL OR r."startedAt" > d."lastBackupAt")))
      ) listed WHERE position <= ${FAILURES_LISTED}`,
  ]);
  const volume = options.backupRoot ? await readVolume(options.backupRoot) : null;
  return assembleBackupState(deployments, stats, records, volume, options);
}

/** Pure assembly of the gathered rows into the state (exported for tests). */
export function assembleBackupState(
  deployments: DeploymentRow[],
  stats: StatsRow[],
  records: RecordRow[],
  volume: BackupState['volume'],
  options: Pick<StateOptions, 'now' | 'overdueGraceMs' | 'retryDelayMs'>,
): BackupState {
  const statsById = new Map(stats.map((row) => [row.deploymentId, row]));
  const recordsById = new Map<string, RecordRow[]>();
  for (const row of records) recordsById.set(row.deploymentId, [...(recordsById.get(row.deploymentId) ?? []), row]);
  const states = deployments.map((row): DeploymentBackupState => {
    const stat = statsById.get(row.id);
    const listed = recordsById.get(row.id) ?? [];
    const running = listed.find((record) => record.status === 'RUNNING');
    const parsed = row.backupSchedule ? tryParseCron(row.backupSchedule, { timezone: row.backupTimezone }) : null;
    return {
      id: row.id,
      workspaceId: row.workspaceId,
      workspaceSlug: row.workspaceSlug,
      name: row.name,
      status: row.status,
      recipeSlug: row.recipeSlug,
      hasDataExport: Boolean(findRecipe(row.recipeSlug)?.dataExport),
      backupEnabled: row.backupEnabled,
      schedule: row.backupSchedule,
      timezone: row.backupTimezone,
      scheduleDescription: !parsed
        ? 'no schedule'
        : parsed.ok
          ? describeCron(parsed.value)
          : `invalid schedule: ${parsed.error.message}`,
      scheduleValid: parsed?.ok === true && parsed.value.canEverFire,
      retention: row.backupRetention,
      lastBackupAt: row.lastBackupAt,
      nextRunAt: parsed?.ok ? nextFireTime(parsed.value, options.now) : null,
      decision: shouldRunBackup(row, options.now, {
        lastFailedAt: stat?.lastFailedAt ?? null,
        retryDelayMs: options.retryDelayMs,
      }),
      overdue: findOverdue(row, options.now, options.overdueGraceMs),
      storedBackups: stat?.storedBackups ?? 0,
      storedBytes: BigInt(stat?.storedBytes ?? 0),
      recentFailures: listed
        .filter((record) => record.status === 'FAILED')
        .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())
        .map(({ id, startedAt, errorKind, error }) => ({ id, startedAt, errorKind, error })),
      failuresSinceLastSuccess: listed.find((record) => record.status === 'FAILED')?.sameStatusCount ?? 0,
      running: running ? { id: running.id, startedAt: running.startedAt, trigger: running.trigger } : null,
    };
  });
  return {
    gatheredAt: options.now,
    deployments: states,
    totals: {
      enabled: states.length,
      due: states.filter((s) => s.decision.due).length,
      overdue: states.filter((s) => s.overdue).length,
      failing: states.filter((s) => s.failuresSinceLastSuccess > 0).length,
      running: states.filter((s) => s.running).length,
      storedBackups: states.reduce((sum, s) => sum + s.storedBackups, 0),
      storedBytes: states.reduce((sum, s) => sum + s.storedBytes, 0n),
    },
    pruneSuggestions: states
      .filter((s) => s.storedBackups > PRUNE_SUGGESTION_THRESHOLD)
      .map((s) => ({ deploymentId: s.id, name: s.name, storedBackups: s.storedBackups, retention: s.retention })),
    volume,
  };
}

async function readVolume(root: string): Promise<BackupState['volume']> {
  try {
    const info = await statfs(root, { bigint: true });
    const totalBytes = info.blocks * info.bsize;
    const freeBytes = info.bavail * info.bsize;
    return { totalBytes, freeBytes, usedBytes: totalBytes - info.bfree * info.bsize };
  } catch {
    return null;
  }
}
