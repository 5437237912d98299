import { randomUUID } from 'node:crypto';
import type { RestoreRecord } from '../../generated/prisma/client.ts';
import { changeWithAlert, RESTORE_FAILED_ALERT } from '../alerts/index.ts';
import { claimDeployment } from '../backups/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { checkConfirmation, loadRestorable, runLiveRestore } from './restore-backup.ts';
import type { RestoreDependencies } from './restore-dependencies.ts';
import { RestoreRefusedError } from './restore-errors.ts';
import { leaseUntil } from './restore-lease.ts';

/**
 * Confirmed live restores as durable jobs: the web process only checks the token and queues the restore; a worker
 * runs it under the deployment claim. The job may be attempted again (a worker died, the deployment was busy), so
 * the runner reads the record first and never restores twice: QUEUED runs, RUNNING means an earlier attempt died
 * mid-way (the record fails, with a critical alert saying what state the live data may be in), anything else is done.
 */

/** Thrown while the deployment is busy (a backup runs): the job is tried again later. */
export class RestoreBusyError extends Error {
  override readonly name = 'RestoreBusyError';
}

/**
 * Confirms a planned live restore with its token and queues it: the token's single use, the QUEUED status and the
 * job commit together (no job without a confirmed record, no confirmed record without a job). Refusals throw
 * `RestoreRefusedError` as `restoreBackup` does; nothing touches the live data here.
 */
export async function queueLiveRestore(
  deps: RestoreDependencies,
  jobs: JobQueue,
  request: { restoreId: string; confirmToken: string; confirmedBy: string },
): Promise<RestoreRecord> {
  const now = deps.clock();
  const proposal = await checkConfirmation(deps, request.restoreId, request.confirmToken, now, request.confirmedBy);
  // Refuses before queueing what cannot run (deployment not RUNNING, backup gone).
  await loadRestorable(deps, proposal.backupRecordId);
  return deps.db.$transaction(async (tx) => {
    const { count } = await tx.restoreRecord.updateMany({
      where: {
        id: proposal.id,
        status: 'PROPOSED',
        confirmTokenHash: proposal.confirmTokenHash,
        confirmExpiresAt: { gt: now },
      },
      data: { status: 'QUEUED', confirmedBy: request.confirmedBy },
    });
    if (count !== 1)
      throw new RestoreRefusedError('NOT_PROPOSED', `restore ${proposal.id} was confirmed or cancelled meanwhile`);
    const jobId = await jobs.enqueue('restore', { restoreId: proposal.id }, { transaction: tx });
    if (!jobId) throw new RestoreRefusedError('NOT_PROPOSED', `restore ${proposal.id} is already queued`);
    deps.logger
      .child({ module: 'restore', restoreId: proposal.id })
      .warn({ confirmedBy: request.confirmedBy, jobId }, 'live restore confirmed and queued');
    return tx.restoreRecord.update({ where: { id: proposal.id }, data: { jobId } });
  });
}

/** How a queued restore's job ended. */
export type QueuedRestoreOutcome =
  | { outcome: 'ran'; record: RestoreRecord }
  | { outcome: 'interrupted'; record: RestoreRecord }
  | { outcome: 'refused' | 'busy'; record: RestoreRecord }
  | { outcome: 'nothing-to-do'; status: string };

/**
 * Runs the queued live restore `restoreId` for a worker's job. Throws `RestoreBusyError` while the deployment is
 * claimed by a backup (the job is retried later), except on the job's last attempt, where the restore fails.
 */
export async function runQueuedRestore(
  deps: RestoreDependencies,
  restoreId: string,
  job: { id: string; lastAttempt: boolean; signal?: AbortSignal },
): Promise<QueuedRestoreOutcome> {
  const log = deps.logger.child({ module: 'restore', restoreId, jobId: job.id });
  const record = await deps.db.restoreRecord.findUnique({ where: { id: restoreId } });
  if (!record) return { outcome: 'nothing-to-do', status: 'missing' };
  if (record.status === 'RUNNING') {
    return { outcome: 'interrupted', record: await failInterruptedRestore(deps, record, 'its worker stopped') };
  }
  if (record.status !== 'QUEUED' || !record.backupRecordId) return { outcome: 'nothing-to-do', status: record.status };

  const now = deps.clock();
  let restorable;
  try {
    restorable = await loadRestorable(deps, record.backupRecordId);
  } catch (error) {
    if (!(error instanceof RestoreRefusedError)) throw error;
    return { outcome: 'refused', record: await failQueued(deps, record, 'Refused', error.message) };
  }
  const claim = {
    deploymentId: record.deploymentId,
    token: `restore-${randomUUID()}`,
    ttlMs: deps.settings.claimTtlMs,
  };
  const started = await deps.db.$transaction(async (tx) => {
    if (!(await claimDeployment(tx, { ...claim, now }))) return null;
    const { count } = await tx.restoreRecord.updateMany({
      where: { id: record.id, status: 'QUEUED' },
      data: { status: 'RUNNING', startedAt: now, leaseExpiresAt: leaseUntil(deps, now), jobId: job.id },
    });
    if (count !== 1) throw new Error(`restore ${record.id} left QUEUED while it was being started`);
    return tx.restoreRecord.findUniqueOrThrow({ where: { id: record.id } });
  });
  if (!started) {
    const message = `a backup or another restore of deployment ${record.deploymentId} kept running; the restore was not started`;
    if (job.lastAttempt) return { outcome: 'busy', record: await failQueued(deps, record, 'Busy', message) };
    log.info('deployment busy; the queued restore will be tried again');
    throw new RestoreBusyError(message);
  }
  return {
    outcome: 'ran',
    record: await runLiveRestore(deps, {
      record: started,
      restorable,
      claim,
      ...(job.signal ? { signal: job.signal } : {}),
    }),
  };
}

