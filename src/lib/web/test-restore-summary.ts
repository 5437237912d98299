/**
 * The test-restore facts of a deployment's page: the schedule in words, when it runs next, how the last test-restore
 * went (with its counts in words), and the open `data_shrank` warning if there is one. Two queries.
 */
import type { Deployment, PrismaClient } from '../../generated/prisma/client.ts';
import { DATA_SHRANK_ALERT } from '../alerts/index.ts';
import { describeCron, nextFireTime, tryParseCron } from '../cron/index.ts';
import { isTestRestoreDue, restoreCountsSchema } from '../restore/index.ts';

export interface TestRestoreSummary {
  schedule: string | null;
  /** "every Sunday at 03:00 (UTC)", "no test-restores scheduled" or why the schedule is unusable. */
  scheduleDescription: string;
  /** True when the schedule has fired since the last test-restore: the next worker cycle runs it. */
  dueNow: boolean;
  nextRunAt: Date | null;
  last: {
    id: string;
    status: string;
    finishedAt: Date | null;
    backupStartedAt: Date;
    /** The counts in words, e.g. "2 tables, 2,030 rows"; null when none were recorded. */
    counts: string | null;
    error: string | null;
  } | null;
  /** The message of the open data_shrank alert: the last comparison found less data. */
  shrinkWarning: string | null;
}

type ScheduleFields = Pick<
  Deployment,
  'id' | 'status' | 'testRestoreSchedule' | 'backupTimezone' | 'lastTestRestoreAt'
>;

export async function loadTestRestoreSummary(
  db: PrismaClient,
  deployment: ScheduleFields,
  now: Date,
): Promise<TestRestoreSummary> {
  const [last, shrank] = await Promise.all([
    db.restoreRecord.findFirst({
      where: { deploymentId: deployment.id, kind: 'TEST', status: { in: ['RUNNING', 'SUCCEEDED', 'FAILED'] } },
      orderBy: { createdAt: 'desc' },
    }),
    db.alert.findFirst({
      where: { deploymentId: deployment.id, kind: DATA_SHRANK_ALERT, resolvedAt: null },
      select: { message: true },
    }),
  ]);
  const parsed = deployment.testRestoreSchedule
    ? tryParseCron(deployment.testRestoreSchedule, { timezone: deployment.backupTimezone })
    : null;
  const decision = isTestRestoreDue(deployment, now);
  return {
    schedule: deployment.testRestoreSchedule,
    scheduleDescription: !parsed
      ? 'no test-restores scheduled'
      : parsed.ok
        ? describeCron(parsed.value)
        : `invalid schedule: ${parsed.error.message}`,
    dueNow: decision.due,
    nextRunAt: parsed?.ok && !decision.due ? nextFireTime(parsed.value, now) : null,
    last: last && {
      id: last.id,
      status: last.status,
      finishedAt: last.finishedAt,
      backupStartedAt: last.backupStartedAt,
      counts: describeCounts(last.counts),
      error: last.error ? `${last.errorKind ? `${last.errorKind}: ` : ''}${last.error}` : null,
    },
    shrinkWarning: shrank?.message ?? null,
  };
}

/** "2 tables, 2,030 rows" or "1 database, 42 keys". */
export function describeCounts(json: unknown): string | null {
  const parsed = restoreCountsSchema.safeParse(json);
  if (!parsed.success) return null;
  const counts = parsed.data;
  const [values, noun, unit] =
    'tables' in counts
      ? [Object.values(counts.tables), 'table', 'rows']
      : [Object.values(counts.keys), 'database', 'keys'];
  const total = values.reduce((sum, value) => sum + value, 0);
  return `${values.length} ${noun}${values.length === 1 ? '' : 's'}, ${total.toLocaleString('en-US')} ${total === 1 ? unit.slice(0, -1) : unit}`;
}
