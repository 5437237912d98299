import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { exportExecs, podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import type { ExecFaults } from '../../support/fake-kube-api.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { childEnvironment, startEntryPoint, type RunningProcess } from '../../support/processes.ts';
import { startWebhookReceiver } from '../../support/webhook-receiver.ts';

/**
 * The worker as it runs in production: `src/worker.ts` in a child process of its own, on a cloned PostgreSQL
 * database, backing up "pods" of the fake Kubernetes API that run the real pg_dump against the local server.
 * Each test seeds its own database, so one cycle sees exactly the deployments the story is about.
 */
const EVERY_MINUTE = '* * * * *';
/** Fires once a day: a deployment backed up during the test is not due again within it, whatever minute it is. */
const DAILY = '0 3 * * *';
const ROWS = 2_000;
/** A stalled dump stops after this many bytes; the scratch database's dump is far larger. */
const STALL_AFTER_BYTES = 1_024;
/** How long the fake holds back each exec's exit status, so that backups of two workers overlap in time. */
const STATUS_DELAY_MS = 1_000;
/** Longer than a worker's start-up skew plus two rounds of the others: the other worker finishes them meanwhile. */
const SLOW_STATUS_DELAY_MS = 5_000;
/** Start-up (tsx, migrations check) plus one cycle; generous for a loaded machine. */
const WORKER_RUN_MS = 30_000;
/** SIGTERM to exit, with a 1 s grace period: the abort, the FAILED record, the database closed. */
const STOP_WITHIN_MS = 5_000;
/** Longer than the 24.8 days of milliseconds a 32-bit `durationMs` can hold. */
const MONTH_MS = 30 * 24 * 3_600_000;
/** A delivery the killed worker was sending when it died is taken up again after its lease (POST timeout + 30 s). */
const DELIVERY_LEASE_MS = 40_000;
/** Three worker runs, each waited for (one of them up to a delivery lease): more than the default test timeout. */
const RESTART_TEST_TIMEOUT_MS = 4 * WORKER_RUN_MS + DELIVERY_LEASE_MS;
/** SIGTERM between cycles: nothing to wait for. */
const IDLE_STOP_WITHIN_MS = 2_000;

let scratchDatabase: string;
let harness: BackupHarness;
let workspaceId: string;
/** Workers started by the current test; one a failed test left running is killed before its database is dropped. */
let workers: RunningProcess[] = [];

beforeAll(async () => {
  scratchDatabase = await createDatabase(uniqueDatabaseName('ops_test_worker_src'));
  const client = new pg.Client({ connectionString: databaseUrl(scratchDatabase) });
  await client.connect();
  await client.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, payload bytea NOT NULL)');
  await client.query(
    `INSERT INTO items SELECT g, 'item ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, ${ROWS}) g`,
  );
  await client.end();
});
afterAll(async () => {
  await dropDatabase(scratchDatabase);
});
beforeEach(async () => {
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});
afterEach(async () => {
  for (const worker of workers) worker.child.kill('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
  workers = [];
  await harness.close();
});

/** A backup-enabled PostgreSQL deployment due now, with a pod that dumps `database` (the scratch one by default). */
async function dueDeployment(
  name: string,
  options: { database?: string; faults?: ExecFaults; schedule?: string } = {},
): Promise<Deployment> {
  const env = { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: options.database ?? scratchDatabase };
  harness.kube.pods.push(podFor(name, 'postgres', env, options.faults ? { faults: options.faults } : {}));
  return createDeployment(harness.db.prisma, workspaceId, {
    name,
    backupEnabled: true,
    backupSchedule: options.schedule ?? EVERY_MINUTE,
  });
}

function startWorker(args: string[], overrides: Record<string, string> = {}): RunningProcess {
  const worker = startEntryPoint(
    'src/worker.ts',
    args,
    childEnvironment({
      DATABASE_URL: harness.db.url,
      KUBECONFIG: harness.kube.kubeconfigPath,
      BACKUP_ROOT: harness.root,
      LOG_LEVEL: 'info',
      ...overrides,
    }),
  );
  workers.push(worker);
  return worker;
}

/** Waits for a process's exit code, failing with its output (and killing it) when it takes longer than `timeoutMs`. */
async function exitCodeOf(worker: RunningProcess, timeoutMs = WORKER_RUN_MS): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      worker.child.kill('SIGKILL');
      reject(new Error(`worker did not exit within ${timeoutMs} ms; output:\n${worker.output()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([worker.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every file under the backup root, hidden temporary files included. */
async function filesUnderRoot(): Promise<string[]> {
  const entries = await readdir(harness.root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

async function recordsOf(deploymentId: string) {
  return harness.db.prisma.backupRecord.findMany({ where: { deploymentId }, orderBy: { startedAt: 'asc' } });
}

/** The log lines (pino JSON) of a process whose `msg` matches. */
function logLines(worker: RunningProcess, msg: RegExp): Array<Record<string, unknown>> {
  return worker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => typeof line.msg === 'string' && msg.test(line.msg));
}

async function expectOneSucceededBackupOnDisk(deployment: Deployment, output = ''): Promise<void> {
  const records = await recordsOf(deployment.id);
  expect(
    records.map((record) => record.status),
    `${deployment.name}\n${output}`,
  ).toEqual(['SUCCEEDED']);
  const [record] = records;
  expect(record!.path).toContain(path.join(harness.root, workspaceId, deployment.name));
  expect(BigInt((await stat(record!.path!)).size)).toBe(record!.sizeBytes);
}

describe('worker loop', () => {
  it('runs a scheduled cycle: backs up the due deployments, alerts on a FAILED one, skips one without dataExport', async () => {
    const runnable = [await dueDeployment('pg-a'), await dueDeployment('pg-b'), await dueDeployment('pg-c')];
    const failed = await createDeployment(harness.db.prisma, workspaceId, {
      name: 'pg-broken',
      status: 'FAILED',
      backupEnabled: true,
      backupSchedule: EVERY_MINUTE,
    });
    const site = await createDeployment(harness.db.prisma, workspaceId, {
      name: 'site',
      recipeSlug: 'nginx',
      backupEnabled: true,
      backupSchedule: EVERY_MINUTE,
    });

    const worker = startWorker(['--once']);
    expect(await exitCodeOf(worker), worker.output()).toBe(0);

    for (const deployment of runnable) await expectOneSucceededBackupOnDisk(deployment);
    expect(exportExecs(harness.kube.execs)).toHaveLength(runnable.length);
    expect(await recordsOf(failed.id)).toEqual([]);
    expect(await recordsOf(site.id)).toEqual([]);
    const alerts = await harness.db.prisma.alert.findMany({ where: { deploymentId: failed.id } });
    expect(alerts).toEqual([
      expect.objectContaining({
        kind: 'backup_blocked',
        severity: 'WARNING',
        resolvedAt: null,
        occurrences: 1,
        message: expect.stringContaining('FAILED'),
      }),
    ]);
    expect(await harness.db.prisma.alert.count({ where: { deploymentId: { not: failed.id } } })).toBe(0);
    expect(logLines(worker, /backup skipped: .*dataExport/)).toEqual([
      expect.objectContaining({ deploymentId: site.id, code: 'NO_DATA_EXPORT' }),
    ]);
    const [summary, ...more] = logLines(worker, /^cycle: /);
    expect(more).toEqual([]);
    expect(summary!.msg).toMatch(/^cycle: 3 due, 3 run, 3 succeeded, 0 failed, 2 skipped, 0 overdue \(\d+ ms\)$/);
    expect(worker.output()).toContain('"msg":"worker stopped"');
  });

  it('two worker processes at once back up each due deployment exactly once', async () => {
    // Two slow backups keep the first worker busy while the other finishes the rest: when the first comes back to
    // its list (made before those successes), nothing on it may be backed up a second time.
    const deployments: Deployment[] = [];
    for (let index = 1; index <= 6; index += 1) {
      const delayStatusMs = index <= 2 ? SLOW_STATUS_DELAY_MS : STATUS_DELAY_MS;
      deployments.push(await dueDeployment(`pg-${index}`, { schedule: DAILY, faults: { delayStatusMs } }));
    }

    const pair = [
      startWorker(['--once'], { BACKUP_CONCURRENCY: '2' }),
      startWorker(['--once'], { BACKUP_CONCURRENCY: '2' }),
    ];
    const codes = await Promise.all(pair.map((worker) => exitCodeOf(worker, 2 * WORKER_RUN_MS)));
    const outputs = pair.map((worker) => worker.output()).join('\n--- second worker ---\n');
    expect(codes, outputs).toEqual([0, 0]);

    for (const deployment of deployments) await expectOneSucceededBackupOnDisk(deployment, outputs);
    expect(exportExecs(harness.kube.execs)).toHaveLength(deployments.length);
    // The queue gave each backup to one worker: together they made each once, and none failed.
    const summaries = pair.map((worker) => logLines(worker, /^cycle: /)[0]!.jobs as Record<string, number>);
    expect(summaries.reduce((sum, jobs) => sum + jobs.backupsSucceeded!, 0)).toBe(deployments.length);
    expect(summaries.map((jobs) => jobs.backupsFailed)).toEqual([0, 0]);
  });

  it('on SIGTERM lets a running backup use the grace period, then aborts it: FAILED "Interrupted", no temporary file, exit 0', async () => {
    const deployment = await dueDeployment('pg-stalled', { faults: { stallAfterBytes: STALL_AFTER_BYTES } });
    const worker = startWorker([], { SHUTDOWN_GRACE_SECONDS: '1' });

    await waitFor('a RUNNING record and a .partial file', async () => {
      const [record] = await recordsOf(deployment.id);
      return record?.status === 'RUNNING' && (await filesUnderRoot()).some((file) => file.endsWith('.partial'));
    });
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    expect(await exitCodeOf(worker, STOP_WITHIN_MS), worker.output()).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(STOP_WITHIN_MS);

    const records = await recordsOf(deployment.id);
    expect(records).toEqual([expect.objectContaining({ status: 'FAILED', errorKind: 'Interrupted', path: null })]);
    expect(records[0]!.error).toMatch(/interrupted/);
    expect(await filesUnderRoot()).toEqual([]);
    expect(worker.output()).toMatch(/"graceSeconds":1,.*grace period/);
    expect(worker.output()).toContain('"msg":"worker stopped"');
  });

  it('on SIGTERM between cycles stops at once with exit 0', async () => {
    const worker = startWorker([], { WORKER_INTERVAL_SECONDS: '5' });
    await worker.waitForOutput(/"msg":"cycle: 0 due/, WORKER_RUN_MS);
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    expect(await exitCodeOf(worker, IDLE_STOP_WITHIN_MS), worker.output()).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(IDLE_STOP_WITHIN_MS);
    expect(logLines(worker, /^cycle: /)).toHaveLength(1);
  });

  it('a failing alert webhook never turns a backup into a failure, and a failing deployment pages once', async () => {
    const webhook = await startWebhookReceiver(500);
    try {
      const good = await dueDeployment('pg-good');
      const bad = await dueDeployment('pg-bad', { database: uniqueDatabaseName('ops_test_missing') });
      const environment = { ALERT_WEBHOOK_URL: webhook.url, BACKUP_RETRY_MINUTES: '1' };

      const first = startWorker(['--once'], environment);
      expect(await exitCodeOf(first), first.output()).toBe(0);
      const [goodRecord] = await recordsOf(good.id);
      expect(goodRecord).toMatchObject({ status: 'SUCCEEDED' });
      const badRecords = await recordsOf(bad.id);
      expect(badRecords).toEqual([expect.objectContaining({ status: 'FAILED', errorKind: 'ExecFailed' })]);
      const alerts = await harness.db.prisma.alert.findMany({ where: { deploymentId: bad.id } });
      expect(alerts).toEqual([
        expect.objectContaining({
          kind: 'backup_failed',
          severity: 'CRITICAL',
          occurrences: 1,
          backupRecordId: badRecords[0]!.id,
        }),
      ]);
      // The delivery was tried after the cycle and failed; it waits in the outbox and the worker exited anyway.
      expect(webhook.bodies.length).toBeGreaterThanOrEqual(1);
      expect(logLines(first, /alert webhook delivery failed; retrying/).length).toBeGreaterThanOrEqual(1);
      expect(logLines(first, /^cycle: /)[0]!.msg).toMatch(/^cycle: 2 due, 2 run, 1 succeeded, 1 failed, 0 skipped/);
      expect(await harness.db.prisma.alertDelivery.findMany({ where: { alertId: alerts[0]!.id } })).toEqual([
        expect.objectContaining({ status: 'PENDING', lastError: 'HTTP 500' }),
      ]);

      const second = startWorker(['--once'], environment);
      expect(await exitCodeOf(second), second.output()).toBe(0);
      expect(logLines(second, /backup skipped/)).toContainEqual(
        expect.objectContaining({ deploymentId: bad.id, code: 'RETRY_LATER' }),
      );
      expect(await recordsOf(bad.id)).toHaveLength(1);
      expect(await harness.db.prisma.alert.findMany({ where: { deploymentId: bad.id } })).toEqual([
        expect.objectContaining({ id: alerts[0]!.id, occurrences: 1, resolvedAt: null }),
      ]);
      // Whatever the second worker retried is the same page: one delivery, one body, one delivery id.
      expect(await harness.db.prisma.alertDelivery.count({ where: { alert: { deploymentId: bad.id } } })).toBe(1);
      expect(new Set(webhook.posts.map((post) => post.deliveryId)).size).toBe(1);
      const notifications = new Set(webhook.bodies.filter((body) => body.includes(bad.id)));
      expect(notifications.size).toBe(1);
      expect(JSON.parse([...notifications][0]!)).toMatchObject({
        type: 'backup.alert',
        alertId: alerts[0]!.id,
        kind: 'backup_failed',
      });
    } finally {
      await webhook.close();
    }
  });

  it(
    'a webhook down for two cycles, the worker restarted meanwhile: every alert arrives once when it is back',
    async () => {
      const webhook = await startWebhookReceiver(500);
      try {
        const missing = uniqueDatabaseName('ops_test_missing');
        const failing = [
          await dueDeployment('pg-down-1', { database: missing }),
          await dueDeployment('pg-down-2', { database: missing }),
        ];
        const blocked = await createDeployment(harness.db.prisma, workspaceId, {
          name: 'pg-blocked',
          status: 'FAILED',
          backupEnabled: true,
          backupSchedule: EVERY_MINUTE,
        });
        const environment = {
          ALERT_WEBHOOK_URL: webhook.url,
          ALERT_WEBHOOK_RETRY_SECONDS: '1',
          WORKER_INTERVAL_SECONDS: '5',
          BACKUP_RETRY_MINUTES: '60',
        };
        const deliveries = () => harness.db.prisma.alertDelivery.findMany({ include: { alert: true } });
        const everyDelivery = async (check: (delivery: Awaited<ReturnType<typeof deliveries>>[number]) => boolean) => {
          const rows = await deliveries();
          return rows.length === failing.length + 1 && rows.every(check);
        };

        // First worker: its cycle opens three alerts; the receiver answers 500. Then the worker is killed.
        const first = startWorker([], environment);
        await waitFor('a failed attempt of every delivery', () =>
          everyDelivery((delivery) => delivery.attempts >= 1 && delivery.lastError === 'HTTP 500'),
        );
        first.child.kill('SIGKILL');
        await first.exited;
        const attemptsBefore = new Map((await deliveries()).map((delivery) => [delivery.id, delivery.attempts]));

        // A new worker: its first cycle still meets a receiver that is down, and it retries every delivery.
        const second = startWorker([], environment);
        await second.waitForOutput(/"msg":"cycle: /, WORKER_RUN_MS);
        await waitFor(
          'another failed attempt of every delivery',
          () => everyDelivery((delivery) => delivery.attempts > attemptsBefore.get(delivery.id)!),
          WORKER_RUN_MS + DELIVERY_LEASE_MS,
        );
        expect(webhook.arrived()).toEqual([]);

        webhook.setStatus(200);
        await waitFor('every delivery delivered', () => everyDelivery((delivery) => delivery.status === 'DELIVERED'));
        // Two more cycles (each followed by a delivery pass) send nothing again.
        const cyclesSoFar = logLines(second, /^cycle: /).length;
        await waitFor('two more cycles', async () => logLines(second, /^cycle: /).length >= cyclesSoFar + 2);

        const alerts = await harness.db.prisma.alert.findMany({ where: { workspaceId } });
        expect(alerts.map((alert) => `${alert.kind} ${alert.deploymentId}`).sort()).toEqual(
          [...failing.map((deployment) => `backup_failed ${deployment.id}`), `backup_blocked ${blocked.id}`].sort(),
        );
        const arrived = webhook.arrived().map((body) => JSON.parse(body) as { alertId: string; type: string });
        expect(arrived.map((body) => body.alertId).sort()).toEqual(alerts.map((alert) => alert.id).sort());
        expect(arrived.every((body) => body.type === 'backup.alert')).toBe(true);
        // Each alert went out under one delivery id, whichever worker sent it.
        for (const delivery of await deliveries()) {
          const posts = webhook.posts.filter((post) => post.body.includes(delivery.alertId));
          expect(new Set(posts.map((post) => post.deliveryId))).toEqual(new Set([delivery.id]));
        }
        expect(logLines(second, /alert delivered to the webhook/)).toHaveLength(alerts.length);
        expect(first.output() + second.output()).not.toContain(webhook.url);
      } finally {
        await webhook.close();
      }
    },
    RESTART_TEST_TIMEOUT_MS,
  );

  it("a crashed worker's month-old RUNNING record does not stop the other deployments' backups", async () => {
    const stuck = await dueDeployment('pg-stuck');
    const fine = await dueDeployment('pg-fine');
    const crashedAt = new Date(Date.now() - MONTH_MS);
    await harness.db.prisma.backupRecord.create({
      data: {
        deploymentId: stuck.id,
        workspaceId,
        trigger: 'SCHEDULE',
        status: 'RUNNING',
        startedAt: crashedAt,
        claimToken: 'gone',
      },
    });

    const worker = startWorker(['--once']);
    expect(await exitCodeOf(worker), worker.output()).toBe(0);
    await expectOneSucceededBackupOnDisk(fine, worker.output());
    expect(logLines(worker, /^cycle: /)).toHaveLength(1);
  });
});

/** An HTTP endpoint that records each POSTed body and answers 500, like a receiver that is down. */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = WORKER_RUN_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
