import { setTimeout as sleep } from 'node:timers/promises';
import { readdir, rm } from 'node:fs/promises';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../../src/generated/prisma/client.ts';
import {
  createWorkerMetrics,
  databaseCheck,
  type HealthServer,
  startHealthServer,
  volumeWritableCheck,
  type WorkerMetrics,
} from '../../../src/lib/health/index.ts';
import { runLoop, type LoopDependencies } from '../../../src/lib/worker/loop.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The worker's health server over a real loop: real cycles on a cloned database back up through the fake Kubernetes
 * API (with the worker's rendered RBAC), and the server answers from what the loop reports. Time is the test's:
 * the loop and the server read one clock that the test moves, so "three intervals later" needs no waiting.
 */
const INTERVAL_MS = 60_000;
const CYCLE_TIMEOUT_MS = 6 * 3_600_000;
const T0 = new Date('2026-03-01T03:00:30Z');
const later = (ms: number) => new Date(T0.getTime() + ms);

let harness: BackupHarness;
let source: string;
let now = T0;
let metrics: WorkerMetrics;
let server: HealthServer;

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_health_src'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(`CREATE TABLE items AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 500) g`);
  await client.end();
  harness = await startBackupHarness({
    pods: [podFor('health-db', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source })],
    clock: () => now,
  });
  metrics = createWorkerMetrics({ intervalSeconds: INTERVAL_MS / 1_000, backupRoot: harness.root });
  harness.deps.observer = metrics;
  server = await startHealthServer({
    port: 0,
    host: '127.0.0.1',
    lastCycleAt: metrics.lastCycleAt,
    cycleRunningSince: metrics.cycleRunningSince,
    intervalMs: INTERVAL_MS,
    cycleTimeoutMs: CYCLE_TIMEOUT_MS,
    checks: [databaseCheck(harness.db.prisma), volumeWritableCheck(harness.root)],
    registry: metrics.registry,
    clock: () => now,
    logger: harness.deps.logger,
  });
});
afterAll(async () => {
  await server?.close();
  await harness?.close();
  await dropDatabase(source);
});

function loopDependencies(): Promise<LoopDependencies> {
  return harness.loop({ settings: { concurrency: 1, overdueGraceMs: 3_600_000, retryDelayMs: 900_000 } });
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, body: await response.text() };
}

const stopper = () => ({ stopTakingWork: new AbortController(), abortRunning: new AbortController() });

describe('/healthz and /metrics over a real loop', () => {
  it('is alive after a cycle, and /metrics counts the backup that cycle made', async () => {
    const workspace = await createWorkspace(harness.db.prisma);
    await createDeployment(harness.db.prisma, workspace.id, {
      name: 'health-db',
      backupEnabled: true,
      backupSchedule: '0 3 * * *',
    });
    const { stopTakingWork, abortRunning } = stopper();
    await runLoop(await loopDependencies(), {
      intervalMs: INTERVAL_MS,
      stopTakingWork: stopTakingWork.signal,
      abortRunning: abortRunning.signal,
      once: true,
      observer: metrics,
    });

    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok', lastCycleAt: T0.toISOString(), cycleRunningSince: null });

    const record = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { status: 'SUCCEEDED' } });
    const { status, body } = await get('/metrics');
    expect(status).toBe(200);
    expect(body).toContain('ops_worker_backups_total{result="succeeded"} 1');
    expect(body).toContain('ops_worker_backups_total{result="failed"} 0');
    expect(body).toContain(`ops_worker_backup_bytes_written_total ${record.sizeBytes}`);
    expect(body).toContain('ops_worker_format_checks_total{result="verified"} 1');
    expect(body).toContain(`ops_worker_last_cycle_completed_timestamp_seconds ${T0.getTime() / 1_000}`);
    expect(body).toContain('ops_worker_cycle_duration_seconds_count 1');
    expect(body).toContain('ops_worker_cycle_interval_seconds 60');
    expect(body).toMatch(new RegExp(`^ops_worker_volume_free_bytes\\{path="${harness.root}"\\} \\d+$`, 'm'));
    expect(body).toMatch(new RegExp(`^ops_worker_volume_size_bytes\\{path="${harness.root}"\\} \\d+$`, 'm'));
    expect(body).toMatch(/^process_resident_memory_bytes \d+$/m);
    // No queue depth function was given: the metric is left out rather than reported as zero.
    expect(body).not.toContain('ops_worker_queue_jobs');
  });

  it('turns unhealthy when no cycle has completed for three intervals (the loop stopped)', async () => {
    now = later(3 * INTERVAL_MS);
    expect((await get('/healthz')).status).toBe(200);
    now = later(3 * INTERVAL_MS + 1_000);
    const health = await get('/healthz');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toMatchObject({
      status: 'stuck',
      reason: `no cycle has completed since ${T0.toISOString()} (181 s; 3 intervals of 60 s are allowed)`,
    });
  });

  it('turns unhealthy when a cycle hangs (its database queries block) past the cycle timeout, and recovers', async () => {
    // Another session holds an exclusive lock on the tables every cycle reads first: the cycle cannot complete.
    const blocker = new pg.Client({ connectionString: harness.db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE "BackupRecord", "Deployment" IN ACCESS EXCLUSIVE MODE');
    const hungAt = later(10 * INTERVAL_MS);
    now = hungAt;
    const { stopTakingWork, abortRunning } = stopper();
    const deps = await loopDependencies();
    const loop = runLoop(deps, {
      intervalMs: INTERVAL_MS,
      stopTakingWork: stopTakingWork.signal,
      abortRunning: abortRunning.signal,
      observer: metrics,
    });
    try {
      // The job runners start first; then the cycle begins, and hangs on the lock.
      for (let waited = 0; !metrics.cycleRunningSince() && waited < 10_000; waited += 50) await sleep(50);
      expect(metrics.cycleRunningSince()).toEqual(hungAt);
      now = new Date(hungAt.getTime() + 3 * INTERVAL_MS + 1_000);
      expect((await get('/healthz')).status).toBe(200);
      now = new Date(hungAt.getTime() + CYCLE_TIMEOUT_MS + 1_000);
      expect(metrics.cycleRunningSince()).toEqual(hungAt);
      const health = await get('/healthz');
      expect(health.status).toBe(503);
      expect(JSON.parse(health.body)).toMatchObject({
        status: 'stuck',
        cycleRunningSince: hungAt.toISOString(),
        reason: `the cycle started at ${hungAt.toISOString()} has run for 21601 s, longer than a cycle may (21600 s)`,
      });
    } finally {
      stopTakingWork.abort();
      await blocker.query('ROLLBACK');
      await blocker.end();
      await loop;
    }
    expect(metrics.cycleRunningSince()).toBeNull();
    expect((await get('/healthz')).status).toBe(200);
  });
});

