import type { BackupRecord, Deployment, PrismaClient } from '../../generated/prisma/client.ts';
import { checkBackupEligibility, type SkipCode } from '../backups/index.ts';
import type { JobQueue, JobView } from '../jobs/index.ts';

export type BackupRequestResult =
  /** A backup of the deployment is running: that backup is the answer. */
  | { kind: 'running'; record: BackupRecord }
  /** Queued now (`started`), or the one already waiting in the queue. */
  | { kind: 'queued'; job: JobView; started: boolean }
  | { kind: 'refused'; code: SkipCode; reason: string };

/**
 * Asks for a backup of `deployment` without running it here: the web process only queues the job, a worker runs it
 * (the web needs no access to the pods). A deployment that may not be backed up (FAILED, no dataExport, …) is
 * refused with the reason; a backup already running or already queued is the answer instead of a second one.
 */
export async function requestBackup(
  context: { db: PrismaClient; jobs: JobQueue },
  deployment: Deployment,
  requestedBy: string,
): Promise<BackupRequestResult> {
  const ineligible = checkBackupEligibility(deployment);
  if (ineligible) return { kind: 'refused', code: ineligible.code, reason: ineligible.reason };
  const running = await context.db.backupRecord.findFirst({
    where: { deploymentId: deployment.id, status: 'RUNNING' },
    orderBy: { startedAt: 'desc' },
  });
  if (running) return { kind: 'running', record: running };
  const data = { deploymentId: deployment.id, trigger: 'API' as const, requestedBy };
  // Requests for one deployment take turns (a transaction-scoped lock), so a second one always finds the first's job,
  // waiting or just taken by a worker, and answers with it instead of queuing another backup.
  const { id, pending } = await context.db.$transaction(async (transaction) => {
    await transaction.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`backup-request:${deployment.id}`}))`;
    const found = await context.jobs.findPending('backup', data, { transaction });
    if (found) return { id: null, pending: found };
    return { id: await context.jobs.enqueue('backup', data, { transaction }), pending: null };
  });
  if (pending) return { kind: 'queued', job: pending, started: false };
  const job = id ? await context.jobs.getJob('backup', id) : null;
  if (job) return { kind: 'queued', job, started: true };
  // The job started and finished between the two calls: ask again.
  return requestBackup(context, deployment, requestedBy);
}
