import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient, type Deployment } from '../../../src/generated/prisma/client.ts';
import { DATA_SHRANK_ALERT } from '../../../src/lib/alerts/alerts.ts';
import type { SqlQuery } from '../../../src/lib/db/index.ts';
import { listBackupHistory, loadBackupHistoryItem } from '../../../src/lib/web/backup-history.ts';
import { loadDeploymentBackupSummary } from '../../../src/lib/web/deployment-page.ts';
import { loadOverview, OVERVIEW_SHARE_MS, type RankedOverview } from '../../../src/lib/web/overview.ts';
import { createSharedResults } from '../../../src/lib/web/shared-result.ts';
import { describeCounts } from '../../../src/lib/web/test-restore-summary.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

/** The summary of a deployment that exists in the principal's workspace (null would be the page's 404). */
async function summaryOf(...args: Parameters<typeof loadDeploymentBackupSummary>) {
  const summary = await loadDeploymentBackupSummary(...args);
  if (!summary) throw new Error(`deployment ${args[2]} not found for workspace ${args[1].workspaceId}`);
  return summary;
}

/** The first page of a deployment's history in the test's workspace (any other answer fails the test). */
async function historyPage(query: SqlQuery, deploymentId: string, limit: number) {
  const history = await listBackupHistory(query, { workspaceId, deploymentId }, { limit });
  if (history.kind !== 'page') throw new Error(`no history page for deployment ${deploymentId}: ${history.kind}`);
  return history;
}

// What the dashboard shows of verification: the format check beside each backup in the history JSON (present once
// it ran), and the last test-restore with its counts, the next one and an open shrink warning on the deployment page.
// And of the off-site copies: each backup's uploads in the history (loaded with the page, not per backup), the
// uploads still to do or failed on the deployment page and the overview, and the retention policy in words.

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
    const verified = await backup(deployment, 3, {
      verifiedAt: new Date(T0.getTime() + 4 * MINUTE),
      verifyMethod: 'pg_restore',
    });
    const failed = await backup(deployment, 2, {
      verifyMethod: 'pg_restore',
      verifyError: 'pg_restore could not read the whole dump',
    });
    const unchecked = await backup(deployment, 1);
    const { items } = await historyPage(database.query, deployment.id, 10);
    expect(items.map((item) => item.id)).toEqual([verified.id, failed.id, unchecked.id]);
    expect(items[0]).toMatchObject({
      verifiedAt: '2026-11-22T03:04:00.000Z',
      verifyMethod: 'pg_restore',
      verifyError: null,
    });
    expect(items[1]).toMatchObject({
      verifiedAt: null,
      verifyMethod: 'pg_restore',
      verifyError: 'pg_restore could not read the whole dump',
    });
    expect(items[2]).toMatchObject({ verifiedAt: null, verifyMethod: null, verifyError: null, pinned: false });
  });
});

