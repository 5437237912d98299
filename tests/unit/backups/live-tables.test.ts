import { describe, expect, it } from 'vitest';
import { parseLiveTableCount } from '../../../src/lib/backups/live-tables.ts';

// What the recipes' live table counts print, read strictly: one whole number, or the coverage stays unknown.

describe('parseLiveTableCount', () => {
  it.each([
    { stdout: '6\n', count: 6 },
    { stdout: '0\n', count: 0 },
    { stdout: '  42  \r\n', count: 42 },
    { stdout: '9999999', count: 9_999_999 },
  ])('reads $stdout as $count', ({ stdout, count }) => {
    expect(parseLiveTableCount(stdout)).toEqual({ ok: true, count });
  });

  it.each([
    { stdout: '', why: 'nothing' },
    { stdout: '6\n7\n', why: 'two lines' },
    { stdout: '-1', why: 'a negative number' },
    { stdout: '6.0', why: 'a fraction' },
    { stdout: '10000000', why: 'more tables than any database has' },
    { stdout: 'count\n-----\n6', why: 'a table with a header' },
    { stdout: 'psql: error: connection refused', why: 'an error message' },
  ])('refuses $why', ({ stdout }) => {
    expect(parseLiveTableCount(stdout)).toEqual({ ok: false, problem: expect.stringContaining('not a whole number') });
  });

  it('shows at most the start of what it refused', () => {
    const result = parseLiveTableCount('x'.repeat(500));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem.length).toBeLessThan(120);
  });
});
