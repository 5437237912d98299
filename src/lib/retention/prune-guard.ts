/**
 * The retention guard, pure: a prune that looks like a mistake (a policy lowered by accident, backups that stopped
 * being good) deletes nothing until a person confirms it. Checked on every run, scheduled, agent or CLI, after the
 * plan is made and before anything is deleted.
 */

/** The part of a record the guard looks at. */
export interface GuardedRecord {
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startedAt: Date;
  suspicious?: boolean;
}

/** Why a prune stopped; each reason is a sentence for the dry run, the alert and the API. */
export interface PruneGuardStop {
  reasons: string[];
}

/**
 * Stops a prune that deletes successful backups when (a) it would delete more than half of the deployment's
 * successful backups, or (b) the newest finished backup failed or is suspicious (the backups to keep may not be good
 * ones). A plan that deletes no successful backup (failed records only, or nothing) is never stopped. Returns null
 * when the prune may go ahead.
 */
export function checkPruneGuard(input: {
  records: readonly GuardedRecord[];
  /** Successful backups the plan deletes. */
  deleteCount: number;
}): PruneGuardStop | null {
  if (input.deleteCount === 0) return null;
  const reasons: string[] = [];
  const successes = input.records.filter((record) => record.status === 'SUCCEEDED').length;
  if (input.deleteCount * 2 > successes)
    reasons.push(`it would delete ${input.deleteCount} of the ${successes} successful backups, more than half of them`);
  const newest = input.records
    .filter((record) => record.status !== 'RUNNING')
    .reduce<GuardedRecord | null>(
      (found, record) => (!found || record.startedAt > found.startedAt ? record : found),
      null,
    );
  if (newest?.status === 'FAILED') reasons.push('the newest backup failed');
  if (newest?.status === 'SUCCEEDED' && newest.suspicious)
    reasons.push('the newest backup is suspicious (far smaller than the ones before it)');
  return reasons.length > 0 ? { reasons } : null;
}
