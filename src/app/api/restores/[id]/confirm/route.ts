import { z } from 'zod';
import type { RestoreRecord } from '../../../../../generated/prisma/client.ts';
import {
  findRestoreForPrincipal,
  getWebContext,
  json,
  problem,
  refusalResponse,
  requirePrincipal,
  restoreNotFound,
  toRestoreRecordJson,
} from '../../../../../lib/web/index.ts';
import { restoreBackup, RestoreRefusedError } from '../../../../../lib/restore/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const bodySchema = z
  .object({ token: z.string().min(1).max(200).describe('The confirmation token of the dry-run (or of the approval).') })
  .strict();

/**
 * Confirms a planned restore with its token and runs it over the live data: 202 with the RUNNING record as soon as
 * the token was accepted (follow it at /api/restores/{id}); 403 wrong token, 410 expired, 409 used, cancelled or busy.
 */
export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const { runtime, backup } = await getWebContext();
  const db = runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date());
  if (principal instanceof Response) return principal;
  const proposal = await findRestoreForPrincipal(db, principal, id);
  if (!proposal?.backupRecordId) return restoreNotFound(id);
  const body = bodySchema.safeParse(await request.json().catch(() => null));
  if (!body.success) return problem(400, 'the body must be JSON {"token": "<confirmation token>"}');
  const log = backup.logger.child({ module: 'web/restore', restoreId: id });
  const backupId = proposal.backupRecordId;
  try {
    const started = await new Promise<RestoreRecord>((resolve, reject) => {
      restoreBackup(backup, backupId, {
        mode: 'live',
        restoreId: id,
        confirmToken: body.data.token,
        confirmedBy: `api:${principal.tokenId}`,
        onStarted: resolve,
      }).catch((error: unknown) => {
        log.error({ err: error }, 'restore started from the web failed');
        reject(error);
      });
    });
    return json(
      { restore: toRestoreRecordJson(started) },
      { status: 202, headers: { location: `/api/restores/${started.id}` } },
    );
  } catch (error) {
    if (error instanceof RestoreRefusedError) return refusalResponse(error);
    throw error;
  }
}
