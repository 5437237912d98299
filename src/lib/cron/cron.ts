/**
 * Fire times of 5-field cron schedules, as pure functions of their arguments (no clock inside).
 *
 * Resolution is one minute: a schedule fires at whole wall-clock minutes, seconds and milliseconds
 * of the reference times are ignored except that "after" means strictly after.
 *
 * Daylight saving time, as Vixie cron does it and croner with `fixedTimeRule: 'no-wildcard'`:
 * - A fixed-time job (minute and hour fields without `*` or step, e.g. `30 2 * * *`, `0 2,14 * * *`)
 *   runs once per wall-clock time: a time repeated when the clock goes back fires at its first
 *   occurrence only; a time skipped when the clock goes forward fires once at the first valid
 *   instant after the gap (the moment the clock resumes, 03:00 for a 02:00-03:00 gap), provided
 *   that is still the same local day. Several skipped times fire once together.
 * - An interval job (`*` or a step in the minute or hour field, e.g. `*\/15 * * * *`, `0 * * * *`)
 *   follows real time: a repeated time fires in both passes, a skipped time does not fire.
 * Vixie cron calls a job an interval job only when its minute or hour field starts with `*`, so it
 * would treat `0 1-23/2 * * *` as fixed-time; here, as in croner, any step makes an interval job.
 */
import { FIRST_SUPPORTED_YEAR, LAST_SUPPORTED_YEAR, MINUTE_MS, daysFromCivil, DAY_MS } from './cron-calendar.ts';
import {
  parseCron,
  tryParseCron as tryParseCronUncached,
  type CronOptions,
  type CronParseResult,
  type CronSchedule,
} from './cron-parse.ts';
import { findNextWallMinute, findPreviousWallMinute } from './cron-search.ts';
import { zoneClock, type OffsetTransition, type ZoneClock } from './cron-zone.ts';

export { CronParseError, parseCron } from './cron-parse.ts';
export type { CronField, CronOptions, CronParseResult, CronSchedule } from './cron-parse.ts';
export { CronTimeZoneError } from './cron-zone.ts';
export { describeCron } from './cron-describe.ts';

/** A schedule, or an expression to parse with the given options. */
export type CronInput = CronSchedule | string;

/** A reference time outside the supported years 0001-9999, or an invalid Date. */
export class CronTimeRangeError extends RangeError {
  override readonly name = 'CronTimeRangeError';
  constructor(readonly time: Date) {
    super(
      `cron: time ${Number.isNaN(time.getTime()) ? 'Invalid Date' : time.toISOString()} is outside the supported years 0001-9999`,
    );
  }
}

const EARLIEST_INSTANT = daysFromCivil(FIRST_SUPPORTED_YEAR, 1, 1) * DAY_MS;
const LATEST_INSTANT = daysFromCivil(LAST_SUPPORTED_YEAR + 1, 1, 1) * DAY_MS - 1;
/** A repeated hour is never longer than this, so only transitions this close to a reference matter. */
const LONGEST_REPEAT_MS = 2 * DAY_MS;
const PARSE_CACHE_SIZE = 512;
/** Parse results by zone, then expression (two levels, so a lookup builds no key string). */
const parsedByZone = new Map<string, Map<string, CronParseResult>>();
let parsedCount = 0;
/**
 * The last answer of each search per schedule: a cycle asks the same schedule about the same `now` for every
 * deployment that uses it, and each answer depends only on the schedule and the instant.
 */
const lastPrevious = new WeakMap<CronSchedule, { at: number; instant: number | null }>();
const lastNext = new WeakMap<CronSchedule, { at: number; instant: number | null }>();

/**
 * The first fire time strictly after `after`, or null if the schedule never fires again
 * (`0 0 30 2 *`, or nothing before year 10000). Throws `CronParseError` for a bad expression.
 */
export function nextFireTime(schedule: CronSchedule, after: Date): Date | null;
export function nextFireTime(expression: string, after: Date, options?: CronOptions): Date | null;
export function nextFireTime(input: CronInput, after: Date, options?: CronOptions): Date | null {
  const next = memoNextFireInstant(scheduleFrom(input, options), instantOf(after));
  return next === null ? null : new Date(next);
}