describe('backup history JSON: off-site copies', () => {
  function upload(backupRecordId: string, destination: string, fields: Record<string, unknown>) {
    return database.prisma.backupUpload.create({
      data: { backupRecordId, destination, objectKey: `ops/${backupRecordId}.dump`, ...fields },
    });
  }

  it('carries each backup’s uploads by destination, and the pin', async () => {
    const deployment = await createDeployment(database.prisma, workspaceId);
    const uploaded = await backup(deployment, 3, { pinned: true });
    const retrying = await backup(deployment, 2);
    const failed = await backup(deployment, 1);
    await upload(uploaded.id, 's3', { status: 'UPLOADED', uploadedAt: new Date(T0.getTime() + 5 * MINUTE) });
    await upload(uploaded.id, 'b2', { status: 'PENDING', nextAttemptAt: new Date(T0.getTime() + 6 * MINUTE) });
    await upload(retrying.id, 's3', {
      status: 'PENDING',
      attempts: 2,
      lastError: 'connect ECONNREFUSED 127.0.0.1:9000',
      nextAttemptAt: new Date(T0.getTime() + 9 * MINUTE),
    });
    await upload(failed.id, 's3', {
      status: 'FAILED',
      attempts: 12,
      lastError: 'AccessDenied: the key may not write to bucket backups',
      nextAttemptAt: T0,
    });

    const { items } = await historyPage(database.query, deployment.id, 10);
    expect(items.map((item) => [item.id, item.pinned])).toEqual([
      [uploaded.id, true],
      [retrying.id, false],
      [failed.id, false],
    ]);
    expect(items[0]!.uploads).toEqual([
      {
        destination: 'b2',
        status: 'PENDING',
        attempts: 0,
        lastError: null,
        uploadedAt: null,
        nextAttemptAt: '2026-11-22T03:06:00.000Z',
      },
      {
        destination: 's3',
        status: 'UPLOADED',
        attempts: 0,
        lastError: null,
        uploadedAt: '2026-11-22T03:05:00.000Z',
        nextAttemptAt: null,
      },
    ]);
    expect(items[1]!.uploads).toEqual([
      {
        destination: 's3',
        status: 'PENDING',
        attempts: 2,
        lastError: 'connect ECONNREFUSED 127.0.0.1:9000',
        uploadedAt: null,
        nextAttemptAt: '2026-11-22T03:09:00.000Z',
      },
    ]);
    expect(items[2]!.uploads).toEqual([
      {
        destination: 's3',
        status: 'FAILED',
        attempts: 12,
        lastError: 'AccessDenied: the key may not write to bucket backups',
        uploadedAt: null,
        nextAttemptAt: null,
      },
    ]);

    const summary = await summaryOf(database.prisma, { workspaceId }, deployment.id, {
      now: NOW,
      overdueGraceMs: MINUTE,
    });
    expect(summary.uploads).toEqual({ pending: 2, failed: 1 });
    // Another workspace's deployment, or an id of the wrong shape, is no summary at all: the page answers 404.
    const stranger = { workspaceId: (await createWorkspace(database.prisma)).id };
    const options = { now: NOW, overdueGraceMs: MINUTE };
    expect(await loadDeploymentBackupSummary(database.prisma, stranger, deployment.id, options)).toBeNull();
    expect(await loadDeploymentBackupSummary(database.prisma, stranger, '../etc', options)).toBeNull();
    // GET /api/backups/{id} shows one backup the same way.
    expect(await loadBackupHistoryItem(database.prisma, uploaded.id)).toEqual(items[0]);
    expect(await loadBackupHistoryItem(database.prisma, 'nosuchbackup')).toBeNull();
  });

  it('reads a page of 3 backups and a page of 20 in one statement', async () => {
    const deployment = await createDeployment(database.prisma, workspaceId);
    let queries = 0;
    const counted: SqlQuery = (statement) => {
      queries += 1;
      return database.query(statement);
    };
    const countQueries = async () => {
      queries = 0;
      const { items } = await historyPage(counted, deployment.id, 20);
      return { queries, backups: items.length, uploads: items.flatMap((item) => item.uploads).length };
    };
    for (let minutes = 0; minutes < 20; minutes += 1) {
      const record = await backup(deployment, minutes);
      if (minutes < 3 || minutes >= 6) await upload(record.id, 's3', { status: 'UPLOADED', uploadedAt: T0 });
    }
    const twenty = await countQueries();
    await database.prisma.backupUpload.deleteMany({
      where: {
        backupRecord: { deploymentId: deployment.id, startedAt: { gte: new Date(T0.getTime() + 3 * MINUTE) } },
      },
    });
    await database.prisma.backupRecord.deleteMany({
      where: { deploymentId: deployment.id, startedAt: { gte: new Date(T0.getTime() + 3 * MINUTE) } },
    });
    const three = await countQueries();
    expect(twenty).toEqual({ queries: three.queries, backups: 20, uploads: 17 });
    expect(three).toMatchObject({ backups: 3, uploads: 3 });
    expect(three.queries).toBe(1);
  });
});

