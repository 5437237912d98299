import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MigrationConnection } from './migrations.ts';

/**
 * Drift check between `prisma/schema.prisma` and the committed migrations, without Prisma's downloadable engine:
 * Prisma 6's WebAssembly schema engine renders the SQL the schema implies (`migrate diff --from-empty`), and the
 * database that SQL builds is compared, catalog entry by catalog entry, with the database the migrations build.
 * Partial indexes and triggers, which Prisma's schema language cannot express, are part of the schema as
 * `prisma/partial-indexes.sql` and `prisma/triggers.sql`: the schema's SQL includes both files, so their indexes,
 * triggers and trigger functions are compared like any other catalog entry.
 */

// From this module's path, not `new URL('…', import.meta.url)`: Turbopack takes that for an asset import (migrations.ts).
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const SCHEMA_PATH = path.join(ROOT, 'prisma', 'schema.prisma');
const PRISMA6_CLI = path.join(ROOT, 'node_modules', 'prisma6', 'build', 'index.js');
const PRISMA6_CONFIG = path.join(ROOT, 'prisma', 'drift', 'prisma6.config.ts');
const ENGINE_STUB = path.join(ROOT, 'prisma', 'schema-engine-stub.sh');
/** The schema's partial indexes (SQL), which a Prisma schema cannot hold. */
export const PARTIAL_INDEXES_PATH = path.join(ROOT, 'prisma', 'partial-indexes.sql');
/** The schema's triggers and their functions (SQL), which a Prisma schema cannot hold either. */
export const TRIGGERS_PATH = path.join(ROOT, 'prisma', 'triggers.sql');

/**
 * The SQL that creates `schemaPath` from nothing, followed by the partial indexes of `partialIndexesPath` and the
 * triggers of `triggersPath`.
 * `scratchDatabaseUrl` must name an existing database: Prisma 6's WebAssembly engine connects through a driver adapter
 * even though it only renders SQL.
 */
export async function renderSchemaSql(
  schemaPath: string,
  scratchDatabaseUrl: string,
  partialIndexesPath = PARTIAL_INDEXES_PATH,
  triggersPath = TRIGGERS_PATH,
): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'schema-drift-'));
  try {
    // Prisma 6 insists on a datasource url; Prisma 7 forbids one in the schema. Add it to a copy.
    const schema = (await readFile(schemaPath, 'utf8')).replace(
      /(datasource\s+\w+\s*\{[^}]*provider\s*=\s*"postgresql")/,
      '$1\n  url = env("DRIFT_DATABASE_URL")',
    );
    const copy = path.join(dir, 'schema.prisma');
    await writeFile(copy, schema);
    const { stdout, stderr, code } = await run(
      process.execPath,
      [
        PRISMA6_CLI,
        'migrate',
        'diff',
        '--config',
        PRISMA6_CONFIG,
        '--from-empty',
        '--to-schema-datamodel',
        copy,
        '--script',
      ],
      {
        ...process.env,
        DRIFT_DATABASE_URL: scratchDatabaseUrl,
        PRISMA_SCHEMA_ENGINE_BINARY: ENGINE_STUB,
        PRISMA_QUERY_ENGINE_LIBRARY: ENGINE_STUB,
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
        CHECKPOINT_DISABLE: '1',
      },
    );
    // Prisma exits 0 with empty output when an engine fails silently: treat "no SQL" as a failure too.
    if (code !== 0 || !/CREATE TABLE/.test(stdout)) {
      throw new Error(`schema drift: prisma migrate diff failed (exit ${code}): ${stderr.trim() || 'no SQL produced'}`);
    }
    const [partialIndexes, triggers] = await Promise.all([
      readFile(partialIndexesPath, 'utf8'),
      readFile(triggersPath, 'utf8'),
    ]);
    return `${stdout}\n${partialIndexes}\n${triggers}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A normalised description of the `public` schema: one line per column, enum, index, constraint, trigger and function
 * (its definition, whitespace folded), sorted.
 * Prisma's own `_prisma_migrations` bookkeeping table is left out.
 */
export async function snapshotCatalog(connection: MigrationConnection): Promise<string[]> {
  const rows = await connection.query<{ line: string }>(`
    SELECT format('column %s.%s %s%s%s', c.table_name, c.column_name,
                  format_type(a.atttypid, a.atttypmod),
                  CASE WHEN c.is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END,
                  COALESCE(' DEFAULT ' || c.column_default, '')) AS line
      FROM information_schema.columns c
      JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
                         AND a.attname = c.column_name
     WHERE c.table_schema = 'public' AND c.table_name <> '_prisma_migrations'
    UNION ALL
    SELECT format('enum %s (%s)', t.typname, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder))
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = 'public'
     GROUP BY t.typname
    UNION ALL
    SELECT format('index %s', indexdef) FROM pg_indexes
     WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
    UNION ALL
    SELECT format('constraint %s.%s %s', rel.relname, con.conname, pg_get_constraintdef(con.oid))
      FROM pg_constraint con
      JOIN pg_class rel ON rel.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = rel.relnamespace
     WHERE n.nspname = 'public' AND rel.relname <> '_prisma_migrations'
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
      FROM pg_trigger t
      JOIN pg_class rel ON rel.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = rel.relnamespace
     WHERE n.nspname = 'public' AND NOT t.tgisinternal
    UNION ALL
    SELECT format('function %s %s', p.oid::regprocedure, regexp_replace(pg_get_functiondef(p.oid), '[[:space:]]+', ' ', 'g'))
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public'
  `);
  return rows.map((row) => row.line).sort();
}

/** Lines present in only one of two snapshots; both empty means no drift. */
export function diffCatalogs(
  fromMigrations: string[],
  fromSchema: string[],
): { onlyInMigrations: string[]; onlyInSchema: string[] } {
  const migrationSet = new Set(fromMigrations);
  const schemaSet = new Set(fromSchema);
  return {
    onlyInMigrations: fromMigrations.filter((line) => !schemaSet.has(line)),
    onlyInSchema: fromSchema.filter((line) => !migrationSet.has(line)),
  };
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}
