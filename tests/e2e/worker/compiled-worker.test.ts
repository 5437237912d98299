import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { childEnvironment, PROJECT_ROOT, type RunningProcess, startNode } from '../../support/processes.ts';
import { writeServiceAccountFiles } from '../../support/service-account-files.ts';
import { bundleClientNode } from '../../../scripts/bundle-client-node.mjs';

/**
 * The worker as its image runs it: `npm run build`'s JavaScript, laid out as in Dockerfile.worker (/app/dist,
 * /app/prisma, /app/node_modules, /app/package.json), started as `node dist/worker.js` with the image's NODE_OPTIONS,
 * in a pod-like setup: no KUBECONFIG, the API server from KUBERNETES_SERVICE_HOST/PORT, the service-account token and
 * CA as files, the database URL as a mounted secret file (DATABASE_URL_FILE). The fake API server enforces the
 * worker's rendered RBAC rules. Also measures the worker's peak RSS (/proc/<pid>/status VmHWM) for the manifest.
 */
const ROWS = 20_000;
const IMAGE_NODE_OPTIONS = '--max-semi-space-size=2';
/** The worker Deployment's memory limit (deploy/kubernetes/base/worker-deployment.yaml). */
const MEMORY_LIMIT_BYTES = 512 * 1024 * 1024;
const RUN_LIMIT_MS = 60_000;

let app: string;
let podRoot: string;
let source: string;
let harness: BackupHarness;
let workers: RunningProcess[] = [];

beforeAll(async () => {
  app = await mkdtemp(path.join(os.tmpdir(), 'compiled-worker-app-'));
  await compile(path.join(app, 'dist'));
  await copyFile(path.join(PROJECT_ROOT, 'package.json'), path.join(app, 'package.json'));
  await symlink(path.join(PROJECT_ROOT, 'node_modules'), path.join(app, 'node_modules'));
  await symlink(path.join(PROJECT_ROOT, 'prisma'), path.join(app, 'prisma'));

  source = await createDatabase(uniqueDatabaseName('ops_test_compiled_src'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(
    `CREATE TABLE items AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS name FROM generate_series(1, ${ROWS}) g`,
  );
  await client.end();
}, 180_000);
afterEach(async () => {
  for (const worker of workers) worker.child.kill('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
  workers = [];
  await harness?.close();
  await rm(podRoot, { recursive: true, force: true });
});
afterAll(async () => {
  await rm(app, { recursive: true, force: true });
  await dropDatabase(source);
});

/** What `npm run build` runs, into `outDir`: `tsc -p tsconfig.build.json`, then the bundle of client-node. */
async function compile(outDir: string): Promise<void> {
  const tsc = path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: PROJECT_ROOT });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`npm run build failed (${code}):\n${output}`);
  await bundleClientNode(outDir);
}

/** A due deployment with its pod, a database URL file and service-account files: what a worker pod would have. */
async function podLikeSetup(): Promise<{ env: NodeJS.ProcessEnv; deploymentId: string }> {
  harness = await startBackupHarness({
    pods: [podFor('orders-db', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source })],
  });
  const workspace = await createWorkspace(harness.db.prisma);
  const deployment = await createDeployment(harness.db.prisma, workspace.id, {
    name: 'orders-db',
    backupEnabled: true,
    backupSchedule: '* * * * *',
  });
  podRoot = await mkdtemp(path.join(os.tmpdir(), 'worker-pod-'));
  const apiServer = await writeServiceAccountFiles(podRoot, harness.kube);
  const secrets = path.join(podRoot, 'var/run/secrets/ops-agent');
  await mkdir(secrets, { recursive: true });
  await writeFile(path.join(secrets, 'database-url'), `${harness.db.url}\n`);
  const env = childEnvironment({
    ...apiServer,
    KUBE_SERVICE_ACCOUNT_ROOT: podRoot,
    DATABASE_URL_FILE: path.join(secrets, 'database-url'),
    BACKUP_ROOT: harness.root,
    NODE_ENV: 'production',
    NODE_OPTIONS: IMAGE_NODE_OPTIONS,
  });
  return { env, deploymentId: deployment.id };
}

