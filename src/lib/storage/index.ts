export { findManifestFiles, listBackupFiles, removeBackupFile, removeStaleTempFiles } from './backup-files.ts';
export {
  type BackupManifest,
  backupManifestSchema,
  describeManifest,
  formatManifest,
  InvalidManifestError,
  isManifestName,
  MANIFEST_VERSION,
  manifestPathFor,
  parseManifest,
  readManifest,
} from './backup-manifest.ts';
export {
  deploymentFolder,
  formatSidecar,
  isBackupFileName,
  parseSidecar,
  sidecarPathFor,
  tempPathFor,
} from './backup-path.ts';
export { assertBackupRootUsable, BackupRootUnusableError } from './backup-root.ts';
export {
  type BackupStore,
  type BackupWriter,
  createFileBackupStore,
  createFileSink,
  type StoredBackup,
} from './backup-store.ts';
export { locateDeploymentFolder } from './deployment-folder.ts';
export { BACKUP_FILE_MODE, ignoreCode, removeFileIfPresent, syncDirectory, writeFileDurably } from './file-system.ts';
export { errorCode, OutsideDeploymentFolderError } from './storage-errors.ts';
export { verifyBackupFile } from './verify-backup.ts';
