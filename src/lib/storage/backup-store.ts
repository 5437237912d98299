/**
 * Writing one backup file, crash-safe: the export's bytes stream (compressed unless already compressed, then
 * encrypted when the deployment has age recipients, both in memory) into a hidden
 * temporary file `.{name}.partial` in the deployment's folder while their sha256 and size are computed; `commit()`
 * fsyncs it, writes the `{name}.sha256` sidecar the same way, renames both into place and fsyncs the folder. Until
 * then no file has the final name, and on any failure the temporary files go.
 *
 * Names never collide within a deployment: the temporary file is created exclusively (`wx`), and only then is the
 * final name checked to be free; the next name of the same millisecond (`_2`, `_3`, …) is tried otherwise. A writer
 * holds its temporary file until it renames it to the final name, so two writers can never both pass both checks.
 *
 * Memory stays flat whatever the size: every stage is a stream with a small buffer (the file sink's is a batch of
 * {@link FILE_WRITE_BATCH_BYTES}), and the caller respects `stream.write()`'s return value and 'drain'.
 */
import { createHash, type Hash } from 'node:crypto';
import { lstat, open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AgeEncryptStream, type AgeRecipient } from '../encryption/index.ts';
import type { Logger } from '../shared/index.ts';
import { type Compression, createCompressor } from './backup-encoding.ts';
import {
  MAX_FILES_PER_MILLISECOND,
  backupFileName,
  formatSidecar,
  sidecarPathFor,
  storedExtension,
  tempPathFor,
} from './backup-path.ts';
import { BatchedCompressor } from './batched-compressor.ts';
import { locateDeploymentFolder } from './deployment-folder.ts';
import { type BackupManifest, formatManifest, manifestPathFor } from './backup-manifest.ts';
import { BACKUP_FILE_MODE, ignoreCode, removeFileIfPresent, syncDirectory, writeFileDurably } from './file-system.ts';
import { QuotaExceededError, StorageFailedError, VolumeReserveError, errorCode } from './storage-errors.ts';
import { findReserveShortfall, RESERVE_CHECK_INTERVAL_BYTES, type VolumeReserve } from './volume-reserve.ts';

/** How many of an export's first raw bytes a writer keeps (`BackupWriter.head()`). */
export const RAW_HEAD_BYTES = 4 * 1024;

/** What is being backed up, as the orchestrator knows it from the deployment, its recipe and its record. */
export interface BackupTarget {
  workspaceId: string;
  deploymentName: string;
  /** The recipe's `dataExport.extension` (of the raw output). */
  extension: string;
  /** The recipe's `dataExport.compressed`: true stores the bytes as they are, false compresses them. */
  compressed: boolean;
  /** How an export that is not compressed is compressed (the deployment's `backupCompression`); default gzip. */
  compression?: Compression;
  /**
   * age recipients the file is encrypted to (parsed and validated by the caller); absent or empty: not encrypted.
   * The bytes are encrypted in memory on their way to the file: no plaintext byte is ever written.
   */
  recipients?: readonly AgeRecipient[];
  /** The record's start time; it names the file. */
  startedAt: Date;
  /** The deployment's cap on stored bytes (`maxBackupBytes`); null or absent: no cap. */
  maxBytes?: bigint | null;
}

/** A finished backup file, as the BackupRecord stores it. Size and sha256 are of the stored (compressed, encrypted) bytes. */
export interface StoredBackup {
  path: string;
  fileName: string;
  sizeBytes: bigint;
  sha256: string;
  /** Extension of the stored file without the dot, e.g. `sql.gz`, `dump`, `sql.zst.age`. */
  extension: string;
  /** Fingerprints of the recipients the file is encrypted to; empty when it is not encrypted. */
  encryptedTo: string[];
}

