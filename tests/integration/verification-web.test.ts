import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../src/generated/prisma/client.ts';
import { DATA_SHRANK_ALERT } from '../../src/lib/ops-agent/alerts.ts';
import { listBackupHistory } from '../../src/lib/web/backup-history.ts';
import { loadDeploymentBackupSummary } from '../../src/lib/web/deployment-page.ts';
import { describeCounts } from '../../src/lib/web/test-restore-summary.ts';
import { createDeployment, createWorkspace } from '../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// What the dashboard shows of verification: the format check beside each backup in the history JSON (present once
// it ran), and the last test-restore with its counts, the next one and an open shrink warning on the deployment page.

const NOW = new Date('2026-11-25T12:00:00Z');
const T0 = new Date('2026-11-22T03:00:00Z');
const MINUTE = 60_000;

let database: TestDatabase;
let workspaceId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  workspaceId = (await createWorkspace(database.prisma)).id;
});

afterAll(async () => {
  await database?.drop();
});

function backup(deployment: Deployment, minutes: number, fields: Record<string, unknown> = {}) {
  return database.prisma.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt: new Date(T0.getTime() + minutes * MINUTE),
      path: `/backups/${minutes}.dump`,
      sha256: 'a'.repeat(64),
      sizeBytes: 10n,
      format: 'postgres-custom',
      extension: 'dump',
      ...fields,
    },
  });
}

describe('backup history JSON', () => {
  it('carries the format check: verified, failed, or all null when unchecked', async () => {
    const deployment = await createDeployment(database.prisma, workspaceId);
    const verified = await backup(deployment, 3, { verifiedAt: new Date(T0.getTime() + 4 * MINUTE), verifyMethod: 'pg_restore' });
    const failed = await backup(deployment, 2, { verifyMethod: 'pg_restore', verifyError: 'pg_restore could not read the whole dump' });
    const unchecked = await backup(deployment, 1);
    const { items } = await listBackupHistory(database.prisma, deployment.id, { limit: 10 });
    expect(items.map((item) => item.id)).toEqual([verified.id, failed.id, unchecked.id]);
    expect(items[0]).toMatchObject({ verifiedAt: '2026-11-22T03:04:00.000Z', verifyMethod: 'pg_restore', verifyError: null });
    expect(items[1]).toMatchObject({ verifiedAt: null, verifyMethod: 'pg_restore', verifyError: 'pg_restore could not read the whole dump' });
    expect(items[2]).toMatchObject({ verifiedAt: null, verifyMethod: null, verifyError: null, pinned: false });
  });
});

describe('deployment page: test-restores', () => {
  it('shows the last test-restore with its counts, the next run and an open shrink warning', async () => {
    const deployment = await createDeployment(database.prisma, workspaceId, { testRestoreSchedule: '0 3 * * 0', lastTestRestoreAt: new Date('2026-11-22T03:20:00Z') });
    const source = await backup(deployment, 0);
    const restore = (status: 'SUCCEEDED' | 'FAILED', minutes: number, fields: Record<string, unknown> = {}) =>
      database.prisma.restoreRecord.create({
        data: {
          workspaceId, deploymentId: deployment.id, backupRecordId: source.id, backupSha256: source.sha256!, backupStartedAt: source.startedAt,
          kind: 'TEST', status, trigger: 'SCHEDULE', target: 'ops_scratch_000000000000', requestedBy: 'schedule',
          createdAt: new Date(T0.getTime() + minutes * MINUTE), finishedAt: new Date(T0.getTime() + (minutes + 1) * MINUTE), ...fields,
        },
      });
    await restore('FAILED', 5, { errorKind: 'ExecFailed', error: 'pg_restore exited with code 1' });
    await restore('SUCCEEDED', 15, { counts: { tables: { 'public.items': 2000, 'public.notes': 30 } } });
    await database.prisma.alert.create({ data: { workspaceId, deploymentId: deployment.id, severity: 'WARNING', kind: DATA_SHRANK_ALERT, message: 'Test-restore found less data: public.items: 2000 → 100 rows (-95.0%).' } });

    const summary = await loadDeploymentBackupSummary(database.prisma, { workspaceId, tokenId: 'test' }, deployment.id, { now: NOW, overdueGraceMs: MINUTE });
    expect(summary.testRestore).toEqual({
      schedule: '0 3 * * 0',
      scheduleDescription: expect.stringMatching(/Sunday/),
      dueNow: false,
      nextRunAt: new Date('2026-11-29T03:00:00Z'),
      last: { id: expect.any(String), status: 'SUCCEEDED', finishedAt: new Date('2026-11-22T03:16:00Z'), backupStartedAt: T0, counts: '2 tables, 2,030 rows', error: null },
      shrinkWarning: 'Test-restore found less data: public.items: 2000 → 100 rows (-95.0%).',
    });

    const failing = await restore('FAILED', 30, { errorKind: 'ExecFailed', error: 'pg_restore exited with code 1' });
    const after = await loadDeploymentBackupSummary(database.prisma, { workspaceId, tokenId: 'test' }, deployment.id, { now: new Date('2026-11-29T03:05:00Z'), overdueGraceMs: MINUTE });
    expect(after.testRestore).toMatchObject({ dueNow: true, nextRunAt: null, last: { id: failing.id, status: 'FAILED', counts: null, error: 'ExecFailed: pg_restore exited with code 1' } });
  });

  it('has nothing to show without a schedule or a test-restore', async () => {
    const deployment = await createDeployment(database.prisma, workspaceId);
    const summary = await loadDeploymentBackupSummary(database.prisma, { workspaceId, tokenId: 'test' }, deployment.id, { now: NOW, overdueGraceMs: MINUTE });
    expect(summary.testRestore).toEqual({ schedule: null, scheduleDescription: 'no test-restores scheduled', dueNow: false, nextRunAt: null, last: null, shrinkWarning: null });
  });

  it.each([
    [{ tables: { 'public.a': 1 } }, '1 table, 1 row'],
    [{ keys: { db0: 1200, db1: 3 } }, '2 databases, 1,203 keys'],
    [null, null],
    [{ rows: 3 }, null],
  ])('describes counts %j as %j', (counts, words) => {
    expect(describeCounts(counts)).toBe(words);
  });
});
