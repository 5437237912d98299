import { z } from 'zod';
import {
  findRestoreForPrincipal,
  getWebContext,
  json,
  parseJsonBytes,
  problem,
  readBoundedBody,
  refusalResponse,
  requirePrincipal,
  restoreNotFound,
  toRestoreRecordJson,
} from '../../../../../lib/web/index.ts';
import { queueLiveRestore, RestoreRefusedError } from '../../../../../lib/restore/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const bodySchema = z
  .object({ token: z.string().min(1).max(200).describe('The confirmation token of the dry-run (or of the approval).') })
  .strict();

/**
 * Confirms a planned restore with its token: 202 with the QUEUED record as soon as the token was accepted; a worker
 * runs it over the live data (follow it at /api/restores/{id}). 403 wrong token, 410 expired, 409 used, cancelled,
 * or the deployment cannot be restored now.
 */
export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const { runtime, backup, jobs } = await getWebContext();
  const db = runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date(), 'restore');
  if (principal instanceof Response) return principal;
  const proposal = await findRestoreForPrincipal(db, principal, id);
  if (!proposal?.backupRecordId) return restoreNotFound(id);
  const read = await readBoundedBody(request);
  if (!read.ok) return read.response;
  const given = parseJsonBytes(read.bytes);
  const body = bodySchema.safeParse(given.ok ? given.value : null);
  if (!body.success) return problem(400, 'the body must be JSON {"token": "<confirmation token>"}');
  try {
    const queued = await queueLiveRestore(backup, await jobs(), {
      restoreId: proposal.id,
      confirmToken: body.data.token,
      confirmedBy: `api:${principal.tokenId}`,
    });
    return json(
      { restore: toRestoreRecordJson(queued) },
      { status: 202, headers: { location: `/api/restores/${queued.id}` } },
    );
  } catch (error) {
    if (error instanceof RestoreRefusedError) return refusalResponse(error);
    throw error;
  }
}
