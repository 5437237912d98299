import { createHash, randomBytes } from 'node:crypto';
import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { formatBytes, type Logger, redactSecrets } from '../shared/index.ts';
import {
  BACKUP_FILE_MODE,
  createFileSink,
  type BackupFileReference,
  formatSidecar,
  locateBackupFile,
  locateDeploymentFolder,
  placeBackupFile,
  removeFileIfPresent,
  sidecarPathFor,
  syncDirectory,
  tempPathFor,
  verifyBackupFile,
  writeFileDurably,
} from '../storage/index.ts';
import type { OffsiteDestination } from './destination.ts';
import { FetchedCopyMismatchError, FetchRefusedError } from './fetch-errors.ts';
import { OffsiteRequestError } from './offsite-errors.ts';

export { FetchedCopyMismatchError, FetchRefusedError, type FetchRefusalCode } from './fetch-errors.ts';

/** What a fetch needs: the backup dependencies' database, destinations, store root, clock and logger. */
export interface FetchCopyDependencies {
  db: PrismaClient;
  destinations?: readonly OffsiteDestination[];
  store: { root: string };
  clock: () => Date;
  logger: Logger;
}

export interface FetchCopyOptions {
  /** Fetch from this destination only (by its configured name, e.g. `s3`); default: the first with an UPLOADED copy. */
  destination?: string;
  /** Stops the download; the temporary file is removed. */
  signal?: AbortSignal;
  /** Called as bytes arrive, with the bytes received so far. */
  onProgress?: (bytesReceived: number) => void;
}

/** A backup file brought back from its off-site copy. */
export interface FetchedCopy {
  backupId: string;
  /** The record's path, where the file is again (with its `.sha256` sidecar). */
  path: string;
  sizeBytes: bigint;
  sha256: string;
  destination: string;
  objectKey: string;
  /** What was at the path before: no file, or a file that did not match its record (now replaced). */
  replaced: 'missing' | 'damaged';
  /** Why the local file was not usable, for a person. */
  localProblem: string;
  durationMs: number;
}

/** Progress of a long download is logged at most this often. */
const PROGRESS_INTERVAL_MS = 30_000;

/**
 * Disaster recovery: brings a SUCCEEDED backup's file back from its UPLOADED off-site copy when the local file is gone
 * (a lost `/backups` volume) or no longer matches its record. The object streams into a hidden temporary file in the
 * deployment's folder (created again if the volume is new; the root itself must exist), hashed and counted as it
 * arrives (memory flat; a copy longer than the record is stopped at once); the file is fsynced, and only when its
 * size and sha256 are the record's is it renamed to the record's path, with its sidecar, and the folder fsynced.
 * Anything else removes the temporary file and leaves the path as it was.
 *
 * Refusals throw `FetchRefusedError` before anything is downloaded: no such backup, not SUCCEEDED, the local file is
 * intact (nothing to fetch), no UPLOADED copy, its destination is not configured, or the record's path is not inside
 * the deployment's folder under the backup root. A copy that is not the backup throws `FetchedCopyMismatchError`;
 * a failed request or an interrupted download throws `OffsiteRequestError`.
 */
