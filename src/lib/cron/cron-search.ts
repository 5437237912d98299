/**
 * Search for the wall-clock minutes a schedule matches, ignoring time zones.
 *
 * A wall-clock minute is an integer: minutes since 1970-01-01T00:00 of the clock on the wall. The
 * search jumps field by field (month, then day, then hour, then minute, resetting the lower fields)
 * with lookup tables and day bitmasks, so one call costs a few dozen steps however far away the
 * match is.
 */
import {
  FIRST_SUPPORTED_YEAR,
  LAST_SUPPORTED_YEAR,
  MINUTES_PER_DAY,
  civilFromDays,
  daysFromCivil,
  daysInMonth,
  weekdayFromDays,
} from './cron-calendar.ts';
import type { CronSchedule } from './cron-parse.ts';

/** A schedule as lookup tables: `next*[v]`/`previous*[v]` is the nearest allowed value >= / <= v, or -1. */
interface Matcher {
  readonly nextMinute: Int8Array;
  readonly previousMinute: Int8Array;
  readonly nextHour: Int8Array;
  readonly previousHour: Int8Array;
  readonly nextMonth: Int8Array;
  readonly previousMonth: Int8Array;
  /** Bit d-1 set when day-of-month d is allowed. */
  readonly dayOfMonthMask: number;
  /** Indexed by the weekday of the 1st: bit d-1 set when day d of such a month has an allowed weekday. */
  readonly dayOfWeekMasks: Int32Array;
  /** Vixie's rule: either day field may match when both are restricted, else both must. */
  readonly eitherDayMatches: boolean;
}

/** Years the search may cover: enough for any day pattern to recur (Feb 29 on a given weekday). */
const SEARCH_YEARS = 400;
const ALL_DAYS_MASK = 0x7fffffff;

const matchers = new WeakMap<CronSchedule, Matcher>();

function matcherFor(schedule: CronSchedule): Matcher {
  let matcher = matchers.get(schedule);
  if (matcher === undefined) {
    matcher = buildMatcher(schedule);
    matchers.set(schedule, matcher);
  }
  return matcher;
}

function buildMatcher(schedule: CronSchedule): Matcher {
  const [nextMinute, previousMinute] = lookupTables(schedule.minutes, 60);
  const [nextHour, previousHour] = lookupTables(schedule.hours, 24);
  const [nextMonth, previousMonth] = lookupTables(schedule.months, 13);
  let dayOfMonthMask = 0;
  for (const day of schedule.daysOfMonth) dayOfMonthMask |= 1 << (day - 1);
  const dayOfWeekMasks = new Int32Array(7);
  for (let firstWeekday = 0; firstWeekday < 7; firstWeekday++) {
    let mask = 0;
    for (let day = 1; day <= 31; day++) {
      if (schedule.daysOfWeek.includes((firstWeekday + day - 1) % 7)) mask |= 1 << (day - 1);
    }
    dayOfWeekMasks[firstWeekday] = mask;
  }
  return {
    nextMinute,
    previousMinute,
    nextHour,
    previousHour,
    nextMonth,
    previousMonth,
    dayOfMonthMask,
    dayOfWeekMasks,
    eitherDayMatches: schedule.dayOfMonthRestricted && schedule.dayOfWeekRestricted,
  };
}

function lookupTables(values: readonly number[], size: number): [Int8Array, Int8Array] {
  const next = new Int8Array(size + 1).fill(-1);
  const previous = new Int8Array(size + 1).fill(-1);
  for (let value = size - 1; value >= 0; value--)
    next[value] = values.includes(value) ? value : (next[value + 1] ?? -1);
  for (let value = 0; value < size; value++) {
    previous[value] = values.includes(value) ? value : value > 0 ? (previous[value - 1] ?? -1) : -1;
  }
  return [next, previous];
}

/** Bit d-1 set when day d of the month matches the schedule's day fields. */
function matchingDays(matcher: Matcher, year: number, month: number): number {
  const length = daysInMonth(year, month);
  const byWeekday = matcher.dayOfWeekMasks[weekdayFromDays(daysFromCivil(year, month, 1))] ?? 0;
  const days = matcher.eitherDayMatches ? matcher.dayOfMonthMask | byWeekday : matcher.dayOfMonthMask & byWeekday;
  return days & (length === 31 ? ALL_DAYS_MASK : (1 << length) - 1);
}

