/**
 * Scheduled test-restores: for each deployment whose `testRestoreSchedule` has fired since its last test-restore,
 * restore its newest backup (the newest verified one when there is one) into a scratch database, which the restore
 * engine counts and drops; compare the counts with the previous successful test-restore of that deployment; record
 * the run in `lastTestRestoreAt`; and alert a person: `test_restore_failed` (critical) when the restore failed or
 * was refused, `data_shrank` (warning) when tables or keys shrank beyond the tolerance. A clean run resolves both.
 *
 * A run is claimed by moving `lastTestRestoreAt` from the value the decision read to the start time, so two workers
 * never run the same one. The worker queues each claimed run as a job in the same transaction (its job is retried
 * when a worker dies mid-run); `runTestRestorePass` runs them in line, one at a time. Errors of one deployment never
 * stop the others; nothing here throws.
 */
import type { BackupRecord, Deployment, Prisma, RestoreRecord } from '../../generated/prisma/client.ts';
import { DATA_SHRANK_ALERT, raiseAndNotify, resolveAlerts, TEST_RESTORE_FAILED_ALERT } from '../alerts/index.ts';
import { redactSecrets } from '../shared/index.ts';
import { restoreBackup, RestoreRefusedError, type RestoreDependencies } from './restore-backup.ts';
import {
  compareRestoreCounts,
  describeShrinkage,
  restoreCountsSchema,
  type RestoreCounts,
  type ShrinkOptions,
} from './test-restore-compare.ts';
import { isTestRestoreDue } from './test-restore-due.ts';

export interface TestRestorePassOptions {
  /** Once aborted, no further test-restore starts (a running one goes on). */
  stopTakingWork?: AbortSignal;
  /** Aborts a running test-restore (its record ends FAILED). */
  abortRunning?: AbortSignal;
  /** What counts as unexpected shrinkage (defaults: more than 10% and at least 10 rows or keys, or to zero). */
  shrink?: ShrinkOptions;
}

/** How one deployment's test-restore went, for the cycle summary and the logs. */
export interface TestRestoreResult {
  deploymentId: string;
  deploymentName: string;
  outcome: 'clean' | 'shrank' | 'failed';
  restoreId: string | null;
  backupId: string;
  detail: string;
}

export interface TestRestoreReport {
  /** Deployments whose schedule said due (with a backup to restore). */
  due: number;
  results: TestRestoreResult[];
}

/** Runs every due test-restore once, one after another; `now` is the time the due decisions are taken at. */
export async function runTestRestorePass(
  deps: RestoreDependencies,
  now: Date,
  options: TestRestorePassOptions = {},
): Promise<TestRestoreReport> {
  const report: TestRestoreReport = { due: 0, results: [] };
  for (const due of await claimDueTestRestores(deps, now)) {
    if (options.stopTakingWork?.aborted) break;
    report.due += 1;
    const result = await runDeploymentTestRestore(deps, due.deploymentId, options);
    if (result) report.results.push(result);
  }
  return report;
}

/**
 * Takes the due decision for every deployment with a test-restore schedule and claims each due one that has a
 * backup to restore, by moving `lastTestRestoreAt` from the value the decision read to `now` (two workers never
 * claim the same run). `claim` runs in the same transaction as that move: a worker queues the test-restore's job
 * there, so a claimed run always has its job. Returns the claimed deployments.
 */
