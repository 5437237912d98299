import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPgConnection } from '../../../src/lib/db/database.ts';
import { applyMigrations, readMigrations } from '../../../src/lib/db/migrations.ts';
import {
  diffCatalogs,
  PARTIAL_INDEXES_PATH,
  renderSchemaSql,
  SCHEMA_PATH,
  snapshotCatalog,
  TRIGGERS_PATH,
} from '../../../src/lib/db/schema-drift.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The committed migrations must build exactly what prisma/schema.prisma describes: a model or field added to the
 * schema without its migration (or the reverse) fails here, and so fails CI.
 */
const created: string[] = [];
let scratchUrl = '';
let fromMigrations: string[] = [];
let workDir = '';

async function snapshotOfSchema(
  schemaPath: string,
  partialIndexesPath?: string,
  triggersPath?: string,
): Promise<string[]> {
  const name = await createDatabase(uniqueDatabaseName('ops_test_drift'));
  created.push(name);
  const sql = await renderSchemaSql(schemaPath, scratchUrl, partialIndexesPath, triggersPath);
  return withPgConnection(databaseUrl(name), async (c) => {
    await c.exec(sql);
    return snapshotCatalog(c);
  });
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'drift-'));
  const scratch = await createDatabase(uniqueDatabaseName('ops_test_drift_scratch'));
  created.push(scratch);
  scratchUrl = databaseUrl(scratch);
  const name = await createDatabase(uniqueDatabaseName('ops_test_drift'));
  created.push(name);
  const migrations = await readMigrations();
  fromMigrations = await withPgConnection(databaseUrl(name), async (c) => {
    await applyMigrations(c, migrations);
    return snapshotCatalog(c);
  });
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await rm(workDir, { recursive: true, force: true });
});

describe('schema drift', () => {
  it('the migrations produce exactly schema.prisma', async () => {
    const fromSchema = await snapshotOfSchema(SCHEMA_PATH);
    expect(fromMigrations.length).toBeGreaterThan(50);
    expect(diffCatalogs(fromMigrations, fromSchema)).toEqual({ onlyInMigrations: [], onlyInSchema: [] });
  });

  it('detects a field added to the schema without a migration', async () => {
    const edited = path.join(workDir, 'schema.prisma');
    const schema = await readFile(SCHEMA_PATH, 'utf8');
    await writeFile(edited, schema.replace(/(model Alert \{\n)/, '$1  note String?\n'));
    const diff = diffCatalogs(fromMigrations, await snapshotOfSchema(edited));
    expect(diff.onlyInSchema).toEqual(['column Alert.note text']);
  });

  it('detects a model added to the schema without a migration', async () => {
    const edited = path.join(workDir, 'schema-model.prisma');
    await copyFile(SCHEMA_PATH, edited);
    await writeFile(edited, `${await readFile(edited, 'utf8')}\nmodel Extra {\n  id String @id\n}\n`);
    const diff = diffCatalogs(fromMigrations, await snapshotOfSchema(edited));
    expect(diff.onlyInSchema).toContain('column Extra.id text NOT NULL');
    expect(diff.onlyInMigrations).toEqual([]);
  });

  it('compares the partial indexes Prisma cannot express, predicate included', async () => {
    expect(fromMigrations).toContain(
      'index CREATE UNIQUE INDEX "Alert_deploymentId_kind_open_key" ON public."Alert" USING btree ("deploymentId", kind) WHERE ("resolvedAt" IS NULL)',
    );
    const edited = path.join(workDir, 'partial-indexes.sql');
    const sql = await readFile(PARTIAL_INDEXES_PATH, 'utf8');
    await writeFile(edited, sql.replace('WHERE "resolvedAt" IS NULL', 'WHERE "resolvedAt" IS NOT NULL'));
    const diff = diffCatalogs(fromMigrations, await snapshotOfSchema(SCHEMA_PATH, edited));
    expect(diff.onlyInMigrations).toEqual([expect.stringContaining('WHERE ("resolvedAt" IS NULL)')]);
    expect(diff.onlyInSchema).toEqual([expect.stringContaining('WHERE ("resolvedAt" IS NOT NULL)')]);
  });

  it('compares the triggers Prisma cannot express and the functions they run', async () => {
    expect(fromMigrations).toContain(
      'trigger CREATE TRIGGER "BackupRecord_summary_truncate" AFTER TRUNCATE ON public."BackupRecord" FOR EACH STATEMENT EXECUTE FUNCTION backup_summary_on_record_truncate()',
    );
    const sql = await readFile(TRIGGERS_PATH, 'utf8');
    const withoutTruncate = sql.replace(/CREATE TRIGGER "BackupRecord_summary_truncate"[^;]*;/, '');
    const edited = path.join(workDir, 'triggers.sql');
    await writeFile(
      edited,
      withoutTruncate.replace(
        'ELSE 0 END,\n            CASE WHEN NEW.status',
        'ELSE 1 END,\n            CASE WHEN NEW.status',
      ),
    );
    const diff = diffCatalogs(fromMigrations, await snapshotOfSchema(SCHEMA_PATH, undefined, edited));
    expect(diff.onlyInMigrations).toEqual([
      expect.stringMatching(/^function backup_summary_on_record_change\(\) .*ELSE 0 END, CASE WHEN NEW.status/),
      expect.stringContaining('trigger CREATE TRIGGER "BackupRecord_summary_truncate"'),
    ]);
    expect(diff.onlyInSchema).toEqual([
      expect.stringMatching(/^function backup_summary_on_record_change\(\) .*ELSE 1 END, CASE WHEN NEW.status/),
    ]);
  });

  it('detects a changed default', async () => {
    const edited = path.join(workDir, 'schema-default.prisma');
    const schema = await readFile(SCHEMA_PATH, 'utf8');
    await writeFile(edited, schema.replace(/(backupRetention\s+Int\s+)@default\(10\)/, '$1@default(7)'));
    const diff = diffCatalogs(fromMigrations, await snapshotOfSchema(edited));
    expect(diff.onlyInSchema).toEqual(['column Deployment.backupRetention integer NOT NULL DEFAULT 7']);
  });
});
