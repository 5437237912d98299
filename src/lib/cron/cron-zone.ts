/**
 * Wall-clock time <-> UTC instant for an IANA time zone, from `Intl.DateTimeFormat` offsets.
 *
 * All times are milliseconds: an instant since 1970-01-01T00:00Z, a wall-clock time since
 * 1970-01-01T00:00 of the zone's own clock (wall = instant + offset).
 *
 * Offsets are cached per UTC day: the offsets at both ends of the day, and if they differ, the
 * instant of the transition between them (found to the second by bisection, once). This assumes a
 * zone changes its offset at most once per UTC day: in the tz database no two offset changes since
 * 1900 are less than two days apart, in any zone.
 */
import { DAY_MS, FIRST_SUPPORTED_YEAR, daysFromCivil } from './cron-calendar.ts';

/** An IANA time zone name that `Intl` does not know. */
export class CronTimeZoneError extends Error {
  override readonly name = 'CronTimeZoneError';
  constructor(readonly timezone: string) {
    super(`cron: unknown time zone "${timezone}"`);
  }
}

/** How a wall-clock time maps to instants: once, twice (clock set back), or never (clock set forward). */
export type WallTimeResolution =
  | { kind: 'unique'; instant: number }
  | { kind: 'repeated'; first: number; second: number }
  | { kind: 'skipped'; resumesAt: number; resumesAtWall: number };

/** A change of UTC offset at instant `at`. */
export interface OffsetTransition {
  at: number;
  offsetBefore: number;
  offsetAfter: number;
}

/** Offsets and wall-clock resolution for one time zone. */
export interface ZoneClock {
  readonly name: string;
  /** False for UTC, whose wall clock is its instants. */
  readonly hasTransitions: boolean;
  /** UTC offset in milliseconds at `instant` (wall = instant + offset). */
  offsetAt(instant: number): number;
  resolveWallTime(wall: number): WallTimeResolution;
  /** The first offset change in (`fromExclusive`, `toInclusive`], or null. */
  transitionIn(fromExclusive: number, toInclusive: number): OffsetTransition | null;
}

const normalizedNames = new Map<string, string>();
const clocks = new Map<string, ZoneClock>();

/**
 * The zone name to keep for `name`, or a {@link CronTimeZoneError} if `Intl` does not know it: aliases
 * of UTC become `UTC`, a name differing only in case gets its standard spelling (`europe/berlin` ->
 * `Europe/Berlin`), any other name is kept as given (ICU would turn `Asia/Kolkata` into the outdated
 * `Asia/Calcutta`).
 */
export function normalizeTimeZoneName(name: string): string {
  const known = normalizedNames.get(name);
  if (known !== undefined) return known;
  if (typeof name !== 'string' || name === '') throw new CronTimeZoneError(String(name));
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new CronTimeZoneError(name);
  }
  // Intl on Node 24 also takes UTC offsets (`+05:00`, `-0500`); they are not IANA names.
  if (resolved.startsWith('+') || resolved.startsWith('-')) throw new CronTimeZoneError(name);
  const normalized = resolved === 'UTC' || resolved.toLowerCase() === name.toLowerCase() ? resolved : name;
  normalizedNames.set(name, normalized);
  return normalized;
}

/** The (cached) clock for a zone name. */
export function zoneClock(name: string): ZoneClock {
  const normalized = normalizeTimeZoneName(name);
  let clock = clocks.get(normalized);
  if (clock === undefined) {
    clock = normalized === 'UTC' ? UTC_CLOCK : new IntlZoneClock(normalized);
    clocks.set(normalized, clock);
  }
  return clock;
}

const UTC_CLOCK: ZoneClock = {
  name: 'UTC',
  hasTransitions: false,
  offsetAt: () => 0,
  resolveWallTime: (wall) => ({ kind: 'unique', instant: wall }),
  transitionIn: () => null,
};

/** Offsets at the start and end of one UTC day, and the instant it changes (Infinity if it does not). */
interface DaySpan {
  readonly startOffset: number;
  readonly endOffset: number;
  readonly transitionAt: number;
}

/** Offsets never exceed this in any direction (the largest ever was about 15:56). */
const OFFSET_BOUND_MS = 18 * 3_600_000;
const MAX_CACHED_DAYS = 20_000;
/** Intl prints years before 1 without an era, so offsets are read no earlier than this. */
const EARLIEST_READ_INSTANT = daysFromCivil(FIRST_SUPPORTED_YEAR, 1, 2) * DAY_MS;

class IntlZoneClock implements ZoneClock {
  readonly hasTransitions = true;
  private readonly formatter: Intl.DateTimeFormat;
  private readonly days = new Map<number, DaySpan>();

