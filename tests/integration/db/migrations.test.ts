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
      'ApiToken',
      'BackupRecord',
      'BackupUpload',
      'Deployment',
      'RestoreRecord',
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
