import { statfs } from 'node:fs/promises';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { findRecipe } from '../recipes/index.ts';
import { findOverdue, scheduleReaderAt, shouldRunBackup, type BackupDecision, type Overdue } from './backup-due.ts';
import { describeCron } from '../cron/index.ts';
import { prismaQuery, type SqlQuery, type SqlStatement } from '../db/index.ts';

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
  recentFailures: readonly FailedAttempt[];
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
  /**
   * Runs the deployments statement without Prisma (the database's `query`: prepared once per pooled connection, rows
   * as the driver makes them); absent: through Prisma's raw query. Prisma's mapping of the 10,000 rows of a large
   * platform, and the garbage it leaves, cost about a sixth of a gathering's time outside the database.
   */
  query?: SqlQuery;
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
  /** From BackupSummary (kept by triggers): SUCCEEDED records, their bytes (decimal text), the newest failure. */
  storedBackups: number;
  storedBytes: string;
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
 * A timestamp column as milliseconds since the epoch (a float8, exact for millisecond timestamps): the driver reads a
 * number, and the Date is made from it here. Read as a timestamp, each value went from PostgreSQL's text through the
 * adapter's ISO rewrite to a Date parsed from that string, three times per deployment: about a third of the time a
 * gathering spent outside the database at 10,000 deployments. `date_part` computes in float8, where `extract` computes
 * in numeric: at 9,000 deployments the three columns cost the server about 4 ms less. The float8 product is not always
 * a whole number (2039-09-06 17:46:11.002 gives 2198943971001.9998, which a Date would truncate to the millisecond
 * before), so it is rounded: the stored timestamps have whole milliseconds (timestamp(3)). Column names are ours,
 * never input.
 */
function epochMs(column: string): string {
  return `round(date_part('epoch', ${column}) * 1000)`;
}

const DEPLOYMENT_COLUMNS = `d.id, d."workspaceId", w.slug AS "workspaceSlug", d.name, d.status::text AS status, d."recipeSlug",
       d."backupEnabled", d."backupSchedule", d."backupTimezone", d."backupRetention",
       ${epochMs('d."lastBackupAt"')} AS "lastBackupAtMs", ${epochMs('d."createdAt"')} AS "createdAtMs",
       coalesce(s."storedBackups", 0) AS "storedBackups", coalesce(s."storedBytes", 0)::text AS "storedBytes",
       ${epochMs('s."lastFailedAt"')} AS "lastFailedAtMs"
  FROM "Deployment" d
  JOIN "Workspace" w ON w.id = d."workspaceId"
  LEFT JOIN "BackupSummary" s ON s."deploymentId" = d.id`;

/**
 * The deployments statement, one text (and prepared-statement name) with the workspace filter and one without, so
 * that neither plan is made for the other's case.
 */
function deploymentsStatement(workspaceId: string | null): SqlStatement {
  return workspaceId === null
    ? {
        name: 'backup-state-deployments',
        text: `SELECT ${DEPLOYMENT_COLUMNS} WHERE d."backupEnabled" ORDER BY w.slug, d.name`,
        values: [],
      }
    : {
        name: 'backup-state-deployments-of-workspace',
        text: `SELECT ${DEPLOYMENT_COLUMNS} WHERE d."backupEnabled" AND d."workspaceId" = $1 ORDER BY w.slug, d.name`,
        values: [workspaceId],
      };
}

/** A deployment row as the statement returns it: timestamps in milliseconds. */
type DeploymentSqlRow = Omit<DeploymentRow, 'lastBackupAt' | 'createdAt' | 'lastFailedAt'> & {
  lastBackupAtMs: number | null;
  createdAtMs: number;
  lastFailedAtMs: number | null;
};

/**
 * Field by field, not `{ ...rest }`: a rest pattern copies through V8's generic path into an object in dictionary
 * mode, about 750 bytes per row (6.7 MiB per gathering at 10,000 deployments, a scavenge of 10-20 ms per pass while
 * the rows are alive) and slow to read in the assembly that follows.
 */