describe('overview: off-site uploads to do', () => {
  it('counts the workspace’s PENDING and FAILED uploads, not another workspace’s', async () => {
    const own = await createWorkspace(database.prisma);
    const other = await createWorkspace(database.prisma);
    const ownDeployment = await createDeployment(database.prisma, own.id, { backupEnabled: true });
    const otherDeployment = await createDeployment(database.prisma, other.id, { backupEnabled: true });
    const statuses = ['PENDING', 'PENDING', 'FAILED', 'UPLOADED'] as const;
    for (const [index, status] of statuses.entries()) {
      const record = await database.prisma.backupRecord.create({
        data: {
          deploymentId: ownDeployment.id,
          workspaceId: own.id,
          trigger: 'SCHEDULE',
          status: 'SUCCEEDED',
          startedAt: new Date(T0.getTime() + index * MINUTE),
        },
      });
      await database.prisma.backupUpload.create({
        data: { backupRecordId: record.id, destination: 's3', objectKey: `k/${record.id}`, status },
      });
    }
    const foreign = await database.prisma.backupRecord.create({
      data: { deploymentId: otherDeployment.id, workspaceId: other.id, trigger: 'SCHEDULE', status: 'SUCCEEDED' },
    });
    await database.prisma.backupUpload.create({
      data: { backupRecordId: foreign.id, destination: 's3', objectKey: `k/${foreign.id}`, status: 'FAILED' },
    });

    const overview = await loadOverview(
      database.prisma,
      { workspaceId: own.id },
      { now: NOW, overdueGraceMs: MINUTE, retryDelayMs: MINUTE, backupRoot: '/nonexistent' },
    );
    expect(overview.uploads).toEqual({ pending: 2, failed: 1 });
    const empty = await loadOverview(
      database.prisma,
      { workspaceId: (await createWorkspace(database.prisma)).id },
      { now: NOW, overdueGraceMs: MINUTE, retryDelayMs: MINUTE, backupRoot: '/nonexistent' },
    );
    expect(empty.uploads).toEqual({ pending: 0, failed: 0 });
  });
});

describe('overview: pages and a shared computation', () => {
  it('ranks the whole workspace, shows one page, and shares one computation for OVERVIEW_SHARE_MS', async () => {
    const workspace = await createWorkspace(database.prisma);
    for (let index = 0; index < 5; index += 1) {
      await createDeployment(database.prisma, workspace.id, {
        name: `db-${index}`,
        backupEnabled: true,
        backupSchedule: '0 3 * * *',
      });
    }
    const principal = { workspaceId: workspace.id, tokenId: 'test' };
    const shared = createSharedResults<RankedOverview>({ ttlMs: OVERVIEW_SHARE_MS, maxKeys: 10 });
    const options = { overdueGraceMs: MINUTE, retryDelayMs: MINUTE, backupRoot: '/nonexistent', pageSize: 2, shared };
    const first = await loadOverview(database.prisma, principal, { ...options, now: NOW, page: 3 });
    expect(first.paging).toEqual({ page: 3, pageCount: 3, first: 5, total: 5 });
    expect(first.deployments.map((deployment) => deployment.name)).toEqual(['db-4']);

    await createDeployment(database.prisma, workspace.id, {
      name: 'db-5',
      backupEnabled: true,
      backupSchedule: '0 3 * * *',
    });
    const within = await loadOverview(database.prisma, principal, {
      ...options,
      now: new Date(NOW.getTime() + OVERVIEW_SHARE_MS - 1),
      page: 1,
    });
    expect(within.paging.total).toBe(5);
    const after = await loadOverview(database.prisma, principal, {
      ...options,
      now: new Date(NOW.getTime() + OVERVIEW_SHARE_MS),
      page: 3,
    });
    expect(after.paging).toEqual({ page: 3, pageCount: 3, first: 5, total: 6 });
    expect(after.deployments.map((deployment) => deployment.name)).toEqual(['db-4', 'db-5']);
  });
});

