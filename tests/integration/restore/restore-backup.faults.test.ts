import { readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClients } from '../../../src/lib/kube/kube-clients.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { planLiveRestore, restoreBackup } from '../../../src/lib/restore/restore-backup.ts';
import { formatSidecar } from '../../../src/lib/storage/backup-path.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { adminQuery, createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * How restores fail: an import command that exits non-zero (the record says why, with stderr, an alert is raised,
 * the scratch database is dropped and the live data unchanged), a connection dropped while the backup is streamed,
 * and the refusals before anything starts (deployment not RUNNING, backup FAILED, file gone).
 */
const ROWS = 40_000;
const KIB = 1024;
let harness: BackupHarness;
let live: string;
let deploymentId: string;
let backupId: string;

async function fingerprint(): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl(live) });
  await client.connect();
  try {
    const { rows } = await client.query<{ fp: string }>(
      `SELECT count(*) || '/' || md5(string_agg(id || ':' || body, ',' ORDER BY id)) AS fp FROM items`,
    );
    return rows[0]!.fp;
  } finally {
    await client.end();
  }
}

/** A SUCCEEDED backup record whose file (with a correct sha256 and sidecar) holds `content`. */
async function fakeBackup(content: Buffer): Promise<string> {
  const original = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backupId } });
  const filePath = original.path!.replace(/\.dump$/, '_9.dump');
  const sha256 = createHash('sha256').update(content).digest('hex');
  await writeFile(filePath, content);
  await writeFile(`${filePath}.sha256`, formatSidecar(sha256, filePath.split('/').at(-1)!));
  const record = await harness.db.prisma.backupRecord.create({
    data: {
      ...original,
      id: undefined,
      path: filePath,
      sha256,
      sizeBytes: BigInt(content.length),
      startedAt: new Date(original.startedAt.getTime() + 9),
    },
  });
  return record.id;
}