/** The last fire time at or before `atOrBefore`, or null if there is none. */
export function previousFireTime(schedule: CronSchedule, atOrBefore: Date): Date | null;
export function previousFireTime(expression: string, atOrBefore: Date, options?: CronOptions): Date | null;
export function previousFireTime(input: CronInput, atOrBefore: Date, options?: CronOptions): Date | null {
  const previous = memoPreviousFireInstant(scheduleFrom(input, options), instantOf(atOrBefore));
  return previous === null ? null : new Date(previous);
}

/**
 * True iff the schedule fires at some time t with `lastRunAt < t <= now`; always true when the job
 * never ran (`lastRunAt` null). A worker that was down over several fire times therefore runs the
 * job once when it comes back, not once per missed time.
 */
export function shouldRunNow(schedule: CronSchedule, lastRunAt: Date | null, now: Date): boolean;
export function shouldRunNow(expression: string, lastRunAt: Date | null, now: Date, options?: CronOptions): boolean;
export function shouldRunNow(input: CronInput, lastRunAt: Date | null, now: Date, options?: CronOptions): boolean {
  const schedule = scheduleFrom(input, options);
  const nowInstant = instantOf(now);
  if (lastRunAt === null) return true;
  const lastInstant = instantOf(lastRunAt);
  // The same as "the first fire after lastRunAt is at or before now", asked in a form every deployment on this
  // schedule shares at one `now` (previous and next enumerate the same fire times).
  const previous = memoPreviousFireInstant(schedule, nowInstant);
  return previous !== null && previous > lastInstant;
}

/**
 * {@link parseCron} without exceptions, for validating user input. Results are cached by zone and expression, failures
 * included (results, schedules and errors are never changed, so sharing them is safe): a cycle over thousands of
 * deployments with a few distinct schedules parses each once, and the search tables built for a schedule are reused.
 */
export function tryParseCron(expression: string, options: CronOptions = {}): CronParseResult {
  const zone = options.timezone ?? 'UTC';
  const cached = parsedByZone.get(zone)?.get(expression);
  if (cached) return cached;
  const result = Object.freeze(tryParseCronUncached(expression, options));
  if (parsedCount >= PARSE_CACHE_SIZE) {
    parsedByZone.clear();
    parsedCount = 0;
  }
  let byExpression = parsedByZone.get(zone);
  if (!byExpression) parsedByZone.set(zone, (byExpression = new Map()));
  byExpression.set(expression, result);
  parsedCount += 1;
  return result;
}

function scheduleFrom(input: CronInput, options: CronOptions | undefined): CronSchedule {
  if (typeof input !== 'string') return input;
  const result = tryParseCron(input, options);
  // A fresh error for each throw, with the caller's stack (the cached one keeps the first caller's).
  return result.ok ? result.value : parseCron(input, options);
}

function memoPreviousFireInstant(schedule: CronSchedule, atOrBefore: number): number | null {
  const last = lastPrevious.get(schedule);
  if (last?.at === atOrBefore) return last.instant;
  const instant = previousFireInstant(schedule, atOrBefore);
  lastPrevious.set(schedule, { at: atOrBefore, instant });
  return instant;
}

function memoNextFireInstant(schedule: CronSchedule, after: number): number | null {
  const last = lastNext.get(schedule);
  if (last?.at === after) return last.instant;
  const instant = nextFireInstant(schedule, after);
  lastNext.set(schedule, { at: after, instant });
  return instant;
}

function instantOf(time: Date): number {
  const instant = time.getTime();
  if (!(instant >= EARLIEST_INSTANT && instant <= LATEST_INSTANT)) throw new CronTimeRangeError(time);
  return instant;
}

function nextFireInstant(schedule: CronSchedule, after: number): number | null {
  const zone = zoneClock(schedule.timezone);
  if (!zone.hasTransitions) {
    const minute = findNextWallMinute(schedule, Math.floor(after / MINUTE_MS) + 1);
    return minute === null ? null : minute * MINUTE_MS;
  }
  const wallAfter = after + zone.offsetAt(after);
  // Walk matching wall times upwards; the first with a fire instant after `after` has the earliest.
  let best = Infinity;
  let from = Math.floor(wallAfter / MINUTE_MS) + 1;
  for (;;) {
    const minute = findNextWallMinute(schedule, from);
    if (minute === null) break;
    const instant = earliestFireAfter(zone, schedule.fixedTime, minute * MINUTE_MS, after);
    if (instant !== null) {
      best = instant;
      break;
    }
    from = minute + 1;
  }
  // When `after` is in the first pass of a repeated hour, the second pass replays wall times at or
  // below `wallAfter`, which the walk did not visit; interval jobs fire there too.
  const setBack = schedule.fixedTime ? null : clockSetBackIn(zone, after, after + LONGEST_REPEAT_MS);
  if (setBack !== null && setBack.at + setBack.offsetAfter <= wallAfter) {
    const minute = findNextWallMinute(schedule, Math.ceil((setBack.at + setBack.offsetAfter) / MINUTE_MS));
    if (minute !== null && minute * MINUTE_MS < setBack.at + setBack.offsetBefore) {
      best = Math.min(best, minute * MINUTE_MS - setBack.offsetAfter);
    }
  }
  return best === Infinity ? null : best;
}

