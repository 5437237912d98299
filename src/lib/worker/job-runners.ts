import { setTimeout as sleep } from 'node:timers/promises';
import { executeBackup, type BackupDependencies } from '../backups/index.ts';
import type { JobQueue, RunningJob } from '../jobs/index.ts';
import { runUploadPass } from '../offsite/index.ts';
import { answerPlanRequest, runDeploymentTestRestore, runQueuedRestore } from '../restore/index.ts';
import type { Logger } from '../shared/index.ts';

/** What the job runners need: the backup dependencies (a restore's too), the queue, and the worker's settings. */
export interface JobRunnerDependencies {
  backup: BackupDependencies;
  jobs: JobQueue;
  logger: Logger;
  settings: {
    /** Backups one worker runs at once. */
    concurrency: number;
  };
}

/** What this worker's jobs did, counted as they end (the cycle's log line reports it). */
export interface JobTally {
  backupsRun: number;
  backupsSucceeded: number;
  backupsFailed: number;
  /** Backup jobs that found nothing to do (made meanwhile, deployment not eligible, one running already). */
  backupsSkipped: number;
  pruned: number;
  restores: number;
  testRestores: number;
  testRestoresFailed: number;
  dataShrank: number;
  uploaded: number;
  uploadsFailed: number;
}

export function emptyJobTally(): JobTally {
  return {
    backupsRun: 0,
    backupsSucceeded: 0,
    backupsFailed: 0,
    backupsSkipped: 0,
    pruned: 0,
    restores: 0,
    testRestores: 0,
    testRestoresFailed: 0,
    dataShrank: 0,
    uploaded: 0,
    uploadsFailed: 0,
  };
}

/** `after - before`, field by field: what happened between two readings of a tally. */
export function tallySince(after: JobTally, before: JobTally): JobTally {
  const difference = emptyJobTally();
  for (const key of Object.keys(difference) as Array<keyof JobTally>) difference[key] = after[key] - before[key];
  return difference;
}

/** Thrown when a job should be attempted again later (pg-boss retries it with backoff). */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
}

/**
 * Registers the worker's handlers on every queue: backups (`concurrency` at once), confirmed live restores and
 * scheduled test-restores (one at a time each: they load the database server like a backup), and off-site upload
 * passes. They run beside the cycle, so a long upload or test-restore never delays a due backup. `abortRunning`
 * aborts running work at the end of the shutdown grace period; the job is then tried again by another worker.
 */
export async function startJobRunners(
  deps: JobRunnerDependencies,
  options: { abortRunning: AbortSignal; tally?: JobTally },
): Promise<void> {
  const tally = options.tally ?? emptyJobTally();
  const signalFor = (job: { signal: AbortSignal }) => AbortSignal.any([options.abortRunning, job.signal]);
  await deps.jobs.work('backup', { concurrency: deps.settings.concurrency }, async (job) => {
    const result = await runBackupJob(deps, job, signalFor(job));
    if ('status' in result && result.status === 'SUCCEEDED' && deps.backup.destinations?.length) {
      // Its off-site copy starts right away, beside the other backups (the periodic pass retries what fails).
      await deps.jobs
        .enqueue('upload', { backupId: result.backupId })
        .catch((error: unknown) =>
          deps.logger.warn(
            { err: error, backupId: result.backupId },
            'could not queue the upload; the next pass takes it',
          ),
        );
    }
    if ('skipped' in result) tally.backupsSkipped += 1;
    else {
      tally.backupsRun += 1;
      if (result.status === 'SUCCEEDED') tally.backupsSucceeded += 1;
      else tally.backupsFailed += 1;
      tally.pruned += result.pruned ?? 0;
    }
    return result;
  });
  await deps.jobs.work('restore', { concurrency: 1 }, async (job) => {
    const result = await runQueuedRestore(deps.backup, job.data.restoreId, { ...job, signal: signalFor(job) });
    if (result.outcome === 'ran') tally.restores += 1;
    if (result.outcome === 'ran' && options.abortRunning.aborted) {
      // The record is FAILED (stopped by the shutdown) and will not be run again: the alert says so.
      return { outcome: 'stopped by shutdown', restoreId: job.data.restoreId };
    }
    return { outcome: result.outcome, restoreId: job.data.restoreId };
  });
  // Dry-runs and approvals the web asks for: quick (a count in the pod), so two at a time, ahead of long work.
  await deps.jobs.work('restorePlan', { concurrency: 2 }, (job) => answerPlanRequest(deps.backup, job.data));
  await deps.jobs.work('testRestore', { concurrency: 1 }, async (job) => {
    // A backup of the deployment queued in the same cycle is waited for: the test-restore restores the newest backup.
    await waitForPendingBackup(deps.jobs, job.data.deploymentId, signalFor(job));
    const result = await runDeploymentTestRestore(deps.backup, job.data.deploymentId, {
      abortRunning: signalFor(job),
      jobId: job.id,
    });
    if (options.abortRunning.aborted) throw new RetryLaterError('the worker stopped during the test-restore');
    if (result) tally.testRestores += 1;
    if (result?.outcome === 'failed') tally.testRestoresFailed += 1;
    if (result?.outcome === 'shrank') tally.dataShrank += 1;
    return { outcome: result?.outcome ?? 'nothing to restore', restoreId: result?.restoreId ?? null };
  });
  await deps.jobs.work('upload', { concurrency: 1 }, async (job) => {
    const report = await runUploadPass(deps.backup, deps.backup.clock(), {
      signal: signalFor(job),
      // An upload whose worker died is taken over once this lease lapses: as long as a backup's claim.
      leaseMs: deps.backup.settings.claimTtlMs,
      ...(job.data.backupId ? { backupId: job.data.backupId } : {}),
    });
    tally.uploaded += report.uploaded;
    tally.uploadsFailed += report.retrying + report.failed;
    return { uploaded: report.uploaded, retrying: report.retrying, failed: report.failed };
  });
}

