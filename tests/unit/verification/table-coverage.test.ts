import { describe, expect, it } from 'vitest';
import { assessTableCoverage } from '../../../src/lib/verification/table-coverage.ts';

// Whether a dump holds too few of the tables the database had just before its export.

describe('assessTableCoverage', () => {
  it.each([
    { dump: 6, live: 6, short: false, why: 'every table' },
    { dump: 7, live: 6, short: false, why: 'a table created between the count and the dump' },
    { dump: 5, live: 6, short: true, why: 'one table missing' },
    { dump: 999, live: 1_000, short: true, why: 'one table of many missing' },
    { dump: 0, live: 3, short: true, why: 'no table at all' },
    { dump: 0, live: 0, short: false, why: 'an empty database' },
  ])('$why ($dump of $live): short $short', ({ dump, live, short }) => {
    expect(assessTableCoverage(dump, live).short).toBe(short);
  });

  it('says how many of how many, and the rule, with counts only', () => {
    expect(assessTableCoverage(1, 6)).toEqual({
      short: true,
      reason:
        'the dump holds 1 table of the 6 the database had when the export began (16.6%); any missing table counts as suspicious',
    });
  });

  it('never rounds a short dump up to 100%', () => {
    const result = assessTableCoverage(9_999, 10_000);
    expect(result.short && result.reason).toContain('(99.9%)');
  });

  it('honours a configured percentage, and 0 turns it off', () => {
    expect(assessTableCoverage(9, 10, { minPercent: 90 }).short).toBe(false);
    expect(assessTableCoverage(8, 10, { minPercent: 90 })).toEqual({
      short: true,
      reason:
        'the dump holds 8 tables of the 10 the database had when the export began (80%); under 90% counts as suspicious',
    });
    expect(assessTableCoverage(0, 10, { minPercent: 0 }).short).toBe(false);
  });
});
