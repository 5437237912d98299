/**
 * Differential test: our next and previous fire times against croner (dev dependency only) on
 * seeded random expressions covering every syntax form, in several time zones, with reference
 * times spread over 1995-2045 and packed around DST transitions. A brute-force minute scan is a
 * third opinion on a sample.
 *
 * croner is configured to follow Vixie cron as we do: `mode: '5-part'`, `fixedTimeRule:
 * 'no-wildcard'` (a job without `*` or a step in its minute and hour fields is a fixed-time job for
 * DST) and `domAndDow` set per expression (see KNOWN_DIFFERENCES). `nextRun(t)` is strictly after
 * t like ours; `previousRuns(1, t)` is strictly before t at whole seconds, so our "at or before t" is
 * compared with `previousRuns(1, t + 1 ms)`.
 */
import { Cron, type CronOptions as CronerOptions } from 'croner';
import { describe, expect, it } from 'vitest';
import { nextFireTime, parseCron, previousFireTime, type CronSchedule } from '../../../src/lib/cron/cron.ts';

const SEED = 20_260_301;
const RANDOM_EXPRESSIONS = 2_000;
const REFERENCES_PER_EXPRESSION = 3;
const DST_CASES = 1_500;
const ORACLE_SAMPLE = 250;
const ORACLE_SCAN_MINUTES = 8 * 24 * 60;
const FIRST_REFERENCE = Date.UTC(1995, 0, 1);
const LAST_REFERENCE = Date.UTC(2045, 0, 1);
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const T0 = new Date('2026-03-01T02:59:00Z');

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'Europe/London',
  'America/New_York',
  'America/St_Johns',
  'America/Sao_Paulo',
  'America/Santiago',
  'Australia/Lord_Howe',
  'Australia/Adelaide',
  'Pacific/Chatham',
  'Pacific/Apia',
  'Asia/Kolkata',
  'Asia/Tehran',
  'Africa/Casablanca',
];

/**
 * Where croner differs from Vixie cron, and so from us. Each entry says what croner gets instead and
 * why, with one example that proves croner, given the expression unchanged, really differs.
 */
const KNOWN_DIFFERENCES = [
  {
    name: 'a range from Sunday to the name "sun"',
    reason:
      'croner rewrites "-sun" to "-7" before parsing, so "sun-sun" and "0-sun" (with or without a step) become 0-7, every day. ' +
      'Vixie reads sun as 0, so they mean Sunday only, as for us. croner gets "0" instead.',
    expression: '0 0 * * sun-sun',
    croner: {} as CronerOptions,
    reference: T0,
    ours: '2026-03-08T00:00:00.000Z',
    theirs: '2026-03-02T00:00:00.000Z',
  },
  {
    name: 'steps from a single value ("a/n")',
    reason:
      'croner rejects "a/n" unless sloppyRanges is set, and then ends day-of-week at 6, so "1/2" is Mon, Wed, Fri. ' +
      'We read "a/n" as "a-max/n" with day-of-week max 7 as cronie does, so "1/2" is Mon, Wed, Fri, Sun. croner gets "a-max/n".',
    expression: '0 0 * * 1/2',
    croner: { sloppyRanges: true } as CronerOptions,
    reference: new Date('2026-03-07T00:00:00Z'),
    ours: '2026-03-08T00:00:00.000Z',
    theirs: '2026-03-09T00:00:00.000Z',
  },
  {
    name: 'a day field starting with "*" but not only "*"',
    reason:
      'Vixie treats a day field starting with "*" (such as "*/2") as unrestricted, so "0 0 */2 * 1" means odd days that are ' +
      'Mondays; croner ORs the day fields unless one is exactly "*". croner gets domAndDow: true whenever one field starts with "*".',
    expression: '0 0 */2 * 1',
    croner: {} as CronerOptions,
    reference: T0,
    ours: '2026-03-09T00:00:00.000Z',
    theirs: '2026-03-02T00:00:00.000Z',
  },
] as const;

const MAX_VALUE = [59, 23, 31, 12, 7];

/** The croner pattern and options that mean what `expression` means to us (see KNOWN_DIFFERENCES). */
function cronerEquivalent(expression: string, schedule: CronSchedule): [string, CronerOptions] {
  const pattern = expression.startsWith('@')
    ? expression
    : expression
        .trim()
        .split(/\s+/)
        .map((field, index) =>
          field
            .split(',')
            .map((item) => {
              if (index === 4 && /^(0|sun)-sun(\/\d+)?$/i.test(item)) return '0';
              const single = /^([a-z0-9]+)\/(\d+)$/i.exec(item);
              return single ? `${single[1]}-${MAX_VALUE[index]}/${single[2]}` : item;
            })
            .join(','),
        )
        .join(' ');
  const either = schedule.dayOfMonthRestricted && schedule.dayOfWeekRestricted;
  return [pattern, { timezone: schedule.timezone, mode: '5-part', fixedTimeRule: 'no-wildcard', domAndDow: !either }];
}

