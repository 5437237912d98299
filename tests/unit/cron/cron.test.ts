import { describe, expect, it } from 'vitest';
import {
  CronParseError,
  CronTimeRangeError,
  CronTimeZoneError,
  nextFireTime,
  parseCron,
  previousFireTime,
  shouldRunNow,
} from '../../../src/lib/cron/cron.ts';

/** Sunday 2026-03-01, 02:59 UTC (03:59 in Berlin, 08:29 in Kolkata). */
const T0 = new Date('2026-03-01T02:59:00Z');
const MINUTE_MS = 60_000;

describe('nextFireTime and previousFireTime: every syntax form', () => {
  it.each([
    // [expression, zone, next after T0, previous at or before T0]
    ['* * * * *', 'UTC', '2026-03-01T03:00:00Z', '2026-03-01T02:59:00Z'],
    ['0 3 * * *', 'UTC', '2026-03-01T03:00:00Z', '2026-02-28T03:00:00Z'],
    ['*/15 * * * *', 'UTC', '2026-03-01T03:00:00Z', '2026-03-01T02:45:00Z'],
    ['10-20/5 * * * *', 'UTC', '2026-03-01T03:10:00Z', '2026-03-01T02:20:00Z'],
    ['5/20 * * * *', 'UTC', '2026-03-01T03:05:00Z', '2026-03-01T02:45:00Z'],
    ['0 */6 * * *', 'UTC', '2026-03-01T06:00:00Z', '2026-03-01T00:00:00Z'],
    ['0,30 1,4 * * *', 'UTC', '2026-03-01T04:00:00Z', '2026-03-01T01:30:00Z'],
    ['0 0 * * 1-5', 'UTC', '2026-03-02T00:00:00Z', '2026-02-27T00:00:00Z'],
    ['0 0 * * mon-fri', 'UTC', '2026-03-02T00:00:00Z', '2026-02-27T00:00:00Z'],
    ['0 0 * * 7', 'UTC', '2026-03-08T00:00:00Z', '2026-03-01T00:00:00Z'],
    ['0 0 * * sat-sun', 'UTC', '2026-03-07T00:00:00Z', '2026-03-01T00:00:00Z'],
    ['0 0 * * 5/1', 'UTC', '2026-03-06T00:00:00Z', '2026-03-01T00:00:00Z'],
    ['0 12 * feb,MAR sun', 'UTC', '2026-03-01T12:00:00Z', '2026-02-22T12:00:00Z'],
    ['0 0 1 * *', 'UTC', '2026-04-01T00:00:00Z', '2026-03-01T00:00:00Z'],
    ['0 0 31 * *', 'UTC', '2026-03-31T00:00:00Z', '2026-01-31T00:00:00Z'],
    ['@yearly', 'UTC', '2027-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
    ['@hourly', 'UTC', '2026-03-01T03:00:00Z', '2026-03-01T02:00:00Z'],
    ['0 0 29 2 *', 'UTC', '2028-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['59 23 31 12 *', 'UTC', '2026-12-31T23:59:00Z', '2025-12-31T23:59:00Z'],
    // Vixie: both day fields restricted, so the 13th OR a Friday.
    ['0 0 13 * 5', 'UTC', '2026-03-06T00:00:00Z', '2026-02-27T00:00:00Z'],
    // Vixie: "*/2" starts with "*", so day-of-month is unrestricted and both must match: odd days that are Mondays.
    ['0 0 */2 * 1', 'UTC', '2026-03-09T00:00:00Z', '2026-02-23T00:00:00Z'],
    // Feb 29 on a Sunday: AND, because "*/7" starts with "*".
    ['0 0 29 2 */7', 'UTC', '2032-02-29T00:00:00Z', '2004-02-29T00:00:00Z'],
    ['0 0 30 2 *', 'UTC', null, null],
    ['0 0 31 4,6,9,11 *', 'UTC', null, null],
    ['0 3 * * *', 'Europe/Berlin', '2026-03-02T02:00:00Z', '2026-03-01T02:00:00Z'],
    ['0 3 * * *', 'Asia/Kolkata', '2026-03-01T21:30:00Z', '2026-02-28T21:30:00Z'],
    ['0 0 * * *', 'Pacific/Chatham', '2026-03-01T10:15:00Z', '2026-02-28T10:15:00Z'],
  ])('%j in %s', (expression, timezone, next, previous) => {
    expect(iso(nextFireTime(expression, T0, { timezone }))).toBe(next && new Date(next).toISOString());
    expect(iso(previousFireTime(expression, T0, { timezone }))).toBe(previous && new Date(previous).toISOString());
  });

  it('accepts a parsed schedule, which carries its own time zone', () => {
    const schedule = parseCron('0 3 * * *', { timezone: 'Europe/Berlin' });
    expect(iso(nextFireTime(schedule, T0))).toBe('2026-03-02T02:00:00.000Z');
    expect(iso(previousFireTime(schedule, T0))).toBe('2026-03-01T02:00:00.000Z');
  });
});

describe('minute resolution', () => {
  const FIRE = new Date('2026-03-01T03:00:00Z');
  it.each([
    // [reference, next after it, previous at or before it]
    ['2026-03-01T02:59:30Z', '2026-03-01T03:00:00Z', '2026-03-01T02:45:00Z'],
    ['2026-03-01T03:00:00Z', '2026-03-01T03:15:00Z', '2026-03-01T03:00:00Z'],
    ['2026-03-01T03:00:00.001Z', '2026-03-01T03:15:00Z', '2026-03-01T03:00:00Z'],
    ['2026-03-01T03:14:59.999Z', '2026-03-01T03:15:00Z', '2026-03-01T03:00:00Z'],
  ])('*/15 around %s', (reference, next, previous) => {
    expect(iso(nextFireTime('*/15 * * * *', new Date(reference)))).toBe(new Date(next).toISOString());
    expect(iso(previousFireTime('*/15 * * * *', new Date(reference)))).toBe(new Date(previous).toISOString());
  });

  it('never returns the reference itself as the next fire time', () => {
    expect(nextFireTime('0 3 * * *', FIRE)?.getTime()).toBe(FIRE.getTime() + 24 * 60 * MINUTE_MS);
  });
});

describe('daylight saving time', () => {
  // Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on March 29 (01:00Z); 03:00 CEST -> 02:00 CET on October 25 (01:00Z).
  const BERLIN = { timezone: 'Europe/Berlin' };
  const BEFORE_SPRING = new Date('2026-03-28T12:00:00Z');
  const BEFORE_AUTUMN = new Date('2026-10-24T12:00:00Z');

  it.each([
    // [expression, zone, start, the next fire times from start]
    // Fixed-time jobs: a skipped time fires once when the clock resumes (03:00 CEST = 01:00Z).
    ['30 2 * * *', BERLIN, BEFORE_SPRING, ['2026-03-29T01:00:00Z', '2026-03-30T00:30:00Z']],
    ['0,30 2 * * *', BERLIN, BEFORE_SPRING, ['2026-03-29T01:00:00Z', '2026-03-30T00:00:00Z', '2026-03-30T00:30:00Z']],
    ['30 2,14 * * *', BERLIN, BEFORE_SPRING, ['2026-03-28T13:30:00Z', '2026-03-29T01:00:00Z', '2026-03-29T12:30:00Z']],
    // Interval jobs: a skipped time does not fire; hourly jobs stay an hour apart in real time.
    ['*/30 2 * * *', BERLIN, BEFORE_SPRING, ['2026-03-30T00:00:00Z', '2026-03-30T00:30:00Z']],
    [
      '0 * * * *',
      BERLIN,
      new Date('2026-03-28T23:30:00Z'),
      ['2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z', '2026-03-29T02:00:00Z'],
    ],
    // Fixed-time jobs: a repeated time fires at its first occurrence only.
    ['30 2 * * *', BERLIN, BEFORE_AUTUMN, ['2026-10-25T00:30:00Z', '2026-10-26T01:30:00Z']],
    ['0,30 2 * * *', BERLIN, BEFORE_AUTUMN, ['2026-10-25T00:00:00Z', '2026-10-25T00:30:00Z', '2026-10-26T01:00:00Z']],
    // Interval jobs: a repeated time fires in both passes, every 30 minutes of real time.
    [
      '*/30 2 * * *',
      BERLIN,
      BEFORE_AUTUMN,
      [
        '2026-10-25T00:00:00Z',
        '2026-10-25T00:30:00Z',
        '2026-10-25T01:00:00Z',
        '2026-10-25T01:30:00Z',
        '2026-10-26T01:00:00Z',
      ],
    ],
    [
      '30 * * * *',
      BERLIN,
      new Date('2026-10-24T23:45:00Z'),
      ['2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z', '2026-10-25T02:30:00Z'],
    ],
    // America/New_York: 02:00 EST -> 03:00 EDT on March 8 (07:00Z), 02:00 EDT -> 01:00 EST on November 1 (06:00Z).
    [
      '30 2 * * *',
      { timezone: 'America/New_York' },
      new Date('2026-03-07T12:00:00Z'),
      ['2026-03-08T07:00:00Z', '2026-03-09T06:30:00Z'],
    ],
    [
      '30 1 * * *',
      { timezone: 'America/New_York' },
      new Date('2026-10-31T12:00:00Z'),
      ['2026-11-01T05:30:00Z', '2026-11-02T06:30:00Z'],
    ],
    // Australia/Lord_Howe moves by 30 minutes: 02:00 -> 02:30 on October 4 (15:30Z), 02:00 -> 01:30 on April 5 (15:00Z).
    [
      '15 2 * * *',
      { timezone: 'Australia/Lord_Howe' },
      new Date('2026-10-02T12:00:00Z'),
      ['2026-10-02T15:45:00Z', '2026-10-03T15:30:00Z', '2026-10-04T15:15:00Z'],
    ],
    [
      '45 1 * * *',
      { timezone: 'Australia/Lord_Howe' },
      new Date('2026-04-04T00:00:00Z'),
      ['2026-04-04T14:45:00Z', '2026-04-05T15:15:00Z'],
    ],
    [
      '*/30 1 * * *',
      { timezone: 'Australia/Lord_Howe' },
      new Date('2026-04-04T14:00:00Z'),
      ['2026-04-04T14:30:00Z', '2026-04-04T15:00:00Z', '2026-04-05T14:30:00Z'],
    ],
    // Pacific/Apia skipped December 30, 2011 (23:59 on the 29th was followed by 00:00 on the 31st): the
    // 03:00 of the 30th would resume on another day, so it does not fire.
    [
      '0 3 * * *',
      { timezone: 'Pacific/Apia' },
      new Date('2011-12-29T12:00:00Z'),
      ['2011-12-29T13:00:00Z', '2011-12-30T13:00:00Z'],
    ],
  ])('%j in %o from %s', (expression, options, start, expected) => {
    const fireTimes: string[] = [];
    let after: Date | null = start;
    for (let index = 0; index < expected.length && after !== null; index++) {
      after = nextFireTime(expression, after, options);
      fireTimes.push(iso(after) ?? 'null');
    }
    expect(fireTimes).toEqual(expected.map((time) => new Date(time).toISOString()));
    // The same fire times, walking backwards from the last one.
    const backwards: string[] = [];
    let atOrBefore: Date | null = new Date(expected[expected.length - 1] ?? 0);
    for (let index = 0; index < expected.length && atOrBefore !== null; index++) {
      const previous: Date | null = previousFireTime(expression, atOrBefore, options);
      backwards.unshift(iso(previous) ?? 'null');
      atOrBefore = previous === null ? null : new Date(previous.getTime() - 1);
    }
    expect(backwards).toEqual(expected.map((time) => new Date(time).toISOString()));
  });

  it.each([
    // [expression, reference, next after it, previous at or before it]
    // In the first pass of the repeated hour (02:40 CEST) the next */30 is 02:00 CET of the second pass.
    ['*/30 2 * * *', '2026-10-25T00:40:00Z', '2026-10-25T01:00:00Z', '2026-10-25T00:30:00Z'],
    // In the second pass (02:10 CET), the fixed 02:50 already ran in the first pass.
    ['50 2 * * *', '2026-10-25T01:10:00Z', '2026-10-26T01:50:00Z', '2026-10-25T00:50:00Z'],
    ['*/50 2 * * *', '2026-10-25T01:10:00Z', '2026-10-25T01:50:00Z', '2026-10-25T01:00:00Z'],
    ['30 2 * * *', '2026-10-25T01:45:00Z', '2026-10-26T01:30:00Z', '2026-10-25T00:30:00Z'],
    // Right at the spring-forward instant.
    ['30 2 * * *', '2026-03-29T01:00:00Z', '2026-03-30T00:30:00Z', '2026-03-29T01:00:00Z'],
    ['30 2 * * *', '2026-03-29T00:59:59Z', '2026-03-29T01:00:00Z', '2026-03-28T01:30:00Z'],
  ])('%j around %s', (expression, reference, next, previous) => {
    expect(iso(nextFireTime(expression, new Date(reference), BERLIN))).toBe(new Date(next).toISOString());
    expect(iso(previousFireTime(expression, new Date(reference), BERLIN))).toBe(new Date(previous).toISOString());
  });
});

describe('shouldRunNow', () => {
  const LAST_RUN = new Date('2026-03-01T03:00:00Z');
  it.each([
    // [expression, last run, now, expected]
    ['0 3 * * *', null, T0, true],
    ['0 0 30 2 *', null, T0, true],
    ['0 3 * * *', LAST_RUN, new Date('2026-03-02T02:59:59Z'), false],
    ['0 3 * * *', LAST_RUN, new Date('2026-03-02T03:00:00Z'), true],
    ['0 3 * * *', LAST_RUN, new Date('2026-03-09T12:00:00Z'), true],
    ['0 3 * * *', LAST_RUN, LAST_RUN, false],
    ['0 3 * * *', LAST_RUN, new Date('2026-02-01T00:00:00Z'), false],
    ['0 0 30 2 *', LAST_RUN, new Date('2030-01-01T00:00:00Z'), false],
  ])('%j, last run %s, now %s -> %s', (expression, lastRunAt, now, expected) => {
    expect(shouldRunNow(expression, lastRunAt, now)).toBe(expected);
  });

  it('runs a job once after an outage over many fire times: the next check after that run is false', () => {
    const backAt = new Date('2026-03-05T10:00:00Z');
    expect(shouldRunNow('*/5 * * * *', LAST_RUN, backAt)).toBe(true);
    expect(shouldRunNow('*/5 * * * *', backAt, new Date(backAt.getTime() + MINUTE_MS))).toBe(false);
  });

  it('reads the expression in the given zone', () => {
    const now = new Date('2026-03-02T02:30:00Z');
    expect(shouldRunNow('0 3 * * *', LAST_RUN, now, { timezone: 'Europe/Berlin' })).toBe(true);
    expect(shouldRunNow('0 3 * * *', LAST_RUN, now)).toBe(false);
  });
});

describe('errors and limits', () => {
  it.each([
    ['nextFireTime', () => nextFireTime('61 * * * *', T0)],
    ['previousFireTime', () => previousFireTime('61 * * * *', T0)],
    ['shouldRunNow', () => shouldRunNow('61 * * * *', null, T0)],
  ])('%s throws CronParseError for a bad expression', (_name, call) => {
    expect(call).toThrow(CronParseError);
    expect(call).toThrow('cron: minute "61" is out of range 0-59 in "61 * * * *"');
  });

  it('throws CronTimeZoneError for an unknown zone', () => {
    expect(() => nextFireTime('0 3 * * *', T0, { timezone: 'Mars/Base' })).toThrow(CronTimeZoneError);
  });

  it.each([
    ['an invalid date', new Date(Number.NaN)],
    ['year 0', new Date('0000-06-01T00:00:00Z')],
    ['year 10000', new Date('+010000-01-01T00:00:00Z')],
  ])('throws CronTimeRangeError for %s', (_name, time) => {
    expect(() => nextFireTime('0 3 * * *', time)).toThrow(CronTimeRangeError);
    expect(() => shouldRunNow('0 3 * * *', null, time)).toThrow(CronTimeRangeError);
  });

  it('finds nothing after the last supported year or before the first', () => {
    expect(nextFireTime('0 0 1 1 *', new Date('9999-06-01T00:00:00Z'))).toBeNull();
    expect(previousFireTime('0 0 31 12 *', new Date('0001-06-01T00:00:00Z'))).toBeNull();
    expect(iso(previousFireTime('0 0 1 1 *', new Date('0001-06-01T00:00:00Z')))).toBe('0001-01-01T00:00:00.000Z');
  });
});

describe('properties', () => {
  const EXPRESSIONS = [
    '*/7 */5 */3 * 1-5',
    '30 2 * * *',
    '*/20 1-3 * * *',
    '0 0 29 2 *',
    '15 2,3 * 3,10 0',
    '@hourly',
    '0 0 13 * 5',
  ];
  const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe'];
  const REFERENCES = [
    '2026-03-29T00:40:00Z',
    '2026-10-25T00:59:30Z',
    '2026-03-08T06:30:00Z',
    '2026-11-01T05:15:00Z',
    '2026-04-04T14:45:00Z',
    '2027-06-15T12:00:00Z',
  ].map((time) => new Date(time));
  const cases = EXPRESSIONS.flatMap((expression) => ZONES.map((timezone) => [expression, timezone] as const));

  it.each(cases)('%j in %s: fire times strictly increase and previous/next agree', (expression, timezone) => {
    for (const reference of REFERENCES) {
      let after = reference;
      for (let step = 0; step < 20; step++) {
        const next = nextFireTime(expression, after, { timezone });
        if (next === null) break;
        expect(next.getTime()).toBeGreaterThan(after.getTime());
        expect(previousFireTime(expression, next, { timezone })?.getTime()).toBe(next.getTime());
        expect(
          previousFireTime(expression, new Date(next.getTime() - 1), { timezone })?.getTime() ?? -Infinity,
        ).toBeLessThanOrEqual(after.getTime());
        after = next;
      }
    }
  });

  it.each(cases)('%j in %s: shouldRunNow(last, now) equals nextFireTime(last) <= now', (expression, timezone) => {
    for (const lastRunAt of REFERENCES) {
      const next = nextFireTime(expression, lastRunAt, { timezone });
      for (const offsetMinutes of [0, 1, 30, 61, 60 * 24, 60 * 24 * 400]) {
        const now = new Date(lastRunAt.getTime() + offsetMinutes * MINUTE_MS);
        expect(shouldRunNow(expression, lastRunAt, now, { timezone })).toBe(
          next !== null && next.getTime() <= now.getTime(),
        );
      }
    }
  });
});

function iso(time: Date | null): string | null {
  return time === null ? null : time.toISOString();
}
