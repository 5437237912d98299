/**
 * Whether the worker's loop is alive, judged from when its cycles start and end. Pure: the times come in as data, so
 * the rule is tested with fixed instants.
 *
 * Between cycles, the loop is stuck when no cycle has completed for three intervals (or, before the first cycle, since
 * the process started): the loop died, or its timer never fired, and schedules would silently stop. A cycle that is
 * running counts as alive for three intervals, or up to `cycleTimeoutMs` when that is longer: a cycle that runs a large
 * backup legitimately takes hours, and restarting the worker then would abort the backup over and over.
 */
export interface LoopActivity {
  now: Date;
  /** When the worker started (the reference before the first cycle has completed). */
  startedAt: Date;
  lastCycleAt: Date | null;
  /** When the running cycle started; null between cycles. */
  cycleRunningSince: Date | null;
  intervalMs: number;
  /** How long one cycle may legitimately run (the longest backup it may wait for). */
  cycleTimeoutMs: number;
}

/** How many intervals may pass without a completed cycle before the loop counts as stuck. */
export const STUCK_AFTER_INTERVALS = 3;

export type Liveness = { alive: true } | { alive: false; reason: string };

export function judgeLiveness(activity: LoopActivity): Liveness {
  const { now, intervalMs } = activity;
  const allowedGapMs = STUCK_AFTER_INTERVALS * intervalMs;
  if (activity.cycleRunningSince) {
    const runningMs = now.getTime() - activity.cycleRunningSince.getTime();
    const limitMs = Math.max(allowedGapMs, activity.cycleTimeoutMs);
    if (runningMs <= limitMs) return { alive: true };
    return {
      alive: false,
      reason: `the cycle started at ${activity.cycleRunningSince.toISOString()} has run for ${seconds(runningMs)}, longer than a cycle may (${seconds(limitMs)})`,
    };
  }
  const since = activity.lastCycleAt ?? activity.startedAt;
  const idleMs = now.getTime() - since.getTime();
  if (idleMs <= allowedGapMs) return { alive: true };
  const what = activity.lastCycleAt
    ? `no cycle has completed since ${since.toISOString()}`
    : `no cycle has completed since the worker started at ${since.toISOString()}`;
  return {
    alive: false,
    reason: `${what} (${seconds(idleMs)}; ${STUCK_AFTER_INTERVALS} intervals of ${seconds(intervalMs)} are allowed)`,
  };
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1_000)} s`;
}
