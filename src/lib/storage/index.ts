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
export { flagManifestSuspicious, type ManifestFlagOutcome } from './manifest-flag.ts';
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
  type BackupTarget,
  type BackupWriter,
  createFileBackupStore,
  createFileSink,
  RAW_HEAD_BYTES,
  type StoredBackup,
} from './backup-store.ts';
export { locateDeploymentFolder } from './deployment-folder.ts';
export {
  BACKUP_FILE_MODE,
  ignoreCode,
  READ_NO_FOLLOW,
  removeFileIfPresent,
  syncDirectory,
  writeFileDurably,
} from './file-system.ts';
export { errorCode, OutsideDeploymentFolderError, QuotaExceededError, VolumeReserveError } from './storage-errors.ts';
export {
  findReserveShortfall,
  measureVolumeSpace,
  reserveBytes,
  type VolumeReserve,
  type VolumeSpace,
} from './volume-reserve.ts';
export { type BackupVerification, verifyBackupFile, verifyStoredBackup } from './verify-backup.ts';
export {
  type BackupFileLocation,
  type BackupFilePlace,
  type BackupFileReference,
  type BackupFileRefusal,
  BackupFileRefusedError,
  backupFileReferenceOf,
  locateBackupFile,
  openBackupFileForReading,
  placeBackupFile,
  requireBackupFile,
} from './locate-backup-file.ts';
export {
  COMPRESSIONS,
  type Compression,
  encodingOfExtension,
  findIdentityFor,
  IdentityRequiredError,
  isCorruptionError,
  openDecodedStream,
  readDecodedChunks,
  type StoredEncoding,
} from './backup-encoding.ts';
