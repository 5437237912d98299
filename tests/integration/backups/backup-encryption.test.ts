import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { parseIdentityFile, parseRecipient } from '../../../src/lib/encryption/index.ts';
import { restoreBackup } from '../../../src/lib/restore/restore-backup.ts';
import { createFileSink } from '../../../src/lib/storage/index.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { freePort, mariadb, redis, runCommand } from '../../support/engines.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * Encrypted backups of PostgreSQL, MariaDB and Redis through the real backup path: every byte that reaches the volume
 * is age ciphertext (the file sink sees an age header first and never the data's marker), the record names the
 * recipient's fingerprint, the format check decrypts, our restore finds the right identity among several, and the
 * same file decrypts with the standard `age` CLI and restores with the engine's own tool (no code of ours), data
 * equal. Compression differs per engine: PostgreSQL's custom dump as it comes (`.dump.age`), MariaDB gzip
 * (`.sql.gz.age`), Redis zstd (`.rdb.zst.age`).
 */
const MARKER = `plaintext-marker-${randomBytes(8).toString('hex')}`;
const AGE_HEADER = 'age-encryption.org/v1\n';
let harness: BackupHarness;
let keys: string;
let recipientKey: string;
let recipient: string;
let workspaceId: string;
/** The first bytes each backup file received, and any chunk that carried the marker. */
const fileHeads: string[] = [];
const plaintextChunks: string[] = [];

function keygen(file: string): string {
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  return execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim();
}

/** The store's real file sink, watched: what it receives is what reaches the disk. */
function watchedSink(file: Parameters<typeof createFileSink>[0]): Writable {
  const inner = createFileSink(file);
  let first = true;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (first) fileHeads.push(chunk.subarray(0, AGE_HEADER.length).toString('latin1'));
      first = false;
      if (chunk.includes(MARKER)) plaintextChunks.push(chunk.toString('latin1', 0, 64));
      inner.write(chunk, callback);
    },
    final(callback) {
      inner.end(callback);
    },
  });
}

async function pgQuery<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

beforeAll(async () => {
  harness = await startBackupHarness({ createSink: watchedSink });
  keys = await mkdtemp(path.join(os.tmpdir(), 'age-keys-'));
  recipientKey = path.join(keys, 'recipient.key');
  recipient = keygen(recipientKey);
  keygen(path.join(keys, 'other.key'));
  // The worker's identity file holds another identity first: the restore must find the one that opens the file.
  const identityFile = `${await readFile(path.join(keys, 'other.key'), 'utf8')}\n${await readFile(recipientKey, 'utf8')}`;
  harness.deps.identities = parseIdentityFile(identityFile);
  const workspace = await createWorkspace(harness.db.prisma);
  workspaceId = workspace.id;
  await harness.db.prisma.workspace.update({
    where: { id: workspace.id },
    data: { backupAgeRecipients: `# the ops team\n${recipient}\n` },
  });
});

afterAll(async () => {
  await harness?.close();
  await rm(keys, { recursive: true, force: true });
});

/** Every backup file on the volume is age ciphertext; no chunk the sink received held the marker. */
async function expectOnlyCiphertextOnTheVolume(): Promise<void> {
  expect(fileHeads.length).toBeGreaterThan(0);
  for (const head of fileHeads) expect(head).toBe(AGE_HEADER);
  expect(plaintextChunks).toEqual([]);
  for (const file of await filesUnder(harness.root)) {
    const bytes = await readFile(file);
    expect(bytes.includes(MARKER), file).toBe(false);
    // Sidecars and manifests hold metadata only (sha256, sizes, recipients), checked above for the marker.
    if (!file.endsWith('.sha256') && !file.endsWith('.json'))
      expect(bytes.subarray(0, AGE_HEADER.length).toString('latin1'), file).toBe(AGE_HEADER);
  }
}