function toDeploymentRow(row: DeploymentSqlRow): DeploymentRow {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    workspaceSlug: row.workspaceSlug,
    name: row.name,
    status: row.status,
    recipeSlug: row.recipeSlug,
    backupEnabled: row.backupEnabled,
    backupSchedule: row.backupSchedule,
    backupTimezone: row.backupTimezone,
    backupRetention: row.backupRetention,
    lastBackupAt: row.lastBackupAtMs === null ? null : new Date(row.lastBackupAtMs),
    createdAt: new Date(row.createdAtMs),
    storedBackups: row.storedBackups,
    storedBytes: row.storedBytes,
    lastFailedAt: row.lastFailedAtMs === null ? null : new Date(row.lastFailedAtMs),
  };
}

/**
 * Gathers the backup state of every backup-enabled deployment in two queries, whatever their number (see
 * {@link readBackupStateRows}); decisions (due, overdue) are then computed in memory from the schedules.
 */
export async function gatherBackupState(db: PrismaClient, options: StateOptions): Promise<BackupState> {
  const { deployments, records, volume } = await readBackupStateRows(db, options);
  return assembleBackupState(deployments, records, volume, options);
}

/** What a gathering reads: the rows {@link assembleBackupState} makes the state of, and the volume's figures. */
export interface BackupStateRows {
  deployments: DeploymentRow[];
  records: RecordRow[];
  volume: BackupState['volume'];
}

/**
 * The rows of a gathering, in two queries: the deployments with their workspace and record totals (BackupSummary,
 * kept by triggers, so no record is aggregated here), and the records worth listing (the newest failures since the
 * last success of the deployments whose summary says they have any, and running backups).
 */
export async function readBackupStateRows(
  db: PrismaClient,
  options: Pick<StateOptions, 'workspaceId' | 'backupRoot' | 'query'>,
): Promise<BackupStateRows> {
  const scope = options.workspaceId ?? null;
  const [deployments, records] = await Promise.all([
    (options.query ?? prismaQuery(db))<DeploymentSqlRow>(deploymentsStatement(scope)),
    // Only deployments whose newest failure is after their last success are looked into, each through the
    // (deploymentId, status) index from the last success on, once: the window count runs before the LIMIT, so it
    // counts every failure since the last success while only the newest three are listed.
    db.$queryRaw<RecordRow[]>`
      SELECT f.id, d.id AS "deploymentId", 'FAILED' AS status, f.trigger::text AS trigger, f."startedAt", f."errorKind",
             f.error, f.failures AS "sameStatusCount"
        FROM "Deployment" d
        JOIN "BackupSummary" s ON s."deploymentId" = d.id
       CROSS JOIN LATERAL (
             SELECT r.id, r.trigger, r."startedAt", r."errorKind", r.error, (count(*) OVER ())::int AS failures
               FROM "BackupRecord" r
              WHERE r."deploymentId" = d.id AND r."startedAt" > coalesce(d."lastBackupAt", '-infinity')
                AND r.status = 'FAILED'
              ORDER BY r."startedAt" DESC
              LIMIT ${FAILURES_LISTED}) f
       WHERE d."backupEnabled" AND (${scope}::text IS NULL OR d."workspaceId" = ${scope})
         AND s."lastFailedAt" > coalesce(d."lastBackupAt", '-infinity')
      UNION ALL
      SELECT r.id, r."deploymentId", 'RUNNING', r.trigger::text, r."startedAt", r."errorKind", r.error,
             (count(*) OVER (PARTITION BY r."deploymentId"))::int
        FROM "BackupRecord" r JOIN "Deployment" d ON d.id = r."deploymentId"
       WHERE r.status = 'RUNNING' AND d."backupEnabled" AND (${scope}::text IS NULL OR d."workspaceId" = ${scope})`,
  ]);
  const volume = options.backupRoot ? await readVolume(options.backupRoot) : null;
  return { deployments: deployments.map(toDeploymentRow), records, volume };
}

