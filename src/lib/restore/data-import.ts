import { createHash } from 'node:crypto';
import type { AgeIdentity } from '../encryption/index.ts';
import { type Logger, redactSecrets, TypedFailure } from '../shared/index.ts';
import { isCorruptionError, readDecodedChunks, type StoredEncoding, verifyBackupFile } from '../storage/index.ts';
import {
  AbortedError,
  defaultPodSelector,
  type ExecLocation,
  execWithInput,
  type KubeClients,
  resolveExportTarget,
  TimeoutError,
  withinLimits,
} from '../kube/index.ts';
import { BackupFileMissingError, ChecksumMismatchError, CorruptFileError } from './import-errors.ts';

/** A stored backup file to stream into the command's stdin. */
export interface ImportSource {
  path: string;
  /** The record's sha256 of the stored file; checked before the first byte is sent, and again while sending. */
  sha256: string;
  /**
   * How to get the export's own bytes back: decrypted when encrypted (`.age`), decompressed when the store
   * compressed the export (`.sql.gz`, `.rdb.zst`), here while streaming. An export that compressed itself
   * (`.dump`) has compression `none`.
   */
  encoding: StoredEncoding;
  /** age identities for an encrypted file (the loader has checked that one of them opens it). */
  identities?: readonly AgeIdentity[] | undefined;
  /** True when the caller has just run `assertBackupFileMatches` (the streamed bytes are still hashed and checked). */
  verified?: boolean;
}

export interface DataImportRequest {
  /** The deployment's workspace: only its pods qualify (see `resolveExportTarget`). */
  workspaceId: string;
  namespace: string;
  /** Label selector of the deployment's pods; null: `defaultPodSelector(deploymentName)`. */
  podSelector: string | null;
  deploymentName: string;
  container: string;
  /** The argv, with the target (if any) already appended as its own element. */
  command: string[];
  /** Absent: the command runs without stdin (create, count, drop). */
  source?: ImportSource;
  /** Bounds the pod lookup and, separately, the exec. */
  timeoutMs: number;
  /** The exec is stopped as `Stalled` when the command takes no input for this long (default 10 min). */
  stallMs?: number;
  signal?: AbortSignal;
  /** Called with the bytes sent so far while the source streams in. Must not throw. */
  onProgress?: (bytesSent: number) => void;
}

export interface DataImportResult {
  pod: string;
  container: string;
  /** Bytes sent to stdin (after decompression). */
  bytesSent: number;
  /** Stdout, redacted (count lines). */
  stdout: string;
  stderrTail: string;
}

/**
 * Runs one step of a restore in the deployment's pod: verifies the backup file against its sha256 and sidecar (a
 * mismatch refuses the restore before the cluster is even contacted), finds a Running pod whose container is ready,
 * and runs the command with the file streamed into its stdin, decrypted and decompressed here as it was stored.
 *
 * Decompressing in the worker, not in the pod, keeps the scripts free of pipelines whose failures `sh` cannot see
 * (no `pipefail` in POSIX sh), needs no gzip in the image, and lets a corrupt file stop the exec before stdin is
 * closed; the cost is sending the uncompressed bytes over the API connection.
 *
 * Rejects with the typed failures of `execWithInput`, `ChecksumMismatchError` / `BackupFileMissingError` (refused
 * before sending), `CorruptFileError`, or the pod lookup's `TypedFailure`s. Messages are redacted with the container's
 * own secret values.
 */
export async function runDataImport(
  clients: KubeClients,
  request: DataImportRequest,
  logger: Logger,
): Promise<DataImportResult> {
  const log = logger.child({ module: 'deployer/data-import' });
  const { namespace, container, source, timeoutMs, signal } = request;
  const podSelector = request.podSelector ?? defaultPodSelector(request.deploymentName);
  let location: ExecLocation = { namespace, pod: null, container };
  try {
    if (source && !source.verified) await assertBackupFileMatches(source);
    const resolving = () =>
      resolveExportTarget(clients.core, {
        namespace,
        podSelector,
        container,
        workspaceId: request.workspaceId,
        workspaceLabel: clients.workspaceLabel,
      });
    const target = await withinLimits(resolving, {
      timeoutMs,
      signal,
      aborted: () => new AbortedError('import', location, 0),
      timedOut: () => new TimeoutError('import', location, timeoutMs, 0),
    });
    location = { ...location, pod: target.pod };
    const redact = (text: string) => redactSecrets(text, target.secretValues);
    const streamed = source ? openSource(source) : undefined;
    log.info({ namespace, pod: target.pod, container, stdin: Boolean(source) }, 'restore step started');
    const result = await execWithInput(clients.exec, {
      namespace,
      pod: target.pod,
      container,
      command: request.command,
      ...(streamed ? { input: streamed.chunks, beforeEndOfInput: streamed.assertComplete } : {}),
      timeoutMs,
      ...(request.stallMs ? { stallMs: request.stallMs } : {}),
      ...(signal ? { signal } : {}),
      ...(request.onProgress ? { onProgress: request.onProgress } : {}),
      redact,
    });
    log.info({ namespace, pod: target.pod, container, bytesSent: result.bytesSent }, 'restore step finished');
    return {
      pod: target.pod,
      container,
      bytesSent: result.bytesSent,
      stdout: result.stdout,
      stderrTail: result.stderrTail,
    };
  } catch (error) {
    const kind = error instanceof TypedFailure ? error.kind : null;
    log.warn({ ...location, kind, err: error }, 'restore step failed');
    throw error;
  }
}

/**
 * Re-hashes the whole file and checks its sidecar; throws `ChecksumMismatchError` or `BackupFileMissingError` when it
 * is not exactly the recorded backup.
 */
export async function assertBackupFileMatches(source: ImportSource): Promise<void> {
  const verification = await verifyBackupFile(source.path, source.sha256);
  if (verification.ok) return;
  if (verification.reason === 'file-missing' || verification.reason === 'file-unreadable') {
    throw new BackupFileMissingError(source.path, verification.detail);
  }
  throw new ChecksumMismatchError(source.path, verification.detail);
}

/**
 * The file as chunks of the bytes to send (decompressed if needed), hashed as they are read; `assertComplete` checks,
 * before stdin is closed, that what was read is still the recorded file (it could have changed since the check). A
 * chunk may be a buffer the next read reuses (`readDecodedChunks`): `execWithInput` copies each into its frame first.
 */
function openSource(source: ImportSource): { chunks: AsyncIterable<Buffer>; assertComplete: () => void } {
  const hash = createHash('sha256');
  // The stored bytes are hashed as they are read, before decryption and decompression.
  const bytes = readDecodedChunks(source.path, source.encoding, {
    identities: source.identities,
    onStoredChunk: (chunk) => hash.update(chunk),
  });
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      yield* bytes;
    } catch (error) {
      if (isCorruptionError(error)) throw new CorruptFileError(source.path, error.message);
      throw error;
    }
  }
  return {
    chunks: chunks(),
    assertComplete() {
      const actual = hash.digest('hex');
      if (actual !== source.sha256.toLowerCase()) {
        throw new ChecksumMismatchError(
          source.path,
          `${source.path} changed while it was being restored (sha256 ${actual}, the record says ${source.sha256})`,
        );
      }
    },
  };
}
