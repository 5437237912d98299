import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { runOnce, type LoopDependencies } from '../../../src/lib/worker/loop.ts';
import { callTool } from '../../../src/lib/agent/tool.ts';
import type { ToolContext } from '../../../src/lib/agent/tool-context.ts';
import { backupTools } from '../../../src/lib/agent/tools.ts';
import { approveRestore, restoreBackup } from '../../../src/lib/restore/restore-backup.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { freePort, mariadb, redis } from '../../support/engines.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { startS3Server, type S3Server } from '../../support/s3-server.ts';

/**
 * The whole recoverability story, for PostgreSQL, MariaDB and Redis at once, with real parts throughout: one worker
 * cycle backs the three deployments up (real dump tools through @kubernetes/client-node and the fake API server),
 * checks each file's format, copies it to a real S3-protocol server (s3rver) and test-restores it into a scratch
 * target. Then the live data is damaged, the agent *proposes* a restore (it cannot confirm one), a person approves it
 * and confirms with the token, and the live data is compared with what was backed up.
 */
const ROWS = 1_500;
const HOUR = 3_600_000;
let harness: BackupHarness;
let s3: S3Server;
let workspaceId: string;
let postgresDatabase: string;
let mariaDatabase: string;
let redisFolder: string;
let redisServer: ChildProcess;
let redisPort: number;
const deployments: Record<'postgres' | 'maria' | 'redis', Deployment> = {} as never;
const original: Record<'postgres' | 'maria' | 'redis', string> = {} as never;

async function withPostgres<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(postgresDatabase) });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

const postgresFingerprint = () =>
  withPostgres(async (client) => {
    const { rows } = await client.query<{ summary: string }>(
      `SELECT count(*) || '/' || md5(string_agg(id || ':' || name || ':' || encode(payload, 'hex'), ',' ORDER BY id)) AS summary FROM items`,
    );
    return rows[0]!.summary;
  });
const mariaFingerprint = () =>
  mariadb(
    `SELECT CONCAT(COUNT(*), '/', MD5(GROUP_CONCAT(id, ':', name, ':', HEX(payload) ORDER BY id SEPARATOR ','))) FROM items`,
    mariaDatabase,
  );
const redisFingerprint = async () =>
  JSON.stringify({
    size: await redis(['DBSIZE'], redisPort),
    hash: await redis(['HGETALL', 'user:1'], redisPort),
    list: await redis(['LRANGE', 'queue', '0', '-1'], redisPort),
    sample: await redis(['MGET', 'k:0', 'k:99', 'k:199'], redisPort),
  });

async function startPodRedis(): Promise<void> {
  redisFolder = await mkdtemp(path.join(os.tmpdir(), 'recoverability-redis-'));
  redisPort = await freePort();
  redisServer = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisFolder],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pong = await redis(['PING'], redisPort).catch(() => '');
    if (pong === 'PONG') break;
    if (Date.now() > deadline) throw new Error('the pod redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The pod's redis-cli talks to the pod's own server, as a real pod's talks to its localhost.
  const bin = path.join(redisFolder, 'bin');
  await mkdir(bin);
  await writeFile(
    path.join(bin, 'redis-cli'),
    `#!/bin/sh\nexec ${process.env.REDIS_CLI ?? '/usr/bin/redis-cli'} -p ${redisPort} "$@"\n`,
  );
  await chmod(path.join(bin, 'redis-cli'), 0o755);
}

function loopDependencies(): Promise<LoopDependencies> {
  return harness.loop({ settings: { concurrency: 3, overdueGraceMs: HOUR, retryDelayMs: HOUR } });
}

