import { describe, expect, it } from 'vitest';
import {
  compareRestoreCounts,
  describeShrinkage,
  type RestoreCounts,
} from '../../../src/lib/restore/test-restore-compare.ts';
import { isTestRestoreDue, type TestRestoreSchedule } from '../../../src/lib/restore/test-restore-due.ts';

// The pure rules of scheduled test-restores: when one is due, and when the counts of two of them say the data shrank.

const tables = (entries: Record<string, number>): RestoreCounts => ({ tables: entries });
const keys = (entries: Record<string, number>): RestoreCounts => ({ keys: entries });

describe('compareRestoreCounts', () => {
  it.each([
    { name: 'same counts', previous: tables({ 'public.a': 100 }), current: tables({ 'public.a': 100 }), findings: [] },
    {
      name: 'growth and a new table',
      previous: tables({ 'public.a': 100 }),
      current: tables({ 'public.a': 150, 'public.b': 3 }),
      findings: [],
    },
    {
      name: 'a drop within the 10% tolerance',
      previous: tables({ 'public.a': 1000 }),
      current: tables({ 'public.a': 901 }),
      findings: [],
    },
    {
      name: 'a drop beyond it',
      previous: tables({ 'public.a': 1000 }),
      current: tables({ 'public.a': 899 }),
      findings: [{ name: 'public.a', previous: 1000, current: 899, change: 'shrank' }],
    },
    {
      name: 'a table that disappeared',
      previous: tables({ 'public.a': 5, 'public.b': 7 }),
      current: tables({ 'public.b': 7 }),
      findings: [{ name: 'public.a', previous: 5, current: null, change: 'disappeared' }],
    },
    {
      name: 'an empty table that disappeared',
      previous: tables({ 'public.a': 0 }),
      current: tables({}),
      findings: [{ name: 'public.a', previous: 0, current: null, change: 'disappeared' }],
    },
    {
      name: 'a small table emptied (any drop to zero)',
      previous: tables({ 'public.a': 3 }),
      current: tables({ 'public.a': 0 }),
      findings: [{ name: 'public.a', previous: 3, current: 0, change: 'emptied' }],
    },
    {
      name: 'an empty table staying empty',
      previous: tables({ 'public.a': 0 }),
      current: tables({ 'public.a': 0 }),
      findings: [],
    },
    {
      name: 'a small table losing a few rows (below the minimum drop)',
      previous: tables({ 'public.a': 5 }),
      current: tables({ 'public.a': 1 }),
      findings: [],
    },
    {
      name: 'Redis keys shrinking',
      previous: keys({ db0: 1000, db1: 10 }),
      current: keys({ db0: 200, db1: 10 }),
      findings: [{ name: 'db0', previous: 1000, current: 200, change: 'shrank' }],
    },
    {
      name: 'a Redis database gone',
      previous: keys({ db0: 50, db3: 40 }),
      current: keys({ db0: 50 }),
      findings: [{ name: 'db3', previous: 40, current: null, change: 'disappeared' }],
    },
  ])('$name', ({ previous, current, findings }) => {
    const comparison = compareRestoreCounts(previous, current);
    expect(comparison).toEqual({
      comparable: true,
      unit: 'tables' in current ? 'rows' : 'keys',
      shrank: findings,
      compared: Object.keys('tables' in previous ? previous.tables : previous.keys).length,
    });
  });

  it('honours a custom tolerance and minimum drop', () => {
    const previous = tables({ 'public.a': 100 });
    expect(compareRestoreCounts(previous, tables({ 'public.a': 60 }), { shrinkTolerance: 0.5 })).toMatchObject({
      shrank: [],
    });
    expect(compareRestoreCounts(previous, tables({ 'public.a': 40 }), { shrinkTolerance: 0.5 })).toMatchObject({
      shrank: [{ change: 'shrank' }],
    });
    expect(
      compareRestoreCounts(tables({ 'public.a': 5 }), tables({ 'public.a': 4 }), {
        shrinkTolerance: 0,
        minimumDrop: 0,
      }),
    ).toMatchObject({ shrank: [{ current: 4 }] });
    expect(
      compareRestoreCounts(tables({ 'public.a': 5 }), tables({ 'public.a': 5 }), {
        shrinkTolerance: 0,
        minimumDrop: 0,
      }),
    ).toMatchObject({ shrank: [] });
  });

  it('has nothing to compare on the first run or across kinds', () => {
    expect(compareRestoreCounts(null, tables({ 'public.a': 1 }))).toEqual({
      comparable: false,
      reason: expect.stringContaining('first test-restore'),
    });
    expect(compareRestoreCounts(keys({ db0: 1 }), tables({ 'public.a': 1 }))).toEqual({
      comparable: false,
      reason: expect.stringContaining('tables against keys'),
    });
  });

  it('refuses a tolerance outside 0..1', () => {
    expect(() => compareRestoreCounts(null, tables({}), { shrinkTolerance: 1.5 })).toThrow(/fraction from 0 to 1/);
  });

  it('describes the findings with their figures', () => {
    const comparison = compareRestoreCounts(tables({ 'public.a': 1200, 'public.b': 50 }), tables({ 'public.a': 30 }));
    if (!comparison.comparable) throw new Error('expected comparable counts');
    expect(describeShrinkage(comparison.shrank, comparison.unit)).toBe(
      'public.a: 1200 → 30 rows (-97.5%); public.b disappeared (it had 50 rows)',
    );
  });
});

