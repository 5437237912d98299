import {
  backupNotFound,
  findBackupForPrincipal,
  getWebContext,
  livePlanResponse,
  refusalResponse,
  requirePrincipal,
} from '../../../../../lib/web/index.ts';
import { planLiveRestore, RestoreRefusedError } from '../../../../../lib/restore/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * The dry-run of a restore of this backup over the live data: 201 with the PROPOSED restore, its plan (what will be
 * overwritten) and the confirmation token, shown only in this answer. Confirm with POST /api/restores/{id}/confirm.
 */
export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const { runtime, backup } = await getWebContext();
  const db = runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date());
  if (principal instanceof Response) return principal;
  const record = await findBackupForPrincipal(db, principal, id);
  if (!record) return backupNotFound(id);
  try {
    const planned = await planLiveRestore(backup, record.id, {
      requestedBy: `api:${principal.tokenId}`,
      trigger: 'API',
      now: backup.clock(),
    });
    return livePlanResponse(planned);
  } catch (error) {
    if (error instanceof RestoreRefusedError) return refusalResponse(error);
    throw error;
  }
}
