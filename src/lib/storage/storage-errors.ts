/**
 * Errors of the backup file storage. `StorageFailedError` is the only error a `BackupStore` or `BackupWriter`
 * rejects with (the orchestrator records it as kind `StorageFailed`); `OutsideDeploymentFolderError` is the refusal
 * to touch a path that does not really lie in the deployment's folder.
 */
import { TypedFailure } from '../shared/index.ts';

/** Which step of storing a backup failed. */
export type StorageStage = 'open' | 'write' | 'commit';

/** Writing a backup file failed (disk full, folder not writable, escaping path, …); nothing is left at the final name. */
export class StorageFailedError extends TypedFailure {
  override readonly name = 'StorageFailedError';
  readonly kind = 'StorageFailed' as const;
  /** The errno code of the cause (`ENOSPC`, `ENOTDIR`, `EACCES`, …), when there is one. */
  readonly code: string | undefined;
  constructor(
    readonly stage: StorageStage,
    /** The file or folder the step was about. */
    readonly path: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`storage: ${stage} of ${path} failed: ${reason}`, { cause });
    this.code = errorCode(cause);
  }
}

/** A path that does not resolve (after symbolic links) to a file directly inside the deployment's backup folder. */
export class OutsideDeploymentFolderError extends Error {
  override readonly name = 'OutsideDeploymentFolderError';
  constructor(
    /** `{root}/{workspaceId}/{deploymentName}` as configured. */
    readonly deploymentFolder: string,
    /** The path that was asked for. */
    readonly candidate: string,
    /** Why it is refused, e.g. `it is a symbolic link`. */
    readonly reason: string,
  ) {
    super(`storage: refused ${candidate}: ${reason} (only files directly inside ${deploymentFolder} qualify)`);
  }
}

/** The errno-style `code` of an error (`ENOENT`, …), or undefined. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A backup grew past its deployment's cap (`maxBackupBytes`, stored bytes); it was aborted and its file removed. */
export class QuotaExceededError extends TypedFailure {
  override readonly name = 'QuotaExceededError';
  readonly kind = 'QuotaExceeded' as const;
  constructor(readonly maxBytes: bigint) {
    super(
      `storage: the backup exceeded its deployment's cap of ${maxBytes} bytes (maxBackupBytes) and was aborted; its partial file was removed`,
    );
  }
}

/**
 * The backup volume's free space is (or would fall) below the reserve kept for every tenant (`BACKUP_MIN_FREE_BYTES`,
 * `BACKUP_MIN_FREE_PERCENT`): the backup did not start, or was aborted and its partial file removed.
 */
export class VolumeReserveError extends TypedFailure {
  override readonly name = 'VolumeReserveError';
  readonly kind = 'VolumeReserve' as const;
  constructor(
    readonly freeBytes: bigint,
    readonly reserveBytes: bigint,
    started: boolean,
  ) {
    super(
      `storage: the backup volume has ${freeBytes} bytes free, below its reserve of ${reserveBytes} bytes; ` +
        (started ? 'the backup was aborted and its partial file removed' : 'the backup was not started'),
    );
  }
}
