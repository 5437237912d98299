import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { createPgPool } from './pg-pool.ts';
import { PrismaClient } from '../../generated/prisma/client.ts';
import type { Logger } from '../shared/index.ts';
import { applyMigrations, readMigrations, type MigrationConnection, type MigrationReport } from './migrations.ts';
import { pgliteQuery, poolQuery, type SqlQuery } from './sql-query.ts';

export { PrismaClient };

/** An open, migrated database. `kind` says whether it is a PostgreSQL server or the embedded PGlite default. */
export interface Database {
  prisma: PrismaClient;
  /** Statements run without Prisma, on the same connections (see `SqlQuery`). */
  query: SqlQuery;
  kind: 'postgres' | 'embedded';
  /** Where the data lives, safe to log (no credentials). */
  location: string;
  migrations: MigrationReport;
  /** How other clients of the same database connect (the job queue): the server's URL, or the embedded instance. */
  connection: DatabaseConnection;
  close(): Promise<void>;
}

/** A PostgreSQL server by its connection string, or the embedded PGlite instance (one connection, shared). */
export type DatabaseConnection = { kind: 'postgres'; url: string } | { kind: 'embedded'; pglite: PGlite };

export interface DatabaseOptions {
  /** PostgreSQL connection string; unset selects the embedded database in `embeddedDir`. */
  databaseUrl?: string | undefined;
  embeddedDir: string;
  logger: Logger;
}

/**
 * Opens the platform database and applies pending migrations: PostgreSQL through `@prisma/adapter-pg` when a URL is
 * given, else an embedded PGlite database on disk (announced in the log, so nobody mistakes it for production).
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const log = options.logger.child({ module: 'db' });
  const migrations = await readMigrations();
  if (options.databaseUrl) {
    const report = await withPgConnection(options.databaseUrl, (connection) =>
      applyMigrations(connection, migrations, log),
    );
    // One pool for Prisma's adapter and for the statements run without Prisma.
    const pool = createPgPool(options.databaseUrl, (error) =>
      log.warn({ err: error }, 'an idle database connection was closed by the server; the next query opens another'),
    );
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    await prisma.$queryRaw`SELECT 1`;
    return {
      prisma,
      query: poolQuery(pool),
      kind: 'postgres',
      location: describePgLocation(options.databaseUrl),
      migrations: report,
      connection: { kind: 'postgres', url: options.databaseUrl },
      async close() {
        await prisma.$disconnect();
        await pool.end();
      },
    };
  }
  const dataDir = path.resolve(options.embeddedDir);
  await mkdir(dataDir, { recursive: true });
  log.warn({ dataDir }, 'DATABASE_URL is not set: using the embedded PGlite database (for local use, not production)');
  // Loaded only here: a process on a PostgreSQL server never pays for the embedded database's import.
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('pglite-prisma-adapter'),
  ]);
  const pglite = await PGlite.create(dataDir);
  const report = await applyMigrations(pgliteConnection(pglite), migrations, log);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    prisma,
    query: pgliteQuery(pglite),
    kind: 'embedded',
    location: dataDir,
    migrations: report,
    connection: { kind: 'embedded', pglite },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}

/** Runs `work` with a dedicated node-postgres connection that is always closed afterwards. */
export async function withPgConnection<T>(
  databaseUrl: string,
  work: (connection: MigrationConnection) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work({
      query: async <Row>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as Row[],
      exec: async (sql: string) => {
        await client.query(sql);
      },
    });
  } finally {
    await client.end();
  }
}

/** The migration interface over a PGlite instance. */
export function pgliteConnection(db: PGlite): MigrationConnection {
  return {
    query: async <Row>(sql: string, params?: unknown[]) => (await db.query<Row>(sql, params)).rows,
    exec: async (sql: string) => {
      await db.exec(sql);
    },
  };
}

/** host:port/database of a connection string, without user or password. */
export function describePgLocation(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
}
