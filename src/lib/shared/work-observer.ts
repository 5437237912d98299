/** How one backup ended, as plain data: SKIPPED when it did not run; the stored size and format check of a success. */
export interface BackupEnding {
  status: 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  sizeBytes: bigint | null;
  /** verified or failed (probably not restorable); null when the check did not run (shutdown). */
  formatCheck: 'verified' | 'failed' | null;
}

/** How one restore ended: its kind and status, or REFUSED when it was refused before it started. */
export interface RestoreEnding {
  kind: 'SCRATCH' | 'TEST' | 'DESTRUCTIVE';
  status: 'SUCCEEDED' | 'FAILED' | 'REFUSED';
}

/**
 * Something that is told how each backup and restore ended, where the work happens (`executeBackup`,
 * `restoreBackup`): the worker's Prometheus metrics. One interface for both, because the same dependencies object
 * carries backups and restores.
 */
export interface WorkObserver {
  backupFinished(ending: BackupEnding): void;
  restoreFinished(ending: RestoreEnding): void;
}
