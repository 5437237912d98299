/**
 * Retention planning, pure: given a deployment's backup records, which to keep and which to delete. The shell
 * (`pruneBackups` in backup.ts) carries the plan out. Rules:
 * - the newest `keepCount` SUCCEEDED backups are kept (`keepCount` >= 1, so the newest success always survives);
 * - older SUCCEEDED backups are deleted (file and record);
 * - FAILED records older than the oldest kept success are deleted (they have no file);
 * - RUNNING records and anything newer than the oldest kept success are never touched;
 * - with no successful backup at all, nothing is deleted.
 */

/** The part of a BackupRecord retention looks at. */
export interface RetentionCandidate {
  id: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startedAt: Date;
  path: string | null;
}

export interface RetentionPlan<T extends RetentionCandidate> {
  keep: T[];
  /** Successful backups whose file and record go. */
  deleteBackups: T[];
  /** Failed records (no file) that go. */
  deleteFailedRecords: T[];
}

/** A keep count that would delete every backup, or is not a whole number. */
export class InvalidRetentionError extends RangeError {
  override name = 'InvalidRetentionError';
  constructor(readonly keepCount: number) {
    super(`retention: keepCount must be a whole number >= 1 (got ${keepCount}); the newest successful backup is never deleted`);
  }
}

/** Newest first, ties broken by id so the plan is deterministic. */
function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  return b.startedAt.getTime() - a.startedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Plans retention for one deployment's records. Throws `InvalidRetentionError` for keepCount < 1. */
export function planRetention<T extends RetentionCandidate>(records: readonly T[], keepCount: number): RetentionPlan<T> {
  if (!Number.isInteger(keepCount) || keepCount < 1) throw new InvalidRetentionError(keepCount);
  const sorted = [...records].sort(newestFirst);
  const successes = sorted.filter((record) => record.status === 'SUCCEEDED');
  const kept = successes.slice(0, keepCount);
  const oldestKept = kept.at(-1);
  if (!oldestKept) return { keep: sorted, deleteBackups: [], deleteFailedRecords: [] };
  const deleteBackups = successes.slice(keepCount);
  const deleteFailedRecords = sorted.filter(
    (record) => record.status === 'FAILED' && newestFirst(record, oldestKept) > 0,
  );
  const deleted = new Set<T>([...deleteBackups, ...deleteFailedRecords]);
  return { keep: sorted.filter((record) => !deleted.has(record)), deleteBackups, deleteFailedRecords };
}