/** One backup being written. Exactly one of `commit()` or `abort()` decides its fate. */
export interface BackupWriter {
  /**
   * Where the caller writes the raw export bytes, respecting `write()`'s return value and 'drain'. It emits 'error'
   * when any stage fails (gzip, disk full, …); the caller then calls `abort()` (the temporary file is already being
   * removed).
   */
  readonly stream: Writable;
  /** The path the file will have once committed. */
  readonly path: string;
  /** The hidden temporary file the bytes go to until then. */
  readonly tempPath: string;
  /** Raw bytes accepted so far (before compression), for progress. */
  bytesWritten(): number;
  /**
   * The first {@link RAW_HEAD_BYTES} raw bytes (fewer when the export was shorter), before compression and
   * encryption: a dump's header, read to describe it (the engine's version) without reading the file back.
   */
  head(): Buffer;
  /**
   * Ends the stream, waits for every byte to reach the file, fsyncs it, writes the sidecar and (when `describe` is
   * given) the manifest it returns for the stored file, and renames them into place. Rejects with
   * `StorageFailedError` (and leaves no file behind) on any failure, also a stream error, an abort that came first or
   * a `describe` that throws. Calling it again returns the same promise.
   */
  commit(describe?: (stored: StoredBackup) => Promise<BackupManifest>): Promise<StoredBackup>;
  /**
   * Stops the writer and removes its temporary files. Idempotent and never rejects (cleanup problems are logged).
   * During a commit it waits for the commit: once the file is renamed into place, the backup stays.
   */
  abort(): Promise<void>;
}

/** The backup storage the orchestrator depends on. */
export interface BackupStore {
  /** Absolute root of the backup volume. */
  readonly root: string;
  /**
   * Creates the deployment's folder if needed and reserves a file name. Rejects with `StorageFailedError` for bad
   * names, a missing or unusable root (`code` ENOENT, ENOTDIR, EACCES, …) or a folder that escapes the root.
   */
  open(target: BackupTarget): Promise<BackupWriter>;
}

/** Makes the lowest stage of the chain, which writes to the open temporary file. Replaceable to simulate a full disk. */
export type CreateFileSink = (file: FileHandle) => Writable;

export interface FileBackupStoreOptions {
  /** Absolute root of the backup volume (`BACKUP_ROOT`). It must exist: a missing root is never created. */
  root: string;
  logger: Logger;
  /** Defaults to {@link createFileSink}. */
  createSink?: CreateFileSink;
  /** The volume's free-space reserve; absent: none. */
  reserve?: VolumeReserve;
}

/** The backup store on a local filesystem (the `/backups` volume). */
export function createFileBackupStore(options: FileBackupStoreOptions): BackupStore {
  const { root } = options;
  const logger = options.logger.child({ module: 'storage/backup-store' });
  const createSink = options.createSink ?? createFileSink;
  const reserve = options.reserve ?? { minFreeBytes: 0n, minFreePercent: 0 };
  return {
    root,
    async open(target) {
      const shortfall = await findReserveShortfall(root, reserve).catch((error: unknown) => {
        throw new StorageFailedError('open', root, error);
      });
      if (shortfall) throw new VolumeReserveError(shortfall.freeBytes, shortfall.reserveBytes, false);
      let folder: string | null;
      let extension: string;
      const recipients = target.recipients ?? [];
      const compression: Compression = target.compressed ? 'none' : (target.compression ?? 'gzip');
      try {
        extension = storedExtension(target.extension, target.compressed, {
          compression,
          encrypted: recipients.length > 0,
        });
        folder = await locateDeploymentFolder(root, target.workspaceId, target.deploymentName, { create: true });
        if (folder === null) throw new Error('the deployment folder vanished while it was created');
      } catch (error) {
        throw new StorageFailedError('open', root, error);
      }
      const reserved = await reserveFileName(folder, target.startedAt, extension).catch((error: unknown) => {
        throw new StorageFailedError('open', folder, error);
      });
      try {
        const limits = { maxBytes: target.maxBytes ?? null, reserve, root };
        return new FileBackupWriter(reserved, extension, { compression, recipients }, createSink, logger, limits);
      } catch (error) {
        await reserved.file.close();
        await removeFileIfPresent(reserved.tempPath);
        throw new StorageFailedError('open', reserved.tempPath, error);
      }
    },
  };
}

/**
 * How many bytes the default file sink collects before it writes them, in one `writev`. Exports arrive in small
 * chunks (4 KiB from a pipe, one WebSocket frame each): a write per chunk costs a system call per 4 KiB (about 3 s of
 * CPU per GiB here, against 1 s in 256 KiB batches; 1 MiB batches cost more again, and more memory).
 */
