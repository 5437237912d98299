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
const parsed = new Map<string, CronSchedule>();

/**
 * The first fire time strictly after `after`, or null if the schedule never fires again
 * (`0 0 30 2 *`, or nothing before year 10000). Throws `CronParseError` for a bad expression.
 */
export function nextFireTime(schedule: CronSchedule, after: Date): Date | null;
export function nextFireTime(expression: string, after: Date, options?: CronOptions): Date | null;
export function nextFireTime(input: CronInput, after: Date, options?: CronOptions): Date | null {
  const next = nextFireInstant(scheduleFrom(input, options), instantOf(after));
  return next === null ? null : new Date(next);
}

/** The last fire time at or before `atOrBefore`, or null if there is none. */
export function previousFireTime(schedule: CronSchedule, atOrBefore: Date): Date | null;
export function previousFireTime(expression: string, atOrBefore: Date, options?: CronOptions): Date | null;
export function previousFireTime(input: CronInput, atOrBefore: Date, options?: CronOptions): Date | null {
  const previous = previousFireInstant(scheduleFrom(input, options), instantOf(atOrBefore));
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
  const next = nextFireInstant(schedule, instantOf(lastRunAt));
  return next !== null && next <= nowInstant;
}

/**
 * {@link parseCron} without exceptions, for validating user input. Successful parses are cached by zone and
 * expression (schedules are frozen, so sharing them is safe): a cycle over thousands of deployments with a few
 * distinct schedules parses each once, and the search tables built for a schedule are reused too.
 */
export function tryParseCron(expression: string, options: CronOptions = {}): CronParseResult {
  const key = cacheKey(expression, options);
  const cached = parsed.get(key);
  if (cached) return { ok: true, value: cached };
  const result = tryParseCronUncached(expression, options);
  if (result.ok) remember(key, result.value);
  return result;
}

function cacheKey(expression: string, options: CronOptions | undefined): string {
  return `${options?.timezone ?? 'UTC'}\n${expression}`;
}

function remember(key: string, schedule: CronSchedule): void {
  if (parsed.size >= PARSE_CACHE_SIZE) parsed.delete(parsed.keys().next().value ?? key);
  parsed.set(key, schedule);
}

function scheduleFrom(input: CronInput, options: CronOptions | undefined): CronSchedule {
  if (typeof input !== 'string') return input;
  const key = cacheKey(input, options);
  let schedule = parsed.get(key);
  if (schedule === undefined) {
    schedule = parseCron(input, options);
    remember(key, schedule);
  }
  return schedule;
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