beforeAll(async () => {
  harness = await startBackupHarness();
  s3 = await startS3Server();
  harness.deps.destinations = [createS3Destination(s3.settings({ prefix: 'offsite/e2e' }))];
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
  const schedules = { backupEnabled: true, backupSchedule: '0 3 * * *', testRestoreSchedule: '0 4 * * 0' };

  postgresDatabase = await createDatabase(uniqueDatabaseName('ops_test_recover'));
  await withPostgres(async (client) => {
    await client.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, payload bytea NOT NULL)');
    await client.query(
      `INSERT INTO items SELECT g, 'item ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, ${ROWS}) g`,
    );
  });
  harness.kube.pods.push(
    podFor('orders-db', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: postgresDatabase }),
  );
  deployments.postgres = await createDeployment(harness.db.prisma, workspaceId, {
    name: 'orders-db',
    recipeSlug: 'postgresql',
    ...schedules,
  });

  mariaDatabase = `ops_test_recover_${randomBytes(4).toString('hex')}`;
  await mariadb(`CREATE DATABASE ${mariaDatabase}`);
  await mariadb(
    'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, payload VARBINARY(32) NOT NULL) ENGINE=InnoDB',
    mariaDatabase,
  );
  await mariadb(
    `INSERT INTO items SELECT seq, CONCAT('item ', seq), UNHEX(MD5(seq)) FROM seq_1_to_${ROWS}`,
    mariaDatabase,
  );
  harness.kube.pods.push(
    podFor('shop-db', 'mariadb', { MARIADB_USER: 'root', MARIADB_DATABASE: mariaDatabase, MARIADB_ROOT_PASSWORD: '' }),
  );
  deployments.maria = await createDeployment(harness.db.prisma, workspaceId, {
    name: 'shop-db',
    recipeSlug: 'mariadb',
    ...schedules,
  });

  await startPodRedis();
  await redis(['HSET', 'user:1', 'name', 'Ada', 'plan', 'pro'], redisPort);
  await redis(['RPUSH', 'queue', 'a', 'b', 'c'], redisPort);
  for (let i = 0; i < 200; i += 1) await redis(['SET', `k:${i}`, `value ${i}`], redisPort);
  harness.kube.pods.push(podFor('sessions', 'redis', { PATH: `${path.join(redisFolder, 'bin')}:${process.env.PATH}` }));
  deployments.redis = await createDeployment(harness.db.prisma, workspaceId, {
    name: 'sessions',
    recipeSlug: 'redis',
    ...schedules,
  });

  original.postgres = await postgresFingerprint();
  original.maria = await mariaFingerprint();
  original.redis = await redisFingerprint();
}, 120_000);

afterAll(async () => {
  redisServer?.kill('SIGKILL');
  await harness?.close();
  await s3?.close();
  if (postgresDatabase) await dropDatabase(postgresDatabase);
  if (mariaDatabase) await mariadb(`DROP DATABASE IF EXISTS ${mariaDatabase}`);
  if (redisFolder) await rm(redisFolder, { recursive: true, force: true });
});

