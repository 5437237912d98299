import { z } from 'zod';
import type { BackupRecord, PrismaClient } from '../../generated/prisma/client.ts';

/** Query of the history endpoint: `?cursor=<backup id>&limit=<1-100>`. */
export const historyQuerySchema = z.object({
  cursor: z.string().regex(/^[a-z0-9]{1,64}$/, { error: 'must be a backup id from nextCursor' }).optional(),
  limit: z.coerce
    .number({ error: 'must be a whole number from 1 to 100' })
    .int({ error: 'must be a whole number from 1 to 100' })
    .min(1, { error: 'must be a whole number from 1 to 100' })
    .max(100, { error: 'must be a whole number from 1 to 100' })
    .default(20),
});

export type HistoryQuery = z.infer<typeof historyQuerySchema>;

/** A BackupRecord as JSON: sizes as decimal strings (BigInt-safe), dates as ISO strings. */
export interface BackupRecordJson {
  id: string;
  deploymentId: string;
  status: string;
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  sizeBytes: string | null;
  sha256: string | null;
  format: string | null;
  extension: string | null;
  fileName: string | null;
  errorKind: string | null;
  error: string | null;
  /**
   * The format check: `verifyMethod` names it once it ran, `verifiedAt` is set when the file passed and `verifyError`
   * says why it did not. All null: not checked (yet).
   */
  verifiedAt: string | null;
  verifyMethod: string | null;
  verifyError: string | null;
  /** Pinned backups are never pruned by retention. */
  pinned: boolean;
}

export function toBackupRecordJson(record: BackupRecord): BackupRecordJson {
  return {
    id: record.id,
    deploymentId: record.deploymentId,
    status: record.status,
    trigger: record.trigger,
    startedAt: record.startedAt.toISOString(),
    finishedAt: record.finishedAt?.toISOString() ?? null,
    durationMs: record.durationMs,
    sizeBytes: record.sizeBytes?.toString() ?? null,
    sha256: record.sha256,
    format: record.format,
    extension: record.extension,
    fileName: record.path ? record.path.slice(record.path.lastIndexOf('/') + 1) : null,
    errorKind: record.errorKind,
    error: record.error,
    verifiedAt: record.verifiedAt?.toISOString() ?? null,
    verifyMethod: record.verifyMethod,
    verifyError: record.verifyError,
    pinned: record.pinned,
  };
}

/** One page of a deployment's history, newest first (ties by id), and the cursor of the next page. */
export async function listBackupHistory(
  db: PrismaClient,
  deploymentId: string,
  query: HistoryQuery,
): Promise<{ items: BackupRecordJson[]; nextCursor: string | null }> {
  const rows = await db.backupRecord.findMany({
    where: { deploymentId },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
    ...(query.cursor ? { cursor: { id: query.cursor }, skip: 1 } : {}),
  });
  const page = rows.slice(0, query.limit);
  return { items: page.map(toBackupRecordJson), nextCursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null };
}
