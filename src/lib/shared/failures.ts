/**
 * Every way a backup can fail, as a closed set of kinds. The kind is stored on the BackupRecord (`errorKind`), shown
 * by the dashboard and returned to the agent, so each one names a cause a person can act on.
 */
export const BACKUP_FAILURE_KINDS = [
  'PodNotFound',
  'ContainerNotReady',
  'ExecFailed',
  'ConnectionLost',
  'StorageFailed',
  'Timeout',
  'Aborted',
  'EmptyOutput',
  'Interrupted',
  'ClusterUnreachable',
  'ClaimLost',
  'Unexpected',
] as const;

export type BackupFailureKind = (typeof BACKUP_FAILURE_KINDS)[number];

/**
 * Base class of the typed backup errors. Messages must already be redacted: they are stored and shown as they are.
 * Subclasses add the fields their cause needs (`exitCode`, `stderrTail`, …).
 */
export abstract class BackupFailure extends Error {
  abstract readonly kind: BackupFailureKind;
}