describe('backup → off-site upload → test-restore → confirmed destructive restore, for three engines', () => {
  it('one worker cycle backs up, verifies, uploads and test-restores each deployment', async () => {
    const { cycle, jobs } = await runOnce(await loopDependencies());
    expect(cycle).toMatchObject({ due: 3, queued: 3, testRestoresQueued: 3 });
    expect(jobs).toMatchObject({
      backupsRun: 3,
      backupsSucceeded: 3,
      backupsFailed: 0,
      testRestores: 3,
      testRestoresFailed: 0,
    });

    const expectedCounts = {
      postgres: { tables: { 'public.items': ROWS } },
      maria: { tables: { items: ROWS } },
      redis: { keys: { db0: 202 } },
    };
    for (const key of ['postgres', 'maria', 'redis'] as const) {
      const deployment = deployments[key];
      const [backup, ...others] = await harness.db.prisma.backupRecord.findMany({
        where: { deploymentId: deployment.id },
      });
      expect(others).toEqual([]);
      expect(backup).toMatchObject({ status: 'SUCCEEDED', verifyError: null });
      expect(backup!.verifiedAt).toBeInstanceOf(Date);

      // The off-site copy: UPLOADED, and the object's bytes hash to the record's sha256.
      const uploads = await harness.db.prisma.backupUpload.findMany({ where: { backupRecordId: backup!.id } });
      expect(uploads).toEqual([expect.objectContaining({ destination: 's3', status: 'UPLOADED' })]);
      const fileName = path.basename(backup!.path!);
      expect(uploads[0]!.objectKey).toBe(`offsite/e2e/${workspaceId}/${deployment.name}/${fileName}`);
      const hash = createHash('sha256');
      for await (const chunk of await harness.deps.destinations![0]!.download(uploads[0]!.objectKey))
        hash.update(chunk as Buffer);
      expect(hash.digest('hex')).toBe(backup!.sha256);

      // The test-restore: of that backup, into a scratch target that is gone again, with the seeded counts.
      const restores = await harness.db.prisma.restoreRecord.findMany({ where: { deploymentId: deployment.id } });
      expect(restores).toEqual([
        expect.objectContaining({ kind: 'TEST', status: 'SUCCEEDED', backupRecordId: backup!.id }),
      ]);
      expect(restores[0]!.counts).toEqual(expectedCounts[key]);
      expect(
        (await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } })).lastTestRestoreAt,
      ).toBeInstanceOf(Date);
    }
    const openAlerts = await harness.db.prisma.alert.findMany({ where: { workspaceId, resolvedAt: null } });
    expect(openAlerts.map((alert) => `${alert.kind}: ${alert.message}`)).toEqual([]);
  }, 180_000);

  it('after the live data is damaged, a restore the agent proposed and a person confirmed brings it back', async () => {
    await withPostgres((client) => client.query(`DELETE FROM items WHERE id > 100; UPDATE items SET name = 'damaged'`));
    await mariadb(`DELETE FROM items WHERE id % 2 = 0`, mariaDatabase);
    await redis(['FLUSHALL'], redisPort);
    await redis(['SET', 'intruder', 'x'], redisPort);
    expect(await postgresFingerprint()).not.toBe(original.postgres);
    expect(await mariaFingerprint()).not.toBe(original.maria);
    expect(await redisFingerprint()).not.toBe(original.redis);

    const context: ToolContext = {
      backup: harness.deps,
      workspaceId,
      stateOptions: { overdueGraceMs: HOUR, retryDelayMs: HOUR },
    };
    for (const key of ['postgres', 'maria', 'redis'] as const) {
      const backup = await harness.db.prisma.backupRecord.findFirstOrThrow({
        where: { deploymentId: deployments[key].id, status: 'SUCCEEDED' },
      });
      const proposal = await callTool(backupTools, 'proposeRestore', { backupId: backup.id }, context);
      expect(proposal.ok).toBe(true);
      const { restoreId } = (proposal as { value: { restoreId: string } }).value;
      // The agent got no token, and a proposal cannot be carried out without one.
      expect(JSON.stringify(proposal)).not.toMatch(/token"\s*:\s*"[^"]/i);
      await expect(
        restoreBackup(harness.deps, backup.id, {
          mode: 'live',
          restoreId,
          confirmToken: 'guess',
          confirmedBy: 'agent',
        }),
      ).rejects.toThrow();

      const approved = await approveRestore(harness.deps, restoreId, {
        approvedBy: 'operator@example.test',
        now: new Date(),
      });
      expect(approved.plan).toContain(deployments[key].name);
      const restored = await restoreBackup(harness.deps, backup.id, {
        mode: 'live',
        restoreId: approved.restore.id,
        confirmToken: approved.confirmToken,
        confirmedBy: 'operator@example.test',
      });
      expect(restored).toMatchObject({
        status: 'SUCCEEDED',
        kind: 'DESTRUCTIVE',
        confirmedBy: 'operator@example.test',
        errorKind: null,
      });
    }

    expect(await postgresFingerprint()).toBe(original.postgres);
    expect(await mariaFingerprint()).toBe(original.maria);
    expect(await redisFingerprint()).toBe(original.redis);
    expect(await redis(['EXISTS', 'intruder'], redisPort)).toBe('0');
  }, 180_000);
});
