/**
 * The filesystem side of `{root}/{workspaceId}/{deploymentName}`: finding or creating a deployment's folder so that it
 * really lies inside the root. The root itself may be a symbolic link (a mounted volume); the two folders below it
 * must be real directories, so a link planted there (`{root}/ws → /etc`) is refused before anything is created or
 * deleted through it.
 */
import { lstat, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { deploymentFolder } from './backup-path.ts';
import { ignoreCode } from './file-system.ts';
import { OutsideDeploymentFolderError } from './storage-errors.ts';

/**
 * The deployment's folder (as a path under the configured root), created when `create` is set, or null when it does
 * not exist yet. Throws `InvalidBackupPathError` for bad names, `OutsideDeploymentFolderError` when the workspace or
 * deployment folder is a symbolic link or not a directory, and the filesystem's error when the root is unusable
 * (missing root: `ENOENT`; a root below a regular file: `ENOTDIR`). A missing root is never created: an unmounted
 * volume must fail, not fill the container's own disk.
 */
export async function locateDeploymentFolder(
  root: string,
  workspaceId: string,
  deploymentName: string,
  options: { create: boolean },
): Promise<string | null> {
  const folder = deploymentFolder(root, workspaceId, deploymentName);
  const rootStats = await stat(path.resolve(root));
  if (!rootStats.isDirectory())
    throw Object.assign(new Error(`backup root ${root} is not a directory`), { code: 'ENOTDIR' });
  for (const segment of [path.dirname(folder), folder]) {
    if (options.create) await mkdir(segment).catch(ignoreCode('EEXIST'));
    const stats = await lstat(segment).catch(ignoreCode('ENOENT'));
    if (!stats) return null;
    if (stats.isSymbolicLink()) throw new OutsideDeploymentFolderError(folder, segment, 'it is a symbolic link');
    if (!stats.isDirectory()) throw new OutsideDeploymentFolderError(folder, segment, 'it is not a directory');
  }
  return folder;
}
