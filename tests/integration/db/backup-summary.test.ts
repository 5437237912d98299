import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupStatus } from '../../../src/generated/prisma/client.ts';
import { withPgConnection } from '../../../src/lib/db/database.ts';
import { applyMigrations, readMigrations } from '../../../src/lib/db/migrations.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

// BackupSummary is kept by triggers on BackupRecord (prisma/triggers.sql): after any mix of writes, whoever makes
// them, it must equal the aggregate over the records themselves.

const SUMMARY_MIGRATION = '20261203120000_backup_summary';
const T0 = Date.parse('2026-03-01T00:00:00Z');

interface SummaryRow {
  deploymentId: string;
  storedBackups: number;
  storedBytes: string;
  lastFailedAt: string | null;
}

/** The summary the triggers kept and the one recomputed from the records, for every deployment with either. */
async function bothSummaries(url: string): Promise<{ kept: SummaryRow[]; recomputed: SummaryRow[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const kept = await client.query<SummaryRow>(
      `SELECT "deploymentId", "storedBackups", "storedBytes"::text AS "storedBytes",
              to_char("lastFailedAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS "lastFailedAt"
         FROM "BackupSummary"
        WHERE "storedBackups" > 0 OR "lastFailedAt" IS NOT NULL
        ORDER BY "deploymentId"`,
    );
    const recomputed = await client.query<SummaryRow>(
      `SELECT "deploymentId", (count(*) FILTER (WHERE status = 'SUCCEEDED'))::int AS "storedBackups",
              coalesce(sum("sizeBytes") FILTER (WHERE status = 'SUCCEEDED'), 0)::text AS "storedBytes",
              to_char(max("startedAt") FILTER (WHERE status = 'FAILED'), 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS "lastFailedAt"
         FROM "BackupRecord"
        GROUP BY "deploymentId"
       HAVING count(*) FILTER (WHERE status = 'SUCCEEDED') > 0 OR count(*) FILTER (WHERE status = 'FAILED') > 0
        ORDER BY "deploymentId"`,
    );
    return { kept: kept.rows, recomputed: recomputed.rows };
  } finally {
    await client.end();
  }
}