describe('encrypted PostgreSQL backup', () => {
  let live: string;
  let restoredByCli: string;
  afterAll(async () => {
    await dropDatabase(live);
    if (restoredByCli) await dropDatabase(restoredByCli);
  });

  it('stores .dump.age, restores with our restore and with age -d | pg_restore, data equal', async () => {
    live = await createDatabase(uniqueDatabaseName('ops_test_enc'));
    await pgQuery(live, 'CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)');
    await pgQuery(live, `INSERT INTO items SELECT g, '${MARKER} ' || g FROM generate_series(1, 2000) g`);
    harness.kube.pods.push(
      podFor('pg-enc', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: live }),
    );
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name: 'pg-enc',
      recipeSlug: 'postgresql',
    });
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}: ${JSON.stringify(outcome)}`);
    const { record } = outcome;
    expect(record).toMatchObject({
      extension: 'dump.age',
      encryptedTo: parseRecipient(recipient).fingerprint,
      verifyMethod: 'pg_restore',
      verifyError: null,
    });
    expect(record.verifiedAt).not.toBeNull();
    expect(record.path).toMatch(/\.dump\.age$/);

    const restored = await restoreBackup(harness.deps, record.id, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', errorKind: null });
    expect(restored.counts).toEqual({ tables: { 'public.items': 2000 } });

    restoredByCli = await createDatabase(uniqueDatabaseName('ops_test_enc_cli'));
    await runCommand('bash', [
      '-o',
      'pipefail',
      '-c',
      'age -d -i "$1" "$2" | pg_restore --no-owner --exit-on-error --dbname="$3"',
      'bash',
      recipientKey,
      record.path!,
      databaseUrl(restoredByCli),
    ]);
    const digest = "SELECT count(*)::text AS n, md5(string_agg(id || note, ',' ORDER BY id)) AS d FROM items";
    expect(await pgQuery(restoredByCli, digest)).toEqual(await pgQuery(live, digest));
    await expectOnlyCiphertextOnTheVolume();
  });
});

describe('encrypted MariaDB backup (gzip)', () => {
  const database = `ops_test_enc_${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    await mariadb(`DROP DATABASE IF EXISTS ${database}`);
  });

  it('stores .sql.gz.age, restores with our restore and with age -d | gunzip | mariadb, data equal', async () => {
    await mariadb(`CREATE DATABASE ${database}`);
    await mariadb('CREATE TABLE items (id INT PRIMARY KEY, note VARCHAR(200) NOT NULL)', database);
    await mariadb(`INSERT INTO items SELECT seq, CONCAT('${MARKER} ', seq) FROM seq_1_to_1500`, database);
    harness.kube.pods.push(
      podFor('maria-enc', 'mariadb', { MARIADB_USER: 'root', MARIADB_DATABASE: database, MARIADB_ROOT_PASSWORD: '' }),
    );
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name: 'maria-enc',
      recipeSlug: 'mariadb',
      backupCompression: 'gzip',
    });
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
    expect(outcome.record).toMatchObject({ extension: 'sql.gz.age', verifyMethod: 'mysql-trailer', verifyError: null });

    const restored = await restoreBackup(harness.deps, outcome.record.id, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', errorKind: null });
    expect(restored.counts).toEqual({ tables: { items: 1500 } });

    const digest = `SELECT COUNT(*), MD5(GROUP_CONCAT(id, note ORDER BY id SEPARATOR ',')) FROM items`;
    const before = await mariadb(digest, database);
    await mariadb(`DROP DATABASE ${database}`);
    // The dump names its database (--databases): the engine's own client recreates it.
    await runCommand('bash', [
      '-o',
      'pipefail',
      '-c',
      'age -d -i "$1" "$2" | gunzip | mariadb -uroot',
      'bash',
      recipientKey,
      outcome.record.path!,
    ]);
    expect(await mariadb(digest, database)).toBe(before);
    await expectOnlyCiphertextOnTheVolume();
  });
});

describe('encrypted Redis backup (zstd)', () => {
  let folder: string;
  const servers: ChildProcess[] = [];
  afterAll(async () => {
    for (const server of servers) server.kill('SIGKILL');
    await rm(folder, { recursive: true, force: true });
  });

  async function startRedis(port: number, dir: string, dbfilename = 'dump.rdb'): Promise<void> {
    const server = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--dbfilename',
        dbfilename,
      ],
      { stdio: 'ignore' },
    );
    servers.push(server);
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

  const snapshot = async (port: number) => ({
    string: await redis(['GET', 'k:string'], port),
    hash: await redis(['HGETALL', 'k:hash'], port),
    list: await redis(['LRANGE', 'k:list', '0', '-1'], port),
    size: await redis(['DBSIZE'], port),
  });

  it('stores .rdb.zst.age, restores with our restore and with age -d | zstd -d into redis-server, data equal', async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'redis-enc-'));
    const port = await freePort();
    await startRedis(port, folder);
    const bin = path.join(folder, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'redis-cli'), `#!/bin/sh\nexec /usr/bin/redis-cli -p ${port} "$@"\n`);
    await chmod(path.join(bin, 'redis-cli'), 0o755);
    await redis(['SET', 'k:string', MARKER], port);
    await redis(['HSET', 'k:hash', 'a', '1', 'b', MARKER], port);
    await redis(['RPUSH', 'k:list', 'x', 'y', 'z'], port);
    for (let i = 0; i < 100; i += 1) await redis(['SET', `k:n:${i}`, `${MARKER}:${i}`], port);
    harness.kube.pods.push(podFor('cache-enc', 'redis', { PATH: `${bin}:${process.env.PATH}` }));
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name: 'cache-enc',
      recipeSlug: 'redis',
      backupCompression: 'zstd',
    });
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
    expect(outcome.record).toMatchObject({ extension: 'rdb.zst.age', verifyMethod: 'rdb-checksum', verifyError: null });
    // The manifest beside the file says how to read it without the platform database: zstd, then age to whom.
    const manifest = JSON.parse(await readFile(`${outcome.record.path!}.json`, 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      compression: 'zstd',
      encryptionRecipient: parseRecipient(recipient).fingerprint,
      sha256: outcome.record.sha256,
    });

    const restored = await restoreBackup(harness.deps, outcome.record.id, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', errorKind: null });
    expect(restored.counts).toEqual({ keys: { db0: 103 } });

    const cliFolder = path.join(folder, 'cli');
    await mkdir(cliFolder);
    await runCommand('bash', [
      '-o',
      'pipefail',
      '-c',
      'age -d -i "$1" "$2" | zstd -d -q -o "$3"',
      'bash',
      recipientKey,
      outcome.record.path!,
      path.join(cliFolder, 'dump.rdb'),
    ]);
    const cliPort = await freePort();
    await startRedis(cliPort, cliFolder);
    expect(await snapshot(cliPort)).toEqual(await snapshot(port));
    await expectOnlyCiphertextOnTheVolume();
  });
});