  constructor(readonly name: string) {
    this.formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  offsetAt(instant: number): number {
    const span = this.daySpan(Math.floor(instant / DAY_MS));
    return instant >= span.transitionAt ? span.endOffset : span.startOffset;
  }

  resolveWallTime(wall: number): WallTimeResolution {
    // Every instant showing `wall` lies within OFFSET_BOUND_MS of it; test each constant-offset
    // piece of the days around it.
    let first = NaN;
    let second = NaN;
    const lastDay = Math.floor((wall + OFFSET_BOUND_MS) / DAY_MS);
    for (let day = Math.floor((wall - OFFSET_BOUND_MS) / DAY_MS); day <= lastDay; day++) {
      const span = this.daySpan(day);
      const dayStart = day * DAY_MS;
      const dayEnd = dayStart + DAY_MS;
      const changeAt = Math.min(span.transitionAt, dayEnd);
      // The day has up to two constant-offset pieces: [dayStart, changeAt) and [changeAt, dayEnd).
      for (let piece = 0; piece < 2; piece++) {
        const instant = wall - (piece === 0 ? span.startOffset : span.endOffset);
        const inPiece =
          piece === 0 ? instant >= dayStart && instant < changeAt : instant >= changeAt && instant < dayEnd;
        if (!inPiece || instant === first) continue;
        if (Number.isNaN(first)) first = instant;
        else second = instant;
      }
    }
    if (!Number.isNaN(second)) {
      return first < second ? { kind: 'repeated', first, second } : { kind: 'repeated', first: second, second: first };
    }
    if (!Number.isNaN(first)) return { kind: 'unique', instant: first };
    const gap = this.transitionIn(wall - OFFSET_BOUND_MS - DAY_MS, wall + OFFSET_BOUND_MS);
    if (gap === null || gap.offsetAfter <= gap.offsetBefore) {
      throw new Error(`cron: no instant and no gap for wall time ${wall} in ${this.name}`);
    }
    return { kind: 'skipped', resumesAt: gap.at, resumesAtWall: gap.at + gap.offsetAfter };
  }

  transitionIn(fromExclusive: number, toInclusive: number): OffsetTransition | null {
    const lastDay = Math.floor(toInclusive / DAY_MS);
    for (let day = Math.floor(fromExclusive / DAY_MS); day <= lastDay; day++) {
      const span = this.daySpan(day);
      if (span.transitionAt > fromExclusive && span.transitionAt <= toInclusive) {
        return { at: span.transitionAt, offsetBefore: span.startOffset, offsetAfter: span.endOffset };
      }
    }
    return null;
  }

  private daySpan(day: number): DaySpan {
    const cached = this.days.get(day);
    if (cached !== undefined) return cached;
    const dayStart = day * DAY_MS;
    const startOffset = this.days.get(day - 1)?.endOffset ?? this.readOffset(dayStart);
    const endOffset = this.days.get(day + 1)?.startOffset ?? this.readOffset(dayStart + DAY_MS);
    let transitionAt = Infinity;
    if (startOffset !== endOffset) {
      // Bisect to the first whole second with the new offset; tz transitions are whole seconds.
      let before = dayStart;
      let after = dayStart + DAY_MS;
      while (after - before > 1000) {
        const middle = before + Math.floor((after - before) / 2000) * 1000;
        if (this.readOffset(middle) === startOffset) before = middle;
        else after = middle;
      }
      transitionAt = after;
    }
    if (this.days.size >= MAX_CACHED_DAYS) this.days.clear();
    const span = { startOffset, endOffset, transitionAt };
    this.days.set(day, span);
    return span;
  }

  /** Offset at a whole-second instant, from the zone's formatted local time ("M/D/Y, h:m:s"). */
  private readOffset(instant: number): number {
    const at = Math.max(instant, EARLIEST_READ_INSTANT);
    const text = this.formatter.format(at);
    const numbers = [0, 0, 0, 0, 0, 0];
    let index = 0;
    let inNumber = false;
    for (let i = 0; i < text.length && index < 6; i++) {
      const digit = text.charCodeAt(i) - 48;
      if (digit >= 0 && digit <= 9) {
        numbers[index] = (numbers[index] ?? 0) * 10 + digit;
        inNumber = true;
      } else if (inNumber) {
        index++;
        inNumber = false;
      }
    }
    const [month = 0, day = 0, year = 0, hour = 0, minute = 0, second = 0] = numbers;
    const localSeconds = daysFromCivil(year, month, day) * 86_400 + (hour % 24) * 3600 + minute * 60 + second;
    return localSeconds * 1000 - at;
  }
}