/** mulberry32: small, seeded, good enough to spread test cases. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const random = seededRandom(SEED);
const integer = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;

interface FieldShape {
  min: number;
  max: number;
  maxStep: number;
  names: readonly string[] | null;
  likely: readonly number[];
}

const FIELD_SHAPES: readonly FieldShape[] = [
  { min: 0, max: 59, maxStep: 30, names: null, likely: [0, 0, 15, 30, 45, 59] },
  { min: 0, max: 23, maxStep: 12, names: null, likely: [0, 1, 2, 2, 3, 23] },
  { min: 1, max: 31, maxStep: 15, names: null, likely: [1, 13, 28, 29, 30, 31] },
  {
    min: 1,
    max: 12,
    maxStep: 6,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
    likely: [2, 3, 10, 11],
  },
  { min: 0, max: 7, maxStep: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], likely: [0, 7, 1, 5, 6] },
];

function randomValue(shape: FieldShape): number {
  return random() < 0.4 ? pick(shape.likely) : integer(shape.min, shape.max);
}

/** A value as a number or, sometimes, as a name in any case. */
function valueText(shape: FieldShape, value: number): string {
  if (shape.names === null || random() < 0.65) return String(value);
  const name = shape.names[(value - shape.min) % shape.names.length] ?? '';
  return pick([name, name.toUpperCase(), name.charAt(0).toUpperCase() + name.slice(1)]);
}

function randomRange(shape: FieldShape): string {
  const [low, high] = [randomValue(shape), randomValue(shape)].sort((a, b) => a - b) as [number, number];
  return `${valueText(shape, low)}-${valueText(shape, high)}`;
}

function randomItem(shape: FieldShape): string {
  const form = random();
  if (form < 0.35) return valueText(shape, randomValue(shape));
  if (form < 0.55) return randomRange(shape);
  if (form < 0.7) return `*/${integer(1, shape.maxStep)}`;
  if (form < 0.85) return `${randomRange(shape)}/${integer(1, shape.maxStep)}`;
  return `${valueText(shape, randomValue(shape))}/${integer(1, shape.maxStep)}`;
}

function randomField(shape: FieldShape): string {
  const form = random();
  if (form < 0.3) return '*';
  if (form < 0.75) return randomItem(shape);
  return Array.from({ length: integer(2, 4) }, () => randomItem(shape)).join(',');
}

function randomExpression(): string {
  if (random() < 0.04) return pick(['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually']);
  const fields = FIELD_SHAPES.map(randomField);
  if (random() < 0.25) fields[2] = fields[3] = '*';
  return fields.join(' ');
}

/** Offset changes of a zone between 1995 and 2045, found with Intl alone (not with the code under test). */
function findTransitions(timezone: string): number[] {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' });
  // The formatted text is "3/1/2026, GMT+01:00": keep the offset only.
  const offsetText = (instant: number) => /GMT.*$/.exec(format.format(instant))?.[0] ?? '';
  const transitions: number[] = [];
  for (let day = FIRST_REFERENCE; day < LAST_REFERENCE; day += DAY_MS) {
    if (offsetText(day) === offsetText(day + DAY_MS)) continue;
    let before = day;
    let after = day + DAY_MS;
    while (after - before > 1000) {
      const middle = before + Math.floor((after - before) / 2000) * 1000;
      if (offsetText(middle) === offsetText(day)) before = middle;
      else after = middle;
    }
    transitions.push(after);
  }
  return transitions;
}

const TRANSITIONS = new Map(ZONES.map((zone) => [zone, findTransitions(zone)]));

function randomReference(timezone: string): number {
  const transitions = TRANSITIONS.get(timezone) ?? [];
  if (transitions.length > 0 && random() < 0.6) {
    return pick(transitions) + integer(-26 * 60, 26 * 60) * MINUTE_MS + (random() < 0.3 ? integer(1, 59) * 1000 : 0);
  }
  return FIRST_REFERENCE + Math.floor((random() * (LAST_REFERENCE - FIRST_REFERENCE)) / 1000) * 1000;
}

