import { describe, expect, it } from 'vitest';
import { assembleBackupState, sumDecimals, type DeploymentRow } from '../../../src/lib/backups/backup-state.ts';
import { deploymentRow } from '../../support/state-rows.ts';

const T0 = new Date('2026-12-03T18:00:00Z');

function row(id: string, storedBytes: string): DeploymentRow {
  return deploymentRow({
    id,
    name: id,
    lastBackupAt: new Date('2026-12-03T03:00:05Z'),
    createdAt: new Date('2026-01-01T00:00:00Z'),
    storedBackups: 2,
    storedBytes,
  });
}

describe('the stored-bytes total of the backup state', () => {
  it('is exact for sums a number holds', () => {
    expect(sumDecimals(['1', '2', '4096'])).toBe(4099n);
    expect(sumDecimals([])).toBe(0n);
  });

  it('stays exact past 2^53, where adding numbers would round', () => {
    const big = '9007199254740993'; // 2^53 + 1: a number cannot hold it
    expect(sumDecimals([big, '1'])).toBe(9007199254740994n);
    expect(sumDecimals(['9007199254740991', '9007199254740991', '3'])).toBe(18014398509481985n);
  });

  it('is the sum of every deployment, and each deployment keeps its own exact figure', () => {
    const state = assembleBackupState([row('a', '9007199254740993'), row('b', '7')], [], null, {
      now: T0,
      overdueGraceMs: 3_600_000,
      retryDelayMs: 900_000,
    });

    expect(state.totals.storedBytes).toBe(9007199254741000n);
    expect(state.deployments.map((deployment) => deployment.storedBytes)).toEqual([9007199254740993n, 7n]);
    expect(state.deployments.map((deployment) => deployment.recentFailures)).toEqual([[], []]);
  });
});