function previousFireInstant(schedule: CronSchedule, atOrBefore: number): number | null {
  const zone = zoneClock(schedule.timezone);
  if (!zone.hasTransitions) {
    const minute = findPreviousWallMinute(schedule, Math.floor(atOrBefore / MINUTE_MS));
    return minute === null ? null : minute * MINUTE_MS;
  }
  const wallAt = atOrBefore + zone.offsetAt(atOrBefore);
  let best = -Infinity;
  let from = Math.floor(wallAt / MINUTE_MS);
  for (;;) {
    const minute = findPreviousWallMinute(schedule, from);
    if (minute === null) break;
    const instant = latestFireAtOrBefore(zone, schedule.fixedTime, minute * MINUTE_MS, atOrBefore);
    if (instant !== null) {
      best = instant;
      break;
    }
    from = minute - 1;
  }
  // When `atOrBefore` is in the second pass of a repeated hour, the first pass already showed wall
  // times above `wallAt`, which the walk did not visit.
  const setBack = clockSetBackIn(zone, atOrBefore - LONGEST_REPEAT_MS, atOrBefore);
  if (setBack !== null && atOrBefore < setBack.at + setBack.offsetBefore - setBack.offsetAfter) {
    const minute = findPreviousWallMinute(schedule, Math.ceil((setBack.at + setBack.offsetBefore) / MINUTE_MS) - 1);
    if (minute !== null && minute * MINUTE_MS > wallAt) {
      best = Math.max(best, minute * MINUTE_MS - setBack.offsetBefore);
    }
  }
  return best === -Infinity ? null : best;
}

/** The first change in (`fromExclusive`, `toInclusive`] that sets the clock back, or null. */
function clockSetBackIn(zone: ZoneClock, fromExclusive: number, toInclusive: number): OffsetTransition | null {
  const transition = zone.transitionIn(fromExclusive, toInclusive);
  return transition !== null && transition.offsetAfter < transition.offsetBefore ? transition : null;
}

/** The earliest instant after `after` at which wall time `wall` makes the job fire, or null. */
function earliestFireAfter(zone: ZoneClock, fixedTime: boolean, wall: number, after: number): number | null {
  const resolution = zone.resolveWallTime(wall);
  switch (resolution.kind) {
    case 'unique':
      return resolution.instant > after ? resolution.instant : null;
    case 'repeated':
      if (resolution.first > after) return resolution.first;
      return !fixedTime && resolution.second > after ? resolution.second : null;
    case 'skipped':
      return fixedTime && resolution.resumesAt > after && resumesSameDay(wall, resolution.resumesAtWall)
        ? resolution.resumesAt
        : null;
  }
}

/** The latest instant at or before `atOrBefore` at which wall time `wall` makes the job fire, or null. */
function latestFireAtOrBefore(zone: ZoneClock, fixedTime: boolean, wall: number, atOrBefore: number): number | null {
  const resolution = zone.resolveWallTime(wall);
  switch (resolution.kind) {
    case 'unique':
      return resolution.instant <= atOrBefore ? resolution.instant : null;
    case 'repeated':
      if (!fixedTime && resolution.second <= atOrBefore) return resolution.second;
      return resolution.first <= atOrBefore ? resolution.first : null;
    case 'skipped':
      return fixedTime && resolution.resumesAt <= atOrBefore && resumesSameDay(wall, resolution.resumesAtWall)
        ? resolution.resumesAt
        : null;
  }
}

function resumesSameDay(wall: number, resumesAtWall: number): boolean {
  return Math.floor(wall / DAY_MS) === Math.floor(resumesAtWall / DAY_MS);
}
