import { findRecipe } from '../recipes/index.ts';
import { describeCron, nextFireTime, previousFireTime, tryParseCron, type CronParseResult } from '../cron/index.ts';

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

type Skip = Extract<BackupDecision, { due: false }>;

/**
 * The skips whose reason names nothing of the deployment: one frozen object each, shared by every decision that
 * returns it (a pass over thousands of deployments made one per deployment, most of them NOT_DUE).
 */
const skip = (code: SkipCode, reason: string): Skip => Object.freeze({ due: false, code, reason });
const BACKUPS_DISABLED = skip('BACKUPS_DISABLED', 'scheduled backups are turned off');
const NO_SCHEDULE = skip('NO_SCHEDULE', 'backups are on but no schedule is set');
const NOT_DUE = skip('NOT_DUE', 'the schedule has not fired since the last successful backup');
const DEPLOYMENT_FAILED = skip(
  'DEPLOYMENT_NOT_RUNNING',
  'the deployment is FAILED: backups never run on FAILED deployments because they may produce corrupt data',
);

/**
 * What a schedule says at one `now`: its parse, the fire time it last had at or before `now`, and its next. A reader
 * gives one reading to every deployment on the schedule, and their decisions and states hold its Dates (`firedAt`,
 * `nextAt`) instead of a copy each: nothing may mutate them (no code here calls a Date setter).
 */
export interface ScheduleReading {
  readonly parsed: CronParseResult;
  /** The last fire time at or before `now`; null when there is none. */
  readonly firedAt: Date | null;
  /** `firedAt` as ISO text (null with it), for the reasons that name it. */
  readonly firedAtText: string | null;
  /** The first fire time after `now`; null when there is none. */
  readonly nextAt: Date | null;
}

/** A deployment's schedule expression and zone, read at the `now` the reader was made for. */
export type ScheduleReader = (expression: string, timezone: string) => ScheduleReading;

/** Reads `expression` in `timezone` at `now` (a schedule that does not parse has no fire times). */
export function readSchedule(expression: string, timezone: string, now: Date): ScheduleReading {
  const parsed = tryParseCron(expression, { timezone });
  const fired = parsed.ok ? previousFireTime(parsed.value, now) : null;
  const next = parsed.ok ? nextFireTime(parsed.value, now) : null;
  return { parsed, firedAt: fired, firedAtText: fired?.toISOString() ?? null, nextAt: next };
}

/**
 * A reader that reads each distinct expression and zone once at `now`. A pass over thousands of deployments shares a
 * few schedules: reading them again per deployment (parse cache lookups, fire-time searches, a Date and ISO text for
 * the reason) was about half of the assembly's CPU at 9,000 deployments.
 */
export function scheduleReaderAt(now: Date): ScheduleReader {
  const byZone = new Map<string, Map<string, ScheduleReading>>();
  return (expression, timezone) => {
    let byExpression = byZone.get(timezone);
    if (!byExpression) byZone.set(timezone, (byExpression = new Map()));
    let reading = byExpression.get(expression);
    if (!reading) byExpression.set(expression, (reading = readSchedule(expression, timezone, now)));
    return reading;
  };
}

/**
 * Whether a backup is due for `deployment` at `now`. A backup is never taken of a deployment that is not RUNNING
 * (a FAILED one may produce corrupt data) or whose recipe has no `dataExport`; the reasons are returned so that
 * the agent and the dashboard can explain every skip. Reasons that hold for manual backups too are checked first.
 * After a failed attempt (`retry.lastFailedAt`, newer than the last success) the next one waits `retryDelayMs`, so a
 * broken deployment is retried steadily instead of every cycle. `read` reads the schedule at `now` (a pass over many
 * deployments shares one, see {@link scheduleReaderAt}).
 *
 * The schedule is due when it fired at some time t with `lastBackupAt < t <= now` (always, when there is no backup
 * yet): a worker that was down over several fire times backs up once when it comes back, not once per missed time.
 */
export function shouldRunBackup(
  deployment: ScheduledDeployment,
  now: Date,
  retry: { lastFailedAt?: Date | null; retryDelayMs?: number } = {},
  read: ScheduleReader = scheduleReaderAt(now),
): BackupDecision {
  const eligibility = checkBackupEligibility(deployment);
  if (eligibility) return eligibility;
  if (!deployment.backupEnabled) return BACKUPS_DISABLED;
  if (!deployment.backupSchedule) return NO_SCHEDULE;
  const schedule = read(deployment.backupSchedule, deployment.backupTimezone);
  const { parsed } = schedule;
  if (!parsed.ok) return { due: false, code: 'INVALID_SCHEDULE', reason: parsed.error.message };
  if (!parsed.value.canEverFire) {
    // It parses, but would fire never (e.g. February 30): a schedule that silently never runs is the worst failure.
    return {
      due: false,
      code: 'INVALID_SCHEDULE',
      reason: `schedule "${deployment.backupSchedule}" can never fire: ${describeCron(parsed.value)}`,
    };
  }
  const { lastBackupAt } = deployment;
  if (lastBackupAt && (schedule.firedAt === null || schedule.firedAt.getTime() <= lastBackupAt.getTime()))
    return NOT_DUE;
  const { lastFailedAt, retryDelayMs = 0 } = retry;
  if (
    lastFailedAt &&
    lastFailedAt.getTime() + retryDelayMs > now.getTime() &&
    (!lastBackupAt || lastFailedAt > lastBackupAt)
  ) {
    const retryAt = new Date(lastFailedAt.getTime() + retryDelayMs);
    return {
      due: false,
      code: 'RETRY_LATER',
      reason: `the last attempt failed at ${lastFailedAt.toISOString()}; retrying at ${retryAt.toISOString()}`,
    };
  }
  return {
    due: true,
    scheduledAt: schedule.firedAt,
    reason: lastBackupAt
      ? `the schedule fired at ${schedule.firedAtText ?? 'an earlier time'}, after the last successful backup`
      : 'no successful backup exists yet',
  };
}

/**
 * The checks every backup passes, scheduled or not: the deployment is RUNNING and its recipe can export data.
 * Returns the skip, or null when a backup may run.
 */
export function checkBackupEligibility(deployment: Pick<ScheduledDeployment, 'status' | 'recipeSlug'>): Skip | null {
  if (deployment.status !== 'RUNNING') {
    return deployment.status === 'FAILED'
      ? DEPLOYMENT_FAILED
      : { due: false, code: 'DEPLOYMENT_NOT_RUNNING', reason: `the deployment is ${deployment.status}, not RUNNING` };
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
export function findOverdue(
  deployment: ScheduledDeployment,
  now: Date,
  graceMs: number,
  read: ScheduleReader = scheduleReaderAt(now),
): Overdue | null {
  if (!deployment.backupEnabled || !deployment.backupSchedule) return null;
  if (!findRecipe(deployment.recipeSlug)?.dataExport) return null;
  const { firedAt } = read(deployment.backupSchedule, deployment.backupTimezone);
  if (firedAt === null) return null;
  const firedAtMs = firedAt.getTime();
  if (deployment.lastBackupAt && deployment.lastBackupAt.getTime() >= firedAtMs) return null;
  if (deployment.createdAt && deployment.createdAt.getTime() > firedAtMs) return null;
  const lateByMs = now.getTime() - firedAtMs;
  return lateByMs > graceMs ? { since: firedAt, lateByMs } : null;
}
