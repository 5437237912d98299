import os from 'node:os';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient, type Prisma } from '../../../src/generated/prisma/client.ts';
import {
  gatherBackupState,
  type BackupState,
  type DeploymentBackupState,
} from '../../../src/lib/backups/backup-state.ts';
import { createPgPool } from '../../../src/lib/db/pg-pool.ts';
import { poolQuery, type SqlQuery } from '../../../src/lib/db/sql-query.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

// gatherBackupState against the real PostgreSQL: what a cycle and the agent see, per workspace, in two queries.

const T0 = new Date('2026-03-01T05:30:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MIB = 1_048_576;
const OPTIONS = { now: T0, overdueGraceMs: HOUR, retryDelayMs: 15 * MINUTE };
/** `0 3 * * *` in UTC last fired at this instant before T0. */
const FIRED_AT = new Date('2026-03-01T03:00:00Z');
const at = (offsetMs: number) => new Date(T0.getTime() + offsetMs);

let db: TestDatabase;
let workspaceA: { id: string; slug: string };
let workspaceB: { id: string; slug: string };
/** Record ids of the `alpha` deployment by label. */
const alphaRecords = new Map<string, string>();
const ids: Record<string, string> = {};

async function deployment(
  workspaceId: string,
  name: string,
  overrides: Partial<Prisma.DeploymentUncheckedCreateInput> = {},
) {
  const created = await createDeployment(db.prisma, workspaceId, {
    name,
    backupEnabled: true,
    backupSchedule: '0 3 * * *',
    createdAt: at(-30 * DAY),
    ...overrides,
  });
  ids[name] = created.id;
  return created;
}

type RecordSeed = {
  label?: string;
  status: 'SUCCEEDED' | 'FAILED' | 'RUNNING';
  startedAt: Date;
  sizeBytes?: bigint;
  errorKind?: string;
};

async function records(deployment: { id: string; workspaceId: string }, seeds: RecordSeed[]) {
  for (const seed of seeds) {
    const record = await db.prisma.backupRecord.create({
      data: {
        deploymentId: deployment.id,
        workspaceId: deployment.workspaceId,
        trigger: 'SCHEDULE',
        status: seed.status,
        startedAt: seed.startedAt,
        sizeBytes: seed.sizeBytes ?? null,
        errorKind: seed.errorKind ?? null,
        error: seed.errorKind ? `failed with ${seed.errorKind}` : null,
      },
    });
    if (seed.label) alphaRecords.set(seed.label, record.id);
  }
}

const byName = (state: BackupState, name: string): DeploymentBackupState => {
  const found = state.deployments.find((d) => d.name === name);
  if (!found) throw new Error(`no ${name} in ${state.deployments.map((d) => d.name).join(', ')}`);
  return found;
};

beforeAll(async () => {
  db = await createTestDatabase();
  workspaceA = await createWorkspace(db.prisma, { slug: 'acme' });
  workspaceB = await createWorkspace(db.prisma, { slug: 'bolt' });

  // alpha: 3 successes (the last one yesterday), one failure before the last success, four after it (the newest
  // 10 minutes ago, inside the retry delay), and a backup running now. 03:00 fired 2.5 h ago: overdue.
  const alpha = await deployment(workspaceA.id, 'alpha', { lastBackupAt: at(-DAY) });
  await records(alpha, [
    { label: 'S1', status: 'SUCCEEDED', startedAt: at(-3 * DAY), sizeBytes: 100n },
    { label: 'F0', status: 'FAILED', startedAt: at(-2 * DAY - HOUR), errorKind: 'PodNotFound' },
    { label: 'S2', status: 'SUCCEEDED', startedAt: at(-2 * DAY), sizeBytes: 200n },
    { label: 'S3', status: 'SUCCEEDED', startedAt: at(-DAY), sizeBytes: 300n },
    { label: 'F1', status: 'FAILED', startedAt: at(-4 * HOUR), errorKind: 'ExecFailed' },
    { label: 'F2', status: 'FAILED', startedAt: at(-3 * HOUR), errorKind: 'Timeout' },
    { label: 'F3', status: 'FAILED', startedAt: at(-2 * HOUR), errorKind: 'ConnectionLost' },
    { label: 'F4', status: 'FAILED', startedAt: at(-10 * MINUTE), errorKind: 'EmptyOutput' },
    { label: 'R', status: 'RUNNING', startedAt: at(-5 * MINUTE) },
  ]);
  // bravo: backups off; its records must not count anywhere.
  const bravo = await deployment(workspaceA.id, 'bravo', { backupEnabled: false });
  await records(bravo, [
    { status: 'SUCCEEDED', startedAt: at(-DAY), sizeBytes: 5_000n },
    { status: 'FAILED', startedAt: at(-HOUR) },
  ]);
  // charlie: FAILED deployment with backups on.
  await deployment(workspaceA.id, 'charlie', { status: 'FAILED', lastBackupAt: at(-HOUR) });
  // delta: 25 stored backups of 1 MiB, the newest after today's fire time.
  const delta = await deployment(workspaceA.id, 'delta', { lastBackupAt: at(-30 * MINUTE) });
  await records(
    delta,
    Array.from({ length: 25 }, (_, index) => ({
      status: 'SUCCEEDED' as const,
      startedAt: at(-30 * MINUTE - index * DAY),
      sizeBytes: BigInt(MIB),
    })),
  );
  // echo: a recipe without a data export; foxtrot: a broken schedule; golf: never backed up, every 30 minutes;
  // india: never backed up, created after 03:00 today (owes no backup for it).
  await deployment(workspaceA.id, 'echo', { recipeSlug: 'nginx' });
  await deployment(workspaceA.id, 'foxtrot', { backupSchedule: '0 3 * * fooday' });
  await deployment(workspaceA.id, 'golf', { backupSchedule: '*/30 * * * *' });
  await deployment(workspaceA.id, 'india', { createdAt: at(-HOUR) });
  // hotel: another workspace.
  const hotel = await deployment(workspaceB.id, 'hotel', { lastBackupAt: at(-HOUR) });
  await records(hotel, [{ status: 'SUCCEEDED', startedAt: at(-HOUR), sizeBytes: 42n }]);
});
afterAll(async () => {
  await db.drop();
});

describe('gatherBackupState', () => {
  it('lists only backup-enabled deployments of the workspace, ordered by name', async () => {
    const state = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceA.id });
    expect(state.deployments.map((d) => d.name)).toEqual([
      'alpha',
      'charlie',
      'delta',
      'echo',
      'foxtrot',
      'golf',
      'india',
    ]);
    expect(state.deployments.every((d) => d.workspaceId === workspaceA.id && d.workspaceSlug === 'acme')).toBe(true);
    expect(state.gatheredAt).toEqual(T0);
  });

  it('scopes to the other workspace, or to all when the scope is null', async () => {
    const onlyB = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceB.id });
    expect(onlyB.deployments.map((d) => d.name)).toEqual(['hotel']);
    expect(onlyB.totals).toMatchObject({ enabled: 1, storedBackups: 1, storedBytes: 42n });

    const all = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: null });
    expect(all.deployments.map((d) => `${d.workspaceSlug}/${d.name}`)).toEqual([
      'acme/alpha',
      'acme/charlie',
      'acme/delta',
      'acme/echo',
      'acme/foxtrot',
      'acme/golf',
      'acme/india',
      'bolt/hotel',
    ]);
  });

  it('sums stored backups and bytes over successful records only', async () => {
    const state = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceA.id });
    expect(byName(state, 'alpha')).toMatchObject({ storedBackups: 3, storedBytes: 600n });
    expect(byName(state, 'delta')).toMatchObject({ storedBackups: 25, storedBytes: BigInt(25 * MIB) });
    expect(byName(state, 'golf')).toMatchObject({
      storedBackups: 0,
      storedBytes: 0n,
      recentFailures: [],
      failuresSinceLastSuccess: 0,
      running: null,
    });
    expect(state.totals).toEqual({
      enabled: 7,
      due: 2,
      overdue: 1,
      failing: 1,
      running: 1,
      storedBackups: 28,
      storedBytes: BigInt(25 * MIB + 600),
    });
  });

  it('counts the failures since the last success and lists the newest three of them', async () => {
    const alpha = byName(await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceA.id }), 'alpha');
    expect(alpha.failuresSinceLastSuccess).toBe(4);
    expect(alpha.recentFailures).toEqual([
      {
        id: alphaRecords.get('F4'),
        startedAt: at(-10 * MINUTE),
        errorKind: 'EmptyOutput',
        error: 'failed with EmptyOutput',
      },
      {
        id: alphaRecords.get('F3'),
        startedAt: at(-2 * HOUR),
        errorKind: 'ConnectionLost',
        error: 'failed with ConnectionLost',
      },
      { id: alphaRecords.get('F2'), startedAt: at(-3 * HOUR), errorKind: 'Timeout', error: 'failed with Timeout' },
    ]);
  });

  it('reports the running backup', async () => {
    const alpha = byName(await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceA.id }), 'alpha');
    expect(alpha.running).toEqual({ id: alphaRecords.get('R'), startedAt: at(-5 * MINUTE), trigger: 'SCHEDULE' });
  });

  it('finds the overdue deployment and how late it is; not one created after the fire time', async () => {
    const state = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceA.id });
    expect(byName(state, 'alpha').overdue).toEqual({ since: FIRED_AT, lateByMs: 2 * HOUR + 30 * MINUTE });
    expect(state.deployments.filter((d) => d.overdue).map((d) => d.name)).toEqual(['alpha']);
    expect(byName(state, 'india')).toMatchObject({ lastBackupAt: null, overdue: null, decision: { due: true } });
  });

  it('decides for each deployment whether a backup is due, and why not', async () => {
    const state = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceA.id });
    const decisions = Object.fromEntries(
      state.deployments.map((d) => [d.name, d.decision.due ? 'DUE' : d.decision.code]),
    );
    expect(decisions).toEqual({
      alpha: 'RETRY_LATER',
      charlie: 'DEPLOYMENT_NOT_RUNNING',
      delta: 'NOT_DUE',
      echo: 'NO_DATA_EXPORT',
      foxtrot: 'INVALID_SCHEDULE',
      golf: 'DUE',
      india: 'DUE',
    });
    expect(byName(state, 'golf').decision).toEqual({
      due: true,
      scheduledAt: T0,
      reason: 'no successful backup exists yet',
    });
    expect(byName(state, 'golf').nextRunAt).toEqual(at(30 * MINUTE));
    expect(byName(state, 'echo').hasDataExport).toBe(false);
    expect(byName(state, 'foxtrot')).toMatchObject({
      scheduleValid: false,
      nextRunAt: null,
      scheduleDescription: expect.stringMatching(/^invalid schedule: cron: day-of-week "fooday"/),
    });
  });

  it('suggests pruning for deployments with more than 20 stored backups', async () => {
    const state = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspaceA.id });
    expect(state.pruneSuggestions).toEqual([
      { deploymentId: ids.delta, name: 'delta', storedBackups: 25, retention: 10 },
    ]);
  });

  it('reads the backup volume’s size when given its root, and reports null for a missing one', async () => {
    const withVolume = await gatherBackupState(db.prisma, {
      ...OPTIONS,
      workspaceId: workspaceB.id,
      backupRoot: os.tmpdir(),
    });
    expect(withVolume.volume).not.toBeNull();
    expect(withVolume.volume!.totalBytes).toBeGreaterThan(0n);
    expect(withVolume.volume!.usedBytes + withVolume.volume!.freeBytes).toBeLessThanOrEqual(
      withVolume.volume!.totalBytes,
    );
    const missing = await gatherBackupState(db.prisma, {
      ...OPTIONS,
      workspaceId: workspaceB.id,
      backupRoot: path.join(os.tmpdir(), 'no-such-backup-root-7f3a'),
    });
    expect(missing.volume).toBeNull();
  });
});

