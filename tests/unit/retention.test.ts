import { describe, expect, it } from 'vitest';
import { InvalidRetentionError, planRetention, type RetentionCandidate } from '../../src/lib/ops-agent/retention.ts';

const T0 = Date.parse('2026-03-01T03:00:00Z');
const HOUR = 3_600_000;

/** Records from a compact history string, oldest first: S = succeeded, F = failed, R = running. */
function history(pattern: string): RetentionCandidate[] {
  return [...pattern].map((letter, index) => ({
    id: `r${String(index).padStart(2, '0')}`,
    status: letter === 'S' ? 'SUCCEEDED' : letter === 'F' ? 'FAILED' : 'RUNNING',
    startedAt: new Date(T0 + index * HOUR),
    path: letter === 'S' ? `/backups/w/d/${index}.dump` : null,
  }));
}

const ids = (records: RetentionCandidate[]) => records.map((record) => record.id).sort();

describe('planRetention', () => {
  it('keeps the newest 10 of 12 successful backups and deletes the 2 oldest', () => {
    const plan = planRetention(history('SSSSSSSSSSSS'), 10);
    expect(ids(plan.deleteBackups)).toEqual(['r00', 'r01']);
    expect(plan.keep).toHaveLength(10);
    expect(plan.deleteFailedRecords).toEqual([]);
  });

  it('never deletes the newest success, even when every newer backup failed', () => {
    const plan = planRetention(history('SSSFFFFFFFFFFFF'), 1);
    expect(ids(plan.deleteBackups)).toEqual(['r00', 'r01']);
    expect(plan.keep.map((r) => r.id)).toContain('r02');
    expect(plan.deleteFailedRecords).toEqual([]);
  });

  it('deletes failed records older than the oldest kept success, not newer ones', () => {
    const plan = planRetention(history('FSFSFSF'), 2);
    expect(ids(plan.deleteBackups)).toEqual(['r01']);
    expect(ids(plan.deleteFailedRecords)).toEqual(['r00', 'r02']);
    expect(ids(plan.keep)).toEqual(['r03', 'r04', 'r05', 'r06']);
  });

  it.each([
    ['no records', '', 3],
    ['fewer successes than keepCount', 'SFS', 5],
    ['only failures', 'FFFF', 1],
    ['only running', 'RR', 1],
  ])('deletes nothing with %s', (_label, pattern, keep) => {
    const plan = planRetention(history(pattern), keep);
    expect(plan.deleteBackups).toEqual([]);
    expect(plan.deleteFailedRecords).toEqual([]);
  });

  it('never touches RUNNING records', () => {
    const plan = planRetention(history('RSSSR'), 1);
    expect(plan.keep.map((r) => r.id)).toEqual(expect.arrayContaining(['r00', 'r04']));
  });

  it('is idempotent: planning the kept set again deletes nothing more', () => {
    const first = planRetention(history('FSSFSSSSFSSSSSS'), 10);
    const second = planRetention(first.keep, 10);
    expect(second.deleteBackups).toEqual([]);
    expect(second.deleteFailedRecords).toEqual([]);
  });

  it('does not depend on input order', () => {
    const records = history('SFSSFS');
    const shuffled = [records[3]!, records[0]!, records[5]!, records[1]!, records[4]!, records[2]!];
    expect(ids(planRetention(shuffled, 2).deleteBackups)).toEqual(ids(planRetention(records, 2).deleteBackups));
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses keepCount %s', (keep) => {
    expect(() => planRetention(history('SS'), keep)).toThrow(InvalidRetentionError);
    expect(() => planRetention(history('SS'), keep)).toThrow(/keepCount must be a whole number >= 1/);
  });
});
