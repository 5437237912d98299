import { z } from 'zod';
import type { BackupRecord, Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { pageLimitSchema } from './page-limit.ts';
import { recordIdSchema } from '../shared/index.ts';

/** Query of the history endpoint: `?cursor=<backup id>&limit=<1-100>`. */
export const historyQuerySchema = z.object({
  cursor: recordIdSchema('must be a backup id from nextCursor').optional(),
  limit: pageLimitSchema(100, 20),
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
  /**
   * SUCCEEDED but far smaller than the recent backups (e.g. under half their median), or short of tables;
   * `suspiciousReason` gives the figures. Retention never counts a suspicious backup among those it keeps.
   */
  suspicious: boolean;
  suspiciousReason: string | null;
  /**
   * Tables the database had just before the export, and tables the dump holds (found by the format check); fewer in
   * the dump makes the backup suspicious. Null: not counted (an engine without tables, a count that failed, a file
   * not checked yet).
   */
  liveTableCount: number | null;
  dumpTableCount: number | null;
  /** While RUNNING: raw bytes received so far and when that was recorded (every few seconds); the final size after. */
  progressBytes: string | null;
  progressAt: string | null;
  /** The queued job that made this backup (null: the CLI's own process). */
  jobId: string | null;
  /** Fingerprints of the age recipients the file is encrypted to (`x25519:…`); empty: not encrypted. */
  encryptedTo: string[];
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
    suspicious: record.suspicious,
    suspiciousReason: record.suspiciousReason,
    liveTableCount: record.liveTableCount,
    dumpTableCount: record.dumpTableCount,
    progressBytes: record.progressBytes?.toString() ?? null,
    progressAt: record.progressAt?.toISOString() ?? null,
    jobId: record.jobId,
    encryptedTo: record.encryptedTo ? record.encryptedTo.split(',') : [],
  };
}

/** One off-site copy of a backup as JSON: where, how far it got, and why it failed (redacted) if it did. */
export interface BackupUploadJson {
  /** Destination name from the configuration, e.g. `s3`. */
  destination: string;
  /** PENDING: to do or to retry; UPLOADED: stored and its sha256 checked; FAILED: gave up. */
  status: string;
  /** Failed attempts so far. */
  attempts: number;
  lastError: string | null;
  uploadedAt: string | null;
  /** When a PENDING copy is tried next (while one is uploading, when its lease runs out); null otherwise. */
  nextAttemptAt: string | null;
}

/** A backup in the history: the record and its off-site copies (one per destination, by destination name). */
export interface BackupHistoryItem extends BackupRecordJson {
  uploads: BackupUploadJson[];
}

/** What the history reads of each upload row. */
const uploadSelect = {
  destination: true,
  status: true,
  attempts: true,
  lastError: true,
  uploadedAt: true,
  nextAttemptAt: true,
} satisfies Prisma.BackupUploadSelect;

type UploadRow = Prisma.BackupUploadGetPayload<{ select: typeof uploadSelect }>;

export function toBackupUploadJson(upload: UploadRow): BackupUploadJson {
  return {
    destination: upload.destination,
    status: upload.status,
    attempts: upload.attempts,
    lastError: upload.lastError,
    uploadedAt: upload.uploadedAt?.toISOString() ?? null,
    nextAttemptAt: upload.status === 'PENDING' ? upload.nextAttemptAt.toISOString() : null,
  };
}

/**
 * One page of a deployment's history, newest first (ties by id), and the cursor of the next page. Two queries
 * whatever the page size: the records, then the uploads of all of them.
 */
export async function listBackupHistory(
  db: PrismaClient,
  deploymentId: string,
  query: HistoryQuery,
): Promise<{ items: BackupHistoryItem[]; nextCursor: string | null }> {
  const rows = await db.backupRecord.findMany({
    where: { deploymentId },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
    ...(query.cursor ? { cursor: { id: query.cursor }, skip: 1 } : {}),
    include: { uploads: { select: uploadSelect, orderBy: { destination: 'asc' } } },
  });
  const page = rows.slice(0, query.limit);
  return {
    items: page.map((row) => ({ ...toBackupRecordJson(row), uploads: row.uploads.map(toBackupUploadJson) })),
    nextCursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

/** One backup as the history shows it (the record and its off-site copies); null when there is none with this id. */
export async function loadBackupHistoryItem(db: PrismaClient, backupId: string): Promise<BackupHistoryItem | null> {
  const row = await db.backupRecord.findUnique({
    where: { id: backupId },
    include: { uploads: { select: uploadSelect, orderBy: { destination: 'asc' } } },
  });
  return row ? { ...toBackupRecordJson(row), uploads: row.uploads.map(toBackupUploadJson) } : null;
}
