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

export function toBackupRecordJson(record: BackupRecordJsonSource): BackupRecordJson {
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

/** The fields of a record its JSON is made of. */
export type BackupRecordJsonSource = Pick<
  BackupRecord,
  | 'id'
  | 'deploymentId'
  | 'status'
  | 'trigger'
  | 'startedAt'
  | 'finishedAt'
  | 'durationMs'
  | 'sizeBytes'
  | 'sha256'
  | 'format'
  | 'extension'
  | 'path'
  | 'errorKind'
  | 'error'
  | 'verifiedAt'
  | 'verifyMethod'
  | 'verifyError'
  | 'pinned'
  | 'suspicious'
  | 'suspiciousReason'
  | 'liveTableCount'
  | 'dumpTableCount'
  | 'progressBytes'
  | 'progressAt'
  | 'jobId'
  | 'encryptedTo'
>;

/** A page of history, or why there is none: the deployment is not the workspace's, or the cursor is not its backup. */
export type HistoryPage =
  | { kind: 'page'; items: BackupHistoryItem[]; nextCursor: string | null }
  | { kind: 'no-deployment' }
  | { kind: 'unknown-cursor' };

/**
 * A record as the history statement writes it in JSON: timestamps as PostgreSQL writes them (UTC, the zone left
 * out), sizes as decimal strings (a JSON number would lose digits past 2^53), each with its uploads.
 */
type RecordJsonRow = Omit<
  BackupRecordJsonSource,
  'startedAt' | 'finishedAt' | 'verifiedAt' | 'progressAt' | 'sizeBytes' | 'progressBytes'
> & {
  startedAt: string;
  finishedAt: string | null;
  verifiedAt: string | null;
  progressAt: string | null;
  sizeBytes: string | null;
  progressBytes: string | null;
  uploads: Array<
    Omit<UploadRow, 'uploadedAt' | 'nextAttemptAt'> & { uploadedAt: string | null; nextAttemptAt: string }
  >;
};

/**
 * One page of a deployment's history, newest first (ties by id), and the cursor of the next page, in one statement
 * whatever the page size: that the deployment is the workspace's, that the cursor is one of its backups, the records
 * and the off-site copies of each. A page follows its cursor by (startedAt, id), the order it is sorted in. The page
 * comes as one JSON value: Prisma's mapping of a raw result value by value cost more than the statement itself.
 */
export async function listBackupHistory(
  db: PrismaClient,
  scope: { workspaceId: string; deploymentId: string },
  query: HistoryQuery,
): Promise<HistoryPage> {
  const cursor = query.cursor ?? null;
  const rows = await db.$queryRaw<Array<{ cursorFound: boolean; records: string }>>`
    SELECT c.id IS NOT NULL AS "cursorFound",
           (SELECT coalesce(json_agg(page ORDER BY page."startedAt" DESC, page.id DESC), '[]')::text
              FROM (SELECT r.id, r."deploymentId", r.status, r.trigger, r."startedAt", r."finishedAt", r."durationMs",
                           r."sizeBytes"::text AS "sizeBytes", r.sha256, r.format, r.extension, r.path, r."errorKind",
                           r.error, r."verifiedAt", r."verifyMethod", r."verifyError", r.pinned, r.suspicious,
                           r."suspiciousReason", r."liveTableCount", r."dumpTableCount",
                           r."progressBytes"::text AS "progressBytes", r."progressAt", r."jobId",
                           r."encryptedTo",
                           (SELECT coalesce(json_agg(json_build_object(
                                     'destination', u.destination, 'status', u.status, 'attempts', u.attempts,
                                     'lastError', u."lastError", 'uploadedAt', u."uploadedAt",
                                     'nextAttemptAt', u."nextAttemptAt") ORDER BY u.destination), '[]')
                              FROM "BackupUpload" u
                             WHERE u."backupRecordId" = r.id) AS uploads
                      FROM "BackupRecord" r
                     WHERE r."deploymentId" = d.id
                       AND (${cursor}::text IS NULL OR (r."startedAt", r.id) < (c."startedAt", c.id))
                     ORDER BY r."startedAt" DESC, r.id DESC
                     LIMIT ${query.limit + 1}) page) AS records
      FROM "Deployment" d
      LEFT JOIN "BackupRecord" c ON c.id = ${cursor}::text AND c."deploymentId" = d.id
     WHERE d.id = ${scope.deploymentId} AND d."workspaceId" = ${scope.workspaceId}`;
  const [row] = rows;
  if (!row) return { kind: 'no-deployment' };
  if (cursor !== null && !row.cursorFound) return { kind: 'unknown-cursor' };
  const records = JSON.parse(row.records) as RecordJsonRow[];
  const page = records.slice(0, query.limit);
  return {
    kind: 'page',
    items: page.map(toHistoryItem),
    nextCursor: records.length > query.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

function toHistoryItem(row: RecordJsonRow): BackupHistoryItem {
  const record = {
    ...row,
    startedAt: utcTimestamp(row.startedAt),
    finishedAt: row.finishedAt === null ? null : utcTimestamp(row.finishedAt),
    verifiedAt: row.verifiedAt === null ? null : utcTimestamp(row.verifiedAt),
    progressAt: row.progressAt === null ? null : utcTimestamp(row.progressAt),
    sizeBytes: row.sizeBytes === null ? null : BigInt(row.sizeBytes),
    progressBytes: row.progressBytes === null ? null : BigInt(row.progressBytes),
  };
  const uploads = row.uploads.map((upload) =>
    toBackupUploadJson({
      ...upload,
      uploadedAt: upload.uploadedAt === null ? null : utcTimestamp(upload.uploadedAt),
      nextAttemptAt: utcTimestamp(upload.nextAttemptAt),
    }),
  );
  return { ...toBackupRecordJson(record), uploads };
}

/** A `timestamp` column (UTC, the zone left out) as PostgreSQL writes it in JSON, e.g. `2026-03-01T02:59:00.5`. */
function utcTimestamp(text: string): Date {
  return new Date(`${text}Z`);
}

/** One backup as the history shows it (the record and its off-site copies); null when there is none with this id. */
export async function loadBackupHistoryItem(db: PrismaClient, backupId: string): Promise<BackupHistoryItem | null> {
  const row = await db.backupRecord.findUnique({
    where: { id: backupId },
    include: { uploads: { select: uploadSelect, orderBy: { destination: 'asc' } } },
  });
  return row ? { ...toBackupRecordJson(row), uploads: row.uploads.map(toBackupUploadJson) } : null;
}
