/**
 * The durable job queue (`npm run bench:queue`), on the local PostgreSQL in a scratch database:
 * - latency: one job at a time sent to an idle worker, from `enqueue` to its handler starting (median, p99);
 * - throughput: JOBS jobs queued at once and taken by two workers (two pg-boss instances, as two processes would
 *   be, each running CONCURRENCY at a time), with handlers that do nothing: jobs per second, and CPU per 1,000 jobs.
 * The load average is printed with the figures: they are only comparable on a quiet machine.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { openJobQueue, type JobQueue } from '../src/lib/jobs/index.ts';
import { createLogger } from '../src/lib/shared/logger.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../tests/support/postgres.ts';
import { applyMigrations, readMigrations, withPgConnection } from '../src/lib/db/index.ts';

const LATENCY_SAMPLES = Number(process.env.LATENCY_SAMPLES ?? 100);
const JOBS = Number(process.env.JOBS ?? 2_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
const SETTINGS = { heartbeatSeconds: 30, monitorSeconds: 15, pollSeconds: 2, backupTimeoutSeconds: 3_600 };

const logger = createLogger({ level: 'silent' });
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;

async function open(url: string): Promise<JobQueue> {
  return openJobQueue({ connection: { kind: 'postgres', url }, logger, role: 'worker', settings: SETTINGS });
}

async function latency(url: string): Promise<number[]> {
  const jobs = await open(url);
  const started = new Map<string, number>();
  let signal: (() => void) | null = null;
  await jobs.work('testRestore', { concurrency: 1 }, async (job) => {
    started.set(job.data.deploymentId, performance.now());
    signal?.();
    return {};
  });
  const samples: number[] = [];
  for (let index = 0; index < LATENCY_SAMPLES; index += 1) {
    const key = `latency${index}`;
    const arrived = new Promise<void>((resolve) => (signal = resolve));
    const sent = performance.now();
    await jobs.enqueue('testRestore', { deploymentId: key });
    await arrived;
    samples.push(started.get(key)! - sent);
    // An idle worker: the next job is sent once this one is done and the worker waits again.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await jobs.stop({ graceful: true, timeoutMs: 5_000 });
  return samples;
}

async function throughput(url: string): Promise<{ jobsPerSecond: number; cpuMsPer1000: number; shares: number[] }> {
  const client = await open(url);
  const ids = Array.from({ length: JOBS }, (_, index) => ({ deploymentId: `throughput${index}` }));
  for (let offset = 0; offset < ids.length; offset += 500)
    await client.enqueueMany('testRestore', ids.slice(offset, offset + 500));
  const shares = [0, 0];
  let done = 0;
  let finish: (() => void) | null = null;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  const workers = await Promise.all([open(url), open(url)]);
  await Promise.all(
    workers.map((worker, index) =>
      worker.work('testRestore', { concurrency: CONCURRENCY }, async () => {
        shares[index]! += 1;
        if ((done += 1) === JOBS) finish?.();
        return {};
      }),
    ),
  );
  await finished;
  const seconds = (performance.now() - startedAt) / 1_000;
  const cpu = process.cpuUsage(cpuBefore);
  for (const queue of [...workers, client]) await queue.stop({ graceful: true, timeoutMs: 5_000 });
  return { jobsPerSecond: JOBS / seconds, cpuMsPer1000: ((cpu.user + cpu.system) / 1_000 / JOBS) * 1_000, shares };
}

const name = uniqueDatabaseName('ops_bench_queue');
await createDatabase(name);
const url = databaseUrl(name);
try {
  await withPgConnection(url, async (connection) => applyMigrations(connection, await readMigrations()));
  console.log(
    `job queue bench (load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')})`,
  );
  const samples = await latency(url);
  console.log(
    `  enqueue → handler start, idle worker, ${samples.length} jobs: median ${percentile(samples, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(samples, 99).toFixed(1)} ms, worst ${Math.max(...samples).toFixed(1)} ms`,
  );
  const result = await throughput(url);
  console.log(
    `  ${JOBS} jobs, 2 workers × ${CONCURRENCY}: ${result.jobsPerSecond.toFixed(0)} jobs/s, ` +
      `${result.cpuMsPer1000.toFixed(0)} ms CPU per 1,000 jobs (this process: both workers and the sender), ` +
      `shares ${result.shares.join(' / ')}`,
  );
  console.log(
    `  load average after: ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  );
} finally {
  await dropDatabase(name);
}
