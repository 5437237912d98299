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
