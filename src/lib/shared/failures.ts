/**
 * The typed failures of the module: every way a backup or a restore can fail, as closed sets of kinds. The kind is
 * stored on the record (`errorKind`), shown by the dashboard and returned to the agent, so each one names a cause a
 * person can act on. One base class, `TypedFailure`; each layer's errors extend it (kube/exec-errors.ts,
 * storage/storage-errors.ts, restore/import-errors.ts, backups/backup-outcome.ts).
 */

/** The kinds a BackupRecord may carry. */
export const BACKUP_FAILURE_KINDS = [
  'PodNotFound',
  'PodNotOwned',
  'InvalidTarget',
  'QuotaExceeded',
  'VolumeReserve',
  'ContainerNotReady',
  'ExecFailed',
  'ConnectionLost',
  'StorageFailed',
  'Timeout',
  'Stalled',
  'Aborted',
  'EmptyOutput',
  'Interrupted',
  'ClusterUnreachable',
  'ClaimLost',
  'EncryptionMisconfigured',
  'Unexpected',
] as const;

export type BackupFailureKind = (typeof BACKUP_FAILURE_KINDS)[number];

/**
 * The kinds of a data import (a restore through Kubernetes exec, and the checks before it) beyond the pod lookup's.
 * They reuse the export's names where the cause is the same (`ExecFailed`, `ConnectionLost`, `Timeout`, `Aborted`).
 */
export const IMPORT_FAILURE_KINDS = [
  'PodNotOwned',
  'InvalidTarget',
  'ExecFailed',
  'ConnectionLost',
  'Timeout',
  'Stalled',
  'Aborted',
  'IncompleteInput',
  'StdinUnsupported',
  'ChecksumMismatch',
  'BackupFileMissing',
  'CorruptFile',
  'BadCountOutput',
] as const;

export type ImportFailureKind = (typeof IMPORT_FAILURE_KINDS)[number];

export type FailureKind = BackupFailureKind | ImportFailureKind;

/**
 * Base class of the typed errors. Messages must already be redacted: they are stored and shown as they are.
 * Subclasses add the fields their cause needs (`exitCode`, `stderrTail`, …).
 */
export abstract class TypedFailure extends Error {
  abstract readonly kind: FailureKind;
}

/** True for the kinds a BackupRecord may carry. */
export function isBackupFailureKind(kind: string): kind is BackupFailureKind {
  return (BACKUP_FAILURE_KINDS as readonly string[]).includes(kind);
}