/** Lowest day >= `day` in the mask, or -1. */
function firstDayFrom(days: number, day: number): number {
  if (day > 31) return -1;
  const candidates = days & ~((1 << (day - 1)) - 1);
  return candidates === 0 ? -1 : 32 - Math.clz32(candidates & -candidates);
}

/** Highest day <= `day` in the mask, or -1. */
function lastDayUpTo(days: number, day: number): number {
  if (day < 1) return -1;
  const candidates = days & (day >= 31 ? ALL_DAYS_MASK : (1 << day) - 1);
  return candidates === 0 ? -1 : 32 - Math.clz32(candidates);
}

/** The first wall-clock minute >= `from` that the schedule matches, or null past year 9999. */
export function findNextWallMinute(schedule: CronSchedule, from: number): number | null {
  if (!schedule.canEverFire) return null;
  const matcher = matcherFor(schedule);
  const dayNumber = Math.floor(from / MINUTES_PER_DAY);
  let { year, month, day } = civilFromDays(dayNumber);
  let hour = Math.floor((from - dayNumber * MINUTES_PER_DAY) / 60);
  let minute = from - dayNumber * MINUTES_PER_DAY - hour * 60;
  const lastYear = Math.min(year + SEARCH_YEARS, LAST_SUPPORTED_YEAR);

  while (year <= lastYear) {
    const allowedMonth = matcher.nextMonth[month] ?? -1;
    if (allowedMonth !== month) {
      if (allowedMonth < 0) year++;
      month = allowedMonth < 0 ? (matcher.nextMonth[1] ?? 1) : allowedMonth;
      day = 1;
      hour = 0;
      minute = 0;
      continue;
    }
    const allowedDay = firstDayFrom(matchingDays(matcher, year, month), day);
    if (allowedDay !== day) {
      if (allowedDay < 0) month++;
      day = allowedDay < 0 ? 1 : allowedDay;
      hour = 0;
      minute = 0;
      continue;
    }
    const allowedHour = matcher.nextHour[hour] ?? -1;
    if (allowedHour !== hour) {
      if (allowedHour < 0) day++;
      hour = allowedHour < 0 ? 0 : allowedHour;
      minute = 0;
      continue;
    }
    const allowedMinute = matcher.nextMinute[minute] ?? -1;
    if (allowedMinute < 0) {
      hour++;
      minute = 0;
      continue;
    }
    return daysFromCivil(year, month, day) * MINUTES_PER_DAY + hour * 60 + allowedMinute;
  }
  return null;
}

/** The last wall-clock minute <= `from` that the schedule matches, or null before year 1. */
export function findPreviousWallMinute(schedule: CronSchedule, from: number): number | null {
  if (!schedule.canEverFire) return null;
  const matcher = matcherFor(schedule);
  const dayNumber = Math.floor(from / MINUTES_PER_DAY);
  let { year, month, day } = civilFromDays(dayNumber);
  let hour = Math.floor((from - dayNumber * MINUTES_PER_DAY) / 60);
  let minute = from - dayNumber * MINUTES_PER_DAY - hour * 60;
  const firstYear = Math.max(year - SEARCH_YEARS, FIRST_SUPPORTED_YEAR);

  while (year >= firstYear) {
    const allowedMonth = month >= 1 ? (matcher.previousMonth[month] ?? -1) : -1;
    if (allowedMonth !== month) {
      if (allowedMonth < 0) year--;
      month = allowedMonth < 0 ? (matcher.previousMonth[12] ?? 12) : allowedMonth;
      day = 31;
      hour = 23;
      minute = 59;
      continue;
    }
    const allowedDay = lastDayUpTo(matchingDays(matcher, year, month), day);
    if (allowedDay !== day) {
      if (allowedDay < 0) month--;
      day = allowedDay < 0 ? 31 : allowedDay;
      hour = 23;
      minute = 59;
      continue;
    }
    const allowedHour = hour >= 0 ? (matcher.previousHour[hour] ?? -1) : -1;
    if (allowedHour < 0 || allowedHour !== hour) {
      if (allowedHour < 0) day--;
      hour = allowedHour < 0 ? 23 : allowedHour;
      minute = 59;
      continue;
    }
    const allowedMinute = matcher.previousMinute[minute] ?? -1;
    if (allowedMinute < 0) {
      hour--;
      minute = 59;
      continue;
    }
    return daysFromCivil(year, month, day) * MINUTES_PER_DAY + hour * 60 + allowedMinute;
  }
  return null;
}
