import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { planLiveRestore, restoreBackup } from '../../../src/lib/restore/restore-backup.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { freePort, redis } from '../../support/engines.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

/**
 * Redis restores with real redis-servers. The "pod" has its own server: a redis-server on a free port, and a
 * `redis-cli` first on the pod's PATH that talks to it (as the one in a real pod talks to its localhost), so the
 * backup and the destructive restore never touch the machine's shared Redis.
 */
let harness: BackupHarness;
let folder: string;
let server: ChildProcess;
let port: number;
let backupId: string;

async function waitForRedis(): Promise<void> {
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

async function snapshot(): Promise<Record<string, string>> {
  return {
    string: await redis(['GET', 'k:string'], port),
    hash: await redis(['HGETALL', 'k:hash'], port),
    list: await redis(['LRANGE', 'k:list', '0', '-1'], port),
    zset: await redis(['ZRANGE', 'k:zset', '0', '-1', 'WITHSCORES'], port),
    db3: await redis(['-n', '3', 'GET', 'k:other'], port),
    size: await redis(['DBSIZE'], port),
  };
}

beforeAll(async () => {
  harness = await startBackupHarness();
  folder = await mkdtemp(path.join(os.tmpdir(), 'redis-pod-'));
  port = await freePort();
  server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', folder],
    { stdio: 'ignore' },
  );
  await waitForRedis();
  const bin = path.join(folder, 'bin');
  await rm(bin, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(bin));
  await writeFile(
    path.join(bin, 'redis-cli'),
    `#!/bin/sh\nexec ${process.env.REDIS_CLI ?? '/usr/bin/redis-cli'} -p ${port} "$@"\n`,
  );
  await chmod(path.join(bin, 'redis-cli'), 0o755);

  await redis(['SET', 'k:string', `hello ${randomBytes(4).toString('hex')}`], port);
  await redis(['HSET', 'k:hash', 'a', '1', 'b', '2'], port);
  await redis(['RPUSH', 'k:list', 'x', 'y', 'z'], port);
  await redis(['ZADD', 'k:zset', '1', 'one', '2', 'two'], port);
  await redis(['SET', 'k:ttl', 'v', 'EX', '3600'], port);
  for (let i = 0; i < 200; i += 1) await redis(['SET', `k:n:${i}`, String(i)], port);
  await redis(['-n', '3', 'SET', 'k:other', 'in db3'], port);

  const workspace = await createWorkspace(harness.db.prisma);
  harness.kube.pods.push(podFor('cache-restore', 'redis', { PATH: `${bin}:${process.env.PATH}` }));
  const deployment = await createDeployment(harness.db.prisma, workspace.id, {
    name: 'cache-restore',
    recipeSlug: 'redis',
  });
  const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
  expect(outcome.record.extension).toBe('rdb.zst');
  backupId = outcome.record.id;
});

afterAll(async () => {
  server?.kill('SIGKILL');
  await harness.close();
  await rm(folder, { recursive: true, force: true });
});

describe('Redis restore', () => {
  it('loads the RDB into a temporary server in the pod and counts its keys per database', async () => {
    const record = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(record).toMatchObject({ status: 'SUCCEEDED', errorKind: null });
    expect(record.counts).toEqual({ keys: { db0: 205, db3: 1 } });
  });

  it('replaces the live dataset with the backup after plan and confirmation, and leaves the server a primary', async () => {
    const backedUp = await snapshot();
    await redis(['SET', 'k:string', 'changed'], port);
    await redis(['DEL', 'k:hash', 'k:n:1', 'k:n:2'], port);
    await redis(['SET', 'k:new', 'after the backup'], port);
    await redis(['-n', '3', 'FLUSHDB'], port);
    expect(await snapshot()).not.toEqual(backedUp);

    const planned = await planLiveRestore(harness.deps, backupId, {
      requestedBy: 'cli',
      trigger: 'MANUAL',
      now: new Date(),
    });
    expect(planned.plan).toContain('db0: 203 keys');
    const restored = await restoreBackup(harness.deps, backupId, {
      mode: 'live',
      restoreId: planned.restore.id,
      confirmToken: planned.confirmToken,
      confirmedBy: 'alice',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', errorKind: null, stderrTail: null });
    expect(restored.counts).toEqual({ keys: { db0: 205, db3: 1 } });
    expect(await snapshot()).toEqual(backedUp);
    expect(await redis(['EXISTS', 'k:new'], port)).toBe('0');
    expect(Number(await redis(['TTL', 'k:ttl'], port))).toBeGreaterThan(3000);
    expect(await redis(['INFO', 'replication'], port)).toContain('role:master');
    expect(await redis(['SET', 'k:writable', '1'], port)).toBe('OK');
  });
});
