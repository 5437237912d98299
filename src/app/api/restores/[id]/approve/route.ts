import {
  findRestoreForPrincipal,
  getWebContext,
  livePlanResponse,
  refusalResponse,
  requirePrincipal,
  restoreNotFound,
} from '../../../../../lib/web/index.ts';
import { approveRestore, RestoreRefusedError } from '../../../../../lib/restore/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * A person approves a PROPOSED restore (e.g. one the agent proposed): the live data is counted again and 201 answers
 * with the fresh plan and a new confirmation token (any earlier token stops working).
 */
export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const { runtime, backup } = await getWebContext();
  const db = runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date());
  if (principal instanceof Response) return principal;
  const proposal = await findRestoreForPrincipal(db, principal, id);
  if (!proposal) return restoreNotFound(id);
  try {
    const approved = await approveRestore(backup, proposal.id, {
      approvedBy: `api:${principal.tokenId}`,
      now: backup.clock(),
    });
    return livePlanResponse(approved);
  } catch (error) {
    if (error instanceof RestoreRefusedError) return refusalResponse(error);
    throw error;
  }
}
