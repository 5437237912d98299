import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Test databases on the real local PostgreSQL. The global setup builds one migrated *template* per set of
 * migrations; each test file clones it (`CREATE DATABASE … TEMPLATE …`, milliseconds) and drops its clone afterwards.
 */
export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

/** The connection string of database `name` on the admin server. */
export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs statements on the admin database (CREATE/DROP DATABASE cannot run inside a transaction). */
export async function adminQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/** A unique, valid database name with a readable prefix. */
export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** Creates an empty database (or a clone of `template`) and returns its name. */
export async function createDatabase(name: string, template?: string): Promise<string> {
  await adminQuery(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`);
  return name;
}

/** Drops a database, closing any connections left open to it. */
export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}