export async function fetchOffsiteCopy(
  deps: FetchCopyDependencies,
  backupId: string,
  options: FetchCopyOptions = {},
): Promise<FetchedCopy> {
  const backup = await deps.db.backupRecord.findUnique({
    where: { id: backupId },
    select: {
      id: true,
      status: true,
      path: true,
      sha256: true,
      sizeBytes: true,
      extension: true,
      workspaceId: true,
      deployment: { select: { name: true } },
      uploads: {
        select: { destination: true, objectKey: true, status: true, lastError: true },
        orderBy: { destination: 'asc' },
      },
    },
  });
  if (!backup) throw new FetchRefusedError('NOT_FOUND', backupId, `no backup "${backupId}"`);
  const { path: recordedPath, sha256, sizeBytes } = backup;
  if (backup.status !== 'SUCCEEDED' || !recordedPath || !sha256 || sizeBytes === null) {
    throw new FetchRefusedError(
      'NOT_SUCCEEDED',
      backupId,
      `backup ${backupId} is ${backup.status}: only a SUCCEEDED backup with a recorded file has a copy worth fetching`,
    );
  }
  const reference = {
    workspaceId: backup.workspaceId,
    deploymentName: backup.deployment.name,
    path: recordedPath,
    extension: backup.extension,
  };
  const { folder, finalPath } = placeInStore(deps.store.root, reference, backupId);
  const local = await describeLocalFile(deps.store.root, reference, sha256, backupId);

  const uploaded = backup.uploads.filter(
    (upload) => upload.status === 'UPLOADED' && (!options.destination || upload.destination === options.destination),
  );
  if (uploaded.length === 0) {
    const others = backup.uploads.map(
      (upload) => `${upload.destination} ${upload.status}${upload.lastError ? ` (${upload.lastError})` : ''}`,
    );
    throw new FetchRefusedError(
      'NO_UPLOADED_COPY',
      backupId,
      `backup ${backupId} has no uploaded off-site copy${options.destination ? ` on ${options.destination}` : ''} (${others.length > 0 ? others.join('; ') : 'it was never queued for upload'}); its local file ${finalPath} cannot be recovered from off-site`,
    );
  }
  const configured = deps.destinations ?? [];
  const choice = uploaded
    .map((upload) => ({ upload, destination: configured.find((candidate) => candidate.name === upload.destination) }))
    .find((pair) => pair.destination);
  if (!choice?.destination) {
    const names = configured.map((destination) => destination.name);
    throw new FetchRefusedError(
      'DESTINATION_NOT_CONFIGURED',
      backupId,
      `backup ${backupId}'s copies are on ${uploaded.map((upload) => upload.destination).join(', ')}, which ${uploaded.length === 1 ? 'is' : 'are'} not configured here (configured: ${names.length > 0 ? names.join(', ') : 'none; set S3_BUCKET'})`,
    );
  }
  const { destination, upload } = choice;
  const log = deps.logger.child({
    module: 'offsite/fetch',
    backupRecordId: backupId,
    destination: destination.name,
    key: upload.objectKey,
  });
  const started = deps.clock();
  log.warn(
    { path: finalPath, localProblem: local.detail },
    `fetching backup ${backupId} (${formatBytes(sizeBytes)}) from ${destination.name}: ${local.detail}`,
  );

  // The folders are made again on a new, empty volume; a missing root is an error (an unmounted volume must fail).
  const located = await locateDeploymentFolder(deps.store.root, backup.workspaceId, backup.deployment.name, {
    create: true,
  });
  if (located !== folder) throw new Error(`fetch: the deployment folder ${folder} could not be created`);
  // A name of this fetch's own: two fetches of one backup never write one file; a crashed fetch's file is a stale
  // temporary file like any other (`backup -- recover` removes it).
  const base = path.join(folder, `${path.basename(finalPath)}.fetch-${randomBytes(6).toString('hex')}`);
  const tempPath = tempPathFor(base);
  const sidecarTempPath = tempPathFor(sidecarPathFor(base));
  const file = await open(tempPath, 'wx', BACKUP_FILE_MODE);
  let closed = false;
  try {
    const received = await download(destination, upload.objectKey, file, {
      backupId,
      sizeBytes,
      signal: options.signal,
      onProgress: progress(deps, log, sizeBytes, options.onProgress),
    });
    await file.sync();
    await file.close();
    closed = true;
    if (received.sizeBytes !== sizeBytes)
      throw new FetchedCopyMismatchError(
        backupId,
        destination.name,
        upload.objectKey,
        'size',
        String(sizeBytes),
        String(received.sizeBytes),
      );
    if (received.sha256 !== sha256)
      throw new FetchedCopyMismatchError(
        backupId,
        destination.name,
        upload.objectKey,
        'sha256',
        sha256,
        received.sha256,
      );
    await writeFileDurably(sidecarTempPath, formatSidecar(sha256, path.basename(finalPath)));
    await rename(tempPath, finalPath);
    await rename(sidecarTempPath, sidecarPathFor(finalPath));
    await syncDirectory(folder);
  } catch (error) {
    if (!closed) await file.close().catch(() => undefined);
    await removeFileIfPresent(tempPath).catch((cleanup: unknown) =>
      log.warn({ err: cleanup, path: tempPath }, 'could not remove the temporary file of a failed fetch'),
    );
    await removeFileIfPresent(sidecarTempPath).catch(() => undefined);
    if (error instanceof FetchedCopyMismatchError) log.error(error.message);
    else log.warn({ err: error }, `fetching backup ${backupId} from ${destination.name} failed`);
    throw error;
  }
  // Retention may have deleted the backup (record, file and copy) while its copy was on its way: no file without a record.
  if (!(await deps.db.backupRecord.findUnique({ where: { id: backupId }, select: { id: true } }))) {
    await removeFileIfPresent(finalPath);
    await removeFileIfPresent(sidecarPathFor(finalPath));
    throw new FetchRefusedError(
      'PRUNED',
      backupId,
      `backup ${backupId} was pruned while its copy was downloaded; the fetched file was removed again`,
    );
  }
  const durationMs = deps.clock().getTime() - started.getTime();
  log.warn(
    { path: finalPath, durationMs },
    `backup ${backupId} fetched from ${destination.name} and verified (${formatBytes(sizeBytes)}, sha256 ${sha256}); it can be restored again`,
  );
  return {
    backupId,
    path: finalPath,
    sizeBytes,
    sha256,
    destination: destination.name,
    objectKey: upload.objectKey,
    replaced: local.state,
    localProblem: local.detail,
    durationMs,
  };
}

