import { requirePrincipal } from '../../../../../lib/web/api-auth.ts';
import { json } from '../../../../../lib/web/http.ts';
import { getWebContext } from '../../../../../lib/web/web-context.ts';
import { approveRestore, RestoreRefusedError } from '../../../../../lib/restore/restore-backup.ts';
import { findRestoreForPrincipal, refusalResponse, restoreNotFound } from '../../../../../lib/restore/restore-http.ts';
import { toRestoreRecordJson } from '../../../../../lib/restore/restore-json.ts';

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
    const approved = await approveRestore(backup, proposal.id, { approvedBy: `api:${principal.tokenId}`, now: backup.clock() });
    return json(
      { restore: toRestoreRecordJson(approved.restore), plan: approved.plan, confirmToken: approved.confirmToken, expiresAt: approved.expiresAt.toISOString() },
      { status: 201, headers: { location: `/api/restores/${approved.restore.id}` } },
    );
  } catch (error) {
    if (error instanceof RestoreRefusedError) return refusalResponse(error);
    throw error;
  }
}
