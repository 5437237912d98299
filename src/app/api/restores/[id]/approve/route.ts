import {
  findRestoreForPrincipal,
  getWebContext,
  limitRequest,
  livePlanResponse,
  planUnansweredResponse,
  refusalResponse,
  requestClientAddress,
  requirePrincipal,
  restoreNotFound,
} from '../../../../../lib/web/index.ts';
import { PlanUnansweredError, requestLivePlan, RestoreRefusedError } from '../../../../../lib/restore/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * A person approves a PROPOSED restore (e.g. one the agent proposed): the live data is counted again and 201 answers
 * with the fresh plan and a new confirmation token (any earlier token stops working).
 */
export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const { runtime, backup, jobs, limits } = await getWebContext();
  const db = runtime.database.prisma;
  const now = new Date();
  const principal = await requirePrincipal(db, request, now, 'restore');
  if (principal instanceof Response) return principal;
  // Each plan counts every live table of the deployment (through a worker): limited per token and per address.
  const limited = limitRequest(
    { byToken: limits.restorePlansByToken, byAddress: limits.restorePlansByAddress },
    { tokenId: principal.tokenId, address: requestClientAddress(request) },
    now,
    'restore approvals',
  );
  if (limited) return limited;
  const proposal = await findRestoreForPrincipal(db, principal, id);
  if (!proposal) return restoreNotFound(id);
  try {
    const approved = await requestLivePlan(
      { db, jobs: await jobs(), clock: backup.clock },
      { action: 'approve', restoreId: proposal.id, approvedBy: `api:${principal.tokenId}` },
    );
    return livePlanResponse(approved);
  } catch (error) {
    if (error instanceof RestoreRefusedError) return refusalResponse(error);
    if (error instanceof PlanUnansweredError) return planUnansweredResponse(error);
    throw error;
  }
}