describe('isTestRestoreDue', () => {
  const WEEKLY_SUNDAY_3AM = '0 3 * * 0';
  /** A Sunday. */
  const SUNDAY_0310_UTC = new Date('2026-03-01T03:10:00Z');
  const base: TestRestoreSchedule = {
    status: 'RUNNING',
    testRestoreSchedule: WEEKLY_SUNDAY_3AM,
    backupTimezone: 'UTC',
    lastTestRestoreAt: null,
  };

  it.each([
    {
      name: 'no schedule',
      deployment: { ...base, testRestoreSchedule: null },
      now: SUNDAY_0310_UTC,
      due: false,
      code: 'NO_SCHEDULE',
    },
    {
      name: 'invalid schedule',
      deployment: { ...base, testRestoreSchedule: '61 * * * *' },
      now: SUNDAY_0310_UTC,
      due: false,
      code: 'INVALID_SCHEDULE',
    },
    {
      name: 'a schedule that never fires',
      deployment: { ...base, testRestoreSchedule: '0 3 30 2 *' },
      now: SUNDAY_0310_UTC,
      due: false,
      code: 'INVALID_SCHEDULE',
    },
    {
      name: 'deployment not running',
      deployment: { ...base, status: 'FAILED' },
      now: SUNDAY_0310_UTC,
      due: false,
      code: 'DEPLOYMENT_NOT_RUNNING',
    },
    { name: 'never ran: due at once', deployment: base, now: new Date('2026-03-04T12:00:00Z'), due: true },
    {
      name: 'fired after the last run',
      deployment: { ...base, lastTestRestoreAt: new Date('2026-02-22T03:05:00Z') },
      now: SUNDAY_0310_UTC,
      due: true,
    },
    {
      name: 'ran after the fire time',
      deployment: { ...base, lastTestRestoreAt: new Date('2026-03-01T03:05:00Z') },
      now: SUNDAY_0310_UTC,
      due: false,
      code: 'NOT_DUE',
    },
    {
      name: "before this week's fire time",
      deployment: { ...base, lastTestRestoreAt: new Date('2026-02-22T03:05:00Z') },
      now: new Date('2026-03-01T02:59:00Z'),
      due: false,
      code: 'NOT_DUE',
    },
    // 03:00 in Berlin is 02:00 UTC in winter: at 02:30 UTC it has fired.
    {
      name: 'read in the backup time zone',
      deployment: { ...base, backupTimezone: 'Europe/Berlin', lastTestRestoreAt: new Date('2026-02-22T03:05:00Z') },
      now: new Date('2026-03-01T02:30:00Z'),
      due: true,
    },
  ])('$name', ({ deployment, now, due, code }) => {
    const decision = isTestRestoreDue(deployment, now);
    expect(decision.due).toBe(due);
    if (!decision.due) expect(decision.code).toBe(code);
    expect(decision.reason.length).toBeGreaterThan(10);
  });
});