export const FILE_WRITE_BATCH_BYTES = 256 * 1024;

/**
 * How many written bytes the default file sink lets accumulate before it asks the kernel to put them on the disk
 * (`fdatasync`, in the background while the stream goes on). Without it every byte of the backup is still only in the
 * page cache when `commit()` fsyncs, which then waits for all of them (about 0.4 s per GiB here); with it, for at most
 * this many. It also keeps a large backup from filling memory with dirty pages.
 */
export const FILE_FLUSH_INTERVAL_BYTES = 32 * 1024 * 1024;

/**
 * The default sink: collects chunks into batches of {@link FILE_WRITE_BATCH_BYTES} and writes each batch to the file
 * handle (which stays open for fsync) in one `writev`, the last one when the stream ends. While a batch is being
 * written, up to as many bytes again wait in the stream's buffer; beyond that it refuses more (backpressure). Every
 * {@link FILE_FLUSH_INTERVAL_BYTES} it starts an `fdatasync` without waiting for it (one at a time); a failed one fails
 * the stream, and the stream ends only once the last one is done.
 */
export function createFileSink(file: FileHandle): Writable {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let unflushedBytes = 0;
  let flushing: Promise<void> | undefined;
  let flushError: Error | undefined;
  const flushInBackground = () => {
    if (flushing || unflushedBytes < FILE_FLUSH_INTERVAL_BYTES) return;
    unflushedBytes = 0;
    flushing = file.datasync().then(
      () => {
        flushing = undefined;
      },
      (error: unknown) => {
        flushError ??= error instanceof Error ? error : new Error(String(error));
        flushing = undefined;
      },
    );
  };
  const writeBatch = async (): Promise<void> => {
    const buffers = batch;
    const bytes = batchBytes;
    batch = [];
    batchBytes = 0;
    await writeFully(file, buffers);
    unflushedBytes += bytes;
    flushInBackground();
  };
  return new Writable({
    highWaterMark: FILE_WRITE_BATCH_BYTES,
    // Also called for a single chunk (Writable's default `_write` hands it over as a batch of one).
    writev(chunks, callback) {
      if (flushError) return callback(flushError);
      for (const { chunk } of chunks) {
        batch.push(chunk as Buffer);
        batchBytes += (chunk as Buffer).length;
      }
      if (batchBytes < FILE_WRITE_BATCH_BYTES) return callback();
      writeBatch().then(() => callback(), callback);
    },
    final(callback) {
      writeBatch()
        .then(() => flushing)
        .then(() => callback(flushError), callback);
    },
  });
}

/** Writes every byte of `buffers`, in order, where the file's position is. */
async function writeFully(file: FileHandle, buffers: Buffer[]): Promise<void> {
  // An empty buffer would make `writev` report 0 bytes, which otherwise means that the file takes no more.
  let pending = buffers.filter((buffer) => buffer.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await file.writev(pending);
    if (bytesWritten === 0) throw Object.assign(new Error('the file accepted no bytes'), { code: 'EIO' });
    pending = dropWrittenBytes(pending, bytesWritten);
  }
}

/** What is left of `buffers` once their first `count` bytes are written (no copies: views of the same memory). */
function dropWrittenBytes(buffers: Buffer[], count: number): Buffer[] {
  let remaining = count;
  let index = 0;
  while (index < buffers.length && remaining >= buffers[index]!.length) {
    remaining -= buffers[index]!.length;
    index += 1;
  }
  const rest = buffers.slice(index);
  if (remaining > 0) rest[0] = rest[0]!.subarray(remaining);
  return rest;
}

interface ReservedName {
  folder: string;
  finalPath: string;
  tempPath: string;
  file: FileHandle;
}

async function reserveFileName(folder: string, startedAt: Date, extension: string): Promise<ReservedName> {
  for (let sequence = 1; sequence <= MAX_FILES_PER_MILLISECOND; sequence += 1) {
    const finalPath = path.join(folder, backupFileName(startedAt, extension, sequence));
    const tempPath = tempPathFor(finalPath);
    const file = await open(tempPath, 'wx', BACKUP_FILE_MODE).catch(ignoreCode('EEXIST'));
    if (!file) continue;
    // Checked only now: a writer holding this name gives its temporary file up only by renaming it to the final name.
    if (!(await lstat(finalPath).catch(ignoreCode('ENOENT')))) return { folder, finalPath, tempPath, file };
    await file.close();
    await removeFileIfPresent(tempPath);
  }
  throw Object.assign(new Error(`${MAX_FILES_PER_MILLISECOND} backups already started in this millisecond`), {
    code: 'EEXIST',
  });
}

