/**
 * Downloading a stored backup over HTTP: the record's file is opened only where `locateBackupFile` (storage/) finds it
 * (a regular file directly inside `{BACKUP_ROOT}/{workspaceId}/{deploymentName}/`, no symbolic link), and its
 * bytes are streamed from the open file, never buffered, with the record's sha256 in the headers. One byte range
 * (`Range: bytes=a-b`) is honoured.
 */
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { BackupRecord, Deployment } from '../../generated/prisma/client.ts';
import {
  backupFileReferenceOf,
  errorCode,
  locateBackupFile,
  openBackupFileForReading,
  OutsideDeploymentFolderError,
} from '../storage/index.ts';
import { decideByteRange } from './byte-range.ts';
import type { RequestHead } from './api-auth.ts';
import { problem, quoteInput } from './http.ts';

/**
 * Bytes per read of a download. Through Next.js (`next dev`) every chunk crosses a web stream and Next's response
 * piping (a few promises each), so 1 MiB reads instead of the default 64 KiB cut that overhead sixteenfold; our
 * production server reads into a few buffers of this size (node-answers.ts).
 */
export const DOWNLOAD_CHUNK_BYTES = 1024 * 1024;

/** Why a backup's file cannot be served. */
export type BackupFileRefusal =
  /** The record is RUNNING or FAILED: there is no file. */
  | 'not-succeeded'
  /** The file (or its deployment folder) is gone: pruned or deleted by hand. */
  | 'file-missing'
  /** BACKUP_ROOT itself is missing or unusable: the volume is probably not mounted in this process. */
  | 'volume-unavailable'
  /** The recorded path is not a regular file directly inside the deployment's folder under BACKUP_ROOT. */
  | 'outside-root'
  /** The file's size differs from the record's: it was changed after the backup. */
  | 'size-mismatch';

export type BackupFileOpening =
  | { ok: true; file: FileHandle; sizeBytes: number; fileName: string; sha256: string }
  | { ok: false; reason: BackupFileRefusal; detail: string };

/** Opens the file of a SUCCEEDED backup for reading, or says why it cannot be served. The caller closes `file`. */
export async function openBackupFile(
  root: string,
  record: BackupRecord & { deployment: Deployment },
): Promise<BackupFileOpening> {
  const label = `backup "${record.id}"`;
  if (record.status !== 'SUCCEEDED') {
    const state = record.status === 'RUNNING' ? 'is still running' : `is ${record.status}`;
    return {
      ok: false,
      reason: 'not-succeeded',
      detail: `${label} ${state}: only a SUCCEEDED backup has a file to download`,
    };
  }
  if (!record.path || !record.sha256 || record.sizeBytes === null) {
    return { ok: false, reason: 'file-missing', detail: `${label} has no file recorded` };
  }
  const location = await locateBackupFile(root, backupFileReferenceOf(record));
  const fileName = location.ok ? location.fileName : path.basename(record.path);
  const outside = (why: string) => ({
    ok: false as const,
    reason: 'outside-root' as const,
    detail: `${label}: refusing to serve ${fileName}: ${why}`,
  });
  const gone = {
    ok: false as const,
    reason: 'file-missing' as const,
    detail: `${label}: its file ${fileName} is gone (pruned or deleted)`,
  };
  if (!location.ok) {
    if (location.reason === 'missing') return gone;
    if (location.reason === 'volume-unavailable')
      return { ok: false, reason: 'volume-unavailable', detail: `${label}: ${location.detail}` };
    // Not the locator's detail: it names server paths, and this answer goes to the tenant.
    return outside("its recorded path is not a backup file directly inside this deployment's folder under BACKUP_ROOT");
  }
  let file: FileHandle;
  try {
    file = await openBackupFileForReading(location.path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return gone;
    if (error instanceof OutsideDeploymentFolderError) return outside(error.reason);
    throw error;
  }
  const stats = await file.stat();
  if (BigInt(stats.size) === record.sizeBytes)
    return { ok: true, file, sizeBytes: stats.size, fileName, sha256: record.sha256 };
  await file.close();
  return {
    ok: false,
    reason: 'size-mismatch',
    detail: `${label}: ${fileName} has ${stats.size} bytes, the record says ${record.sizeBytes}; it was changed after the backup`,
  };
}

/** A download about to be sent: its status and headers, and which bytes of the opened file make its body. */
export interface BackupFileAnswer {
  status: 200 | 206;
  /** Every header of the answer, `Content-Length` (of the body) included. */
  headers: Record<string, string>;
  file: FileHandle;
  /** The bytes to send (`end` inclusive; an empty file is 0..-1); null for HEAD: no body, the file already closed. */
  bytes: { start: number; end: number } | null;
}

/**
 * The answer to a download `request` (its method and `Range` header) of an opened backup file: 200 with every byte,
 * 206 with the requested range, or a 416 `Response` (file closed) when the range holds no byte of the file.
 */
export async function answerBackupFile(
  opened: Extract<BackupFileOpening, { ok: true }>,
  request: RequestHead,
): Promise<BackupFileAnswer | Response> {
  const { file, sizeBytes, fileName, sha256 } = opened;
  const rangeHeader = request.headers.get('range');
  const range = decideByteRange(rangeHeader, sizeBytes);
  const common = {
    'accept-ranges': 'bytes',
    'cache-control': 'no-store',
    etag: `"${sha256}"`,
    'x-backup-sha256': sha256,
    // The digest of the whole file (the representation), also on a partial answer (RFC 9530).
    'repr-digest': `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`,
  };
  if (range.kind === 'unsatisfiable') {
    await file.close();
    return problem(416, `Range ${quoteInput(rangeHeader ?? '')} holds no byte of this ${sizeBytes}-byte file`, {
      ...common,
      'content-range': `bytes */${sizeBytes}`,
    });
  }
  const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, sizeBytes - 1];
  // A body nobody reads (HEAD) would keep the file open until garbage collection.
  if (request.method === 'HEAD') await file.close();
  return {
    status: range.kind === 'partial' ? 206 : 200,
    headers: {
      ...common,
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${fileName.replace(/[^\w.-]/g, '_')}"`,
      'content-length': String(end - start + 1),
      ...(range.kind === 'partial' ? { 'content-range': `bytes ${start}-${end}/${sizeBytes}` } : {}),
    },
    file,
    bytes: request.method === 'HEAD' ? null : { start, end },
  };
}

/** The body of a download: its bytes, read from the file handle, which closes when the stream ends or is destroyed. */
export function readBackupFileBytes(file: FileHandle, bytes: { start: number; end: number }): Readable {
  // An empty file's bytes are 0..-1, and createReadStream refuses an `end` of -1: it reads the (empty) file to its end.
  return file.createReadStream(
    bytes.end < bytes.start
      ? { highWaterMark: DOWNLOAD_CHUNK_BYTES }
      : { start: bytes.start, end: bytes.end, highWaterMark: DOWNLOAD_CHUNK_BYTES },
  );
}

/**
 * A download answer as a route handler's `Response`, its body a web stream over the file's bytes: how `next dev`
 * sends it (chunked: Next.js drops the `Content-Length` of route responses). Our production server sends it itself,
 * with its length (`sendBackupFile`).
 */
export function backupFileResponse(answer: BackupFileAnswer): Response {
  const body = answer.bytes
    ? (Readable.toWeb(
        readBackupFileBytes(answer.file, answer.bytes),
      ) as NodeReadableStream<Uint8Array> as unknown as ReadableStream<Uint8Array>)
    : null;
  return new Response(body, { status: answer.status, headers: answer.headers });
}
