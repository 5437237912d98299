/**
 * The one way to find a backup's file from its record. Every consumer (download, prune, fetch, restore, verify, the
 * format check, the off-site upload, test-restores, the audit) goes through here, so a record whose `path` was
 * tampered with (another deployment's file, `..`, a symbolic link, anything outside the root) is refused by all of
 * them alike.
 *
 * A file qualifies only if it is a regular file (never a symbolic link) directly inside
 * `{root}/{workspaceId}/{deploymentName}/` (compared by whole path segments, the two folders real directories), and
 * its name is a finished backup's name (not hidden, not a sidecar) ending with the record's extension. Consumers that
 * read it open it with `O_NOFOLLOW` ({@link openBackupFileForReading}), so a link planted after the check is refused too.
 */
import { lstat, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { deploymentFolder, isBackupFileName } from './backup-path.ts';
import { locateDeploymentFolder } from './deployment-folder.ts';
import { READ_NO_FOLLOW } from './file-system.ts';
import { errorCode, OutsideDeploymentFolderError } from './storage-errors.ts';

/** What a record says about its file. */
export interface BackupFileReference {
  workspaceId: string;
  deploymentName: string;
  /** The record's `path`; null when it has no file. */
  path: string | null;
  /** The record's `extension` (e.g. `sql.gz`); when set, the file's name must end with `.{extension}`. */
  extension?: string | null;
}

/** Why a record's file cannot be used. */
export type BackupFileRefusal =
  /** The record names no file. */
  | 'no-file'
  /** The path is not a backup file directly inside the deployment's folder (another folder, `..`, a link, a bad name). */
  | 'outside-folder'
  /** The path is right but nothing is there (pruned, deleted, or the folder is gone). */
  | 'missing'
  /** The backup root itself is missing or unusable: probably an unmounted volume, so "missing" would be a guess. */
  | 'volume-unavailable';

/** Where the record's file is, lexically: the deployment's folder and the file's name in it. */
export interface BackupFilePlace {
  folder: string;
  path: string;
  fileName: string;
}

/** The outcome of {@link locateBackupFile}; `detail` is a sentence for a person (it never quotes file content). */
export type BackupFileLocation =
  | ({ ok: true; sizeBytes: bigint } & BackupFilePlace)
  | { ok: false; reason: BackupFileRefusal; detail: string; place: BackupFilePlace | null };

/** A record's file was refused; `reason` says why. Thrown by {@link requireBackupFile}. */
export class BackupFileRefusedError extends Error {
  override readonly name = 'BackupFileRefusedError';
  constructor(
    readonly reason: BackupFileRefusal,
    readonly detail: string,
  ) {
    super(`storage: ${detail}`);
  }
}

/**
 * The lexical half, pure: the deployment's folder and the record's file name in it, or why the recorded path cannot
 * be this deployment's backup file. No filesystem access.
 */
export function placeBackupFile(
  root: string,
  reference: BackupFileReference,
): { ok: true; place: BackupFilePlace } | { ok: false; reason: 'no-file' | 'outside-folder'; detail: string } {
  const recorded = reference.path;
  if (!recorded) return { ok: false, reason: 'no-file', detail: 'the record names no file' };
  let folder: string;
  try {
    folder = deploymentFolder(root, reference.workspaceId, reference.deploymentName);
  } catch (error) {
    return { ok: false, reason: 'outside-folder', detail: error instanceof Error ? error.message : String(error) };
  }
  const outside = (why: string) => ({
    ok: false as const,
    reason: 'outside-folder' as const,
    detail: `the recorded path ${JSON.stringify(recorded)} ${why} (only files directly inside ${folder} qualify)`,
  });
  if (recorded.includes('\0') || !path.isAbsolute(recorded)) return outside('is not an absolute path');
  const resolved = path.resolve(recorded);
  // `path.resolve` removes `..`, so `/root/ws/other/../db/x` would land here: a recorded path must already be canonical.
  if (resolved !== recorded || path.dirname(resolved) !== folder)
    return outside('is not directly inside the deployment folder');
  const fileName = path.basename(resolved);
  if (!isBackupFileName(fileName))
    return outside('is not the name of a finished backup (a temporary file or a sidecar)');
  if (reference.extension && !fileName.endsWith(`.${reference.extension}`))
    return outside(`does not end with the record's extension .${reference.extension}`);
  return { ok: true, place: { folder, path: resolved, fileName } };
}

/**
 * Finds the record's file: {@link placeBackupFile}, then the deployment's folders must be real directories (no link
 * on the way) and the file a regular file (`lstat`, links not followed). Never throws for a refused or missing file;
 * an unexpected filesystem error (other than the root's own) is rethrown.
 */
export async function locateBackupFile(root: string, reference: BackupFileReference): Promise<BackupFileLocation> {
  const placed = placeBackupFile(root, reference);
  if (!placed.ok) return { ...placed, place: null };
  const { place } = placed;
  try {
    const folder = await locateDeploymentFolder(root, reference.workspaceId, reference.deploymentName, {
      create: false,
    });
    if (!folder) return { ok: false, reason: 'missing', detail: `${place.path} is missing`, place };
  } catch (error) {
    if (error instanceof OutsideDeploymentFolderError)
      return { ok: false, reason: 'outside-folder', detail: error.message, place };
    return {
      ok: false,
      reason: 'volume-unavailable',
      detail: `the backup volume (BACKUP_ROOT) is not available: ${errorCode(error) ?? String(error)}`,
      place,
    };
  }
  const stats = await lstat(place.path, { bigint: true }).catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  });
  if (!stats) return { ok: false, reason: 'missing', detail: `${place.path} is missing`, place };
  if (!stats.isFile()) {
    const what = stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
    return { ok: false, reason: 'outside-folder', detail: `${place.path} is ${what}`, place };
  }
  return { ok: true, ...place, sizeBytes: stats.size };
}

/** {@link locateBackupFile}, throwing `BackupFileRefusedError` unless the file is there. */
export async function requireBackupFile(
  root: string,
  reference: BackupFileReference,
): Promise<Extract<BackupFileLocation, { ok: true }>> {
  const location = await locateBackupFile(root, reference);
  if (!location.ok) throw new BackupFileRefusedError(location.reason, location.detail);
  return location;
}

/**
 * Opens a located backup file for reading without following a link, and checks that what was opened is a regular
 * file. Throws `OutsideDeploymentFolderError` for a link or a non-file, the filesystem's error otherwise.
 */
export async function openBackupFileForReading(filePath: string): Promise<FileHandle> {
  let file: FileHandle;
  try {
    file = await open(filePath, READ_NO_FOLLOW);
  } catch (error) {
    if (errorCode(error) === 'ELOOP')
      throw new OutsideDeploymentFolderError(path.dirname(filePath), filePath, 'it is a symbolic link');
    throw error;
  }
  const stats = await file.stat().catch(async (error: unknown) => {
    await file.close();
    throw error;
  });
  if (!stats.isFile()) {
    await file.close();
    throw new OutsideDeploymentFolderError(path.dirname(filePath), filePath, 'it is not a regular file');
  }
  return file;
}

/** The reference of a backup record that comes with its deployment's name (`include: { deployment: … }`). */
export function backupFileReferenceOf(record: {
  workspaceId: string;
  path: string | null;
  extension?: string | null;
  deployment: { name: string };
}): BackupFileReference {
  return {
    workspaceId: record.workspaceId,
    deploymentName: record.deployment.name,
    path: record.path,
    extension: record.extension ?? null,
  };
}
