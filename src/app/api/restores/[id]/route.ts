import {
  findRestoreForPrincipal,
  getWebContext,
  json,
  requirePrincipal,
  restoreNotFound,
  toRestoreRecordJson,
} from '../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** One restore record (what a 202 points to, to follow a restore until it ends). */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const db = (await getWebContext()).runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date(), 'read');
  if (principal instanceof Response) return principal;
  const record = await findRestoreForPrincipal(db, principal, id);
  if (!record) return restoreNotFound(id);
  return json({ restore: toRestoreRecordJson(record) });
}
