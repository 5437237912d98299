import { describe, expect, it } from 'vitest';
import type { OverviewDeployment } from '../../../src/lib/web/overview.ts';
import { toOverviewRows } from '../../../src/lib/web/overview-rows.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const HOUR_MS = 60 * 60 * 1000;

function deployment(overrides: Partial<OverviewDeployment> = {}): OverviewDeployment {
  return {
    id: 'd1',
    name: 'shop-db',
    recipeSlug: 'postgresql',
    deploymentStatus: 'RUNNING',
    scheduleDescription: 'every day at 03:00 (UTC)',
    scheduleValid: true,
    lastBackup: { status: 'SUCCEEDED', at: new Date(NOW.getTime() - 3 * HOUR_MS), error: null },
    overdue: null,
    failuresSinceLastSuccess: 0,
    storedBackups: 1,
    storedBytes: 1536n,
    ...overrides,
  };
}

describe('overview rows: what the table shows of each deployment, written as of now', () => {
  it('a healthy deployment: when, how much stored, nothing to attend to', () => {
    expect(toOverviewRows([deployment()], NOW)).toEqual([
      {
        id: 'd1',
        name: 'shop-db',
        recipeSlug: 'postgresql',
        status: 'SUCCEEDED',
        lastBackupAgo: '3 hours ago',
        schedule: 'every day at 03:00 (UTC)',
        storedBytes: '1.5 KiB',
        storedBackups: 1,
        notes: [],
        failing: false,
      },
    ]);
  });

  it('a failing, overdue, stopped deployment with a schedule that cannot run: every reason, failures first', () => {
    const [row] = toOverviewRows(
      [
        deployment({
          lastBackup: { status: 'FAILED', at: new Date(NOW.getTime() - HOUR_MS), error: 'pg_dump exited with code 1' },
          failuresSinceLastSuccess: 2,
          overdue: { since: new Date(NOW.getTime() - 5 * HOUR_MS), lateByMs: 5 * HOUR_MS },
          deploymentStatus: 'STOPPED',
          scheduleValid: false,
        }),
      ],
      NOW,
    );
    expect(row?.notes).toEqual([
      '2 failed attempts since the last success: pg_dump exited with code 1',
      'overdue by 5 hours',
      'deployment is STOPPED: backups cannot run',
      'the schedule cannot run',
    ]);
    expect(row?.failing).toBe(true);
  });

  it('no backup yet: no time; one failure without a message is counted alone', () => {
    const [none, failed] = toOverviewRows(
      [
        deployment({ lastBackup: { status: 'NONE', at: null, error: null }, storedBackups: 0, storedBytes: 0n }),
        deployment({ lastBackup: { status: 'FAILED', at: NOW, error: null }, failuresSinceLastSuccess: 1 }),
      ],
      NOW,
    );
    expect(none).toMatchObject({ status: 'NONE', lastBackupAgo: null, storedBytes: '0 B', storedBackups: 0 });
    expect(failed).toMatchObject({ lastBackupAgo: 'just now', notes: ['1 failed attempt since the last success'] });
  });
});
