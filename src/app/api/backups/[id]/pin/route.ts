import { setBackupPinned } from '../../../../../lib/retention/index.ts';
import { backupNotFound, getWebContext, json, problem, requirePrincipal } from '../../../../../lib/web/index.ts';
import { isRecordId } from '../../../../../lib/shared/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

type Context = { params: Promise<{ id: string }> };

async function setPinned(request: Request, { params }: Context, pinned: boolean): Promise<Response> {
  const { id } = await params;
  const db = (await getWebContext()).runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date(), 'operate');
  if (principal instanceof Response) return principal;
  if (!isRecordId(id)) return backupNotFound(id);
  const outcome = await setBackupPinned(db, { backupId: id, workspaceId: principal.workspaceId }, pinned);
  if (outcome.ok) return json({ backupId: outcome.backupId, pinned: outcome.pinned, changed: outcome.changed });
  if (outcome.code === 'NOT_FOUND') return backupNotFound(id);
  return problem(409, outcome.message);
}

/** Pins a successful backup: retention never deletes it (409 for a running or failed one). Repeating it is harmless. */
export function POST(request: Request, context: Context): Promise<Response> {
  return setPinned(request, context, true);
}

/** Unpins a backup: retention may delete it again. Repeating it is harmless. */
export function DELETE(request: Request, context: Context): Promise<Response> {
  return setPinned(request, context, false);
}
