import type { PrismaClient, RestoreRecord } from '../../generated/prisma/client.ts';
import type { LiveRestorePlan, RestoreRefusedError } from '../restore/index.ts';
import type { Principal } from './principal.ts';
import { json, problem, quoteInput } from './http.ts';
import { toRestoreRecordJson } from './restore-json.ts';
import { isRecordId } from '../shared/index.ts';

/**
 * The HTTP answer to a refused restore: 404 unknown, 403 wrong token or the planner confirming where a second
 * principal is required, 410 expired token, 409 anything else.
 */
export function refusalResponse(error: RestoreRefusedError): Response {
  const status =
    error.code === 'NOT_FOUND'
      ? 404
      : error.code === 'TOKEN_INVALID' || error.code === 'SAME_PRINCIPAL'
        ? 403
        : error.code === 'TOKEN_EXPIRED'
          ? 410
          : 409;
  return problem(status, error.message, { 'x-restore-refusal': error.code });
}

/** The restore `id` if it belongs to the principal's workspace, else null (another workspace's looks missing). */
export async function findRestoreForPrincipal(
  db: PrismaClient,
  principal: Pick<Principal, 'workspaceId'>,
  id: string,
): Promise<RestoreRecord | null> {
  if (!isRecordId(id)) return null;
  return db.restoreRecord.findFirst({ where: { id, workspaceId: principal.workspaceId } });
}

/** 503 when no worker answered a dry-run or approval in time: nothing was planned; ask again. */
export function planUnansweredResponse(error: Error): Response {
  return problem(503, `the restore could not be planned: ${error.message}`, { 'retry-after': '30' });
}

/** The 404 for a restore that is missing or not the principal's. */
export function restoreNotFound(id: string): Response {
  return problem(404, `restore ${quoteInput(id)} not found`);
}

/** 201 with a PROPOSED restore, its plan and its confirmation token (shown only in this answer), after a dry-run or an approval. */
export function livePlanResponse(planned: LiveRestorePlan): Response {
  return json(
    {
      restore: toRestoreRecordJson(planned.restore),
      plan: planned.plan,
      confirmToken: planned.confirmToken,
      expiresAt: planned.expiresAt.toISOString(),
    },
    { status: 201, headers: { location: `/api/restores/${planned.restore.id}` } },
  );
}