/** The deployment's folder and the record's path in it (`placeBackupFile`), or a refusal when the path is anywhere else. */
function placeInStore(
  root: string,
  reference: BackupFileReference,
  backupId: string,
): { folder: string; finalPath: string } {
  const placed = placeBackupFile(root, reference);
  if (!placed.ok) {
    throw new FetchRefusedError(
      'PATH_NOT_IN_STORE',
      backupId,
      `backup ${backupId}'s path is refused: ${placed.detail} (was BACKUP_ROOT changed? it is ${root} now)`,
    );
  }
  return { folder: placed.place.folder, finalPath: placed.place.path };
}

/** Whether the record's file is missing or damaged (and how); refuses when it is intact, or not a regular file. */
async function describeLocalFile(
  root: string,
  reference: BackupFileReference,
  sha256: string,
  backupId: string,
): Promise<{ state: 'missing' | 'damaged'; detail: string }> {
  const location = await locateBackupFile(root, reference);
  if (!location.ok) {
    if (location.reason === 'missing')
      return { state: 'missing', detail: `the local file ${reference.path} is missing` };
    if (location.reason === 'volume-unavailable')
      throw new FetchRefusedError('PATH_NOT_IN_STORE', backupId, location.detail);
    throw new FetchRefusedError('PATH_NOT_IN_STORE', backupId, `${location.detail}; move it away first`);
  }
  const verification = await verifyBackupFile(location.path, sha256);
  if (verification.ok) {
    throw new FetchRefusedError(
      'LOCAL_FILE_INTACT',
      backupId,
      `nothing to fetch: the local file ${location.path} is intact (its sha256 and sidecar match the record)`,
    );
  }
  return {
    state: 'damaged',
    detail: `the local file does not match its record (${verification.reason}: ${verification.detail})`,
  };
}

/** Logs progress at most every {@link PROGRESS_INTERVAL_MS} and passes it on. */
function progress(
  deps: FetchCopyDependencies,
  log: Logger,
  sizeBytes: bigint,
  onProgress?: (bytes: number) => void,
): (bytes: number) => void {
  let lastReport = deps.clock().getTime();
  return (bytes) => {
    onProgress?.(bytes);
    const now = deps.clock().getTime();
    if (now - lastReport < PROGRESS_INTERVAL_MS) return;
    lastReport = now;
    log.info({ bytesReceived: bytes }, `fetching: ${formatBytes(bytes)} of ${formatBytes(sizeBytes)} received`);
  };
}

/**
 * Streams the object into the open file through the store's batching file sink, hashing and counting the bytes.
 * Stops with `FetchedCopyMismatchError` as soon as more bytes arrive than the record has.
 */
async function download(
  destination: OffsiteDestination,
  key: string,
  file: FileHandle,
  options: {
    backupId: string;
    sizeBytes: bigint;
    signal: AbortSignal | undefined;
    onProgress: (bytes: number) => void;
  },
): Promise<{ sizeBytes: bigint; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const measuring = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (BigInt(bytes) > options.sizeBytes) {
        return callback(
          new FetchedCopyMismatchError(
            options.backupId,
            destination.name,
            key,
            'size',
            String(options.sizeBytes),
            `more than ${options.sizeBytes}`,
          ),
        );
      }
      hash.update(chunk);
      options.onProgress(bytes);
      callback(null, chunk);
    },
  });
  const body: Readable = await destination.download(key, options.signal);
  const sink = createFileSink(file);
  // The stream that failed first: pipeline then destroys the others with the same error.
  let failedFirst: 'body' | 'local' | undefined;
  body.once('error', () => (failedFirst ??= 'body'));
  measuring.once('error', () => (failedFirst ??= 'local'));
  sink.once('error', () => (failedFirst ??= 'local'));
  try {
    await pipeline(body, measuring, sink, ...(options.signal ? [{ signal: options.signal }] : []));
  } catch (error) {
    // A body that broke off is the destination's failure; the sink's errors (a full disk) and a mismatch are not.
    if (failedFirst === 'body' && !options.signal?.aborted) {
      throw new OffsiteRequestError(
        destination.name,
        'download',
        key,
        redactSecrets(error instanceof Error ? error.message : String(error)),
        { cause: error },
      );
    }
    throw error;
  }
  return { sizeBytes: BigInt(bytes), sha256: hash.digest('hex') };
}
