import {
  backupNotFound,
  findBackupForPrincipal,
  getWebContext,
  limitRequest,
  livePlanResponse,
  planUnansweredResponse,
  refusalResponse,
  requestClientAddress,
  requirePrincipal,
} from '../../../../../lib/web/index.ts';
import { PlanUnansweredError, requestLivePlan, RestoreRefusedError } from '../../../../../lib/restore/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * The dry-run of a restore of this backup over the live data: 201 with the PROPOSED restore, its plan (what will be
 * overwritten) and the confirmation token, shown only in this answer. Confirm with POST /api/restores/{id}/confirm.
 * A worker counts the live data (the web process never execs into pods); 503 when none answers in time.
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
    'restore plans',
  );
  if (limited) return limited;
  const record = await findBackupForPrincipal(db, principal, id);
  if (!record) return backupNotFound(id);
  try {
    const planned = await requestLivePlan(
      { db, jobs: await jobs(), clock: backup.clock },
      { action: 'plan', backupId: record.id, requestedBy: `api:${principal.tokenId}`, trigger: 'API' },
    );
    return livePlanResponse(planned);
  } catch (error) {
    if (error instanceof RestoreRefusedError) return refusalResponse(error);
    if (error instanceof PlanUnansweredError) return planUnansweredResponse(error);
    throw error;
  }
}
