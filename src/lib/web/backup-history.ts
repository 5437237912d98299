import { z } from 'zod';
import type { BackupRecord, Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { pageLimitSchema } from './page-limit.ts';
import { recordIdSchema } from '../shared/index.ts';
import type { SqlQuery } from '../db/index.ts';

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

/** A page of history as the API sends it: the JSON text of `{ items, nextCursor }`, or why there is none. */
export type HistoryPageJson = { kind: 'page'; json: string } | { kind: 'no-deployment' } | { kind: 'unknown-cursor' };

/** How the statement writes an instant: as `Date.prototype.toISOString` does (`timestamp(3)` columns hold UTC). */
const ISO_INSTANT = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/**
 * The history statement ($1 deployment, $2 workspace, $3 cursor or null, $4 page size). In one statement whatever
 * the page size: that the deployment is the workspace's, that the cursor is one of its backups, the records and the
 * off-site copies of each, newest first (ties by id; a page follows its cursor by (startedAt, id), the order it is
 * sorted in). PostgreSQL writes the whole answer, `{"items":[…],"nextCursor":…}`, exactly as `JSON.stringify` would
 * write a `BackupHistoryItem` (keys in its order, instants by `ISO_INSTANT`, sizes as decimal strings: a JSON number
 * would lose digits past 2^53), so the server sends that text on as it is: parsing and writing it again in Node cost
 * more than the statement. Objects come from `row_to_json` and arrays from `string_agg`, both without the spaces
 * `json_build_object` and `json_agg` put in.
 */
const HISTORY_PAGE_SQL = `
  WITH scope AS (
    SELECT d.id, c.id AS "cursorId", c."startedAt" AS "cursorStartedAt"
      FROM "Deployment" d
      LEFT JOIN "BackupRecord" c ON c.id = $3::text AND c."deploymentId" = d.id
     WHERE d.id = $1::text AND d."workspaceId" = $2::text
  ), page AS (
    SELECT r.*, row_number() OVER (ORDER BY r."startedAt" DESC, r.id DESC) AS position
      FROM scope s
      JOIN LATERAL (SELECT * FROM "BackupRecord" r
                     WHERE r."deploymentId" = s.id
                       AND ($3::text IS NULL OR (r."startedAt", r.id) < (s."cursorStartedAt", s."cursorId"))
                     ORDER BY r."startedAt" DESC, r.id DESC
                     LIMIT $4::int + 1) r ON true
  )
  SELECT ($3::text IS NULL OR s."cursorId" IS NOT NULL) AS "cursorFound",
         '{"items":[' || coalesce((
           SELECT string_agg(row_to_json(item)::text, ',' ORDER BY p.position)
             FROM page p
            CROSS JOIN LATERAL (
              SELECT p.id, p."deploymentId", p.status, p.trigger,
                     to_char(p."startedAt", ${ISO_INSTANT}) AS "startedAt",
                     to_char(p."finishedAt", ${ISO_INSTANT}) AS "finishedAt",
                     p."durationMs", p."sizeBytes"::text AS "sizeBytes", p.sha256, p.format, p.extension,
                     CASE WHEN p.path <> '' THEN substring(p.path FROM '[^/]*$') END AS "fileName",
                     p."errorKind", p.error, to_char(p."verifiedAt", ${ISO_INSTANT}) AS "verifiedAt",
                     p."verifyMethod", p."verifyError", p.pinned, p.suspicious, p."suspiciousReason",
                     p."liveTableCount", p."dumpTableCount", p."progressBytes"::text AS "progressBytes",
                     to_char(p."progressAt", ${ISO_INSTANT}) AS "progressAt", p."jobId",
                     coalesce(string_to_array(nullif(p."encryptedTo", ''), ','), '{}') AS "encryptedTo",
                     ('[' || coalesce((
                       SELECT string_agg(row_to_json(upload)::text, ',' ORDER BY upload.destination)
                         FROM (SELECT u.destination, u.status, u.attempts, u."lastError",
                                      to_char(u."uploadedAt", ${ISO_INSTANT}) AS "uploadedAt",
                                      CASE WHEN u.status = 'PENDING'
                                           THEN to_char(u."nextAttemptAt", ${ISO_INSTANT}) END AS "nextAttemptAt"
                                 FROM "BackupUpload" u
                                WHERE u."backupRecordId" = p.id) upload), '') || ']')::json AS uploads
            ) item
            WHERE p.position <= $4::int), '') ||
         '],"nextCursor":' ||
         coalesce((SELECT to_json(p.id)::text FROM page p
                    WHERE p.position = $4::int AND EXISTS (SELECT 1 FROM page more WHERE more.position > $4::int)),
                  'null') ||
         '}' AS json
    FROM scope s`;

/**
 * One page of a deployment's history as the API sends it (see `HISTORY_PAGE_SQL`), run without Prisma as a prepared
 * statement: Prisma's work per query and a new plan per call cost more than the statement itself.
 */
export async function readBackupHistoryJson(
  query: SqlQuery,
  scope: { workspaceId: string; deploymentId: string },
  page: HistoryQuery,
): Promise<HistoryPageJson> {
  const cursor = page.cursor ?? null;
  const [row] = await query<{ cursorFound: boolean; json: string }>({
    name: 'backup-history-page',
    text: HISTORY_PAGE_SQL,
    values: [scope.deploymentId, scope.workspaceId, cursor, page.limit],
  });
  if (!row) return { kind: 'no-deployment' };
  if (!row.cursorFound) return { kind: 'unknown-cursor' };
  return { kind: 'page', json: row.json };
}

/** One page of a deployment's history (for the dashboard's page): the API's answer, read as values. */
export async function listBackupHistory(
  query: SqlQuery,
  scope: { workspaceId: string; deploymentId: string },
  page: HistoryQuery,
): Promise<HistoryPage> {
  const history = await readBackupHistoryJson(query, scope, page);
  if (history.kind !== 'page') return history;
  const { items, nextCursor } = JSON.parse(history.json) as { items: BackupHistoryItem[]; nextCursor: string | null };
  return { kind: 'page', items, nextCursor };
}

/** One backup as the history shows it (the record and its off-site copies); null when there is none with this id. */
export async function loadBackupHistoryItem(db: PrismaClient, backupId: string): Promise<BackupHistoryItem | null> {
  const row = await db.backupRecord.findUnique({
    where: { id: backupId },
    include: { uploads: { select: uploadSelect, orderBy: { destination: 'asc' } } },
  });
  return row ? { ...toBackupRecordJson(row), uploads: row.uploads.map(toBackupUploadJson) } : null;
}
