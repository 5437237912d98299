/** Small filesystem helpers the storage modules share. */
import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { errorCode } from './storage-errors.ts';

/** Backups hold a database's data: only the worker's user may read them. */
export const BACKUP_FILE_MODE = 0o600;

/** `open` flags for reading a backup file: a symbolic link at the last step fails with `ELOOP` instead of being followed. */
export const READ_NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

/** Flushes a directory's entries (renames, unlinks) to disk. */
export async function syncDirectory(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Deletes a file; true if it was there, false if it already was not. */
export async function removeFileIfPresent(filePath: string): Promise<boolean> {
  try {
    await unlink(filePath);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

/** A `.catch` handler that turns the given errno code into `undefined` and rethrows anything else. */
export function ignoreCode(code: string): (error: unknown) => undefined {
  return (error) => {
    if (errorCode(error) === code) return undefined;
    throw error;
  };
}

/**
 * Writes a small file completely and fsyncs it. Whatever is at `filePath` is replaced (a link is removed, not
 * followed), so it must be a name the caller owns, such as its own temporary name.
 */
export async function writeFileDurably(filePath: string, text: string): Promise<void> {
  await removeFileIfPresent(filePath);
  const file = await open(filePath, 'wx', BACKUP_FILE_MODE);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
}
