import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/index.ts';

/**
 * Our migration runner. Prisma's `migrate deploy` needs a native schema engine that cannot be downloaded everywhere,
 * so we apply the committed SQL ourselves while keeping Prisma's `_prisma_migrations` table exactly as Prisma keeps
 * it (same columns, sha256 checksums of the file bytes, one row per applied migration). A machine that can run the
 * real `prisma migrate deploy` takes over seamlessly.
 */

/**
 * Default location of the committed migrations. Computed from this module's path rather than written as
 * `new URL('…', import.meta.url)`, which Next's bundler (Turbopack) takes for an asset import and fails on a folder.
 */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../prisma/migrations');

/** The advisory lock key Prisma's own engine takes, so our runner and Prisma's exclude each other. */
const PRISMA_ADVISORY_LOCK_KEY = 72707369;

const MIGRATION_NAME = /^\d{14}_[a-z0-9_]+$/;

const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** A committed migration: folder name, SQL text and its Prisma-compatible checksum. */
export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/** The two operations the runner needs; implemented for node-postgres and for PGlite. */
export interface MigrationConnection {
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Runs a script of several statements. */
  exec(sql: string): Promise<void>;
}

/** A migration that cannot be applied, or an applied one whose file changed since. */
export class MigrationError extends Error {
  override name = 'MigrationError';
  constructor(
    message: string,
    readonly migrationName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** sha256 of the file bytes, hex: what Prisma stores in `_prisma_migrations.checksum`. */
export function checksumMigration(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

/** Reads `<dir>/<timestamp>_<name>/migration.sql` in name order. Other entries (migration_lock.toml) are ignored. */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  // The ignore comment keeps Next's file tracing from including the whole project because of this folder read.
  const entries = await readdir(/* turbopackIgnore: true */ dir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    if (!MIGRATION_NAME.test(name)) {
      throw new MigrationError(
        `migrations: folder "${name}" is not named <14-digit timestamp>_<snake_case_name>`,
        name,
      );
    }
    const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
    migrations.push({ name, sql, checksum: checksumMigration(sql) });
  }
  return migrations;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
}

/** What one run did. */
export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies every migration not applied yet, each in its own transaction, under Prisma's advisory lock so that two
 * processes starting together apply each migration once. Idempotent. Refuses to continue when an applied migration's
 * file was changed or a previous attempt was left unfinished (by Prisma's engine) — those need a person.
 */
export async function applyMigrations(
  connection: MigrationConnection,
  migrations: readonly Migration[],
  logger?: Logger,
): Promise<MigrationReport> {
  await connection.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
  try {
    await connection.exec(CREATE_MIGRATIONS_TABLE);
    const rows = await connection.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const applied = new Map(rows.map((row) => [row.migration_name, row]));
    const report: MigrationReport = { applied: [], alreadyApplied: [] };
    for (const migration of migrations) {
      const row = applied.get(migration.name);
      if (row && row.finished_at === null) {
        throw new MigrationError(
          `migrations: "${migration.name}" was started but never finished; inspect the database, then mark it rolled back`,
          migration.name,
        );
      }
      if (row) {
        if (row.checksum !== migration.checksum) {
          throw new MigrationError(
            `migrations: "${migration.name}" was modified after it was applied (checksum ${row.checksum.slice(0, 12)}… ` +
              `in the database, ${migration.checksum.slice(0, 12)}… on disk); add a new migration instead`,
            migration.name,
          );
        }
        report.alreadyApplied.push(migration.name);
        continue;
      }
      await applyOne(connection, migration);
      logger?.info({ migration: migration.name }, 'migration applied');
      report.applied.push(migration.name);
    }
    return report;
  } finally {
    await connection.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
  }
}

async function applyOne(connection: MigrationConnection, migration: Migration): Promise<void> {
  await connection.exec('BEGIN');
  try {
    await connection.exec(migration.sql);
    await connection.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, now(), $3, now(), 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
    await connection.exec('COMMIT');
  } catch (error) {
    await connection.exec('ROLLBACK').catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`migrations: "${migration.name}" failed and was rolled back: ${reason}`, migration.name, {
      cause: error,
    });
  }
}
