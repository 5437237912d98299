import { describe, expect, it } from 'vitest';
import { checkPruneGuard, type GuardedRecord } from '../../../src/lib/retention/prune-guard.ts';

const T0 = Date.parse('2026-03-01T03:00:00Z');
const HOUR = 3_600_000;

/** Records from a string, oldest first, an hour apart: S success, T suspicious success, F failed, R running. */
function history(pattern: string): GuardedRecord[] {
  return [...pattern].map((letter, index) => ({
    status: letter === 'F' ? 'FAILED' : letter === 'R' ? 'RUNNING' : 'SUCCEEDED',
    startedAt: new Date(T0 + index * HOUR),
    suspicious: letter === 'T',
  }));
}

describe('checkPruneGuard', () => {
  it.each([
    {
      records: 'SSSSSSSSSS',
      deleteCount: 9,
      reasons: ['it would delete 9 of the 10 successful backups, more than half of them'],
    },
    { records: 'SSSS', deleteCount: 2, reasons: null },
    {
      records: 'SSSS',
      deleteCount: 3,
      reasons: ['it would delete 3 of the 4 successful backups, more than half of them'],
    },
    { records: 'SSSSF', deleteCount: 1, reasons: ['the newest backup failed'] },
    { records: 'SSSSFR', deleteCount: 1, reasons: ['the newest backup failed'] },
    {
      records: 'SSSST',
      deleteCount: 1,
      reasons: ['the newest backup is suspicious (far smaller than the ones before it)'],
    },
    { records: 'SSSFS', deleteCount: 1, reasons: null },
    { records: 'SSF', deleteCount: 0, reasons: null },
    {
      records: 'SSF',
      deleteCount: 2,
      reasons: ['it would delete 2 of the 2 successful backups, more than half of them', 'the newest backup failed'],
    },
  ])('$records deleting $deleteCount: $reasons', ({ records, deleteCount, reasons }) => {
    expect(checkPruneGuard({ records: history(records), deleteCount })).toEqual(reasons ? { reasons } : null);
  });
});
