import type { BackupTrigger, PrismaClient } from '../../generated/prisma/client.ts';
import type { JobData, JobQueue } from '../jobs/index.ts';
import { type LiveRestorePlan, newConfirmation, recordApproval, recordLivePlan } from './restore-backup.ts';
import type { RestoreDependencies } from './restore-dependencies.ts';
import { RestoreRefusedError, type RestoreRefusalCode } from './restore-errors.ts';

/**
 * Dry-runs and approvals of live restores, asked of a worker: they count the live data inside the pod, which only
 * workers may exec into. The web process makes the confirmation token, sends its hash in a `restorePlan` job and
 * waits for the answer; the token itself never leaves the web process (nor enters the queue or the database).
 */

/** How long the web process waits for a worker to answer a plan. */
export const PLAN_ANSWER_TIMEOUT_MS = 60_000;

/** No worker answered in time (none running, or all busy): nothing was planned. */
export class PlanUnansweredError extends Error {
  override readonly name = 'PlanUnansweredError';
}

/** What a worker answers to a plan request (the job's output). */
export type PlanAnswer =
  { ok: true; restoreId: string; plan: string } | { ok: false; code: RestoreRefusalCode; message: string };

export type PlanRequest =
  | { action: 'plan'; backupId: string; requestedBy: string; trigger: BackupTrigger }
  | { action: 'approve'; restoreId: string; approvedBy: string };

/**
 * Asks a worker for a dry-run (or approval) and waits for it: the PROPOSED restore with its plan, and the token,
 * shown once. A refusal throws `RestoreRefusedError` as the direct call does; no answer in time throws
 * `PlanUnansweredError` (the request is cancelled if no worker took it).
 */
export async function requestLivePlan(
  context: { db: PrismaClient; jobs: JobQueue; clock: () => Date },
  request: PlanRequest,
  options: { timeoutMs?: number } = {},
): Promise<LiveRestorePlan> {
  const confirmation = newConfirmation(context.clock());
  const data: JobData<'restorePlan'> = {
    ...request,
    tokenHash: confirmation.tokenHash,
    expiresAt: confirmation.expiresAt.toISOString(),
  };
  const id = await context.jobs.enqueue('restorePlan', data);
  if (!id) throw new PlanUnansweredError('the plan request could not be queued');
  const timeoutMs = options.timeoutMs ?? PLAN_ANSWER_TIMEOUT_MS;
  const job = await context.jobs.waitForJob('restorePlan', id, { timeoutMs });
  if (!job || job.state !== 'succeeded') {
    throw new PlanUnansweredError(
      job?.state === 'failed'
        ? 'the worker could not plan the restore (see its log)'
        : `no worker answered within ${Math.round(timeoutMs / 1_000)} s; is a worker running?`,
    );
  }
  const answer = job.output as PlanAnswer;
  if (!answer.ok) throw new RestoreRefusedError(answer.code, answer.message);
  const restore = await context.db.restoreRecord.findUniqueOrThrow({ where: { id: answer.restoreId } });
  return { restore, plan: answer.plan, confirmToken: confirmation.token, expiresAt: confirmation.expiresAt };
}

/** A worker's answer to a plan request: the plan recorded, or the refusal as data. */
export async function answerPlanRequest(deps: RestoreDependencies, data: JobData<'restorePlan'>): Promise<PlanAnswer> {
  const confirmation = { tokenHash: data.tokenHash, expiresAt: new Date(data.expiresAt) };
  const now = deps.clock();
  try {
    const { restore, plan } =
      data.action === 'plan'
        ? await recordLivePlan(
            deps,
            data.backupId,
            { requestedBy: data.requestedBy, trigger: data.trigger, now },
            confirmation,
          )
        : await recordApproval(deps, data.restoreId, { approvedBy: data.approvedBy, now }, confirmation);
    return { ok: true, restoreId: restore.id, plan };
  } catch (error) {
    if (error instanceof RestoreRefusedError) return { ok: false, code: error.code, message: error.message };
    throw error;
  }
}
