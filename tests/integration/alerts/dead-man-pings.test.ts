import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { recoverInterruptedBackups } from '../../../src/lib/backups/recovery.ts';
import { pingUrlFor } from '../../../src/lib/alerts/dead-man-pings.ts';
import { sendDeadManPings } from '../../../src/lib/alerts/send-dead-man-pings.ts';
import { createSourceDatabase } from '../../support/backup-checks.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { dropDatabase } from '../../support/postgres.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.ts';

// Dead-man pings (healthchecks.io style) for real backups: /start when one starts, the URL on success, /fail on
// failure, through the DeadManPing outbox to a local HTTP receiver; retried while the receiver is down, in order per
// deployment, and a /start overtaken by the run's end is dropped. The URL carries a secret token: never logged.

const TOKEN = `check-${randomBytes(8).toString('hex')}`;
/** Past every retry delay of the first attempts (10 s, 20 s …). */
const LATER_MS = 10 * 60_000;

let harness: BackupHarness;
let receiver: WebhookReceiver;
let sourceDatabase: string;
let workspaceId: string;

beforeAll(async () => {
  sourceDatabase = await createSourceDatabase(1_000);
  harness = await startBackupHarness();
  receiver = await startWebhookReceiver(200, `/ping/${TOKEN}`);
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});

afterAll(async () => {
  await receiver?.close();
  await harness?.close();
  if (sourceDatabase) await dropDatabase(sourceDatabase);
});

async function deploymentWith(deadManUrl: string | null, database = sourceDatabase): Promise<Deployment> {
  const name = `db-${randomBytes(3).toString('hex')}`;
  harness.kube.pods.push(
    podFor(name, 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: database }),
  );
  return createDeployment(harness.db.prisma, workspaceId, { name, deadManUrl });
}

const send = (now = new Date()) => sendDeadManPings(harness.deps, now);
const pathsSince = (count: number) => receiver.posts.slice(count).map((post) => post.path);

describe('dead-man pings', () => {
  it('pings /start, then the URL, for a backup that succeeds', async () => {
    const deployment = await deploymentWith(receiver.url);
    const before = receiver.posts.length;

    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    expect(outcome.status).toBe('SUCCEEDED');
    expect(await send()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(await send()).toMatchObject({ attempted: 1, delivered: 1 });

    expect(pathsSince(before)).toEqual([`/ping/${TOKEN}/start`, `/ping/${TOKEN}`]);
    expect(await send()).toMatchObject({ attempted: 0 });
  });

  it('pings /start, then /fail, for a backup that fails', async () => {
    const deployment = await deploymentWith(receiver.url, `missing_${randomBytes(3).toString('hex')}`);
    const before = receiver.posts.length;

    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    expect(outcome.status).toBe('FAILED');
    await send();
    await send();

    expect(pathsSince(before)).toEqual([`/ping/${TOKEN}/start`, `/ping/${TOKEN}/fail`]);
    const pings = await harness.db.prisma.deadManPing.findMany({ where: { deploymentId: deployment.id } });
    expect(pings.map((ping) => ping.status)).toEqual(['DELIVERED', 'DELIVERED']);
  });

  it('retries while the receiver is down, and drops a /start the run has overtaken', async () => {
    const deployment = await deploymentWith(receiver.url);
    const before = receiver.posts.length;
    receiver.setStatus(503);
    try {
      const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
      expect(outcome.status).toBe('SUCCEEDED');
      // The success ping waits behind the start ping, which the receiver refuses for now.
      expect(await send()).toMatchObject({ attempted: 1, retrying: 1 });
    } finally {
      receiver.setStatus(200);
    }

    expect(await send(new Date(Date.now() + LATER_MS))).toMatchObject({ attempted: 1, delivered: 1 });

    expect(pathsSince(before)).toEqual([`/ping/${TOKEN}/start`, `/ping/${TOKEN}`]);
    const pings = await harness.db.prisma.deadManPing.findMany({
      where: { deploymentId: deployment.id },
      orderBy: { createdAt: 'asc' },
    });
    expect(pings).toMatchObject([
      { event: 'start', status: 'FAILED', lastError: expect.stringContaining('superseded') },
      { event: 'success', status: 'DELIVERED' },
    ]);
  });

  it('gives up a ping the receiver refuses with another 4xx, and never logs the URL', async () => {
    const deployment = await deploymentWith(receiver.url);
    receiver.setStatus(404);
    try {
      await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
      await send();
      await send();
    } finally {
      receiver.setStatus(200);
    }
    const pings = await harness.db.prisma.deadManPing.findMany({ where: { deploymentId: deployment.id } });
    expect(pings.map((ping) => [ping.status, ping.lastError])).toEqual([
      ['FAILED', 'HTTP 404 (refused)'],
      ['FAILED', 'HTTP 404 (refused)'],
    ]);
    expect(harness.logs()).not.toContain(TOKEN);
  });

  it('pings /fail for a backup that crash recovery finds interrupted', async () => {
    const deployment = await deploymentWith(receiver.url);
    const record = await harness.db.prisma.backupRecord.create({
      data: {
        deploymentId: deployment.id,
        workspaceId,
        trigger: 'SCHEDULE',
        status: 'RUNNING',
        startedAt: new Date(Date.now() - LATER_MS),
        claimToken: 'a-worker-that-died',
      },
    });

    const report = await recoverInterruptedBackups(harness.deps);

    expect(report.interrupted.map((interrupted) => interrupted.id)).toContain(record.id);
    const before = receiver.posts.length;
    await send();
    expect(pathsSince(before)).toEqual([`/ping/${TOKEN}/fail`]);
  });

  it('queues nothing for a deployment without a dead-man URL', async () => {
    const deployment = await deploymentWith(null);
    await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    expect(await harness.db.prisma.deadManPing.count({ where: { deploymentId: deployment.id } })).toBe(0);
  });
});

describe('pingUrlFor', () => {
  it.each([
    ['https://hc.example/abc', 'start', 'https://hc.example/abc/start'],
    ['https://hc.example/abc/', 'fail', 'https://hc.example/abc/fail'],
    ['https://hc.example/abc?rid=1', 'start', 'https://hc.example/abc/start?rid=1'],
    ['https://hc.example/abc', 'success', 'https://hc.example/abc'],
  ] as const)('%s + %s → %s', (url, event, expected) => {
    expect(pingUrlFor(url, event)).toBe(expected);
  });
});