describe('/readyz', () => {
  let missingDatabase: PrismaClient | undefined;
  let extra: HealthServer | undefined;
  afterEach(async () => {
    await extra?.close();
    await missingDatabase?.$disconnect();
    extra = undefined;
  });

  it('is ready when the database answers and the volume takes a write, and leaves no file behind', async () => {
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', checks: { database: 'ok', volume: 'ok' } });
    expect((await readdir(harness.root)).filter((name) => name.startsWith('.readyz'))).toEqual([]);
  });

  it('is not ready, naming each failing check, when the database is gone and the volume is missing', async () => {
    missingDatabase = new PrismaClient({
      adapter: new PrismaPg({ connectionString: databaseUrl(uniqueDatabaseName('ops_test_missing')) }),
    });
    const root = `${harness.root}-missing`;
    await rm(root, { recursive: true, force: true });
    extra = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      lastCycleAt: () => null,
      cycleRunningSince: () => null,
      intervalMs: INTERVAL_MS,
      cycleTimeoutMs: CYCLE_TIMEOUT_MS,
      checks: [databaseCheck(missingDatabase), volumeWritableCheck(root)],
      registry: createWorkerMetrics({ intervalSeconds: 60, backupRoot: root }).registry,
      clock: () => now,
      logger: harness.deps.logger,
    });
    const response = await fetch(`${extra.url}/readyz`);
    expect(response.status).toBe(503);
    const body = (await response.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe('not ready');
    expect(body.checks.database).toMatch(/does not exist/);
    expect(body.checks.volume).toContain('ENOENT');
    // An unreadable volume exports no size rather than zero.
    const metricsText = await (await fetch(`${extra.url}/metrics`)).text();
    expect(metricsText).not.toMatch(/^ops_worker_volume_(free|size)_bytes\{/m);
  });
});

describe('queue depth', () => {
  it('is exported per queue and state when the worker is given a way to read it', async () => {
    const registry = createWorkerMetrics({
      intervalSeconds: 60,
      backupRoot: harness.root,
      queueDepth: async () => [
        { queue: 'backup', ready: 3, running: 2 },
        { queue: 'restore', ready: 0, running: 1 },
      ],
    }).registry;
    const text = await registry.metrics();
    expect(text).toContain('ops_worker_queue_jobs{queue="backup",state="ready"} 3');
    expect(text).toContain('ops_worker_queue_jobs{queue="backup",state="running"} 2');
    expect(text).toContain('ops_worker_queue_jobs{queue="restore",state="running"} 1');
  });
});
