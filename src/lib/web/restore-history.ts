import { z } from 'zod';
import type { PrismaClient, RestoreRecord } from '../../generated/prisma/client.ts';
import { formatInstant, formatRelative } from './display.ts';
import { pageLimitSchema } from './page-limit.ts';
import { describeCounts, type TestRestoreSummary } from './test-restore-summary.ts';

/**
 * A deployment's restores as the dashboard and `GET /api/deployments/{id}/restores` show them: newest first, each with
 * who asked and confirmed, what it restored into, its counts in words and its error; a PROPOSED one also with its plan
 * and how a person takes it further. The confirmation token (and its hash) is never part of it.
 */

/** Query of the list: `?limit=<1-50>`. */
export const restoreHistoryQuerySchema = z.object({ limit: pageLimitSchema(50, 10) });

export type RestoreHistoryQuery = z.infer<typeof restoreHistoryQuerySchema>;

/**
 * Where a PROPOSED restore stands and the next step, as commands and API paths (with `<token>` for the token, which
 * only the person who planned or approved it has):
 * - `awaiting-approval`: proposed (by the agent) without a token; a person approves it to get one;
 * - `awaiting-confirmation`: planned with a token that is still valid; its holder confirms, anyone may approve anew;
 * - `expired`: the token ran out; approving re-plans and issues a new one.
 */
export interface RestoreNextStep {
  state: 'awaiting-approval' | 'awaiting-confirmation' | 'expired';
  approveCommand: string;
  approvePath: string;
  confirmCommand: string;
  confirmPath: string;
  cancelCommand: string;
}

export interface RestoreHistoryItem {
  id: string;
  /** DESTRUCTIVE (over the live data), SCRATCH or TEST (into a scratch database, dropped afterwards). */
  kind: string;
  status: string;
  trigger: string;
  requestedBy: string;
  confirmedBy: string | null;
  /** The database (or keyspace) restored into. */
  target: string;
  /** The backup restored; null once retention has pruned it (its start time and sha256 stay). */
  backupRecordId: string | null;
  backupStartedAt: string;
  backupSha256: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  /** Bytes streamed into the pod, as a decimal string. */
  bytesRestored: string | null;
  /** While RUNNING: bytes sent so far and when that was recorded (every few seconds). */
  progressBytes: string | null;
  progressAt: string | null;
  /** The counts as recorded (`{"tables": {…}}` or `{"keys": {…}}`) and in words ("3 tables, 1,234 rows"). */
  counts: unknown;
  countsSummary: string | null;
  errorKind: string | null;
  error: string | null;
  /** What a live restore overwrites, as its dry-run described it. */
  plan: string | null;
  confirmExpiresAt: string | null;
  /** Only for a PROPOSED restore: where it stands and how to approve, confirm or cancel it. */
  nextStep: RestoreNextStep | null;
}

/** A restore record as the history shows it, given the time (a token's expiry depends on it). */
export function toRestoreHistoryItem(record: RestoreRecord, now: Date): RestoreHistoryItem {
  return {
    id: record.id,
    kind: record.kind,
    status: record.status,
    trigger: record.trigger,
    requestedBy: record.requestedBy,
    confirmedBy: record.confirmedBy,
    target: record.target,
    backupRecordId: record.backupRecordId,
    backupStartedAt: record.backupStartedAt.toISOString(),
    backupSha256: record.backupSha256,
    createdAt: record.createdAt.toISOString(),
    startedAt: record.startedAt?.toISOString() ?? null,
    finishedAt: record.finishedAt?.toISOString() ?? null,
    durationMs: record.durationMs,
    bytesRestored: record.bytesRestored?.toString() ?? null,
    progressBytes: record.progressBytes?.toString() ?? null,
    progressAt: record.progressAt?.toISOString() ?? null,
    counts: record.counts ?? null,
    countsSummary: describeCounts(record.counts),
    errorKind: record.errorKind,
    error: record.error,
    plan: record.plan,
    confirmExpiresAt: record.confirmExpiresAt?.toISOString() ?? null,
    nextStep: record.status === 'PROPOSED' ? nextStepOf(record, now) : null,
  };
}

function nextStepOf(record: RestoreRecord, now: Date): RestoreNextStep {
  const state = !record.confirmTokenHash
    ? 'awaiting-approval'
    : record.confirmExpiresAt && record.confirmExpiresAt.getTime() > now.getTime()
      ? 'awaiting-confirmation'
      : 'expired';
  return {
    state,
    approveCommand: `npm run restore -- approve ${record.id}`,
    approvePath: `/api/restores/${record.id}/approve`,
    confirmCommand: `npm run restore -- confirm ${record.id} --token <token>`,
    confirmPath: `/api/restores/${record.id}/confirm`,
    cancelCommand: `npm run restore -- cancel ${record.id}`,
  };
}

/** The latest restores of a deployment, newest first (ties by id): one query. */
export async function listRestoreHistory(
  db: PrismaClient,
  deploymentId: string,
  query: RestoreHistoryQuery,
  now: Date,
): Promise<RestoreHistoryItem[]> {
  const rows = await db.restoreRecord.findMany({
    where: { deploymentId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: query.limit,
  });
  return rows.map((row) => toRestoreHistoryItem(row, now));
}

/** What "no restores" means for this deployment and what a person can do about it. */
export function emptyRestoresMessage(testRestore: TestRestoreSummary, now: Date): string {
  const scheduled = !testRestore.schedule
    ? 'Scheduled test-restores are off: set testRestoreSchedule on the deployment (a cron such as "0 4 * * 0", weekly) to have the newest backup restored into a scratch database, counted and dropped.'
    : testRestore.dueNow
      ? 'The first scheduled test-restore is due and runs in the next worker cycle.'
      : testRestore.nextRunAt
        ? `The first scheduled test-restore runs ${formatRelative(testRestore.nextRunAt, now)} (${formatInstant(testRestore.nextRunAt)}).`
        : `Scheduled test-restores cannot run: ${testRestore.scheduleDescription}.`;
  return `No restores yet. ${scheduled} To restore a backup, plan it with npm run restore -- plan <backupId> (a dry run that says what will be overwritten) or POST /api/backups/{id}/restore.`;
}