/** What a writer may not go past: the deployment's cap, and the volume's free-space reserve. */
interface WriterLimits {
  maxBytes: bigint | null;
  reserve: VolumeReserve;
  root: string;
}

/**
 * Passes bytes through, counting them and, when asked, hashing them. With `limits`, it fails (which fails the whole
 * chain) as soon as the bytes pass the cap, and every {@link RESERVE_CHECK_INTERVAL_BYTES} looks whether the
 * volume's free space is still above the reserve.
 */
class MeasuringStream extends Transform {
  bytes = 0;
  /** The first bytes that passed, when asked to keep them (`keepHead`). */
  head: Buffer = Buffer.alloc(0);
  private readonly hash: Hash | undefined;
  private nextReserveCheck = RESERVE_CHECK_INTERVAL_BYTES;
  constructor(
    hashing: boolean,
    private readonly limits?: WriterLimits,
    private readonly keepHead = false,
  ) {
    super();
    this.hash = hashing ? createHash('sha256') : undefined;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // A copy: the chunk's memory may be reused by its producer once it has passed.
    if (this.keepHead && this.head.length < RAW_HEAD_BYTES)
      this.head = Buffer.concat([this.head, chunk.subarray(0, RAW_HEAD_BYTES - this.head.length)]);
    this.bytes += chunk.length;
    const limits = this.limits;
    if (limits?.maxBytes !== null && limits?.maxBytes !== undefined && BigInt(this.bytes) > limits.maxBytes)
      return callback(new QuotaExceededError(limits.maxBytes));
    this.hash?.update(chunk);
    if (!limits || this.bytes < this.nextReserveCheck) return callback(null, chunk);
    this.nextReserveCheck = this.bytes + RESERVE_CHECK_INTERVAL_BYTES;
    findReserveShortfall(limits.root, limits.reserve).then(
      (shortfall) =>
        shortfall
          ? callback(new VolumeReserveError(shortfall.freeBytes, shortfall.reserveBytes, true))
          : callback(null, chunk),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  }
  digest(): string {
    if (!this.hash) throw new Error('this stream does not hash');
    return this.hash.digest('hex');
  }
}

class FileBackupWriter implements BackupWriter {
  readonly stream: Writable;
  readonly path: string;
  readonly tempPath: string;
  private readonly sidecarTempPath: string;
  private readonly manifestTempPath: string;
  private readonly stored: MeasuringStream;
  /** Counts the raw bytes; the same stage as `stored` when nothing is compressed or encrypted. */
  private readonly raw: MeasuringStream;
  private readonly encryptedTo: string[];
  /** Settles when the chain has flushed or failed; never rejects (holds the failure instead). */
  private readonly flushed: Promise<Error | undefined>;
  private committing: Promise<StoredBackup> | undefined;
  private discarding: Promise<void> | undefined;
  private aborted = false;
  private renamed = false;

