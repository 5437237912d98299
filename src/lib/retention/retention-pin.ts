import type { PrismaClient } from '../../generated/prisma/client.ts';

/** What pinning or unpinning did, as data for the CLI and the API. */
export type PinOutcome =
  | { ok: true; backupId: string; pinned: boolean; changed: boolean }
  | { ok: false; code: 'NOT_FOUND'; message: string }
  | { ok: false; code: 'NOT_SUCCEEDED'; message: string };

/**
 * Pins a backup (retention never deletes it) or unpins it. Only a SUCCEEDED backup can be pinned: a running one may
 * still fail, a failed one has no file. Unpinning works on any record. `workspaceId` limits the lookup to one
 * workspace (the API's principal); a backup outside it is NOT_FOUND. The change is one conditional UPDATE, so it
 * cannot pin a backup that stopped being SUCCEEDED in between, and a prune deleting this backup at the same moment
 * either sees the pin (and keeps it) or has deleted the record first (NOT_FOUND).
 */
export async function setBackupPinned(
  db: PrismaClient,
  target: { backupId: string; workspaceId?: string },
  pinned: boolean,
): Promise<PinOutcome> {
  const scope = { id: target.backupId, ...(target.workspaceId ? { workspaceId: target.workspaceId } : {}) };
  const before = await db.backupRecord.findFirst({ where: scope, select: { pinned: true } });
  const { count } = await db.backupRecord.updateMany({
    where: { ...scope, ...(pinned ? { status: 'SUCCEEDED' as const } : {}) },
    data: { pinned },
  });
  if (count === 1) return { ok: true, backupId: target.backupId, pinned, changed: before?.pinned !== pinned };
  const record = await db.backupRecord.findFirst({ where: scope, select: { status: true } });
  if (!record) return { ok: false, code: 'NOT_FOUND', message: `backup "${target.backupId}" not found` };
  return {
    ok: false,
    code: 'NOT_SUCCEEDED',
    message: `backup "${target.backupId}" is ${record.status}: only a successful backup can be pinned`,
  };
}
