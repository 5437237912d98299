import { describe, expect, it } from 'vitest';
import { CronTimeZoneError, normalizeTimeZoneName, zoneClock } from '../../../src/lib/cron/cron-zone.ts';

const HOUR_MS = 3_600_000;
/** Wall-clock time as milliseconds since 1970-01-01T00:00 of the zone's clock. */
const wall = (localTime: string) => Date.parse(`${localTime}Z`);
const instant = (time: string) => Date.parse(time);

describe('normalizeTimeZoneName', () => {
  it.each([
    ['UTC', 'UTC'],
    ['Etc/UTC', 'UTC'],
    ['europe/berlin', 'Europe/Berlin'],
    ['Zulu', 'UTC'],
    ['US/Eastern', 'US/Eastern'],
    ['Asia/Kolkata', 'Asia/Kolkata'],
    ['asia/calcutta', 'Asia/Calcutta'],
  ])('%s -> %s', (name, normalized) => {
    expect(normalizeTimeZoneName(name)).toBe(normalized);
  });

  it.each(['Mars/Base', '', '+05:00'])('rejects %j', (name) => {
    expect(() => normalizeTimeZoneName(name)).toThrow(CronTimeZoneError);
    expect(() => normalizeTimeZoneName(name)).toThrow(`cron: unknown time zone "${name}"`);
  });
});

describe('zoneClock', () => {
  const berlin = zoneClock('Europe/Berlin');

  it.each([
    ['2026-01-15T12:00:00Z', 1],
    ['2026-03-29T00:59:59Z', 1],
    ['2026-03-29T01:00:00Z', 2],
    ['2026-10-25T00:59:59Z', 2],
    ['2026-10-25T01:00:00Z', 1],
    ['1850-01-01T00:00:00Z', 53 / 60 + 28 / 3600],
  ])('offset in Berlin at %s is %s h', (time, hours) => {
    expect(berlin.offsetAt(instant(time))).toBe(Math.round(hours * HOUR_MS));
  });

  it.each([
    ['2026-01-15T03:00:00', { kind: 'unique', instant: instant('2026-01-15T02:00:00Z') }],
    [
      '2026-03-29T02:30:00',
      { kind: 'skipped', resumesAt: instant('2026-03-29T01:00:00Z'), resumesAtWall: wall('2026-03-29T03:00:00') },
    ],
    ['2026-03-29T03:00:00', { kind: 'unique', instant: instant('2026-03-29T01:00:00Z') }],
    [
      '2026-10-25T02:30:00',
      { kind: 'repeated', first: instant('2026-10-25T00:30:00Z'), second: instant('2026-10-25T01:30:00Z') },
    ],
    ['2026-10-25T03:00:00', { kind: 'unique', instant: instant('2026-10-25T02:00:00Z') }],
  ])('resolves Berlin wall time %s', (localTime, resolution) => {
    expect(berlin.resolveWallTime(wall(localTime))).toEqual(resolution);
  });

  it('resolves a skipped whole day (Pacific/Apia, 2011-12-30)', () => {
    expect(zoneClock('Pacific/Apia').resolveWallTime(wall('2011-12-30T12:00:00'))).toEqual({
      kind: 'skipped',
      resumesAt: instant('2011-12-30T10:00:00Z'),
      resumesAtWall: wall('2011-12-31T00:00:00'),
    });
  });

  it('finds offset changes in a window', () => {
    expect(berlin.transitionIn(instant('2026-10-24T00:00:00Z'), instant('2026-10-26T00:00:00Z'))).toEqual({
      at: instant('2026-10-25T01:00:00Z'),
      offsetBefore: 2 * HOUR_MS,
      offsetAfter: HOUR_MS,
    });
    expect(berlin.transitionIn(instant('2026-10-25T01:00:00Z'), instant('2026-10-26T00:00:00Z'))).toBeNull();
  });

  it('treats UTC as a clock without changes', () => {
    const utc = zoneClock('Etc/UTC');
    expect(utc.hasTransitions).toBe(false);
    expect(utc.resolveWallTime(wall('2026-03-29T02:30:00'))).toEqual({
      kind: 'unique',
      instant: instant('2026-03-29T02:30:00Z'),
    });
  });
});
