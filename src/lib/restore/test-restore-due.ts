/**
 * Whether a scheduled test-restore is due for a deployment: its `testRestoreSchedule` (read in `backupTimezone`) has
 * fired since `lastTestRestoreAt`. A deployment that never had one is due at once, so a new schedule gets its
 * baseline counts without waiting a week. Pure: the decision and its reason are data, like `shouldRunBackup`'s.
 */
import { describeCron, previousFireTime, shouldRunNow, tryParseCron } from '../cron/index.ts';

export type TestRestoreSkipCode = 'NO_SCHEDULE' | 'INVALID_SCHEDULE' | 'DEPLOYMENT_NOT_RUNNING' | 'NOT_DUE';

export type TestRestoreDecision =
  { due: true; reason: string } | { due: false; code: TestRestoreSkipCode; reason: string };

/** What the decision reads: a Deployment row's test-restore fields. */
export interface TestRestoreSchedule {
  status: string;
  testRestoreSchedule: string | null;
  backupTimezone: string;
  lastTestRestoreAt: Date | null;
}

export function isTestRestoreDue(deployment: TestRestoreSchedule, now: Date): TestRestoreDecision {
  if (!deployment.testRestoreSchedule)
    return { due: false, code: 'NO_SCHEDULE', reason: 'no test-restore schedule is set' };
  const parsed = tryParseCron(deployment.testRestoreSchedule, { timezone: deployment.backupTimezone });
  if (!parsed.ok)
    return { due: false, code: 'INVALID_SCHEDULE', reason: `test-restore schedule: ${parsed.error.message}` };
  if (!parsed.value.canEverFire) {
    return {
      due: false,
      code: 'INVALID_SCHEDULE',
      reason: `test-restore schedule "${deployment.testRestoreSchedule}" can never fire: ${describeCron(parsed.value)}`,
    };
  }
  if (deployment.status !== 'RUNNING')
    return {
      due: false,
      code: 'DEPLOYMENT_NOT_RUNNING',
      reason: `the deployment is ${deployment.status}, not RUNNING`,
    };
  if (deployment.lastTestRestoreAt === null) return { due: true, reason: 'no test-restore has run yet' };
  if (!shouldRunNow(parsed.value, deployment.lastTestRestoreAt, now)) {
    return {
      due: false,
      code: 'NOT_DUE',
      reason: 'the test-restore schedule has not fired since the last test-restore',
    };
  }
  return {
    due: true,
    reason: `the test-restore schedule fired at ${previousFireTime(parsed.value, now)?.toISOString() ?? 'an earlier time'}`,
  };
}