/** Local hour just before and at a transition, from Intl. */
function hoursAround(timezone: string, transition: number): [number, number] {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', hour: 'numeric' });
  return [Number(format.format(transition - 1000)) % 24, Number(format.format(transition)) % 24];
}

/** A time-of-day expression aimed at the hours a transition skips or repeats. */
function dstExpression(timezone: string, transition: number): string {
  const [before, after] = hoursAround(timezone, transition);
  const hour = pick([before, after, (before + 23) % 24, Math.min(before, after)]);
  const minute = integer(0, 59);
  return pick([
    `${minute} ${hour} * * *`,
    `${minute},${integer(0, 59)} ${hour} * * *`,
    `${minute} ${Math.min(before, after)}-${Math.max(before, after)} * * *`,
    `${minute} ${hour},${(hour + 12) % 24} * * *`,
    `*/${pick([1, 5, 10, 15, 20, 30])} ${hour} * * *`,
    `${minute} * * * *`,
    `*/${pick([7, 15, 30])} * * * *`,
    `${minute} */${pick([2, 3, 6])} * * *`,
    `${minute} ${Math.min(before, after)}-${Math.max(before, after)}/1 * * *`,
    `${minute} ${hour} * * ${integer(0, 6)}`,
  ]);
}

interface Case {
  expression: string;
  timezone: string;
  reference: number;
}

function randomCases(): Case[] {
  const cases: Case[] = [];
  for (let index = 0; index < RANDOM_EXPRESSIONS; index++) {
    const expression = randomExpression();
    const timezone = index % 4 === 0 ? 'UTC' : pick(ZONES);
    for (let reference = 0; reference < REFERENCES_PER_EXPRESSION; reference++) {
      cases.push({ expression, timezone, reference: randomReference(timezone) });
    }
  }
  return cases;
}

function dstCases(): Case[] {
  const zonesWithDst = ZONES.filter((zone) => (TRANSITIONS.get(zone) ?? []).length > 0);
  return Array.from({ length: DST_CASES }, () => {
    const timezone = pick(zonesWithDst);
    const transition = pick(TRANSITIONS.get(timezone) ?? []);
    return {
      expression: dstExpression(timezone, transition),
      timezone,
      reference: transition + integer(-180, 180) * MINUTE_MS + (random() < 0.2 ? integer(1, 59) * 1000 : 0),
    };
  });
}

/**
 * Compare next and previous fire times for each case, and again from the next fire time found
 * (a reference exactly on a fire time). Returns the number of comparisons and the mismatches.
 */
function compareWithCroner(cases: readonly Case[]): { compared: number; mismatches: string[] } {
  const jobs = new Map<string, [CronSchedule, Cron]>();
  const mismatches: string[] = [];
  let compared = 0;
  for (const { expression, timezone, reference } of cases) {
    const key = `${timezone} ${expression}`;
    let job = jobs.get(key);
    if (job === undefined) {
      const schedule = parseCron(expression, { timezone });
      job = [schedule, new Cron(...cronerEquivalent(expression, schedule))];
      jobs.set(key, job);
    }
    const [schedule, croner] = job;
    let at: number | null = reference;
    for (let step = 0; step < 2 && at !== null; step++) {
      const time: Date = new Date(at);
      const ours: (string | null)[] = [nextFireTime(schedule, time), previousFireTime(schedule, time)].map(isoOrNull);
      const theirs: (string | null)[] = [croner.nextRun(time), croner.previousRuns(1, new Date(at + 1))[0] ?? null].map(
        isoOrNull,
      );
      compared++;
      if (ours[0] !== theirs[0] || ours[1] !== theirs[1]) {
        mismatches.push(
          `${timezone} "${expression}" at ${time.toISOString()}: ours next ${ours[0]} previous ${ours[1]}, croner ${theirs[0]} ${theirs[1]}`,
        );
      }
      at = ours[0] == null ? null : Date.parse(ours[0]);
    }
  }
  return { compared, mismatches };
}

describe('differential test against croner', () => {
  it(`agrees on ${RANDOM_EXPRESSIONS * REFERENCES_PER_EXPRESSION * 2} random cases (every syntax form, ${ZONES.length} zones)`, () => {
    const { compared, mismatches } = compareWithCroner(randomCases());
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(compared).toBeGreaterThanOrEqual(10_000);
  });

  it(`agrees on ${DST_CASES * 2} cases aimed at DST gaps and repeated hours`, () => {
    const { compared, mismatches } = compareWithCroner(dstCases());
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(compared).toBeGreaterThanOrEqual(DST_CASES);
  });

  it.each(KNOWN_DIFFERENCES)('known difference: $name', ({ expression, croner, reference, ours, theirs }) => {
    expect(nextFireTime(expression, reference)?.toISOString()).toBe(ours);
    expect(new Cron(expression, { mode: '5-part', ...croner }).nextRun(reference)?.toISOString()).toBe(theirs);
  });
});

