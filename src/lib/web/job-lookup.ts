import { z } from 'zod';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { JOB_NAMES, type JobQueue, type JobView } from '../jobs/index.ts';
import type { Principal } from './principal.ts';

const jobIdSchema = z.uuid();

/**
 * The job `id` if it acts on the principal's workspace (a deployment's backup or test-restore, a restore of its
 * own), else null: another workspace's job looks exactly like one that does not exist.
 */
export async function findJobForPrincipal(
  context: { db: PrismaClient; jobs: JobQueue },
  principal: Pick<Principal, 'workspaceId'>,
  id: string,
): Promise<JobView | null> {
  if (!jobIdSchema.safeParse(id).success) return null;
  for (const name of JOB_NAMES) {
    const job = await context.jobs.getJob(name, id);
    if (!job) continue;
    return (await belongsTo(context.db, job, principal.workspaceId)) ? job : null;
  }
  return null;
}

async function belongsTo(db: PrismaClient, job: JobView, workspaceId: string): Promise<boolean> {
  const data = (job.data ?? {}) as { deploymentId?: unknown; restoreId?: unknown };
  if (typeof data.deploymentId === 'string') {
    return (await db.deployment.count({ where: { id: data.deploymentId, workspaceId } })) === 1;
  }
  if (typeof data.restoreId === 'string') {
    return (await db.restoreRecord.count({ where: { id: data.restoreId, workspaceId } })) === 1;
  }
  return false;
}