describe('gatherBackupState timestamps', () => {
  it('reads every deployment timestamp to the millisecond, as stored', async () => {
    const workspace = await createWorkspace(db.prisma, { slug: 'millis' });
    const exact = {
      lastBackupAt: new Date('2026-02-28T03:00:07.123Z'),
      createdAt: new Date('2025-12-31T23:59:59.999Z'),
    };
    const created = await deployment(workspace.id, 'millis-db', exact);
    await db.prisma.backupRecord.create({
      data: {
        deploymentId: created.id,
        workspaceId: workspace.id,
        status: 'FAILED',
        trigger: 'SCHEDULE',
        startedAt: new Date('2026-03-01T05:20:00.001Z'),
        finishedAt: new Date('2026-03-01T05:20:01.457Z'),
      },
    });

    const state = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId: workspace.id });
    // Gone again: the query-count test below counts every deployment of the database.
    await db.prisma.backupRecord.deleteMany({ where: { deploymentId: created.id } });
    await db.prisma.deployment.delete({ where: { id: created.id } });

    expect(state.deployments).toHaveLength(1);
    expect(state.deployments[0]).toMatchObject({ lastBackupAt: exact.lastBackupAt });
    // The newest failure's time comes from BackupSummary (kept by triggers): the retry waits from it.
    expect(state.deployments[0]!.decision).toMatchObject({ due: false, code: 'RETRY_LATER' });
    expect((state.deployments[0]!.decision as { reason: string }).reason).toContain('2026-03-01T05:20:00.001Z');
  });

  it('reads timestamps whose milliseconds since the epoch are not a whole number in float8 arithmetic', async () => {
    // In float8, seconds since the epoch times 1000 gives 2198943971001.9998, 133761446.99999999 and 2198928667627.9998
    // for these: truncated by a Date, each would read a millisecond early.
    const workspace = await createWorkspace(db.prisma, { slug: 'float-millis' });
    const lastBackups = [new Date('2039-09-06T17:46:11.002Z'), new Date('1970-01-02T13:09:21.447Z')];
    const failedAt = new Date('2039-09-06T13:31:07.628Z');
    const created = await Promise.all(
      lastBackups.map((lastBackupAt, index) =>
        deployment(workspace.id, `float-${index}`, { lastBackupAt, createdAt: lastBackupAt }),
      ),
    );
    // After the 1970 backup: the summary's newest failure, which the retry waits from.
    await db.prisma.backupRecord.create({
      data: {
        deploymentId: created[1]!.id,
        workspaceId: workspace.id,
        status: 'FAILED',
        trigger: 'SCHEDULE',
        startedAt: failedAt,
      },
    });

    const state = await gatherBackupState(db.prisma, {
      ...OPTIONS,
      now: new Date('2039-09-06T13:40:00Z'),
      workspaceId: workspace.id,
    });
    await db.prisma.backupRecord.deleteMany({ where: { workspaceId: workspace.id } });
    await db.prisma.deployment.deleteMany({ where: { workspaceId: workspace.id } });

    expect(state.deployments.map((each) => each.lastBackupAt?.toISOString())).toEqual(
      lastBackups.map((each) => each.toISOString()),
    );
    expect(state.deployments[1]!.decision).toMatchObject({ due: false, code: 'RETRY_LATER' });
    expect((state.deployments[1]!.decision as { reason: string }).reason).toContain(failedAt.toISOString());
  });
});

