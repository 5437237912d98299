import { describe, expect, it } from 'vitest';
import type { RestoreRecord } from '../../../src/generated/prisma/client.ts';
import { emptyRestoresMessage, toRestoreHistoryItem } from '../../../src/lib/web/restore-history.ts';
import type { TestRestoreSummary } from '../../../src/lib/web/test-restore-summary.ts';

// How the dashboard tells where a proposed restore stands (without its token), and what "no restores" means.

const NOW = new Date('2026-11-25T12:00:00Z');
const MINUTE = 60_000;

function record(fields: Partial<RestoreRecord>): RestoreRecord {
  return {
    id: 'ckrestore00000000000000001',
    workspaceId: 'w',
    deploymentId: 'd',
    backupRecordId: 'b',
    backupSha256: 'a'.repeat(64),
    backupStartedAt: new Date('2026-11-25T03:00:00Z'),
    kind: 'DESTRUCTIVE',
    status: 'PROPOSED',
    trigger: 'API',
    target: 'app',
    requestedBy: 'cli',
    approvedBy: null,
    confirmedBy: null,
    plan: 'Overwrites app.',
    confirmTokenHash: null,
    confirmExpiresAt: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    bytesRestored: null,
    counts: null,
    errorKind: null,
    error: null,
    stderrTail: null,
    progressBytes: null,
    progressAt: null,
    leaseExpiresAt: null,
    jobId: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...fields,
  };
}

describe('toRestoreHistoryItem: the next step of a PROPOSED restore', () => {
  it.each([
    ['no token yet (the agent proposed it)', {}, 'awaiting-approval'],
    [
      'a token valid for another minute',
      { confirmTokenHash: 'h'.repeat(64), confirmExpiresAt: new Date(NOW.getTime() + MINUTE) },
      'awaiting-confirmation',
    ],
    ['a token that expired now', { confirmTokenHash: 'h'.repeat(64), confirmExpiresAt: NOW }, 'expired'],
  ])('%s → %s', (_label, fields, state) => {
    const item = toRestoreHistoryItem(record(fields), NOW);
    expect(item.nextStep?.state).toBe(state);
    expect(JSON.stringify(item)).not.toContain('h'.repeat(64));
  });

  it.each(['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const)('none once %s', (status) => {
    expect(toRestoreHistoryItem(record({ status, confirmTokenHash: 'h'.repeat(64) }), NOW).nextStep).toBeNull();
  });
});

describe('emptyRestoresMessage', () => {
  const off: TestRestoreSummary = {
    schedule: null,
    scheduleDescription: 'no test-restores scheduled',
    dueNow: false,
    nextRunAt: null,
    last: null,
    shrinkWarning: null,
  };

  it('says test-restores are off and how to turn them on', () => {
    expect(emptyRestoresMessage(off, NOW)).toMatch(
      /^No restores yet\. Scheduled test-restores are off: set testRestoreSchedule .* npm run restore -- plan <backupId>/,
    );
  });

  it('says when the first scheduled test-restore runs', () => {
    const weekly = {
      ...off,
      schedule: '0 4 * * 0',
      scheduleDescription: 'every Sunday at 04:00 (UTC)',
      nextRunAt: new Date('2026-11-29T04:00:00Z'),
    };
    expect(emptyRestoresMessage(weekly, NOW)).toContain(
      'The first scheduled test-restore runs in 3 days (2026-11-29 04:00 UTC).',
    );
    expect(emptyRestoresMessage({ ...weekly, dueNow: true, nextRunAt: null }, NOW)).toContain(
      'is due and runs in the next worker cycle',
    );
  });
});