/** A TCP proxy to the fake API server that cuts any connection after `cutAfterBytes` sent towards the server. */
async function startCuttingProxy(
  target: URL,
  cutAfterBytes: number,
): Promise<{ url: string; cuts: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { cuts: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > cutAfterBytes) {
        state.cuts += 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    get cuts() {
      return state.cuts;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

beforeAll(async () => {
  harness = await startBackupHarness();
  live = await createDatabase(uniqueDatabaseName('ops_test_faults'));
  const client = new pg.Client({ connectionString: databaseUrl(live) });
  await client.connect();
  await client.query('CREATE TABLE items (id int PRIMARY KEY, body text NOT NULL)');
  // Random text, so the custom-format dump stays large (a few MB) after its compression.
  await client.query(
    `INSERT INTO items SELECT g, md5(random()::text) || md5(random()::text) FROM generate_series(1, ${ROWS}) g`,
  );
  await client.end();
  const workspace = await createWorkspace(harness.db.prisma);
  harness.kube.pods.push(
    podFor('pg-faults', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: live }),
  );
  deploymentId = (
    await createDeployment(harness.db.prisma, workspace.id, { name: 'pg-faults', recipeSlug: 'postgresql' })
  ).id;
  const outcome = await executeBackup(harness.deps, deploymentId, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
  expect(outcome.record.sizeBytes! > 1024n * 1024n).toBe(true);
  backupId = outcome.record.id;
});

afterAll(async () => {
  await harness.close();
  await dropDatabase(live);
});

describe('restore faults', () => {
  it('an import command that fails makes a FAILED record with its stderr and an alert, and drops the scratch database', async () => {
    const junk = await fakeBackup(Buffer.from('PGDMP but not really a dump\n'.repeat(100)));
    const record = await restoreBackup(harness.deps, junk, { mode: 'scratch', requestedBy: 'test', trigger: 'MANUAL' });
    expect(record).toMatchObject({ status: 'FAILED', errorKind: 'ExecFailed' });
    expect(record.error).toMatch(
      /restore command in pod "pg-faults-0" \(container "postgres"\) in namespace "apps" exited with code 1/,
    );
    expect(record.stderrTail).toMatch(/pg_restore/);
    expect(record.finishedAt).not.toBeNull();
    const { rows } = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [record.target]);
    expect(rows).toHaveLength(0);
    const alert = await harness.db.prisma.alert.findFirstOrThrow({
      where: { deploymentId, kind: 'restore_failed', resolvedAt: null },
    });
    expect(alert).toMatchObject({ severity: 'WARNING', backupRecordId: junk });
    expect(alert.message).toContain('ExecFailed');
  });

  it('a failing live import leaves the live data unchanged (one transaction) and raises a critical alert', async () => {
    const before = await fingerprint();
    const original = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backupId } });
    const truncated = await fakeBackup((await readFile(original.path!)).subarray(0, 200 * KIB));
    const planned = await planLiveRestore(harness.deps, truncated, {
      requestedBy: 'cli',
      trigger: 'MANUAL',
      now: new Date(),
    });
    const record = await restoreBackup(harness.deps, truncated, {
      mode: 'live',
      restoreId: planned.restore.id,
      confirmToken: planned.confirmToken,
      confirmedBy: 'alice',
    });
    expect(record).toMatchObject({ status: 'FAILED', errorKind: 'ExecFailed' });
    expect(await fingerprint()).toBe(before);
    const alert = await harness.db.prisma.alert.findFirstOrThrow({
      where: { deploymentId, kind: 'restore_failed', resolvedAt: null },
    });
    expect(alert.severity).toBe('CRITICAL');
    expect(
      (await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deploymentId } })).backupClaimToken,
    ).toBeNull();
  });

  it('a connection dropped while the backup is streamed fails the restore and leaves the live data unchanged', async () => {
    const before = await fingerprint();
    const proxy = await startCuttingProxy(new URL(harness.kube.url), 512 * KIB);
    try {
      const direct = harness.kube.kubeConfig();
      const viaProxy = new KubeConfig();
      viaProxy.loadFromOptions({
        clusters: [{ ...direct.getCurrentCluster()!, server: proxy.url }],
        users: direct.users,
        contexts: direct.contexts,
        currentContext: direct.currentContext,
      });
      const deps = { ...harness.deps, kube: createKubeClients(viaProxy) };
      const planned = await planLiveRestore(deps, backupId, { requestedBy: 'cli', trigger: 'MANUAL', now: new Date() });
      const record = await restoreBackup(deps, backupId, {
        mode: 'live',
        restoreId: planned.restore.id,
        confirmToken: planned.confirmToken,
        confirmedBy: 'alice',
      });
      expect(proxy.cuts).toBe(1);
      expect(record).toMatchObject({ status: 'FAILED', errorKind: 'ConnectionLost' });
      expect(record.error).toContain('without an exit status');
      expect(await fingerprint()).toBe(before);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a FAILED backup, a missing file and a deployment that is not RUNNING', async () => {
    const scratch = { mode: 'scratch', requestedBy: 'test', trigger: 'MANUAL' } as const;
    const original = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backupId } });
    const failed = await harness.db.prisma.backupRecord.create({
      data: {
        ...original,
        id: undefined,
        status: 'FAILED',
        path: null,
        sha256: null,
        startedAt: new Date(original.startedAt.getTime() + 5),
      },
    });
    await expect(restoreBackup(harness.deps, failed.id, scratch)).rejects.toMatchObject({
      code: 'BACKUP_NOT_RESTORABLE',
    });

    const gone = await fakeBackup(Buffer.from('soon gone'));
    const goneRecord = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: gone } });
    await rm(goneRecord.path!);
    await expect(restoreBackup(harness.deps, gone, scratch)).rejects.toMatchObject({ code: 'BACKUP_NOT_RESTORABLE' });
    await expect(
      planLiveRestore(harness.deps, gone, { requestedBy: 'cli', trigger: 'MANUAL', now: new Date() }),
    ).rejects.toMatchObject({ code: 'BACKUP_NOT_RESTORABLE' });

    await harness.db.prisma.deployment.update({ where: { id: deploymentId }, data: { status: 'FAILED' } });
    try {
      await expect(restoreBackup(harness.deps, backupId, scratch)).rejects.toMatchObject({
        code: 'DEPLOYMENT_NOT_RUNNING',
      });
      await expect(
        planLiveRestore(harness.deps, backupId, { requestedBy: 'cli', trigger: 'MANUAL', now: new Date() }),
      ).rejects.toMatchObject({ code: 'DEPLOYMENT_NOT_RUNNING' });
    } finally {
      await harness.db.prisma.deployment.update({ where: { id: deploymentId }, data: { status: 'RUNNING' } });
    }
  });
});