/** A small deterministic generator (mulberry32), so a failure replays. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('BackupSummary triggers', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('equals the aggregate over the records after 400 random inserts, updates and deletes', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployments = await Promise.all(
      [0, 1, 2].map(() => createDeployment(db.prisma, workspace.id, { backupEnabled: true })),
    );
    const random = randomSource(17);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const statuses: BackupStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED'];
    const ids: string[] = [];
    for (let step = 0; step < 400; step += 1) {
      const roll = random();
      const deployment = pick(deployments);
      if (roll < 0.45 || ids.length === 0) {
        const status = pick(statuses);
        const record = await db.prisma.backupRecord.create({
          data: {
            deploymentId: deployment.id,
            workspaceId: workspace.id,
            trigger: 'SCHEDULE',
            status,
            sizeBytes: status === 'SUCCEEDED' ? BigInt(Math.floor(random() * 1e12)) : null,
            startedAt: new Date(T0 + Math.floor(random() * 1e9)),
          },
        });
        ids.push(record.id);
      } else if (roll < 0.75) {
        // A backup finishing, a failure recorded late, a size or start time corrected.
        const status = pick(statuses);
        await db.prisma.backupRecord.update({
          where: { id: pick(ids) },
          data: {
            status,
            sizeBytes: status === 'SUCCEEDED' ? BigInt(Math.floor(random() * 1e12)) : null,
            ...(random() < 0.3 ? { startedAt: new Date(T0 + Math.floor(random() * 1e9)) } : {}),
          },
        });
      } else if (roll < 0.8) {
        // Progress only: the trigger does not fire, and must not need to.
        await db.prisma.backupRecord.update({ where: { id: pick(ids) }, data: { progressBytes: 42n } });
      } else if (roll < 0.95) {
        const id = ids.splice(Math.floor(random() * ids.length), 1)[0]!;
        await db.prisma.backupRecord.delete({ where: { id } });
      } else {
        // Prune-like: every FAILED record of one deployment at once.
        const removed = await db.prisma.backupRecord.findMany({
          where: { deploymentId: deployment.id, status: 'FAILED' },
          select: { id: true },
        });
        await db.prisma.backupRecord.deleteMany({ where: { id: { in: removed.map((record) => record.id) } } });
        for (const { id } of removed) ids.splice(ids.indexOf(id), 1);
      }
      if (step % 50 === 49) {
        const { kept, recomputed } = await bothSummaries(db.url);
        expect(kept, `after step ${step}`).toEqual(recomputed);
      }
    }
    const { kept, recomputed } = await bothSummaries(db.url);
    expect(recomputed.length).toBe(3);
    expect(kept).toEqual(recomputed);
  });

  it('recomputes the latest failure when two transactions delete failures of one deployment at once', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const failed = (hour: number) =>
      db.prisma.backupRecord.create({
        data: {
          deploymentId: deployment.id,
          workspaceId: workspace.id,
          trigger: 'SCHEDULE',
          status: 'FAILED',
          startedAt: new Date(T0 + hour * 3_600_000),
        },
      });
    const oldest = await failed(1);
    const middle = await failed(2);
    const newest = await failed(3);
    const first = new pg.Client({ connectionString: db.url });
    const second = new pg.Client({ connectionString: db.url });
    await Promise.all([first.connect(), second.connect()]);
    try {
      // The first deletes the newest (its trigger recomputes: the middle one); the second, started before the first
      // commits, deletes the middle one and must not leave the first's recomputed value behind.
      await first.query('BEGIN');
      await first.query('DELETE FROM "BackupRecord" WHERE id = $1', [newest.id]);
      await second.query('BEGIN');
      const secondDelete = second.query('DELETE FROM "BackupRecord" WHERE id = $1', [middle.id]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await first.query('COMMIT');
      await secondDelete;
      await second.query('COMMIT');
    } finally {
      await Promise.all([first.end(), second.end()]);
    }
    const summary = await db.prisma.backupSummary.findUniqueOrThrow({ where: { deploymentId: deployment.id } });
    expect(summary.lastFailedAt).toEqual(oldest.startedAt);
  });

  it('counts a backup that finishes while a prune deletes an older one, both committed', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const old = await db.prisma.backupRecord.create({
      data: {
        deploymentId: deployment.id,
        workspaceId: workspace.id,
        trigger: 'SCHEDULE',
        status: 'SUCCEEDED',
        sizeBytes: 100n,
      },
    });
    const running = await db.prisma.backupRecord.create({
      data: { deploymentId: deployment.id, workspaceId: workspace.id, trigger: 'SCHEDULE' },
    });
    await Promise.all([
      db.prisma.backupRecord.delete({ where: { id: old.id } }),
      db.prisma.backupRecord.update({ where: { id: running.id }, data: { status: 'SUCCEEDED', sizeBytes: 250n } }),
    ]);
    const summary = await db.prisma.backupSummary.findUniqueOrThrow({ where: { deploymentId: deployment.id } });
    expect({ storedBackups: summary.storedBackups, storedBytes: summary.storedBytes }).toEqual({
      storedBackups: 1,
      storedBytes: 250n,
    });
  });

  it('is emptied by TRUNCATE and removed with its deployment', async () => {
    const scratch = await createTestDatabase();
    try {
      const workspace = await createWorkspace(scratch.prisma);
      const [kept, removed] = await Promise.all([
        createDeployment(scratch.prisma, workspace.id),
        createDeployment(scratch.prisma, workspace.id),
      ]);
      for (const deployment of [kept, removed]) {
        await scratch.prisma.backupRecord.create({
          data: {
            deploymentId: deployment.id,
            workspaceId: workspace.id,
            trigger: 'MANUAL',
            status: 'SUCCEEDED',
            sizeBytes: 7n,
          },
        });
      }
      await scratch.prisma.backupRecord.deleteMany({ where: { deploymentId: removed.id } });
      await scratch.prisma.deployment.delete({ where: { id: removed.id } });
      expect(await scratch.prisma.backupSummary.findMany({ select: { deploymentId: true } })).toEqual([
        { deploymentId: kept.id },
      ]);
      await scratch.prisma.$executeRawUnsafe('TRUNCATE "BackupRecord" CASCADE');
      expect(await scratch.prisma.backupSummary.count()).toBe(0);
    } finally {
      await scratch.drop();
    }
  });

  it('the migration fills the summary from the records that exist when it runs', async () => {
    const name = await createDatabase(uniqueDatabaseName('ops_test_summary'));
    try {
      const migrations = await readMigrations();
      const before = migrations.filter((migration) => migration.name < SUMMARY_MIGRATION);
      expect(before.length).toBeLessThan(migrations.length);
      await withPgConnection(databaseUrl(name), async (connection) => {
        await applyMigrations(connection, before);
        await connection.exec(`
          INSERT INTO "Workspace" (id, name, slug, "updatedAt") VALUES ('w', 'W', 'w', now());
          INSERT INTO "Deployment" (id, "workspaceId", name, "recipeSlug", namespace, "updatedAt")
               VALUES ('d1', 'w', 'one', 'postgresql', 'apps', now()), ('d2', 'w', 'two', 'postgresql', 'apps', now()),
                      ('d3', 'w', 'three', 'postgresql', 'apps', now());
          INSERT INTO "BackupRecord" (id, "deploymentId", "workspaceId", status, trigger, "sizeBytes", "startedAt", "updatedAt")
               VALUES ('r1', 'd1', 'w', 'SUCCEEDED', 'SCHEDULE', 10, '2026-01-01', now()),
                      ('r2', 'd1', 'w', 'SUCCEEDED', 'SCHEDULE', 32, '2026-01-02', now()),
                      ('r3', 'd1', 'w', 'FAILED', 'SCHEDULE', NULL, '2026-01-03', now()),
                      ('r4', 'd1', 'w', 'FAILED', 'SCHEDULE', NULL, '2026-01-04', now()),
                      ('r5', 'd2', 'w', 'RUNNING', 'SCHEDULE', NULL, '2026-01-05', now());`);
        await applyMigrations(connection, migrations);
      });
      const { kept, recomputed } = await bothSummaries(databaseUrl(name));
      expect(kept).toEqual([
        { deploymentId: 'd1', storedBackups: 2, storedBytes: '42', lastFailedAt: '2026-01-04T00:00:00.000' },
      ]);
      expect(kept).toEqual(recomputed);
    } finally {
      await dropDatabase(name);
    }
  });
});
