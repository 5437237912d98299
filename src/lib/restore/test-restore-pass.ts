/**
 * Scheduled test-restores: for each deployment whose `testRestoreSchedule` has fired since its last test-restore,
 * restore its newest backup (the newest verified one when there is one) into a scratch database, which the restore
 * engine counts and drops; compare the counts with the previous successful test-restore of that deployment; record
 * the run in `lastTestRestoreAt`; and alert a person: `test_restore_failed` (critical) when the restore failed or
 * was refused, `data_shrank` (warning) when tables or keys shrank beyond the tolerance. A clean run resolves both.
 *
 * One deployment at a time (a restore loads the database server as much as a backup). A run is claimed by moving
 * `lastTestRestoreAt` from the value the decision read to the start time, so two workers never run the same one; a
 * worker that dies mid-run leaves it claimed until the schedule fires again. Errors of one deployment never stop
 * the others; nothing here throws.
 */
import type { BackupRecord, Deployment, RestoreRecord } from '../../generated/prisma/client.ts';
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

/** Runs every due test-restore once; `now` is the time the due decisions are taken at. */
export async function runTestRestorePass(
  deps: RestoreDependencies,
  now: Date,
  options: TestRestorePassOptions = {},
): Promise<TestRestoreReport> {
  const log = deps.logger.child({ module: 'restore/test-restore' });
  const report: TestRestoreReport = { due: 0, results: [] };
  const deployments = await deps.db.deployment.findMany({
    where: { testRestoreSchedule: { not: null } },
    include: { workspace: { select: { slug: true } } },
    orderBy: { id: 'asc' },
  });
  for (const deployment of deployments) {
    if (options.stopTakingWork?.aborted) break;
    const decision = isTestRestoreDue(deployment, now);
    if (!decision.due) {
      if (decision.code === 'INVALID_SCHEDULE')
        log.warn({ deploymentId: deployment.id }, `test-restore skipped: ${decision.reason}`);
      continue;
    }
    try {
      const backup = await chooseBackup(deps, deployment.id);
      if (!backup) {
        log.info({ deploymentId: deployment.id }, 'test-restore due but the deployment has no successful backup yet');
        continue;
      }
      report.due += 1;
      const claimed = await deps.db.deployment.updateMany({
        where: { id: deployment.id, lastTestRestoreAt: deployment.lastTestRestoreAt },
        data: { lastTestRestoreAt: now },
      });
      if (claimed.count !== 1) continue;
      log.info({ deploymentId: deployment.id, backupId: backup.id, reason: decision.reason }, 'test-restore started');
      const result = await testRestore(deps, deployment, backup, options);
      report.results.push(result);
      await deps.db.deployment.update({ where: { id: deployment.id }, data: { lastTestRestoreAt: deps.clock() } });
      const level = result.outcome === 'clean' ? 'info' : result.outcome === 'shrank' ? 'warn' : 'error';
      log[level](
        { deploymentId: deployment.id, restoreId: result.restoreId, outcome: result.outcome },
        `test-restore ${result.outcome}: ${result.detail}`,
      );
    } catch (error) {
      log.error({ err: error, deploymentId: deployment.id }, 'test-restore crashed');
    }
  }
  return report;
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
  options: TestRestorePassOptions,
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
