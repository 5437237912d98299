/**
 * Retention planning, pure: given one deployment's backup records, a policy and the time, which records to keep (and
 * why) and which to delete (and why). `pruneBackups` (prune.ts) carries the plan out. Records are ordered newest
 * first by `startedAt`, ties broken by the larger id, so the plan never depends on input order.
 *
 * A SUCCEEDED backup is kept if ANY of these keeps it (each rule is applied on its own; the kept set is the union):
 * - `newest`: the newest successful backup, always;
 * - `newest-verified`: the newest successful backup whose format check passed (`verifiedAt` set), always, so a
 *   failing check on the latest backups never leaves only unchecked copies;
 * - `pinned`: every pinned backup, always;
 * - `keep-last`: the newest `keepLast` successes, except those older than `maxAgeDays`;
 * - `daily` / `weekly` / `monthly` (GFS): the newest success of each of the last D days / W ISO weeks / M months that
 *   hold at least one success (restic's `--keep-daily` semantics: a period without a successful backup is skipped,
 *   not counted, so a deployment that was down for a month still keeps D daily backups). Periods are read on the
 *   wall clock of `policy.timeZone` (the deployment's `backupTimezone`), see retention-periods.ts.
 *
 * Max age (`maxAgeDays`, whole 24-hour days before `now`) limits keep-last only: it stops keep-last from holding on to
 * old backups (e.g. after backups stopped, or with a large N), while GFS keeps its own, because a `monthly: 6` asks
 * for half a year of history on purpose and a shorter max age would silently void it; and the always-kept backups
 * above are never deleted for their age. A success kept by no rule is deleted (`max-age` when only its age stopped
 * keep-last from keeping it, `no-keep-rule` otherwise).
 *
 * Suspicious backups (SUCCEEDED, but far smaller than the recent ones: `suspicious`) are never counted by keep-last,
 * GFS or newest-verified, so a run of tiny dumps can never push a backup of normal size out: the rules above apply to
 * the normal successes only (`newest-normal` keeps the newest of them when the newest success is suspicious). A
 * suspicious backup is kept while it is newer than the oldest normal backup a rule keeps (`recent-suspicious`), and
 * deleted once older (`old-suspicious`).
 *
 * Other records: RUNNING records are never touched (`running`). FAILED records (they have no file) older than the
 * oldest success kept by a rule other than pinning are deleted (`old-failure`); newer ones are kept
 * (`recent-failure`), and with no successful backup at all nothing is deleted (`no-success-yet`). A pinned record of
 * any status is kept.
 */
import { DAY_MS } from '../cron/index.ts';
import { parseRetentionPolicy, type RetentionPolicy, type RetentionPolicyInput } from './retention-policy.ts';
import { periodLabeller, type RetentionPeriod } from './retention-periods.ts';

export { InvalidRetentionError } from './retention-policy.ts';

/** The part of a BackupRecord retention looks at. */
export interface RetentionCandidate {
  id: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startedAt: Date;
  verifiedAt: Date | null;
  pinned: boolean;
  /** A success far smaller than the recent ones; absent: false. */
  suspicious?: boolean;
}

/** Why a record is kept. */
export type KeepReason =
  | 'newest'
  | 'newest-verified'
  | 'newest-normal'
  | 'pinned'
  | 'keep-last'
  | RetentionPeriod
  | 'recent-suspicious'
  | 'running'
  | 'recent-failure'
  | 'no-success-yet';

/** Why a record is deleted. */
export type DeleteReason = 'max-age' | 'no-keep-rule' | 'old-suspicious' | 'old-failure';

export interface KeepDecision<T> {
  record: T;
  /** Every rule that keeps it, in the order of {@link KeepReason}'s declaration. */
  reasons: KeepReason[];
}

export interface DeleteDecision<T> {
  record: T;
  reason: DeleteReason;
}

/** Each list newest first. */
export interface RetentionPlan<T extends RetentionCandidate> {
  policy: RetentionPolicy;
  keep: KeepDecision<T>[];
  /** Successful backups whose file (and off-site copies) and record go. */
  deleteBackups: DeleteDecision<T>[];
  /** Failed records (no file) that go. */
  deleteFailedRecords: DeleteDecision<T>[];
}

