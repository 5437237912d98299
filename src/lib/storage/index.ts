export { listBackupFiles, removeBackupFile, removeStaleTempFiles } from './backup-files.ts';
export { deploymentFolder, formatSidecar, isBackupFileName, sidecarPathFor, tempPathFor } from './backup-path.ts';
export { assertBackupRootUsable, BackupRootUnusableError } from './backup-root.ts';
export {
  type BackupStore,
  type BackupTarget,
  type BackupWriter,
  createFileBackupStore,
  createFileSink,
  type StoredBackup,
} from './backup-store.ts';
export { locateDeploymentFolder } from './deployment-folder.ts';
export { BACKUP_FILE_MODE, ignoreCode, removeFileIfPresent, syncDirectory, writeFileDurably } from './file-system.ts';
export { errorCode, OutsideDeploymentFolderError } from './storage-errors.ts';
export { verifyBackupFile } from './verify-backup.ts';
export {
  COMPRESSIONS,
  type Compression,
  encodingOfExtension,
  findIdentityFor,
  IdentityRequiredError,
  isCorruptionError,
  openDecodedStream,
  type StoredEncoding,
} from './backup-encoding.ts';
