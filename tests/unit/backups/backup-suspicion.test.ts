import { describe, expect, it } from 'vitest';
import { assessBackupSize } from '../../../src/lib/backups/backup-suspicion.ts';

const MB = 1_000_000n;

describe('assessBackupSize', () => {
  it.each([
    { size: 40n * MB, recent: [100n * MB, 90n * MB, 110n * MB], suspicious: true, why: 'under half the median' },
    { size: 50n * MB, recent: [100n * MB, 90n * MB, 110n * MB], suspicious: false, why: 'exactly half' },
    { size: 1n, recent: [100n * MB, 90n * MB], suspicious: false, why: 'fewer than three earlier backups' },
    {
      size: 30n * MB,
      recent: [30n * MB, 30n * MB, 30n * MB, 100n * MB, 100n * MB],
      suspicious: false,
      why: 'most recent ones are that small already',
    },
    {
      size: 40n * MB,
      recent: [100n * MB, 100n * MB, 100n * MB, 100n * MB, 100n * MB, 1n, 1n, 1n, 1n],
      suspicious: true,
      why: 'only the last five count',
    },
    { size: 0n, recent: [0n, 0n, 0n], suspicious: false, why: 'a median of zero' },
  ])('$why: suspicious $suspicious', ({ size, recent, suspicious }) => {
    expect(assessBackupSize(size, recent).suspicious).toBe(suspicious);
  });

  it('says how small, against which median, and the threshold', () => {
    const result = assessBackupSize(10n * 1024n, [1024n * 1024n, 1024n * 1024n, 2048n * 1024n]);

    expect(result).toEqual({
      suspicious: true,
      reason:
        '10.0 KiB is 0.9% of the median size (1.0 MiB) of the last 3 successful backups; under 50% counts as suspicious',
    });
  });

  it('honours the configured threshold and sample size, and 0 turns it off', () => {
    const recent = [100n * MB, 100n * MB, 100n * MB];
    expect(assessBackupSize(70n * MB, recent, { belowPercent: 80, sampleSize: 3 }).suspicious).toBe(true);
    expect(assessBackupSize(1n, recent, { belowPercent: 0, sampleSize: 3 }).suspicious).toBe(false);
  });
});
