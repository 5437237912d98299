import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/lib/encryption/index.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import {
  createFileBackupStore,
  IdentityRequiredError,
  openDecodedStream,
  type BackupStore,
} from '../../../src/lib/storage/index.ts';
import { checkBackupFormat } from '../../../src/lib/verification/format-check.ts';
import { runCommand } from '../../support/engines.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The store's compression and encryption on real PostgreSQL data: a plain-SQL pg_dump stored with zstd (`.sql.zst`,
 * readable by the `zstd` CLI) and with zstd + age, read back by our decoder into psql with the data equal; a
 * truncated zstd file fails the format check; an encrypted file cannot be read without an identity.
 */
const WORKSPACE = 'clx0encoding';
const T0 = new Date('2026-12-03T08:00:00.000Z');
let scratch: string;
let store: BackupStore;
let source: string;
const restored: string[] = [];
const digest = `SELECT count(*)::text AS n, md5(string_agg(id || note, ',' ORDER BY id)) AS d FROM items`;

/** Streams `pg_dump --format=plain` of `database` into a new backup of the store. */
async function dumpInto(target: Parameters<BackupStore['open']>[0]) {
  const writer = await store.open(target);
  const child = spawn('pg_dump', ['--format=plain', '--no-owner', `--dbname=${databaseUrl(source)}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await pipeline(child.stdout, writer.stream, { end: false });
  return writer.commit();
}

async function psqlFrom(
  filePath: string,
  encoding: Parameters<typeof openDecodedStream>[1],
  identities = [] as ReturnType<typeof generateIdentity>['identity'][],
) {
  const database = await createDatabase(uniqueDatabaseName('ops_test_zst'));
  restored.push(database);
  const psql = spawn('psql', ['--quiet', '--set=ON_ERROR_STOP=1', `--dbname=${databaseUrl(database)}`], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => psql.on('close', resolve));
  await pipeline(openDecodedStream(filePath, encoding, { identities }), psql.stdin);
  expect(await exited).toBe(0);
  return database;
}

async function query(database: string, sql: string): Promise<string> {
  const { stdout } = await runCommand('psql', [
    '--no-align',
    '--tuples-only',
    `--dbname=${databaseUrl(database)}`,
    '-c',
    sql,
  ]);
  return stdout.toString().trim();
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'encoding-'));
  store = createFileBackupStore({ root: scratch, logger: createLogger({ level: 'silent' }) });
  source = await createDatabase(uniqueDatabaseName('ops_test_zsrc'));
  await query(
    source,
    `CREATE TABLE items AS SELECT g AS id, md5(g::text) || ' ' || repeat('x', g % 50) AS note FROM generate_series(1, 20000) g`,
  );
});

afterAll(async () => {
  for (const database of [source, ...restored]) await dropDatabase(database);
  await rm(scratch, { recursive: true, force: true });
});

describe('zstd and age in the store, on a plain-SQL PostgreSQL dump', () => {
  it('stores .sql.zst that the zstd CLI reads, and our decoder restores it into psql, data equal', async () => {
    const stored = await dumpInto({
      workspaceId: WORKSPACE,
      deploymentName: 'pg-plain',
      extension: 'sql',
      compressed: false,
      compression: 'zstd',
      startedAt: T0,
    });
    expect(stored.extension).toBe('sql.zst');
    expect(stored.encryptedTo).toEqual([]);
    const { stdout } = await runCommand('zstd', ['-d', '-c', '-q', stored.path]);
    expect(stdout.toString()).toContain('CREATE TABLE public.items');
    const database = await psqlFrom(stored.path, { compression: 'zstd', encrypted: false });
    expect(await query(database, digest)).toBe(await query(source, digest));
  });

  it('stores .sql.zst.age that only an identity reads, and restores it, data equal', async () => {
    const { identity } = generateIdentity();
    const stored = await dumpInto({
      workspaceId: WORKSPACE,
      deploymentName: 'pg-plain-enc',
      extension: 'sql',
      compressed: false,
      compression: 'zstd',
      recipients: [identity.recipient],
      startedAt: T0,
    });
    expect(stored.extension).toBe('sql.zst.age');
    expect(stored.encryptedTo).toEqual([identity.recipient.fingerprint]);
    expect(() => openDecodedStream(stored.path, { compression: 'zstd', encrypted: true })).toThrow(
      IdentityRequiredError,
    );
    const database = await psqlFrom(stored.path, { compression: 'zstd', encrypted: true }, [identity]);
    expect(await query(database, digest)).toBe(await query(source, digest));
  });

  it('stores none as plain .sql', async () => {
    const stored = await dumpInto({
      workspaceId: WORKSPACE,
      deploymentName: 'pg-none',
      extension: 'sql',
      compressed: false,
      compression: 'none',
      startedAt: T0,
    });
    expect(stored.extension).toBe('sql');
    expect((await readFile(stored.path, 'utf8')).startsWith('--\n-- PostgreSQL database dump')).toBe(true);
  });

  it('fails the format check of a truncated or corrupt zstd file, and passes an intact one', async () => {
    const dump = `-- MariaDB dump\nINSERT INTO t VALUES (1);\n${randomBytes(100_000).toString('hex')}\n-- Dump completed on 2026-12-03  8:00:00\n`;
    const writer = await store.open({
      workspaceId: WORKSPACE,
      deploymentName: 'maria-zst',
      extension: 'sql',
      compressed: false,
      compression: 'zstd',
      startedAt: T0,
    });
    writer.stream.end(dump);
    const stored = await writer.commit();
    expect(zstdDecompressSync(await readFile(stored.path)).toString()).toBe(dump);
    const intact = await checkBackupFormat({ path: stored.path, format: 'mysql-sql', extension: 'sql.zst' });
    expect(intact).toMatchObject({ ok: true, method: 'mysql-trailer', detail: expect.stringContaining('zstd intact') });
    const bytes = await readFile(stored.path);
    const cut = path.join(scratch, 'cut.sql.zst');
    await writeFile(cut, bytes.subarray(0, bytes.length - 100));
    const truncated = await checkBackupFormat({ path: cut, format: 'mysql-sql', extension: 'sql.zst' });
    expect(truncated).toMatchObject({ ok: false, error: expect.stringMatching(/^zstd: .*truncated or corrupt/) });
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    const corrupt = path.join(scratch, 'corrupt.sql.zst');
    await writeFile(corrupt, flipped);
    expect(await checkBackupFormat({ path: corrupt, format: 'mysql-sql', extension: 'sql.zst' })).toMatchObject({
      ok: false,
    });
  });
});