/** Resolves once no backup job of the deployment waits or runs (or `signal` aborts). */
async function waitForPendingBackup(jobs: JobQueue, deploymentId: string, signal: AbortSignal): Promise<void> {
  const key = { deploymentId, trigger: 'SCHEDULE' as const, requestedBy: 'test-restore' };
  while (!signal.aborted && (await jobs.findPending('backup', key))) {
    await sleep(1_000, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * One backup job. A scheduled one is skipped when another backup finished after it was decided due. A backup
 * already running for the deployment answers a request for one (the running one is the answer), except when that
 * running record is this job's own earlier attempt, whose worker died: the job waits for crash recovery to release
 * the deployment and tries again. A backup stopped by this worker's shutdown is tried again by another worker.
 */
export async function runBackupJob(
  deps: JobRunnerDependencies,
  job: RunningJob<'backup'>,
  signal: AbortSignal,
): Promise<BackupJobResult> {
  const { deploymentId, trigger, expectedLastBackupAt } = job.data;
  const log = deps.logger.child({ module: 'worker/jobs', jobId: job.id, deploymentId, trigger });
  if (trigger !== 'SCHEDULE') {
    // A request for a backup is answered by any backup of the deployment started since it was made (two requests a
    // moment apart, a CLI run meanwhile): no second one for the same request.
    const since = await deps.backup.db.backupRecord.findFirst({
      where: {
        deploymentId,
        startedAt: { gte: job.createdAt },
        status: { in: ['RUNNING', 'SUCCEEDED'] },
        NOT: { jobId: job.id },
      },
      orderBy: { startedAt: 'desc' },
    });
    if (since) {
      log.info({ backupId: since.id }, 'backup request answered by a backup started after it was made');
      return { skipped: 'ANSWERED', runningBackupId: since.id };
    }
  }
  const outcome = await executeBackup(deps.backup, deploymentId, {
    trigger,
    signal,
    jobId: job.id,
    // A scheduled backup was decided due when it was queued; under the claim, a backup another worker finished
    // since (a newer lastBackupAt) makes this one unnecessary.
    ...(expectedLastBackupAt !== undefined ? { expectedLastBackupAt: dateOrNull(expectedLastBackupAt) } : {}),
  });
  if (outcome.status === 'SKIPPED') {
    if (outcome.code === 'ALREADY_RUNNING' && outcome.runningRecord?.jobId === job.id) {
      throw new RetryLaterError(
        'an earlier attempt of this job still holds the deployment; waiting for its claim to expire',
      );
    }
    log.info({ code: outcome.code }, `backup skipped: ${outcome.reason}`);
    return { skipped: outcome.code, runningBackupId: outcome.runningRecord?.id ?? null };
  }
  if (outcome.status === 'FAILED' && outcome.record.errorKind === 'Interrupted' && signal.aborted) {
    throw new RetryLaterError(`backup ${outcome.record.id} was interrupted by this worker's shutdown`);
  }
  return {
    status: outcome.status,
    backupId: outcome.record.id,
    ...(outcome.status === 'SUCCEEDED' ? { pruned: outcome.pruned } : {}),
  };
}

/** What a backup job returns (pg-boss keeps it as the job's output). */
export type BackupJobResult =
  | { skipped: string; runningBackupId: string | null }
  | { status: 'SUCCEEDED' | 'FAILED'; backupId: string; pruned?: number };

function dateOrNull(value: string | null): Date | null {
  return value === null ? null : new Date(value);
}
