import { describe, expect, it } from 'vitest';
import {
  checkBackupEligibility,
  findOverdue,
  readSchedule,
  scheduleReaderAt,
  shouldRunBackup,
  type ScheduledDeployment,
  type ScheduleReader,
} from '../../../src/lib/backups/backup-due.ts';
import { shouldRunNow } from '../../../src/lib/cron/index.ts';

// Whether a deployment's backup is due, and whether it is overdue: pure functions of the row and fixed instants.

/** A Sunday, 03:00 UTC: the moment `0 3 * * *` fires in UTC. */
const T0 = new Date('2026-03-01T03:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const RETRY_DELAY_MS = 15 * MINUTE;
const GRACE_MS = HOUR;
const at = (offsetMs: number) => new Date(T0.getTime() + offsetMs);

/** A RUNNING PostgreSQL deployment backed up daily at 03:00 UTC, last backed up the day before. */
const DAILY: ScheduledDeployment = {
  status: 'RUNNING',
  recipeSlug: 'postgresql',
  backupEnabled: true,
  backupSchedule: '0 3 * * *',
  backupTimezone: 'UTC',
  lastBackupAt: at(-DAY + 5_000),
};

describe('shouldRunBackup: why a backup is not taken', () => {
  it.each([
    {
      case: 'a FAILED deployment',
      deployment: { ...DAILY, status: 'FAILED' },
      code: 'DEPLOYMENT_NOT_RUNNING',
      reason: 'the deployment is FAILED: backups never run on FAILED deployments because they may produce corrupt data',
    },
    {
      case: 'a STOPPED deployment',
      deployment: { ...DAILY, status: 'STOPPED' },
      code: 'DEPLOYMENT_NOT_RUNNING',
      reason: 'the deployment is STOPPED, not RUNNING',
    },
    {
      case: 'a FAILED deployment with backups off (eligibility is checked first)',
      deployment: { ...DAILY, status: 'FAILED', backupEnabled: false },
      code: 'DEPLOYMENT_NOT_RUNNING',
      reason: expect.stringContaining('corrupt data'),
    },
    {
      case: 'a recipe the worker does not know',
      deployment: { ...DAILY, recipeSlug: 'cobol-db' },
      code: 'UNKNOWN_RECIPE',
      reason: 'recipe "cobol-db" is not known to this worker',
    },
    {
      case: 'a recipe without dataExport (nginx)',
      deployment: { ...DAILY, recipeSlug: 'nginx' },
      code: 'NO_DATA_EXPORT',
      reason: 'recipe "nginx" has no dataExport: there is no data to back up',
    },
    {
      case: 'backups turned off',
      deployment: { ...DAILY, backupEnabled: false },
      code: 'BACKUPS_DISABLED',
      reason: 'scheduled backups are turned off',
    },
    {
      case: 'no schedule',
      deployment: { ...DAILY, backupSchedule: null },
      code: 'NO_SCHEDULE',
      reason: 'backups are on but no schedule is set',
    },
    {
      case: 'a schedule with a bad day-of-week',
      deployment: { ...DAILY, backupSchedule: '0 3 * * fooday' },
      code: 'INVALID_SCHEDULE',
      reason: expect.stringMatching(/^cron: day-of-week "fooday" is not a known name .* in "0 3 \* \* fooday"$/),
    },
    {
      case: 'a schedule with four fields',
      deployment: { ...DAILY, backupSchedule: '0 3 * *' },
      code: 'INVALID_SCHEDULE',
      reason: expect.stringContaining('expected 5 fields'),
    },
    {
      case: 'a schedule that parses but can never fire (February 30)',
      deployment: { ...DAILY, backupSchedule: '0 3 30 2 *', lastBackupAt: null },
      code: 'INVALID_SCHEDULE',
      reason: expect.stringMatching(/^schedule "0 3 30 2 \*" can never fire/),
    },
    {
      case: 'an unknown time zone',
      deployment: { ...DAILY, backupTimezone: 'Mars/Olympus_Mons' },
      code: 'INVALID_SCHEDULE',
      reason: expect.stringContaining('"Mars/Olympus_Mons"'),
    },
    {
      case: 'a schedule that has not fired since the last backup',
      deployment: { ...DAILY, lastBackupAt: at(5_000) },
      code: 'NOT_DUE',
      reason: 'the schedule has not fired since the last successful backup',
    },
  ])('$case → $code', ({ deployment, code, reason }) => {
    expect(shouldRunBackup(deployment, at(10 * MINUTE))).toEqual({ due: false, code, reason });
  });
});

describe('shouldRunBackup: due', () => {
  it('is due when no successful backup exists yet', () => {
    expect(shouldRunBackup({ ...DAILY, lastBackupAt: null }, at(10 * MINUTE))).toEqual({
      due: true,
      scheduledAt: T0,
      reason: 'no successful backup exists yet',
    });
  });

  it('is due once the schedule fired after the last successful backup, naming the fire time', () => {
    expect(shouldRunBackup(DAILY, at(10 * MINUTE))).toEqual({
      due: true,
      scheduledAt: T0,
      reason: 'the schedule fired at 2026-03-01T03:00:00.000Z, after the last successful backup',
    });
  });

  it('is due at the very minute the schedule fires, not a minute before', () => {
    expect(shouldRunBackup(DAILY, T0)).toMatchObject({ due: true, scheduledAt: T0 });
    expect(shouldRunBackup(DAILY, at(-MINUTE))).toMatchObject({ due: false, code: 'NOT_DUE' });
  });

  it('runs once after a worker outage over several fire times, scheduled at the latest one', () => {
    expect(shouldRunBackup({ ...DAILY, lastBackupAt: at(-3 * DAY) }, at(10 * MINUTE))).toMatchObject({
      due: true,
      scheduledAt: T0,
    });
  });

  it.each([
    // Berlin is UTC+1 in winter and UTC+2 in summer: 03:00 there is 02:00Z on T0's day and 01:00Z on 1 July.
    {
      case: 'in winter, fires at 02:00Z',
      lastBackupAt: '2026-02-28T02:00:30Z',
      now: '2026-03-01T02:00:00Z',
      due: true,
      scheduledAt: '2026-03-01T02:00:00Z',
    },
    {
      case: 'in winter, not yet at 01:59Z',
      lastBackupAt: '2026-02-28T02:00:30Z',
      now: '2026-03-01T01:59:00Z',
      due: false,
    },
    {
      case: 'in summer, fires at 01:00Z',
      lastBackupAt: '2026-06-30T01:00:30Z',
      now: '2026-07-01T01:00:00Z',
      due: true,
      scheduledAt: '2026-07-01T01:00:00Z',
    },
    {
      case: 'in summer, not yet at 00:59Z',
      lastBackupAt: '2026-06-30T01:00:30Z',
      now: '2026-07-01T00:59:00Z',
      due: false,
    },
  ])('reads `0 3 * * *` in Europe/Berlin: $case', ({ lastBackupAt, now, due, scheduledAt }) => {
    const deployment = { ...DAILY, backupTimezone: 'Europe/Berlin', lastBackupAt: new Date(lastBackupAt) };
    const decision = shouldRunBackup(deployment, new Date(now));
    expect(decision.due).toBe(due);
    if (decision.due) expect(decision.scheduledAt).toEqual(new Date(scheduledAt!));
    else expect(decision).toMatchObject({ code: 'NOT_DUE' });
  });
});

describe('shouldRunBackup: retry delay after a failed attempt', () => {
  const FAILED_AT = at(MINUTE);
  const retry = { lastFailedAt: FAILED_AT, retryDelayMs: RETRY_DELAY_MS };

  it('waits retryDelayMs after the last failed attempt and says when it retries', () => {
    expect(shouldRunBackup(DAILY, at(10 * MINUTE), retry)).toEqual({
      due: false,
      code: 'RETRY_LATER',
      reason: 'the last attempt failed at 2026-03-01T03:01:00.000Z; retrying at 2026-03-01T03:16:00.000Z',
    });
  });

  it.each([
    { case: 'exactly when the delay has passed', now: at(MINUTE + RETRY_DELAY_MS) },
    { case: 'later', now: at(2 * HOUR) },
  ])('is due again $case', ({ now }) => {
    expect(shouldRunBackup(DAILY, now, retry)).toMatchObject({ due: true, scheduledAt: T0 });
  });

  it('ignores a failure older than the last successful backup', () => {
    const deployment = { ...DAILY, lastBackupAt: at(-DAY + 5_000) };
    expect(shouldRunBackup(deployment, at(MINUTE), { lastFailedAt: at(-DAY), retryDelayMs: 7 * DAY })).toMatchObject({
      due: true,
    });
  });

  it('waits after a failure also when no backup ever succeeded', () => {
    expect(shouldRunBackup({ ...DAILY, lastBackupAt: null }, at(10 * MINUTE), retry)).toMatchObject({
      due: false,
      code: 'RETRY_LATER',
    });
  });

  it('retries at once without a retry delay', () => {
    expect(shouldRunBackup(DAILY, at(2 * MINUTE), { lastFailedAt: FAILED_AT })).toMatchObject({ due: true });
  });

  it('reports a schedule that has not fired as NOT_DUE, not RETRY_LATER', () => {
    expect(shouldRunBackup({ ...DAILY, lastBackupAt: at(5_000) }, at(10 * MINUTE), retry)).toMatchObject({
      due: false,
      code: 'NOT_DUE',
    });
  });
});

describe('checkBackupEligibility (also for manual and agent backups)', () => {
  it.each([
    { status: 'RUNNING', recipeSlug: 'postgresql', code: null },
    { status: 'RUNNING', recipeSlug: 'redis', code: null },
    { status: 'FAILED', recipeSlug: 'postgresql', code: 'DEPLOYMENT_NOT_RUNNING' },
    { status: 'DEPLOYING', recipeSlug: 'postgresql', code: 'DEPLOYMENT_NOT_RUNNING' },
    { status: 'RUNNING', recipeSlug: 'nginx', code: 'NO_DATA_EXPORT' },
    { status: 'RUNNING', recipeSlug: 'cobol-db', code: 'UNKNOWN_RECIPE' },
  ])('$status $recipeSlug → $code', ({ status, recipeSlug, code }) => {
    expect(checkBackupEligibility({ status, recipeSlug })?.code ?? null).toBe(code);
  });
});

describe('findOverdue', () => {
  it.each([
    { case: 'within the grace period', now: at(30 * MINUTE) },
    { case: 'exactly at the end of the grace period', now: at(GRACE_MS) },
    { case: 'before the schedule fired today (yesterday’s backup exists)', now: at(-MINUTE) },
  ])('is null $case', ({ now }) => {
    expect(findOverdue(DAILY, now, GRACE_MS)).toBeNull();
  });

  it('is overdue after the grace period, since the fire time, late by the time since then', () => {
    expect(findOverdue(DAILY, at(2 * HOUR + 30 * MINUTE), GRACE_MS)).toEqual({
      since: T0,
      lateByMs: 2 * HOUR + 30 * MINUTE,
    });
  });

  it('is overdue when no backup ever succeeded', () => {
    expect(findOverdue({ ...DAILY, lastBackupAt: null }, at(2 * HOUR), GRACE_MS)).toEqual({
      since: T0,
      lateByMs: 2 * HOUR,
    });
  });

  it('is overdue for a deployment created before the fire time, and for a FAILED one (it is not being backed up)', () => {
    expect(findOverdue({ ...DAILY, lastBackupAt: null, createdAt: at(-MINUTE) }, at(2 * HOUR), GRACE_MS)).toEqual({
      since: T0,
      lateByMs: 2 * HOUR,
    });
    expect(findOverdue({ ...DAILY, status: 'FAILED' }, at(2 * HOUR), GRACE_MS)).toEqual({
      since: T0,
      lateByMs: 2 * HOUR,
    });
  });

  it('counts from the latest fire time after an outage of several days', () => {
    expect(findOverdue({ ...DAILY, lastBackupAt: at(-3 * DAY) }, at(2 * HOUR), GRACE_MS)).toEqual({
      since: T0,
      lateByMs: 2 * HOUR,
    });
  });

  it.each([
    { case: 'at the fire time', lastBackupAt: T0 },
    { case: 'after the fire time', lastBackupAt: at(MINUTE) },
  ])('is null when the last success started $case', ({ lastBackupAt }) => {
    expect(findOverdue({ ...DAILY, lastBackupAt }, at(5 * HOUR), GRACE_MS)).toBeNull();
  });

  it('follows the schedule’s time zone', () => {
    // 03:00 in Berlin is 02:00Z on T0's day.
    const berlin = { ...DAILY, backupTimezone: 'Europe/Berlin', lastBackupAt: new Date('2026-02-28T02:00:30Z') };
    expect(findOverdue(berlin, at(0), GRACE_MS)).toBeNull();
    expect(findOverdue(berlin, at(HOUR + MINUTE), GRACE_MS)).toEqual({
      since: new Date('2026-03-01T02:00:00Z'),
      lateByMs: 2 * HOUR + MINUTE,
    });
  });

  it.each([
    { case: 'backups are off', deployment: { ...DAILY, backupEnabled: false } },
    { case: 'there is no schedule', deployment: { ...DAILY, backupSchedule: null } },
    { case: 'the schedule is invalid', deployment: { ...DAILY, backupSchedule: '0 3 * * fooday' } },
    {
      case: 'the schedule never fires (February 30)',
      deployment: { ...DAILY, backupSchedule: '0 3 30 2 *', lastBackupAt: null },
    },
    { case: 'the time zone is unknown', deployment: { ...DAILY, backupTimezone: 'Mars/Olympus_Mons' } },
    { case: 'the recipe has nothing to back up (nginx)', deployment: { ...DAILY, recipeSlug: 'nginx' } },
    {
      case: 'the deployment was created after the fire time',
      deployment: { ...DAILY, lastBackupAt: null, createdAt: at(MINUTE) },
    },
  ])('is null when $case', ({ deployment }) => {
    expect(findOverdue(deployment, at(5 * HOUR), GRACE_MS)).toBeNull();
  });
});

describe('schedules read once per pass (scheduleReaderAt)', () => {
  it('reads a schedule at `now`: its parse, last fire time (with its ISO text) and next', () => {
    const reading = readSchedule('0 3 * * *', 'Europe/Berlin', at(10 * MINUTE));
    expect(reading.parsed.ok).toBe(true);
    expect(reading.firedAt).toEqual(new Date('2026-03-01T02:00:00Z'));
    expect(reading.firedAtText).toBe('2026-03-01T02:00:00.000Z');
    expect(reading.nextAt).toEqual(new Date('2026-03-02T02:00:00Z'));
    expect(readSchedule('0 3 * * fooday', 'UTC', T0)).toMatchObject({
      parsed: { ok: false },
      firedAt: null,
      firedAtText: null,
      nextAt: null,
    });
    expect(readSchedule('0 3 30 2 *', 'UTC', T0)).toMatchObject({ parsed: { ok: true }, firedAt: null, nextAt: null });
  });

  it('reads each expression and zone once, and tells zones and expressions apart', () => {
    const read = scheduleReaderAt(T0);
    const daily = read('0 3 * * *', 'UTC');
    expect(read('0 3 * * *', 'UTC')).toBe(daily);
    expect(read('0 3 * * *', 'Europe/Berlin')).not.toBe(daily);
    expect(read('0 3 * * *', 'Europe/Berlin').firedAt).toEqual(new Date('2026-03-01T02:00:00Z'));
    expect(read('0 4 * * *', 'UTC')).not.toBe(daily);
    expect(read('0 4 * * *', 'UTC').firedAt).toEqual(at(-23 * HOUR));
  });

  it('gives the deployments on one schedule the reading’s Dates, one of each per schedule', () => {
    const read = scheduleReaderAt(at(2 * HOUR));
    const reading = read('0 3 * * *', 'UTC');
    expect(reading.firedAt).toEqual(T0);
    expect(reading.nextAt).toEqual(at(DAY));
    const never = { ...DAILY, lastBackupAt: null };
    const stale = { ...DAILY, lastBackupAt: at(-3 * DAY) };
    const due = [shouldRunBackup(never, at(2 * HOUR), {}, read), shouldRunBackup(stale, at(2 * HOUR), {}, read)];
    expect(due.map((decision) => decision.due && decision.scheduledAt)).toEqual([T0, T0]);
    for (const decision of due) expect(decision.due && decision.scheduledAt).toBe(reading.firedAt);
    expect(findOverdue(never, at(2 * HOUR), GRACE_MS, read)?.since).toBe(reading.firedAt);
    expect(findOverdue(stale, at(2 * HOUR), GRACE_MS, read)).toEqual({ since: T0, lateByMs: 2 * HOUR });
    // Read alone, each decision has a Date of its own.
    const alone = shouldRunBackup(never, at(2 * HOUR));
    expect(alone.due && alone.scheduledAt).toEqual(T0);
    expect(alone.due && alone.scheduledAt).not.toBe(reading.firedAt);
  });

  it('returns the skips that name nothing of the deployment as one frozen object each, so none can change another’s', () => {
    const read = scheduleReaderAt(T0);
    const skips = [
      { ...DAILY, status: 'FAILED' },
      { ...DAILY, backupEnabled: false },
      { ...DAILY, backupSchedule: null },
      { ...DAILY, lastBackupAt: at(MINUTE) },
    ].map((deployment) => [
      shouldRunBackup(deployment, T0, {}, read),
      // Another deployment, another moment, no shared reader.
      shouldRunBackup({ ...deployment }, at(10 * MINUTE)),
    ]);
    expect(skips.map(([first]) => first!.due === false && first!.code)).toEqual([
      'DEPLOYMENT_NOT_RUNNING',
      'BACKUPS_DISABLED',
      'NO_SCHEDULE',
      'NOT_DUE',
    ]);
    for (const [first, second] of skips) {
      expect(second).toBe(first);
      expect(Object.isFrozen(first)).toBe(true);
      expect(() => Object.assign(first!, { reason: 'changed' })).toThrow(TypeError);
    }
    // A skip that names the deployment's status is its own.
    const stopped = shouldRunBackup({ ...DAILY, status: 'STOPPED' }, T0);
    expect(stopped).toEqual({
      due: false,
      code: 'DEPLOYMENT_NOT_RUNNING',
      reason: 'the deployment is STOPPED, not RUNNING',
    });
    expect(Object.isFrozen(stopped)).toBe(false);
  });

  it('passes the reader to the decisions, which ask it for the deployment’s expression and zone', () => {
    const asked: string[] = [];
    const shared = scheduleReaderAt(T0);
    const read: ScheduleReader = (expression, timezone) => {
      asked.push(`${expression} @ ${timezone}`);
      return shared(expression, timezone);
    };
    const deployment = { ...DAILY, backupTimezone: 'Asia/Kolkata' };
    shouldRunBackup(deployment, T0, {}, read);
    findOverdue(deployment, T0, GRACE_MS, read);
    expect(asked).toEqual(['0 3 * * * @ Asia/Kolkata', '0 3 * * * @ Asia/Kolkata']);
  });

  it('makes the same decisions as reading each deployment alone, over schedules, zones, histories and failures', () => {
    const schedules = ['0 3 * * *', '*/15 * * * *', '30 2 * * 1-5', '@weekly', '0 3 30 2 *', 'not a schedule', null];
    // Berlin and New York change their clocks on 29 March and 8 March 2026: the instants cross both.
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe'];
    const nows = [T0, at(7 * DAY + 2 * HOUR + 7 * MINUTE), new Date('2026-03-29T01:30:00Z')];
    const lastBackups = [null, -10 * MINUTE, -DAY - 5 * MINUTE, -9 * DAY];
    const failures = [null, -5 * MINUTE, -2 * HOUR];
    let compared = 0;
    for (const now of nows) {
      const read = scheduleReaderAt(now);
      for (const backupSchedule of schedules)
        for (const backupTimezone of zones)
          for (const last of lastBackups)
            for (const failed of failures) {
              const deployment: ScheduledDeployment = {
                ...DAILY,
                backupSchedule,
                backupTimezone,
                lastBackupAt: last === null ? null : new Date(now.getTime() + last),
                createdAt: new Date(now.getTime() - 30 * DAY),
              };
              const retry = {
                lastFailedAt: failed === null ? null : new Date(now.getTime() + failed),
                retryDelayMs: RETRY_DELAY_MS,
              };
              const decision = shouldRunBackup(deployment, now, retry, read);
              expect(decision).toEqual(shouldRunBackup(deployment, now, retry));
              // Whether the schedule owes a backup is the cron module's rule (fired after the last success).
              if (decision.due || decision.code === 'NOT_DUE' || decision.code === 'RETRY_LATER')
                expect(decision.due || decision.code === 'RETRY_LATER').toBe(
                  shouldRunNow(backupSchedule!, deployment.lastBackupAt, now, { timezone: backupTimezone }),
                );
              expect(findOverdue(deployment, now, GRACE_MS, read)).toEqual(findOverdue(deployment, now, GRACE_MS));
              compared += 1;
            }
    }
    expect(compared).toBe(nows.length * schedules.length * zones.length * lastBackups.length * failures.length);
  });
});
