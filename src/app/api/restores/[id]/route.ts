import { requirePrincipal } from '../../../../lib/web/api-auth.ts';
import { json } from '../../../../lib/web/http.ts';
import { getWebContext } from '../../../../lib/web/web-context.ts';
import { findRestoreForPrincipal, restoreNotFound } from '../../../../lib/web/restore-http.ts';
import { toRestoreRecordJson } from '../../../../lib/web/restore-json.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** One restore record (what a 202 points to, to follow a restore until it ends). */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const db = (await getWebContext()).runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date());
  if (principal instanceof Response) return principal;
  const record = await findRestoreForPrincipal(db, principal, id);
  if (!record) return restoreNotFound(id);
  return json({ restore: toRestoreRecordJson(record) });
}