  constructor(
    private readonly reserved: ReservedName,
    private readonly extension: string,
    encoding: { compression: Compression; recipients: readonly AgeRecipient[] },
    createSink: CreateFileSink,
    private readonly logger: Logger,
    limits: WriterLimits,
  ) {
    this.path = reserved.finalPath;
    this.tempPath = reserved.tempPath;
    this.sidecarTempPath = tempPathFor(sidecarPathFor(reserved.finalPath));
    this.manifestTempPath = tempPathFor(manifestPathFor(reserved.finalPath));
    const compressor = createCompressor(encoding.compression);
    const encryptor = encoding.recipients.length > 0 ? new AgeEncryptStream(encoding.recipients) : null;
    this.encryptedTo = encoding.recipients.map((recipient) => recipient.fingerprint);
    // The compressor gets the export's small frames in batches (see BatchedCompressor).
    const stages = [compressor ? new BatchedCompressor(compressor) : null, encryptor].filter(
      (stage): stage is BatchedCompressor | AgeEncryptStream => stage !== null,
    );
    // The first stage keeps the raw head; when nothing transforms the bytes, that is the hashing stage itself.
    this.stored = new MeasuringStream(true, limits, stages.length === 0);
    this.raw = stages.length > 0 ? new MeasuringStream(false, undefined, true) : this.stored;
    this.stream = this.raw;
    const sink = createSink(reserved.file);
    // An error in any stage destroys the whole chain, so it also reaches `stream`, the caller's end.
    const chain =
      stages.length > 0
        ? (pipeline as (...streams: NodeJS.ReadWriteStream[]) => Promise<void>)(
            this.raw,
            ...stages,
            this.stored,
            sink as unknown as NodeJS.ReadWriteStream,
          )
        : pipeline(this.stored, sink);
    this.flushed = chain.then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    // A failed chain loses its temporary file at once, even if the caller never gets to abort().
    void this.flushed.then((error) => (error ? this.discard() : undefined));
  }

  bytesWritten(): number {
    return this.raw.bytes;
  }

  head(): Buffer {
    return this.raw.head;
  }

  commit(describe?: (stored: StoredBackup) => Promise<BackupManifest>): Promise<StoredBackup> {
    this.committing ??= this.finish(describe);
    return this.committing;
  }

  async abort(): Promise<void> {
    this.aborted = true;
    this.stream.destroy();
    if (this.committing) await this.committing.catch(() => undefined);
    else await this.discard();
  }

  private async finish(describe?: (stored: StoredBackup) => Promise<BackupManifest>): Promise<StoredBackup> {
    if (!this.aborted) this.stream.end();
    const streamError = await this.flushed;
    if (streamError || this.aborted) {
      await this.discard();
      // A limit is its own failure kind, not a storage fault.
      if (streamError instanceof QuotaExceededError || streamError instanceof VolumeReserveError) throw streamError;
      const abortedFirst = this.aborted && (!streamError || errorCode(streamError) === 'ERR_STREAM_PREMATURE_CLOSE');
      throw new StorageFailedError(
        'write',
        this.tempPath,
        abortedFirst ? new Error('the backup was aborted') : streamError,
      );
    }
    const { file, folder, finalPath } = this.reserved;
    try {
      await file.sync();
      await file.close();
      const sha256 = this.stored.digest();
      const fileName = path.basename(finalPath);
      await writeFileDurably(this.sidecarTempPath, formatSidecar(sha256, fileName));
      const stored = {
        path: finalPath,
        fileName,
        sizeBytes: BigInt(this.stored.bytes),
        sha256,
        extension: this.extension,
        encryptedTo: this.encryptedTo,
      };
      if (describe) await writeFileDurably(this.manifestTempPath, formatManifest(await describe(stored)));
      if (this.aborted) throw new Error('the backup was aborted');
      await rename(this.tempPath, finalPath);
      this.renamed = true;
      await rename(this.sidecarTempPath, sidecarPathFor(finalPath));
      if (describe) await rename(this.manifestTempPath, manifestPathFor(finalPath));
      await syncDirectory(folder);
      return stored;
    } catch (error) {
      await this.discard();
      throw new StorageFailedError('commit', finalPath, error);
    }
  }

  /** Destroys the chain, closes the file and removes every file this writer made. Never rejects. */
  private discard(): Promise<void> {
    this.discarding ??= (async () => {
      this.stream.destroy();
      await this.flushed;
      await this.reserved.file.close().catch((error: unknown) => this.logCleanupFailure(this.tempPath, error));
      const leftovers = [this.tempPath, this.sidecarTempPath, this.manifestTempPath];
      if (this.renamed) leftovers.push(this.path, sidecarPathFor(this.path), manifestPathFor(this.path));
      for (const leftover of leftovers) {
        await removeFileIfPresent(leftover).catch((error: unknown) => this.logCleanupFailure(leftover, error));
      }
    })();
    return this.discarding;
  }

  private logCleanupFailure(filePath: string, error: unknown): void {
    this.logger.warn({ err: error, path: filePath }, 'could not remove a file of a failed backup');
  }
}