describe('deployment page: retention policy in words', () => {
  it.each([
    [{}, 'keep-last 10'],
    [
      {
        backupRetention: 3,
        retentionDaily: 7,
        retentionWeekly: 4,
        retentionMonthly: 6,
        backupTimezone: 'Europe/Berlin',
      },
      'keep-last 3, daily 7, weekly 4, monthly 6 (periods in Europe/Berlin)',
    ],
    [{ retentionMaxAgeDays: 30 }, 'keep-last 10, max age 30 days for keep-last'],
    [
      { retentionDaily: -1 },
      'invalid retention policy, nothing is pruned: retentionDaily must be 0 or more (0 turns the day rule off) (got -1)',
    ],
  ])('columns %j → %j', async (columns, words) => {
    const deployment = await createDeployment(database.prisma, workspaceId, columns);
    const summary = await summaryOf(database.prisma, { workspaceId }, deployment.id, {
      now: NOW,
      overdueGraceMs: MINUTE,
    });
    expect(summary.retentionDescription).toBe(words);
    expect(summary.uploads).toEqual({ pending: 0, failed: 0 });
  });
});

describe('deployment page: test-restores', () => {
  it('shows the last test-restore with its counts, the next run and an open shrink warning', async () => {
    const deployment = await createDeployment(database.prisma, workspaceId, {
      testRestoreSchedule: '0 3 * * 0',
      lastTestRestoreAt: new Date('2026-11-22T03:20:00Z'),
    });
    const source = await backup(deployment, 0);
    const restore = (status: 'SUCCEEDED' | 'FAILED', minutes: number, fields: Record<string, unknown> = {}) =>
      database.prisma.restoreRecord.create({
        data: {
          workspaceId,
          deploymentId: deployment.id,
          backupRecordId: source.id,
          backupSha256: source.sha256!,
          backupStartedAt: source.startedAt,
          kind: 'TEST',
          status,
          trigger: 'SCHEDULE',
          target: 'ops_scratch_000000000000',
          requestedBy: 'schedule',
          createdAt: new Date(T0.getTime() + minutes * MINUTE),
          finishedAt: new Date(T0.getTime() + (minutes + 1) * MINUTE),
          ...fields,
        },
      });
    await restore('FAILED', 5, { errorKind: 'ExecFailed', error: 'pg_restore exited with code 1' });
    await restore('SUCCEEDED', 15, { counts: { tables: { 'public.items': 2000, 'public.notes': 30 } } });
    await database.prisma.alert.create({
      data: {
        workspaceId,
        deploymentId: deployment.id,
        severity: 'WARNING',
        kind: DATA_SHRANK_ALERT,
        message: 'Test-restore found less data: public.items: 2000 → 100 rows (-95.0%).',
      },
    });

    const summary = await summaryOf(database.prisma, { workspaceId }, deployment.id, {
      now: NOW,
      overdueGraceMs: MINUTE,
    });
    expect(summary.testRestore).toEqual({
      schedule: '0 3 * * 0',
      scheduleDescription: expect.stringMatching(/Sunday/),
      dueNow: false,
      nextRunAt: new Date('2026-11-29T03:00:00Z'),
      last: {
        id: expect.any(String),
        status: 'SUCCEEDED',
        finishedAt: new Date('2026-11-22T03:16:00Z'),
        backupStartedAt: T0,
        counts: '2 tables, 2,030 rows',
        error: null,
      },
      shrinkWarning: 'Test-restore found less data: public.items: 2000 → 100 rows (-95.0%).',
    });

    const failing = await restore('FAILED', 30, { errorKind: 'ExecFailed', error: 'pg_restore exited with code 1' });
    const after = await summaryOf(database.prisma, { workspaceId }, deployment.id, {
      now: new Date('2026-11-29T03:05:00Z'),
      overdueGraceMs: MINUTE,
    });
    expect(after.testRestore).toMatchObject({
      dueNow: true,
      nextRunAt: null,
      last: { id: failing.id, status: 'FAILED', counts: null, error: 'ExecFailed: pg_restore exited with code 1' },
    });
  });

  it('has nothing to show without a schedule or a test-restore', async () => {
    const deployment = await createDeployment(database.prisma, workspaceId);
    const summary = await summaryOf(database.prisma, { workspaceId }, deployment.id, {
      now: NOW,
      overdueGraceMs: MINUTE,
    });
    expect(summary.testRestore).toEqual({
      schedule: null,
      scheduleDescription: 'no test-restores scheduled',
      dueNow: false,
      nextRunAt: null,
      last: null,
      shrinkWarning: null,
    });
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
