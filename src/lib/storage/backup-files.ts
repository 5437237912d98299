/**
 * The finished and unfinished files on the backup volume, for retention, crash recovery and reports: the safe way to
 * delete one backup, listings of a deployment's backups and of temporary files left by a killed worker, and the
 * bytes used. Only the store's layout is walked (`{root}/{workspaceId}/{deploymentName}/{file}`); symbolic links
 * are never followed, so nothing outside the root is ever listed or deleted.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  InvalidBackupPathError,
  deploymentFolder,
  isBackupFileName,
  isTempFileName,
  sidecarPathFor,
} from './backup-path.ts';
import { isManifestName, manifestPathFor } from './backup-manifest.ts';
import { locateDeploymentFolder } from './deployment-folder.ts';
import { ignoreCode, removeFileIfPresent, syncDirectory } from './file-system.ts';
import { BackupFileRefusedError, locateBackupFile } from './locate-backup-file.ts';
import { OutsideDeploymentFolderError } from './storage-errors.ts';

/** A file on the backup volume. */
export interface BackupFileInfo {
  path: string;
  fileName: string;
  sizeBytes: bigint;
  modifiedAt: Date;
}

/** What {@link removeBackupFile} did: `missing` when the file was already gone (its record can go, but say so). */
export interface BackupFileRemoval {
  removed: boolean;
  missing: boolean;
}

/** Result of {@link removeStaleTempFiles}: each failure is kept, not swallowed. */
export interface StaleTempFileRemoval {
  removed: BackupFileInfo[];
  failed: Array<{ path: string; error: Error }>;
}

/** Bytes used by finished backup files (sidecars and temporary files not counted). */
export interface BackupUsage {
  totalBytes: bigint;
  fileCount: number;
}

/**
 * Deletes a backup file, its `.sha256` sidecar and its `.json` manifest, only if `filePath` is where {@link locateBackupFile} allows a
 * backup of this deployment to be (a regular file directly inside `{root}/{workspaceId}/{deploymentName}/`, compared
 * by whole path segments, with no symbolic link on the way, a finished backup's name ending with `extension` when
 * given). Otherwise throws `OutsideDeploymentFolderError` and touches nothing. A file already gone is
 * `{ removed: false, missing: true }`; a missing or unusable root throws `BackupFileRefusedError` instead (an
 * unmounted volume does not mean the file is gone).
 */
export async function removeBackupFile(
  root: string,
  workspaceId: string,
  deploymentName: string,
  filePath: string,
  extension?: string | null,
): Promise<BackupFileRemoval> {
  const location = await locateBackupFile(root, { workspaceId, deploymentName, path: filePath, extension });
  if (!location.ok) {
    if (location.reason === 'missing') {
      if (location.place) await removeFileIfPresent(sidecarPathFor(location.place.path)).catch(ignoreCode('ENOENT'));
      return { removed: false, missing: true };
    }
    if (location.reason === 'volume-unavailable') throw new BackupFileRefusedError(location.reason, location.detail);
    throw new OutsideDeploymentFolderError(
      location.place?.folder ?? deploymentFolderOrPath(root, workspaceId, deploymentName),
      filePath,
      location.detail,
    );
  }
  const removed = await removeFileIfPresent(location.path);
  await removeFileIfPresent(sidecarPathFor(location.path));
  await removeFileIfPresent(manifestPathFor(location.path));
  await syncDirectory(location.folder);
  return { removed, missing: !removed };
}

function deploymentFolderOrPath(root: string, workspaceId: string, deploymentName: string): string {
  try {
    return deploymentFolder(root, workspaceId, deploymentName);
  } catch {
    return path.join(root, workspaceId, deploymentName);
  }
}

/**
 * A deployment's finished backup files (no temporary files, sidecars, links or folders), oldest name first; empty
 * when the folder does not exist. For "files on disk with no record" reports.
 */
export async function listBackupFiles(
  root: string,
  workspaceId: string,
  deploymentName: string,
): Promise<BackupFileInfo[]> {
  const folder = await locateDeploymentFolder(root, workspaceId, deploymentName, { create: false });
  if (!folder) return [];
  return describeFiles(folder, (entries) => entries.filter((entry) => entry.isFile() && isBackupFileName(entry.name)));
}

/** Temporary files (`.….partial`) in every deployment folder under `root`: left by a killed worker, or in progress. */
export async function findOrphanTempFiles(root: string): Promise<BackupFileInfo[]> {
  const found: BackupFileInfo[] = [];
  for (const folder of await deploymentFolders(root)) {
    found.push(
      ...(await describeFiles(folder, (entries) =>
        entries.filter((entry) => entry.isFile() && isTempFileName(entry.name)),
      )),
    );
  }
  return found;
}

/**
 * Deletes the temporary files last modified before `olderThan`. A running backup's file is written to (or touched)
 * all the time, so a cutoff older than the longest silence of a running export never removes a live one.
 */
export async function removeStaleTempFiles(root: string, olderThan: Date): Promise<StaleTempFileRemoval> {
  const result: StaleTempFileRemoval = { removed: [], failed: [] };
  for (const file of await findOrphanTempFiles(root)) {
    if (file.modifiedAt.getTime() >= olderThan.getTime()) continue;
    try {
      if (await removeFileIfPresent(file.path)) result.removed.push(file);
    } catch (error) {
      result.failed.push({ path: file.path, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }
  return result;
}

/**
 * The manifests (`{file}.json`) in every deployment folder under `root`, folder by folder, oldest name first: what
 * `reindex` rebuilds records from.
 */
export async function findManifestFiles(root: string): Promise<BackupFileInfo[]> {
  const found: BackupFileInfo[] = [];
  for (const folder of await deploymentFolders(root)) {
    found.push(
      ...(await describeFiles(folder, (entries) =>
        entries.filter((entry) => entry.isFile() && !entry.name.startsWith('.') && isManifestName(entry.name)),
      )),
    );
  }
  return found;
}

/** Total size of the finished backup files under `root` ("bytes used on the backup volume"). */
export async function measureBackupUsage(root: string): Promise<BackupUsage> {
  const usage: BackupUsage = { totalBytes: 0n, fileCount: 0 };
  for (const folder of await deploymentFolders(root)) {
    const files = await describeFiles(folder, (entries) =>
      entries.filter((entry) => entry.isFile() && isBackupFileName(entry.name)),
    );
    for (const file of files) {
      usage.totalBytes += file.sizeBytes;
      usage.fileCount += 1;
    }
  }
  return usage;
}

/** `{root}/*\/*` real directories (no links followed). */
async function deploymentFolders(root: string): Promise<string[]> {
  const folders: string[] = [];
  for (const workspace of await subfolders(path.resolve(root))) folders.push(...(await subfolders(workspace)));
  return folders;
}

async function subfolders(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => path.join(folder, entry.name))
    .sort();
}

async function describeFiles(folder: string, select: (entries: Dirent[]) => Dirent[]): Promise<BackupFileInfo[]> {
  const entries = select(await readdir(folder, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const files: BackupFileInfo[] = [];
  for (const entry of entries) {
    const filePath = path.join(folder, entry.name);
    // A file may vanish between the listing and its stat (another worker's commit or cleanup).
    const stats = await lstat(filePath, { bigint: true }).catch(ignoreCode('ENOENT'));
    if (stats?.isFile())
      files.push({ path: filePath, fileName: entry.name, sizeBytes: stats.size, modifiedAt: stats.mtime });
  }
  return files;
}