describe('brute-force minute scan on a sample', () => {
  it(`agrees on ${ORACLE_SAMPLE} DST cases`, () => {
    const mismatches: string[] = [];
    for (const { expression, timezone, reference } of dstCases().slice(0, ORACLE_SAMPLE)) {
      const schedule = parseCron(expression, { timezone });
      const oracle = new MinuteScan(schedule);
      const expected = [oracle.next(reference), oracle.previous(reference)];
      const actual = [nextFireTime(schedule, new Date(reference)), previousFireTime(schedule, new Date(reference))].map(
        (time) => time?.getTime() ?? null,
      );
      if (expected[0] !== actual[0] || expected[1] !== actual[1]) {
        mismatches.push(
          `${timezone} "${expression}" at ${new Date(reference).toISOString()}: ours ${actual.map(isoOrNull)}, scan ${expected.map(isoOrNull)}`,
        );
      }
    }
    expect(mismatches).toEqual([]);
  });
});

/**
 * The DST rules applied minute by minute, from Intl's local time of each instant: an interval job
 * fires at every instant whose wall time matches; a fixed-time job at the first instant showing a
 * matching wall time, and at the end of a gap that skipped a matching wall time of the same day.
 */
class MinuteScan {
  private readonly format: Intl.DateTimeFormat;

  constructor(private readonly schedule: CronSchedule) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: schedule.timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
  }

  next(after: number): number | null {
    const first = Math.floor(after / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    for (let instant = first; instant < first + ORACLE_SCAN_MINUTES * MINUTE_MS; instant += MINUTE_MS) {
      if (this.fires(instant)) return instant;
    }
    return null;
  }

  previous(atOrBefore: number): number | null {
    const last = Math.floor(atOrBefore / MINUTE_MS) * MINUTE_MS;
    for (let instant = last; instant > last - ORACLE_SCAN_MINUTES * MINUTE_MS; instant -= MINUTE_MS) {
      if (this.fires(instant)) return instant;
    }
    return null;
  }

  private fires(instant: number): boolean {
    const wall = this.wallTime(instant);
    const offset = wall - instant;
    if (this.matches(wall)) {
      if (!this.schedule.fixedTime) return true;
      const earlierOffset = this.wallTime(instant - DAY_MS) - (instant - DAY_MS);
      const earlier = instant - (earlierOffset - offset);
      return !(earlierOffset > offset && this.wallTime(earlier) === wall);
    }
    if (!this.schedule.fixedTime) return false;
    const offsetBefore = this.wallTime(instant - MINUTE_MS) - (instant - MINUTE_MS);
    for (let skipped = instant + offsetBefore; skipped < wall; skipped += MINUTE_MS) {
      if (Math.floor(skipped / DAY_MS) === Math.floor(wall / DAY_MS) && this.matches(skipped)) return true;
    }
    return false;
  }

  /** Local time as milliseconds of the wall clock, from Intl's formatted "M/D/Y, h:m". */
  private wallTime(instant: number): number {
    const [month = 0, day = 0, year = 0, hour = 0, minute = 0] = (this.format.format(instant).match(/\d+/g) ?? []).map(
      Number,
    );
    return Date.UTC(year, month - 1, day, hour % 24, minute);
  }

  private matches(wall: number): boolean {
    const date = new Date(wall);
    const { minutes, hours, daysOfMonth, months, daysOfWeek, dayOfMonthRestricted, dayOfWeekRestricted } =
      this.schedule;
    const dayOfMonth = daysOfMonth.includes(date.getUTCDate());
    const dayOfWeek = daysOfWeek.includes(date.getUTCDay());
    const day = dayOfMonthRestricted && dayOfWeekRestricted ? dayOfMonth || dayOfWeek : dayOfMonth && dayOfWeek;
    return (
      minutes.includes(date.getUTCMinutes()) &&
      hours.includes(date.getUTCHours()) &&
      months.includes(date.getUTCMonth() + 1) &&
      day
    );
  }
}

function isoOrNull(time: Date | number | string | null): string | null {
  if (time === null) return null;
  return typeof time === 'string' ? time : new Date(time).toISOString();
}
