import {
  backupNotFound,
  findBackupForPrincipal,
  getWebContext,
  json,
  loadBackupHistoryItem,
  requirePrincipal,
} from '../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** One backup record with its off-site copies (what the 202 of a started backup points to, to follow it until it ends). */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const db = (await getWebContext()).runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date(), 'read');
  if (principal instanceof Response) return principal;
  const record = await findBackupForPrincipal(db, principal, id);
  const item = record ? await loadBackupHistoryItem(db, record.id) : null;
  if (!item) return backupNotFound(id);
  return json({ backup: item });
}