describe('gatherBackupState through the database query (prepared statements, no Prisma)', () => {
  it('gathers the same state as through Prisma, for all workspaces and for each, on reused connections', async () => {
    const pool = createPgPool(db.url, () => undefined);
    const sent: string[] = [];
    const direct = poolQuery(pool);
    const query: SqlQuery = async (statement) => {
      sent.push(statement.name);
      return direct(statement);
    };
    try {
      for (const workspaceId of [null, workspaceA.id, workspaceB.id, 'no-such-workspace', null, workspaceA.id]) {
        const viaPrisma = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId });
        const viaQuery = await gatherBackupState(db.prisma, { ...OPTIONS, workspaceId, query });
        expect(viaQuery).toEqual(viaPrisma);
        if (workspaceId === workspaceA.id) expect(viaQuery.deployments.length).toBeGreaterThan(5);
      }
      // The deployments statement went through the query, one prepared statement with the filter and one without.
      expect(sent).toEqual([
        'backup-state-deployments',
        'backup-state-deployments-of-workspace',
        'backup-state-deployments-of-workspace',
        'backup-state-deployments-of-workspace',
        'backup-state-deployments',
        'backup-state-deployments-of-workspace',
      ]);
    } finally {
      await pool.end();
    }
  });
});

describe('gatherBackupState query count', () => {
  let counted: PrismaClient<'query'>;
  let queries = 0;

  beforeAll(async () => {
    counted = new PrismaClient({
      adapter: new PrismaPg({ connectionString: db.url }),
      log: [{ emit: 'event', level: 'query' }],
    });
    counted.$on('query', () => {
      queries += 1;
    });
  });
  afterAll(async () => {
    await counted.$disconnect();
  });

  async function seedWorkspace(slug: string, deployments: number) {
    const workspace = await createWorkspace(db.prisma, { slug });
    for (let index = 0; index < deployments; index += 1) {
      const created = await createDeployment(db.prisma, workspace.id, {
        name: `db-${index}`,
        backupEnabled: true,
        backupSchedule: '0 3 * * *',
        lastBackupAt: at(-DAY),
        createdAt: at(-30 * DAY),
      });
      await records(created, [
        { status: 'SUCCEEDED', startedAt: at(-DAY), sizeBytes: 10n },
        { status: 'FAILED', startedAt: at(-HOUR), errorKind: 'ExecFailed' },
        { status: 'RUNNING', startedAt: at(-MINUTE) },
      ]);
    }
    return workspace;
  }

  async function countQueries(workspaceId: string | null) {
    queries = 0;
    const state = await gatherBackupState(counted, { ...OPTIONS, workspaceId });
    return { queries, deployments: state.deployments.length };
  }

  it('makes the same two queries for 2 deployments as for 30', async () => {
    const small = await seedWorkspace('small', 2);
    const large = await seedWorkspace('large', 30);
    expect(await countQueries(small.id)).toEqual({ queries: 2, deployments: 2 });
    expect(await countQueries(large.id)).toEqual({ queries: 2, deployments: 30 });
    expect(await countQueries(null)).toEqual({ queries: 2, deployments: 8 + 2 + 30 });
  });
});