export async function claimDueTestRestores(
  deps: RestoreDependencies,
  now: Date,
  claim?: (transaction: Prisma.TransactionClient, deploymentId: string) => Promise<boolean>,
  /** Deployments whose first backup is on its way (queued this cycle): due without a backup yet. */
  backupComing: ReadonlySet<string> = new Set(),
): Promise<Array<{ deploymentId: string }>> {
  const log = deps.logger.child({ module: 'restore/test-restore' });
  const deployments = await deps.db.deployment.findMany({
    where: { testRestoreSchedule: { not: null } },
    orderBy: { id: 'asc' },
  });
  const claimed: Array<{ deploymentId: string }> = [];
  for (const deployment of deployments) {
    const decision = isTestRestoreDue(deployment, now);
    if (!decision.due) {
      if (decision.code === 'INVALID_SCHEDULE')
        log.warn({ deploymentId: deployment.id }, `test-restore skipped: ${decision.reason}`);
      continue;
    }
    try {
      if (!backupComing.has(deployment.id) && !(await chooseBackup(deps, deployment.id))) {
        log.info({ deploymentId: deployment.id }, 'test-restore due but the deployment has no successful backup yet');
        continue;
      }
      const taken = await deps.db.$transaction(async (tx) => {
        const moved = await tx.deployment.updateMany({
          where: { id: deployment.id, lastTestRestoreAt: deployment.lastTestRestoreAt },
          data: { lastTestRestoreAt: now },
        });
        if (moved.count !== 1) return false;
        if (claim && !(await claim(tx, deployment.id))) throw new ClaimDeclined();
        return true;
      });
      if (!taken) continue;
      log.info({ deploymentId: deployment.id, reason: decision.reason }, 'test-restore due');
      claimed.push({ deploymentId: deployment.id });
    } catch (error) {
      if (error instanceof ClaimDeclined) continue;
      log.error({ err: error, deploymentId: deployment.id }, 'could not claim a due test-restore');
    }
  }
  return claimed;
}

/** The claim's owner declined (its job was already queued): the move of `lastTestRestoreAt` is rolled back. */
class ClaimDeclined extends Error {}

/**
 * Runs the claimed test-restore of one deployment: its newest backup (verified if possible) into a scratch database,
 * compared with the previous run, alerted on, recorded in `lastTestRestoreAt`. Null when there is nothing to
 * restore (the deployment or its backups are gone). Never throws for a failed restore: the result says how it went.
 */
export async function runDeploymentTestRestore(
  deps: RestoreDependencies,
  deploymentId: string,
  options: TestRestorePassOptions & { jobId?: string } = {},
): Promise<TestRestoreResult | null> {
  const log = deps.logger.child({ module: 'restore/test-restore' });
  const deployment = await deps.db.deployment.findUnique({
    where: { id: deploymentId },
    include: { workspace: { select: { slug: true } } },
  });
  const backup = deployment ? await chooseBackup(deps, deploymentId) : null;
  if (!deployment || !backup) {
    log.info({ deploymentId }, 'test-restore skipped: the deployment or its backups are gone');
    return null;
  }
  log.info({ deploymentId, backupId: backup.id }, 'test-restore started');
  const result = await testRestore(deps, deployment, backup, options);
  await deps.db.deployment.update({ where: { id: deploymentId }, data: { lastTestRestoreAt: deps.clock() } });
  const level = result.outcome === 'clean' ? 'info' : result.outcome === 'shrank' ? 'warn' : 'error';
  log[level](
    { deploymentId, restoreId: result.restoreId, outcome: result.outcome },
    `test-restore ${result.outcome}: ${result.detail}`,
  );
  return result;
}

/** The newest SUCCEEDED backup that passed its format check, else the newest SUCCEEDED one. */
async function chooseBackup(deps: RestoreDependencies, deploymentId: string): Promise<BackupRecord | null> {
  const newest = { orderBy: { startedAt: 'desc' as const } };
  return (
    (await deps.db.backupRecord.findFirst({
      where: { deploymentId, status: 'SUCCEEDED', path: { not: null }, verifiedAt: { not: null } },
      ...newest,
    })) ??
    (await deps.db.backupRecord.findFirst({
      where: { deploymentId, status: 'SUCCEEDED', path: { not: null } },
      ...newest,
    }))
  );
}

type DeploymentWithSlug = Deployment & { workspace: { slug: string } };