/** Pure assembly of the gathered rows into the state (exported for tests). */
export function assembleBackupState(
  deployments: DeploymentRow[],
  records: RecordRow[],
  volume: BackupState['volume'],
  options: Pick<StateOptions, 'now' | 'overdueGraceMs' | 'retryDelayMs'>,
): BackupState {
  const recordsById = new Map<string, RecordRow[]>();
  for (let index = 0; index < records.length; index += 1) {
    const row = records[index]!;
    const listed = recordsById.get(row.deploymentId);
    if (listed) listed.push(row);
    else recordsById.set(row.deploymentId, [row]);
  }
  // Each distinct schedule is read once for the pass; the decisions below share the readings.
  const read = scheduleReaderAt(options.now);
  const states = deployments.map((row): DeploymentBackupState => {
    const listed = recordsById.get(row.id) ?? NO_RECORDS;
    const running = firstWithStatus(listed, 'RUNNING');
    const schedule = row.backupSchedule ? read(row.backupSchedule, row.backupTimezone) : null;
    const parsed = schedule?.parsed ?? null;
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
      nextRunAt: schedule?.nextAt ?? null,
      decision: shouldRunBackup(
        row,
        options.now,
        { lastFailedAt: row.lastFailedAt, retryDelayMs: options.retryDelayMs },
        read,
      ),
      overdue: findOverdue(row, options.now, options.overdueGraceMs, read),
      storedBackups: row.storedBackups,
      storedBytes: BigInt(row.storedBytes),
      recentFailures: listFailures(listed),
      failuresSinceLastSuccess: firstWithStatus(listed, 'FAILED')?.sameStatusCount ?? 0,
      running: running ? { id: running.id, startedAt: running.startedAt, trigger: running.trigger } : null,
    };
  });
  return {
    gatheredAt: options.now,
    deployments: states,
    totals: { ...countStates(states), storedBytes: sumDecimals(deployments.map((row) => row.storedBytes)) },
    pruneSuggestions: states
      .filter((s) => s.storedBackups > PRUNE_SUGGESTION_THRESHOLD)
      .map((s) => ({ deploymentId: s.id, name: s.name, storedBackups: s.storedBackups, retention: s.retention })),
    volume,
  };
}

/** The rows of a deployment without listed records (most of them): no array made per deployment. */
const NO_RECORDS: readonly RecordRow[] = Object.freeze([]);

/** The first listed record of `status` (a loop: `find` with an arrow made a function object per deployment). */
function firstWithStatus(listed: readonly RecordRow[], status: string): RecordRow | undefined {
  for (let index = 0; index < listed.length; index += 1) if (listed[index]!.status === status) return listed[index];
  return undefined;
}

/** The totals' counts, in one pass over the states (one `filter` per count made an array of each). */
function countStates(states: readonly DeploymentBackupState[]): Omit<BackupState['totals'], 'storedBytes'> {
  let due = 0;
  let overdue = 0;
  let failing = 0;
  let running = 0;
  let storedBackups = 0;
  // Indexed loops here and below: a function run once per pass is often not optimized yet, and an unoptimized
  // for-of allocates an iterator result per element (0.3 MiB a loop at 9,000 deployments).
  for (let index = 0; index < states.length; index += 1) {
    const state = states[index]!;
    if (state.decision.due) due += 1;
    if (state.overdue) overdue += 1;
    if (state.failuresSinceLastSuccess > 0) failing += 1;
    if (state.running) running += 1;
    storedBackups += state.storedBackups;
  }
  return { enabled: states.length, due, overdue, failing, running, storedBackups };
}

/** The failures of a deployment without any listed: one frozen list for all of them. */
const NO_FAILURES: readonly FailedAttempt[] = Object.freeze([]);

/** A deployment's listed failures, newest first. */
function listFailures(listed: readonly RecordRow[]): readonly FailedAttempt[] {
  if (listed.length === 0) return NO_FAILURES;
  return listed
    .filter((record) => record.status === 'FAILED')
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())
    .map(({ id, startedAt, errorKind, error }) => ({ id, startedAt, errorKind, error }));
}

/**
 * The exact sum of non-negative decimal integers: in plain numbers while the sum is a safe integer (below 2^53 bytes,
 * 9 PB), which covers any real volume without allocating a BigInt per addition; in BigInt arithmetic past that.
 */
export function sumDecimals(values: readonly string[]): bigint {
  let sum = 0;
  for (let index = 0; index < values.length; index += 1) {
    sum += Number(values[index]);
    if (!Number.isSafeInteger(sum)) return values.reduce((total, each) => total + BigInt(each), 0n);
  }
  return BigInt(sum);
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
