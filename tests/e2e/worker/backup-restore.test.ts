import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { hashFile, verifyBackupFile } from '../../../src/lib/storage/verify-backup.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { freePort, mariadb, redis, runCommand } from '../../support/engines.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The whole path a real backup takes, with real parts: the real dump tool against the real local server, run
 * "in the pod" through @kubernetes/client-node and the fake API server, streamed into the backup volume, recorded.
 * Then each file is restored with the engine's own tool and the data compared: a backup is only what it restores.
 */
const ROWS = 2_000;
const SECRET = `pw-${randomBytes(6).toString('hex')}`;
let harness: BackupHarness;
let workspaceId: string;
let scratch: string;
const postgresDatabases: string[] = [];

beforeAll(async () => {
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
  scratch = await mkdtemp(path.join(os.tmpdir(), 'restore-'));
});
afterAll(async () => {
  await harness.close();
  for (const name of postgresDatabases) await dropDatabase(name);
  await rm(scratch, { recursive: true, force: true });
});

async function backUp(name: string, recipeSlug: string, container: string, env: Record<string, string>) {
  harness.kube.pods.push(podFor(name, container, env));
  const deployment = await createDeployment(harness.db.prisma, workspaceId, { name, recipeSlug });
  const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(
      `backup ${outcome.status}: ${JSON.stringify(outcome, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
    );
  const record = outcome.record;
  expect(record.path).toMatch(new RegExp(`^${harness.root}/${workspaceId}/${name}/\\d{8}T\\d{6}\\.\\d{3}Z\\.`));
  expect(await verifyBackupFile(record.path!, record.sha256!)).toEqual({ ok: true, sizeBytes: record.sizeBytes });
  expect((await hashFile(record.path!)).sha256).toBe(record.sha256);
  expect(record.sizeBytes! > 0n).toBe(true);
  const deploymentAfter = await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } });
  expect(deploymentAfter.lastBackupAt).toEqual(record.startedAt);
  return record;
}

async function pgFingerprint(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: string; digest: string }>(
      `SELECT count(*)::text AS count, md5(string_agg(id || ':' || name || ':' || encode(payload, 'hex'), ',' ORDER BY id)) AS digest FROM items`,
    );
    return `${rows[0]?.count}/${rows[0]?.digest}`;
  } finally {
    await client.end();
  }
}

describe('backup and restore with the real engines', () => {
  it('PostgreSQL: pg_dump custom format, stored as .dump, restores with pg_restore to identical rows', async () => {
    const source = await createDatabase(uniqueDatabaseName('ops_test_src'));
    postgresDatabases.push(source);
    const client = new pg.Client({ connectionString: databaseUrl(source) });
    await client.connect();
    await client.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, payload bytea NOT NULL)');
    await client.query(
      `INSERT INTO items SELECT g, 'item ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, ${ROWS}) g`,
    );
    await client.end();

    const record = await backUp('pg-main', 'postgresql', 'postgres', {
      PGHOST: '127.0.0.1',
      POSTGRES_USER: 'postgres',
      POSTGRES_DB: source,
      PGPASSWORD: SECRET,
    });
    expect(record).toMatchObject({ status: 'SUCCEEDED', format: 'postgres-custom', extension: 'dump', exitCode: 0 });
    expect(record.path!.endsWith('.dump')).toBe(true);
    expect((await readFile(record.path!)).subarray(0, 5).toString('latin1')).toBe('PGDMP');

    const restored = await createDatabase(uniqueDatabaseName('ops_test_restored'));
    postgresDatabases.push(restored);
    await runCommand('pg_restore', ['--no-owner', '--exit-on-error', '--dbname', databaseUrl(restored), record.path!]);
    expect(await pgFingerprint(databaseUrl(restored))).toBe(await pgFingerprint(databaseUrl(source)));
    expect(await pgFingerprint(databaseUrl(restored))).toMatch(new RegExp(`^${ROWS}/`));
  });

  it('MariaDB: mariadb-dump --single-transaction, stored as .sql.gz, restores to identical rows', async () => {
    const database = `ops_test_maria_${randomBytes(4).toString('hex')}`;
    await mariadb(`CREATE DATABASE ${database}`);
    try {
      await mariadb(
        'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, payload VARBINARY(32) NOT NULL) ENGINE=InnoDB',
        database,
      );
      await mariadb(
        `INSERT INTO items SELECT seq, CONCAT('item ', seq), UNHEX(MD5(seq)) FROM seq_1_to_${ROWS}`,
        database,
      );
      const fingerprint = () =>
        mariadb(
          `SELECT COUNT(*), MD5(GROUP_CONCAT(id, ':', name, ':', HEX(payload) ORDER BY id SEPARATOR ',')) FROM items`,
          database,
        );
      const before = await fingerprint();
      expect(before.startsWith(`${ROWS}\t`)).toBe(true);

      const record = await backUp('maria-main', 'mariadb', 'mariadb', {
        MARIADB_USER: 'root',
        MARIADB_DATABASE: database,
        MARIADB_ROOT_PASSWORD: '',
      });
      expect(record).toMatchObject({ format: 'mysql-sql', extension: 'sql.zst' });
      const dump = zstdDecompressSync(await readFile(record.path!));
      const sql = dump.toString('latin1');
      expect(sql).toContain(`CREATE DATABASE /*!32312 IF NOT EXISTS*/ \`${database}\``);
      expect(sql.trimEnd()).toMatch(/-- Dump completed on .*$/);

      await mariadb(`DROP DATABASE ${database}`);
      await runCommand('mariadb', ['-uroot'], { input: dump });
      expect(await fingerprint()).toBe(before);
    } finally {
      await mariadb(`DROP DATABASE IF EXISTS ${database}`);
    }
  });

  it('Redis: an RDB snapshot, stored as .rdb.gz, loads into a fresh redis-server with every key and type', async () => {
    const prefix = `opsbk:${randomBytes(4).toString('hex')}`;
    await redis(['SET', `${prefix}:string`, 'hello world']);
    await redis(['HSET', `${prefix}:hash`, 'a', '1', 'b', '2']);
    await redis(['RPUSH', `${prefix}:list`, 'x', 'y', 'z']);
    await redis(['SADD', `${prefix}:set`, 'm', 'n']);
    await redis(['ZADD', `${prefix}:zset`, '1', 'one', '2', 'two']);
    try {
      const record = await backUp('cache-main', 'redis', 'redis', {});
      expect(record).toMatchObject({ format: 'redis-rdb', extension: 'rdb.zst' });
      const rdb = zstdDecompressSync(await readFile(record.path!));
      expect(rdb.subarray(0, 5).toString('latin1')).toBe('REDIS');

      const dir = path.join(scratch, 'redis');
      await runCommand('mkdir', ['-p', dir]);
      await writeFile(path.join(dir, 'dump.rdb'), rdb);
      const port = await freePort();
      const server = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--dbfilename',
          'dump.rdb',
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        { stdio: 'ignore' },
      );
      try {
        await waitForRedis(port);
        expect(await redis(['GET', `${prefix}:string`], port)).toBe('hello world');
        expect(await redis(['HGETALL', `${prefix}:hash`], port)).toBe('a\n1\nb\n2');
        expect(await redis(['LRANGE', `${prefix}:list`, '0', '-1'], port)).toBe('x\ny\nz');
        expect((await redis(['SMEMBERS', `${prefix}:set`], port)).split('\n').sort()).toEqual(['m', 'n']);
        expect(await redis(['ZRANGE', `${prefix}:zset`, '0', '-1', 'WITHSCORES'], port)).toBe('one\n1\ntwo\n2');
      } finally {
        server.kill('SIGKILL');
      }
    } finally {
      await redis(['DEL', `${prefix}:string`, `${prefix}:hash`, `${prefix}:list`, `${prefix}:set`, `${prefix}:zset`]);
    }
  });

  it('never writes a secret from the pod environment into logs or records', async () => {
    const records = await harness.db.prisma.backupRecord.findMany();
    expect(records.length).toBeGreaterThanOrEqual(1);
    const stored = JSON.stringify(records, (_key, value) => (typeof value === 'bigint' ? String(value) : value));
    expect(stored).not.toContain(SECRET);
    expect(harness.logs()).not.toContain(SECRET);
    expect(harness.kube.execs.every((exec) => !exec.argv.join(' ').includes(SECRET))).toBe(true);
  });
});

async function waitForRedis(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await redis(['PING'], port)) === 'PONG') return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
