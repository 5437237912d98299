import {
  findRestoreForPrincipal,
  getWebContext,
  livePlanResponse,
  planUnansweredResponse,
  refusalResponse,
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
  const { runtime, backup, jobs } = await getWebContext();
  const db = runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date(), 'restore');
  if (principal instanceof Response) return principal;
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
