import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { withPgConnection } from '../../../src/lib/db/database.ts';
import {
  applyMigrations,
  checksumMigration,
  MIGRATIONS_DIR,
  readMigrations,
  type Migration,
} from '../../../src/lib/db/migrations.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

const created: string[] = [];

async function emptyDatabase(): Promise<string> {
  const name = await createDatabase(uniqueDatabaseName('ops_test_migrate'));
  created.push(name);
  return databaseUrl(name);
}

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
});

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  applied_steps_count: number;
}

describe('migration runner on a real PostgreSQL', () => {
  it('applies every migration on an empty database, then re-applies as a no-op', async () => {
    const url = await emptyDatabase();
    const migrations = await readMigrations();
    expect(migrations.length).toBeGreaterThan(0);

    const first = await withPgConnection(url, (c) => applyMigrations(c, migrations));
    expect(first.applied).toEqual(migrations.map((m) => m.name));
    const second = await withPgConnection(url, (c) => applyMigrations(c, migrations));
    expect(second).toEqual({ applied: [], alreadyApplied: migrations.map((m) => m.name) });

    const rows = await withPgConnection(url, (c) =>
      c.query<MigrationRow>('SELECT * FROM "_prisma_migrations" ORDER BY migration_name'),
    );
    expect(rows).toHaveLength(migrations.length);
    const tables = await withPgConnection(url, (c) =>
      c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`),
    );
    expect(tables.map((t) => t.tablename)).toEqual([
      'Alert',
      'AlertDelivery',
      'ApiToken',
      'BackupRecord',
      'BackupSummary',
      'BackupUpload',
      'DeadManPing',
      'Deployment',
      'RestoreRecord',
      'Session',
      'Workspace',
      '_prisma_migrations',
    ]);
  });

  it("keeps Prisma's bookkeeping: sha256 of the file bytes, finished_at, one applied step, uuid ids", async () => {
    const url = await emptyDatabase();
    const migrations = await readMigrations();
    await withPgConnection(url, (c) => applyMigrations(c, migrations));
    const [row] = await withPgConnection(url, (c) =>
      c.query<MigrationRow>('SELECT * FROM "_prisma_migrations" ORDER BY migration_name LIMIT 1'),
    );
    const first = migrations[0]!;
    const bytes = await readFile(path.join(MIGRATIONS_DIR, first.name, 'migration.sql'));
    const { createHash } = await import('node:crypto');
    expect(row?.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(row?.migration_name).toBe(first.name);
    expect(row?.finished_at).toBeInstanceOf(Date);
    expect(row?.applied_steps_count).toBe(1);
    expect(row?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a migration whose file changed after it was applied, naming it', async () => {
    const url = await emptyDatabase();
    const migrations = await readMigrations();
    await withPgConnection(url, (c) => applyMigrations(c, migrations));
    const edited: Migration[] = migrations.map((m, i) =>
      i === 0 ? { ...m, sql: `${m.sql}\n-- edited`, checksum: checksumMigration(`${m.sql}\n-- edited`) } : m,
    );
    await expect(withPgConnection(url, (c) => applyMigrations(c, edited))).rejects.toThrow(
      `migrations: "${migrations[0]!.name}" was modified after it was applied`,
    );
  });

  it('rolls a failing migration back completely and records nothing for it', async () => {
    const url = await emptyDatabase();
    const migrations = await readMigrations();
    const broken: Migration = {
      name: '29991231000000_broken',
      sql: 'CREATE TABLE "Half" (id int); SELECT no_such_function();',
      checksum: checksumMigration('x'),
    };
    await expect(withPgConnection(url, (c) => applyMigrations(c, [...migrations, broken]))).rejects.toThrow(
      /"29991231000000_broken" failed and was rolled back: .*no_such_function/,
    );
    const state = await withPgConnection(url, async (c) => ({
      half: await c.query(`SELECT 1 FROM pg_tables WHERE tablename = 'Half'`),
      rows: await c.query<MigrationRow>('SELECT migration_name FROM "_prisma_migrations"'),
    }));
    expect(state.half).toHaveLength(0);
    expect(state.rows.map((r) => r.migration_name)).toEqual(migrations.map((m) => m.name));
  });

  it('applies each migration once when several processes start together (advisory lock)', async () => {
    const url = await emptyDatabase();
    const migrations = await readMigrations();
    const reports = await Promise.all(
      [1, 2, 3].map(() => withPgConnection(url, (c) => applyMigrations(c, migrations))),
    );
    expect(reports.flatMap((r) => r.applied).sort()).toEqual(migrations.map((m) => m.name).sort());
    const rows = await withPgConnection(url, (c) => c.query('SELECT 1 FROM "_prisma_migrations"'));
    expect(rows).toHaveLength(migrations.length);
  });

  it('merges open alerts that raced into duplicates before the unique index of open alerts', async () => {
    const url = await emptyDatabase();
    const migrations = await readMigrations();
    const outbox = migrations.findIndex((m) => m.name.endsWith('_alert_outbox'));
    expect(outbox).toBeGreaterThan(0);
    await withPgConnection(url, (c) => applyMigrations(c, migrations.slice(0, outbox)));
    await withPgConnection(url, async (c) => {
      await c.exec(`
        INSERT INTO "Workspace" (id, name, slug, "updatedAt") VALUES ('w1', 'W', 'w', now());
        INSERT INTO "Deployment" (id, "workspaceId", name, "recipeSlug", namespace, "updatedAt")
          VALUES ('d1', 'w1', 'db', 'postgresql', 'apps', now());
        INSERT INTO "Alert" (id, "workspaceId", "deploymentId", severity, kind, message, occurrences, "createdAt",
                             "lastSeenAt", "resolvedAt") VALUES
          ('a1', 'w1', 'd1', 'CRITICAL', 'backup_failed', 'first', 2, '2026-03-01 03:00', '2026-03-01 04:00', NULL),
          ('a2', 'w1', 'd1', 'CRITICAL', 'backup_failed', 'raced', 1, '2026-03-01 03:00:01', '2026-03-01 05:00', NULL),
          ('a3', 'w1', 'd1', 'CRITICAL', 'backup_failed', 'old', 1, '2026-02-01 03:00', '2026-02-01 03:00',
           '2026-02-02 03:00'),
          ('a4', 'w1', 'd1', 'WARNING', 'backup_blocked', 'other kind', 1, '2026-03-01 03:00', '2026-03-01 03:00', NULL);
      `);
    });
    await withPgConnection(url, (c) => applyMigrations(c, migrations));
    const alerts = await withPgConnection(url, (c) =>
      c.query<{ id: string; occurrences: number; lastSeenAt: Date; resolvedAt: Date | null }>(
        'SELECT id, occurrences, "lastSeenAt", "resolvedAt" FROM "Alert" ORDER BY id',
      ),
    );
    expect(alerts).toEqual([
      { id: 'a1', occurrences: 3, lastSeenAt: new Date('2026-03-01T05:00:00Z'), resolvedAt: null },
      {
        id: 'a2',
        occurrences: 1,
        lastSeenAt: new Date('2026-03-01T05:00:00Z'),
        resolvedAt: new Date('2026-03-01T05:00:00Z'),
      },
      {
        id: 'a3',
        occurrences: 1,
        lastSeenAt: new Date('2026-02-01T03:00:00Z'),
        resolvedAt: new Date('2026-02-02T03:00:00Z'),
      },
      { id: 'a4', occurrences: 1, lastSeenAt: new Date('2026-03-01T03:00:00Z'), resolvedAt: null },
    ]);
  });

  it('refuses a migration folder with a bad name', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    try {
      const { mkdir, writeFile } = await import('node:fs/promises');
      await mkdir(path.join(dir, 'add_things'));
      await writeFile(path.join(dir, 'add_things', 'migration.sql'), 'SELECT 1;');
      await expect(readMigrations(dir)).rejects.toThrow(
        'folder "add_things" is not named <14-digit timestamp>_<snake_case_name>',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