const REASON_ORDER: readonly KeepReason[] = [
  'newest',
  'newest-verified',
  'newest-normal',
  'pinned',
  'keep-last',
  'daily',
  'weekly',
  'monthly',
  'recent-suspicious',
  'running',
  'recent-failure',
  'no-success-yet',
];
const PERIODS: readonly RetentionPeriod[] = ['daily', 'weekly', 'monthly'];

/** Newest first, ties broken by id so the plan is deterministic. */
function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  return b.startedAt.getTime() - a.startedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * Plans retention for one deployment's records under `policy` (validated here; defaults: keep-last 10, no GFS, no max
 * age, UTC) at time `now`. Throws `InvalidRetentionError` for an invalid policy, before deciding anything.
 */
export function planRetention<T extends RetentionCandidate>(input: {
  backups: readonly T[];
  policy: RetentionPolicyInput;
  now: Date;
}): RetentionPlan<T> {
  const policy = parseRetentionPolicy(input.policy);
  const sorted = [...input.backups].sort(newestFirst);
  const reasons = new Map<T, Set<KeepReason>>(sorted.map((record) => [record, new Set()]));
  const keepFor = (record: T, reason: KeepReason) => reasons.get(record)!.add(reason);

  const successes = sorted.filter((record) => record.status === 'SUCCEEDED');
  // What the counting rules see: a suspicious backup never takes the place of a normal one (with no normal backup
  // left at all, the suspicious ones are all there is, and are counted).
  const normalOnly = successes.filter((record) => !record.suspicious);
  const normal = normalOnly.length > 0 ? normalOnly : successes;
  const ageLimit = policy.maxAgeDays === undefined ? -Infinity : input.now.getTime() - policy.maxAgeDays * DAY_MS;
  const tooOld = new Set<T>();
  normal.slice(0, policy.keepLast).forEach((record) => {
    if (record.startedAt.getTime() < ageLimit) tooOld.add(record);
    else keepFor(record, 'keep-last');
  });
  const labelOf = periodLabeller(policy.timeZone);
  for (const period of PERIODS) {
    const count = policy[period] ?? 0;
    const seen = new Set<string>();
    for (const record of normal) {
      const label = labelOf(period, record.startedAt);
      if (seen.has(label)) continue;
      if (seen.size === count) break;
      seen.add(label);
      keepFor(record, period);
    }
  }
  if (successes[0]) keepFor(successes[0], 'newest');
  if (normal[0] && normal[0] !== successes[0]) keepFor(normal[0], 'newest-normal');
  const isVerified = (record: T) => record.verifiedAt !== null;
  const newestVerified = normal.find(isVerified) ?? successes.find(isVerified);
  if (newestVerified) keepFor(newestVerified, 'newest-verified');

  // The oldest normal success a rule other than pinning keeps: suspicious backups newer than it stay beside the
  // normal ones; older ones, like older failures, are history nobody asked to keep.
  const normalWindowStart = normal.findLast((record) => reasons.get(record)!.size > 0);
  for (const record of successes) {
    if (record.suspicious && normalWindowStart && newestFirst(record, normalWindowStart) <= 0)
      keepFor(record, 'recent-suspicious');
  }
  const windowStart = successes.findLast((record) => reasons.get(record)!.size > 0);
  for (const record of sorted) {
    if (record.pinned) keepFor(record, 'pinned');
    if (record.status === 'RUNNING') keepFor(record, 'running');
    if (record.status === 'FAILED' && !windowStart) keepFor(record, 'no-success-yet');
    if (record.status === 'FAILED' && windowStart && newestFirst(record, windowStart) <= 0)
      keepFor(record, 'recent-failure');
  }

  const plan: RetentionPlan<T> = { policy, keep: [], deleteBackups: [], deleteFailedRecords: [] };
  for (const record of sorted) {
    const kept = reasons.get(record)!;
    if (kept.size > 0) plan.keep.push({ record, reasons: REASON_ORDER.filter((reason) => kept.has(reason)) });
    else if (record.status === 'FAILED') plan.deleteFailedRecords.push({ record, reason: 'old-failure' });
    else
      plan.deleteBackups.push({
        record,
        reason: record.suspicious ? 'old-suspicious' : tooOld.has(record) ? 'max-age' : 'no-keep-rule',
      });
  }
  return plan;
}
