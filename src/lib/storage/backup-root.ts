import { access, constants, stat } from 'node:fs/promises';

/** The backup volume is missing or cannot be written: the worker must not start and pretend to back up. */
export class BackupRootUnusableError extends Error {
  override name = 'BackupRootUnusableError';
  constructor(
    readonly root: string,
    reason: string,
  ) {
    super(`BACKUP_ROOT "${root}" ${reason}; mount the backup volume there or set BACKUP_ROOT`);
  }
}

/**
 * Checks that the backup root exists, is a folder and is writable. It is never created on the fly: a volume that
 * failed to mount must not be replaced silently by a folder on the container's own disk.
 */
export async function assertBackupRootUsable(root: string): Promise<void> {
  const info = await stat(root).catch(() => null);
  if (!info) throw new BackupRootUnusableError(root, 'does not exist');
  if (!info.isDirectory()) throw new BackupRootUnusableError(root, 'is not a folder');
  await access(root, constants.W_OK).catch(() => {
    throw new BackupRootUnusableError(root, 'is not writable by this process');
  });
}