async function testRestore(
  deps: RestoreDependencies,
  deployment: DeploymentWithSlug,
  backup: BackupRecord,
  options: TestRestorePassOptions & { jobId?: string },
): Promise<TestRestoreResult> {
  const base = { deploymentId: deployment.id, deploymentName: deployment.name, backupId: backup.id };
  const label = `${deployment.workspace.slug}/${deployment.name}`;
  const previous = await deps.db.restoreRecord.findFirst({
    where: { deploymentId: deployment.id, kind: 'TEST', status: 'SUCCEEDED' },
    orderBy: { finishedAt: 'desc' },
  });
  let restore: RestoreRecord | null = null;
  let failure: string | null = null;
  try {
    restore = await restoreBackup(deps, backup.id, {
      mode: 'scratch',
      kind: 'TEST',
      requestedBy: 'schedule',
      trigger: 'SCHEDULE',
      keepScratch: false,
      ...(options.abortRunning ? { signal: options.abortRunning } : {}),
      ...(options.jobId ? { jobId: options.jobId } : {}),
    });
    if (restore.status !== 'SUCCEEDED')
      failure = `${restore.errorKind ?? 'Failed'}: ${restore.error ?? 'the restore failed'}`;
  } catch (error) {
    failure =
      error instanceof RestoreRefusedError
        ? error.message
        : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
  }
  const alertBase = {
    workspaceId: deployment.workspaceId,
    deploymentId: deployment.id,
    deploymentName: deployment.name,
    backupRecordId: backup.id,
  };
  if (failure !== null || !restore) {
    const detail = redactSecrets(failure ?? 'the restore did not run');
    await raiseAndNotify(
      deps.db,
      deps.notifier,
      {
        ...alertBase,
        severity: 'CRITICAL',
        kind: TEST_RESTORE_FAILED_ALERT,
        message:
          `Scheduled test-restore of ${label} failed: the backup from ${backup.startedAt.toISOString()} could not be restored into a scratch ` +
          `database (${detail}). Restoring this deployment may not work; check the backup and the restore.`,
      },
      deps.clock(),
    );
    return { ...base, outcome: 'failed', restoreId: restore?.id ?? null, detail };
  }
  await resolveAlerts(deps.db, deployment.id, [TEST_RESTORE_FAILED_ALERT], deps.clock());

  const current = parseCounts(restore.counts);
  const comparison = current
    ? compareRestoreCounts(parseCounts(previous?.counts ?? null), current, options.shrink)
    : null;
  if (comparison?.comparable && comparison.shrank.length > 0) {
    const findings = describeShrinkage(comparison.shrank, comparison.unit);
    await raiseAndNotify(
      deps.db,
      deps.notifier,
      {
        ...alertBase,
        severity: 'WARNING',
        kind: DATA_SHRANK_ALERT,
        message:
          `Test-restore of ${label} found less data than the previous one: ${findings}. Backup from ${backup.startedAt.toISOString()}, ` +
          `compared with the test-restore of the backup from ${previous?.backupStartedAt.toISOString() ?? 'unknown'}. ` +
          `If this was not intended, older backups still hold the data.`,
      },
      deps.clock(),
    );
    return { ...base, outcome: 'shrank', restoreId: restore.id, detail: findings };
  }
  await resolveAlerts(deps.db, deployment.id, [DATA_SHRANK_ALERT], deps.clock());
  const detail = !current
    ? 'restored; no counts were recorded'
    : comparison?.comparable
      ? `restored; ${comparison.compared} ${'tables' in current ? 'tables' : 'databases'} compared with the previous test-restore, none shrank`
      : `restored; ${comparison?.reason ?? 'nothing to compare'}`;
  return { ...base, outcome: 'clean', restoreId: restore.id, detail };
}

/** A RestoreRecord's `counts` JSON, or null when it is absent or not of the known shape. */
function parseCounts(json: unknown): RestoreCounts | null {
  const parsed = restoreCountsSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}
