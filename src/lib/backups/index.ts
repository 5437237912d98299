export {
  type BackupDecision,
  checkBackupEligibility,
  findOverdue,
  type Overdue,
  shouldRunBackup,
  type SkipCode,
} from './backup-due.ts';
export { BackupInterruptedError } from './backup-outcome.ts';
export {
  type BackupSettingsChange,
  type BackupSettingsView,
  changeBackupSettings,
  InvalidBackupSettingError,
  readBackupSettings,
} from './backup-settings.ts';
export {
  assessBackupSize,
  DEFAULT_SUSPICION_SETTINGS,
  type SizeAssessment,
  type SuspicionSettings,
} from './backup-suspicion.ts';
export {
  type BackupState,
  type DeploymentBackupState,
  gatherBackupState,
  PRUNE_SUGGESTION_THRESHOLD,
  type StateOptions,
} from './backup-state.ts';
export { type BackupDependencies, executeBackup } from './backup.ts';
export { claimDeployment, releaseClaim, renewClaim } from './claims.ts';
export { createProgressRecorder } from './progress-recorder.ts';
export { auditBackupFiles, recoverInterruptedBackups } from './recovery.ts';
export {
  reindexBackups,
  type ReindexDependencies,
  type ReindexOptions,
  type ReindexReport,
  ReindexSourceError,
} from './reindex.ts';
