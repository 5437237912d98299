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
  const id = await context.jobs.enqueue('backup', data);
  const job = id ? await context.jobs.getJob('backup', id) : await context.jobs.findPending('backup', data);
  if (job) return { kind: 'queued', job, started: id !== null };
  // The waiting job started and finished between the two calls: ask again.
  return requestBackup(context, deployment, requestedBy);
}