/**
 * Fails a RUNNING restore whose process is gone (a killed worker or CLI, noticed by its job's next attempt or by
 * crash recovery). A live restore gets a critical alert that says what the live data may now hold; a scratch or
 * test restore left a scratch database that may need dropping. Returns the record as it is afterwards.
 */
export async function failInterruptedRestore(
  deps: RestoreDependencies,
  record: RestoreRecord,
  why: string,
): Promise<RestoreRecord> {
  const now = deps.clock();
  const live = record.kind === 'DESTRUCTIVE';
  const backup = record.backupRecordId
    ? await deps.db.backupRecord.findUnique({ where: { id: record.backupRecordId }, select: { format: true } })
    : null;
  const state = !live
    ? `the scratch database "${record.target}" may be left behind; drop it by hand`
    : backup?.format === 'postgres-custom'
      ? `pg_restore ran in one transaction, so the live database "${record.target}" should be unchanged; check it`
      : `the live data of "${record.target}" may be partly restored; check it and restore again`;
  const message = `interrupted: ${why} before the restore finished; ${state}`;
  const { result } = await failWithAlert(
    deps,
    record,
    'RUNNING',
    {
      finishedAt: now,
      durationMs: record.startedAt ? Math.min(now.getTime() - record.startedAt.getTime(), 2_147_483_647) : null,
      errorKind: 'Interrupted',
      error: message,
    },
    live ? `Live restore into "${record.target}" was ${message}.` : null,
  );
  if (result.changed)
    deps.logger
      .child({ module: 'restore', restoreId: record.id, deploymentId: record.deploymentId })
      .error({ kind: record.kind, target: record.target }, `restore ${message}`);
  return result.after;
}

/** Fails a QUEUED restore that will not run (refused or never free to run), with its alert. */
async function failQueued(
  deps: RestoreDependencies,
  record: RestoreRecord,
  kind: 'Refused' | 'Busy',
  reason: string,
): Promise<RestoreRecord> {
  const { result } = await failWithAlert(
    deps,
    record,
    'QUEUED',
    { finishedAt: deps.clock(), errorKind: kind, error: reason },
    `The confirmed live restore into "${record.target}" did not run (${kind}): ${reason}. The live data was not touched.`,
  );
  return result.after;
}

/**
 * Marks the restore FAILED with `fields` if it is still `from`, and raises its critical `restore_failed` alert
 * (`message`; null: none) in the same transaction, so a stop between the two cannot leave a failure unalerted.
 * Returns the record as it is afterwards, and whether this call changed it (no alert when it did not).
 */
function failWithAlert(
  deps: RestoreDependencies,
  record: RestoreRecord,
  from: 'RUNNING' | 'QUEUED',
  fields: { finishedAt: Date; durationMs?: number | null; errorKind: string; error: string },
  message: string | null,
) {
  return changeWithAlert(
    deps.db,
    deps.notifier,
    fields.finishedAt,
    async (tx) => {
      const { count } = await tx.restoreRecord.updateMany({
        where: { id: record.id, status: from },
        data: { status: 'FAILED', ...fields },
      });
      const after = await tx.restoreRecord.findUniqueOrThrow({ where: { id: record.id } });
      const deployment = await tx.deployment.findUnique({
        where: { id: record.deploymentId },
        select: { name: true },
      });
      return { changed: count > 0, after, deploymentName: deployment?.name ?? record.deploymentId };
    },
    ({ changed, deploymentName }) =>
      changed && message
        ? {
            workspaceId: record.workspaceId,
            deploymentId: record.deploymentId,
            deploymentName,
            backupRecordId: record.backupRecordId,
            severity: 'CRITICAL',
            kind: RESTORE_FAILED_ALERT,
            message,
          }
        : null,
  );
}

/**
 * Crash recovery for restores: every RUNNING restore whose lease lapsed (its process is gone) fails as interrupted.
 * Nothing is started again: a person decides what to do with the live data. Returns the restores it failed.
 */
export async function recoverInterruptedRestores(deps: RestoreDependencies): Promise<RestoreRecord[]> {
  const now = deps.clock();
  const stale = await deps.db.restoreRecord.findMany({
    where: { status: 'RUNNING', OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: now } }] },
  });
  const failed: RestoreRecord[] = [];
  for (const record of stale) {
    failed.push(await failInterruptedRestore(deps, record, 'the process running it stopped'));
  }
  return failed;
}
