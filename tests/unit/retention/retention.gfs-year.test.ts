import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionCandidate } from '../../../src/lib/retention/retention.ts';

// The acceptance test of GFS retention: a year of daily backups at 03:00 UTC, 2025-03-01 to 2026-02-28 (365 of them),
// planned the morning after the last one with keep-last 1 and GFS 7/4/6. The expected sets are written out by hand
// from a calendar, not computed: 2026-02-28 is a Saturday, so its ISO week runs Mon 02-23 to Sun 03-01 and the three
// weeks before it end on Sundays 02-22, 02-15 and 02-08.

const FIRST_DAY = Date.parse('2025-03-01T03:00:00Z');
const DAY_MS = 86_400_000;
const DAYS_IN_YEAR = 365;
const NOW = new Date('2026-02-28T09:00:00Z');
const GFS = { keepLast: 1, daily: 7, weekly: 4, monthly: 6 };

/** One SUCCEEDED backup a day; the id is its UTC date. */
const year: RetentionCandidate[] = Array.from({ length: DAYS_IN_YEAR }, (_, index) => {
  const startedAt = new Date(FIRST_DAY + index * DAY_MS);
  return { id: startedAt.toISOString().slice(0, 10), status: 'SUCCEEDED', startedAt, verifiedAt: null, pinned: false };
});

function keptIds(timeZone: string): string[] {
  return planRetention({ backups: year, policy: { ...GFS, timeZone }, now: NOW }).keep.map(
    (decision) => decision.record.id,
  );
}

describe('GFS 7/4/6 over a year of daily backups', () => {
  it('has the year it claims', () => {
    expect(year).toHaveLength(DAYS_IN_YEAR);
    expect([year[0]!.id, year.at(-1)!.id]).toEqual(['2025-03-01', '2026-02-28']);
  });

  it('keeps exactly 7 days, the last backup of 4 ISO weeks and of 6 months, read in UTC', () => {
    expect(keptIds('UTC')).toEqual([
      // daily: the last 7 days (the newest, 02-28, is also the newest of its week and month)
      '2026-02-28',
      '2026-02-27',
      '2026-02-26',
      '2026-02-25',
      '2026-02-24',
      '2026-02-23',
      '2026-02-22',
      // weekly: 02-28 and 02-22 above, then the Sundays of the two weeks before
      '2026-02-15',
      '2026-02-08',
      // monthly: 02-28 above, then the last day of each month before
      '2026-01-31',
      '2025-12-31',
      '2025-11-30',
      '2025-10-31',
      '2025-09-30',
    ]);
  });

  it('tells why each is kept', () => {
    const reasons = Object.fromEntries(
      planRetention({ backups: year, policy: GFS, now: NOW }).keep.map((decision) => [
        decision.record.id,
        decision.reasons.join(' '),
      ]),
    );
    expect(reasons).toEqual({
      '2026-02-28': 'newest keep-last daily weekly monthly',
      '2026-02-27': 'daily',
      '2026-02-26': 'daily',
      '2026-02-25': 'daily',
      '2026-02-24': 'daily',
      '2026-02-23': 'daily',
      '2026-02-22': 'daily weekly',
      '2026-02-15': 'weekly',
      '2026-02-08': 'weekly',
      '2026-01-31': 'monthly',
      '2025-12-31': 'monthly',
      '2025-11-30': 'monthly',
      '2025-10-31': 'monthly',
      '2025-09-30': 'monthly',
    });
  });

  it('reads days, weeks and months in the deployment time zone: in Los Angeles 03:00 UTC is the evening before', () => {
    // Each backup's local date is the UTC date minus one (19:00 PST / 20:00 PDT), so the newest of local January
    // is the backup of 2026-02-01 UTC, and the newest of local ISO week Mon 02-16 .. Sun 02-22 is 02-23 UTC.
    expect(keptIds('America/Los_Angeles')).toEqual([
      '2026-02-28',
      '2026-02-27',
      '2026-02-26',
      '2026-02-25',
      '2026-02-24',
      '2026-02-23',
      '2026-02-22',
      '2026-02-16',
      '2026-02-09',
      '2026-02-01',
      '2026-01-01',
      '2025-12-01',
      '2025-11-01',
      '2025-10-01',
    ]);
  });

  it('deletes every other backup of the year, each as kept by no rule', () => {
    const plan = planRetention({ backups: year, policy: GFS, now: NOW });
    expect(plan.deleteBackups).toHaveLength(DAYS_IN_YEAR - 14);
    expect(new Set(plan.deleteBackups.map((decision) => decision.reason))).toEqual(new Set(['no-keep-rule']));
    expect(plan.deleteFailedRecords).toEqual([]);
  });
});
