import { findRecipe } from '../recipes/index.ts';
import { describeCron, previousFireTime, shouldRunNow, tryParseCron } from '../cron/index.ts';

/** Why a deployment is not backed up now. Stable codes for the agent and the dashboard, with a sentence each. */
export type SkipCode =
  | 'NOT_FOUND'
  | 'BACKUPS_DISABLED'
  | 'NO_SCHEDULE'
  | 'INVALID_SCHEDULE'
  | 'DEPLOYMENT_NOT_RUNNING'
  | 'UNKNOWN_RECIPE'
  | 'NO_DATA_EXPORT'
  | 'NOT_DUE'
  | 'RETRY_LATER'
  | 'ALREADY_RUNNING';

/** What the schedule decision looks at: a Deployment row's backup fields. */
export interface ScheduledDeployment {
  status: string;
  recipeSlug: string;
  backupEnabled: boolean;
  backupSchedule: string | null;
  backupTimezone: string;
  lastBackupAt: Date | null;
  /** When the deployment was created: a fire time before it owes no backup. */
  createdAt?: Date;
}

export type BackupDecision =
  { due: true; reason: string; scheduledAt: Date | null } | { due: false; code: SkipCode; reason: string };

/**
 * Whether a backup is due for `deployment` at `now`. A backup is never taken of a deployment that is not RUNNING
 * (a FAILED one may produce corrupt data) or whose recipe has no `dataExport`; the reasons are returned so that
 * the agent and the dashboard can explain every skip. Reasons that hold for manual backups too are checked first.
 * After a failed attempt (`retry.lastFailedAt`, newer than the last success) the next one waits `retryDelayMs`, so a
 * broken deployment is retried steadily instead of every cycle.
 */
export function shouldRunBackup(
  deployment: ScheduledDeployment,
  now: Date,
  retry: { lastFailedAt?: Date | null; retryDelayMs?: number } = {},
): BackupDecision {
  const eligibility = checkBackupEligibility(deployment);
  if (eligibility) return eligibility;
  if (!deployment.backupEnabled)
    return { due: false, code: 'BACKUPS_DISABLED', reason: 'scheduled backups are turned off' };
  if (!deployment.backupSchedule)
    return { due: false, code: 'NO_SCHEDULE', reason: 'backups are on but no schedule is set' };
  const parsed = tryParseCron(deployment.backupSchedule, { timezone: deployment.backupTimezone });
  if (!parsed.ok) return { due: false, code: 'INVALID_SCHEDULE', reason: parsed.error.message };
  if (!parsed.value.canEverFire) {
    // It parses, but would fire never (e.g. February 30): a schedule that silently never runs is the worst failure.
    return {
      due: false,
      code: 'INVALID_SCHEDULE',
      reason: `schedule "${deployment.backupSchedule}" can never fire: ${describeCron(parsed.value)}`,
    };
  }
  if (!shouldRunNow(parsed.value, deployment.lastBackupAt, now)) {
    return { due: false, code: 'NOT_DUE', reason: 'the schedule has not fired since the last successful backup' };
  }
  const { lastFailedAt, retryDelayMs = 0 } = retry;
  if (
    lastFailedAt &&
    lastFailedAt.getTime() + retryDelayMs > now.getTime() &&
    (!deployment.lastBackupAt || lastFailedAt > deployment.lastBackupAt)
  ) {
    const retryAt = new Date(lastFailedAt.getTime() + retryDelayMs);
    return {
      due: false,
      code: 'RETRY_LATER',
      reason: `the last attempt failed at ${lastFailedAt.toISOString()}; retrying at ${retryAt.toISOString()}`,
    };
  }
  const scheduledAt = previousFireTime(parsed.value, now);
  return {
    due: true,
    scheduledAt,
    reason: deployment.lastBackupAt
      ? `the schedule fired at ${scheduledAt?.toISOString() ?? 'an earlier time'}, after the last successful backup`
      : 'no successful backup exists yet',
  };
}

/**
 * The checks every backup passes, scheduled or not: the deployment is RUNNING and its recipe can export data.
 * Returns the skip, or null when a backup may run.
 */
export function checkBackupEligibility(
  deployment: Pick<ScheduledDeployment, 'status' | 'recipeSlug'>,
): Extract<BackupDecision, { due: false }> | null {
  if (deployment.status !== 'RUNNING') {
    return {
      due: false,
      code: 'DEPLOYMENT_NOT_RUNNING',
      reason:
        deployment.status === 'FAILED'
          ? 'the deployment is FAILED: backups never run on FAILED deployments because they may produce corrupt data'
          : `the deployment is ${deployment.status}, not RUNNING`,
    };
  }
  const recipe = findRecipe(deployment.recipeSlug);
  if (!recipe)
    return {
      due: false,
      code: 'UNKNOWN_RECIPE',
      reason: `recipe "${deployment.recipeSlug}" is not known to this worker`,
    };
  if (!recipe.dataExport) {
    return {
      due: false,
      code: 'NO_DATA_EXPORT',
      reason: `recipe "${recipe.slug}" has no dataExport: there is no data to back up`,
    };
  }
  return null;
}

/** A scheduled backup that should exist and does not: since when, and how late it is at `now`. */
export interface Overdue {
  since: Date;
  lateByMs: number;
}

/**
 * Whether a deployment's scheduled backups are overdue at `now`: the schedule's previous fire time is more than
 * `graceMs` ago and no successful backup started since then. Null for deployments without a valid schedule, with
 * backups off, whose recipe has nothing to back up, created after that fire time, or up to date. (A FAILED
 * deployment can be overdue: it is not being backed up, which is exactly the risk.)
 */
export function findOverdue(deployment: ScheduledDeployment, now: Date, graceMs: number): Overdue | null {
  if (!deployment.backupEnabled || !deployment.backupSchedule) return null;
  if (!findRecipe(deployment.recipeSlug)?.dataExport) return null;
  const parsed = tryParseCron(deployment.backupSchedule, { timezone: deployment.backupTimezone });
  if (!parsed.ok) return null;
  const firedAt = previousFireTime(parsed.value, now);
  if (!firedAt) return null;
  if (deployment.lastBackupAt && deployment.lastBackupAt >= firedAt) return null;
  if (deployment.createdAt && deployment.createdAt > firedAt) return null;
  const lateByMs = now.getTime() - firedAt.getTime();
  return lateByMs > graceMs ? { since: firedAt, lateByMs } : null;
}