/** Starts the compiled worker and follows its peak RSS until it exits. */
function startCompiledWorker(args: string[], env: NodeJS.ProcessEnv): RunningProcess & { peakRss(): number } {
  // As the image's CMD starts it.
  const worker = startNode(['--initial-old-space-size=64', 'dist/worker.js', ...args], env, app);
  workers.push(worker);
  let peak = 0;
  const sample = async () => {
    const status = await readFile(`/proc/${worker.child.pid}/status`, 'utf8').catch(() => '');
    const kib = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kib * 1024);
  };
  const timer = setInterval(() => void sample(), 25);
  void worker.exited.then(() => clearInterval(timer));
  return { ...worker, peakRss: () => peak };
}

async function exitCodeOf(worker: RunningProcess): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      worker.child.kill('SIGKILL');
      reject(new Error(`the worker did not exit within ${RUN_LIMIT_MS} ms; output:\n${worker.output()}`));
    }, RUN_LIMIT_MS);
  });
  try {
    return await Promise.race([worker.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the compiled worker (node dist/worker.js), as the image runs it', () => {
  it('runs one cycle with --once in a pod-like setup (service-account files, no KUBECONFIG) and backs up', async () => {
    const { env, deploymentId } = await podLikeSetup();
    expect(env.KUBECONFIG).toBeUndefined();
    const worker = startCompiledWorker(['--once'], env);
    expect(await exitCodeOf(worker), worker.output()).toBe(0);

    const records = await harness.db.prisma.backupRecord.findMany({ where: { deploymentId } });
    expect(
      records.map((record) => record.status),
      worker.output(),
    ).toEqual(['SUCCEEDED']);
    expect(records[0]!.verifiedAt).toBeInstanceOf(Date);
    expect(worker.output()).toContain('"msg":"worker stopped"');
    expect(worker.output()).not.toContain(harness.kube.token);
    expect(harness.kube.authorizations.length).toBeGreaterThan(0);
    expect(harness.kube.authorizations.every((decision) => decision.allowed)).toBe(true);
    const peak = worker.peakRss();
    process.stdout.write(`compiled worker --once: peak RSS ${(peak / 1024 / 1024).toFixed(0)} MiB\n`);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(MEMORY_LIMIT_BYTES);
  });

  it('answers the probes and serves its metrics while it loops, and stops on SIGTERM', async () => {
    const { env } = await podLikeSetup();
    const worker = startCompiledWorker([], { ...env, WORKER_INTERVAL_SECONDS: '5' });
    await worker.waitForOutput(/"msg":"cycle: /, RUN_LIMIT_MS);
    // The cycle queued the backup; a job runner of the same worker makes it beside the loop.
    await worker.waitForOutput(/"msg":"backup succeeded"/, RUN_LIMIT_MS);
    const url = /"url":"(http:\/\/[^"]+)","msg":"health server listening/.exec(worker.output())?.[1];
    expect(url, worker.output()).toBeDefined();

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', volume: 'ok' } });
    // Counted once the backup's job has ended (after its format check and retention): read until it shows.
    let metrics = '';
    for (const deadline = Date.now() + RUN_LIMIT_MS; Date.now() < deadline; await sleep(200)) {
      metrics = await (await fetch(`${url}/metrics`)).text();
      if (metrics.includes('ops_worker_backups_total{result="succeeded"} 1')) break;
    }
    expect(metrics).toContain('ops_worker_backups_total{result="succeeded"} 1');
    expect(metrics).toMatch(/^ops_worker_last_cycle_completed_timestamp_seconds \d/m);

    worker.child.kill('SIGTERM');
    expect(await exitCodeOf(worker)).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
