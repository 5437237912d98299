import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createDatabase, databaseUrl, uniqueDatabaseName } from './postgres.ts';

/** Small helpers for backup tests that look at the volume, wait for a state, or need a database to dump. */

const POLL_INTERVAL_MS = 50;

/** `{root}/{workspaceId}/{deploymentName}`, the folder the store writes a deployment's files to. */
export function folderOf(root: string, deployment: { workspaceId: string; name: string }): string {
  return path.join(root, deployment.workspaceId, deployment.name);
}

/** Every file under `folder`, hidden temporary files included, as paths relative to it; empty when it does not exist. */
export async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    },
  );
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Polls `check` until it returns a value other than undefined/false, or fails naming `what` after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_INTERVAL_MS);
  }
}

/** JSON of anything a test wants to search for a string in, BigInt fields included. */
export function toSearchableJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? field.toString() : field));
}

/**
 * A scratch PostgreSQL database with one table of `rows` rows of hex text (about 70 bytes each, compressing to about
 * half), for pg_dump to export. The caller drops it with `dropDatabase`.
 */
export async function createSourceDatabase(rows: number): Promise<string> {
  const name = await createDatabase(uniqueDatabaseName('backup_source'));
  const client = new pg.Client({ connectionString: databaseUrl(name) });
  await client.connect();
  try {
    await client.query('CREATE TABLE items (id integer PRIMARY KEY, note text NOT NULL)');
    await client.query(
      'INSERT INTO items SELECT g, md5(g::text) || md5(random()::text) FROM generate_series(1, $1::integer) g',
      [rows],
    );
  } finally {
    await client.end();
  }
  return name;
}
