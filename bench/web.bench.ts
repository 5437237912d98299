/**
 * Benchmark of the dashboard's web tier under load (`npm run bench:web`). On the local PostgreSQL it creates a
 * migrated database of its own and seeds one workspace with 1,000 backup-enabled deployments (20 records each) and one
 * deployment with 10,000 records, then starts the compiled dashboard as `npm run start:web` runs it (NODE_ENV
 * production; `npm run build:web` first when `.next/` is missing) and, with BENCH_CONNECTIONS (50) keep-alive
 * connections for BENCH_SECONDS (15) each:
 *   - `GET /api/deployments/{id}/backups` (first page of the 10,000-record history, bearer token);
 *   - `GET /backups`, the overview page of the workspace with 1,000 deployments (session cookie from sign-in);
 * and it downloads a 1 GiB backup (`GET /api/backups/{id}/download`) against a plain `node:http` +
 * `fs.createReadStream` server of the same file, in a process of its own, alternating BENCH_DOWNLOAD_RUNS (3) times.
 * The backup file is sparse (`truncate`): both servers read the same bytes from the page cache, so the comparison is
 * of the HTTP paths, not of the disk.
 *
 * The load generator is this process (node:http, one request at a time per connection); it uses CPU on the same
 * machine as the server, which the load average printed with each case shows. The server's RSS is read from
 * /proc/{pid}/status every 200 ms: after warm-up, peak and at the end of each case, and the peaks of each case's two
 * halves (for information: a heap still growing to its working size, or a leak, grows in the second half). The CPU
 * time each request cost, the steadier figure on a busy machine: the server's from /proc/{pid}/stat (user + system)
 * around each case, divided by its requests; PostgreSQL's, of the server processes connected to the benchmark's
 * database (each one's /proc/{pid}/stat); the load generator's (this process) beside them.
 *
 * Targets: history at least 1,000 req/s with p99 under 100 ms; overview at least 50 req/s with no errors and p99 under
 * 1 s; the server's RSS flat (peak during a case at most 64 MiB above its start); the download at least 0.9x the plain
 * server's throughput (medians). Exits 0 whatever the targets say (MISS printed); 1 when the benchmark itself fails.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { withPgConnection } from '../src/lib/db/database.ts';
import { applyMigrations, readMigrations } from '../src/lib/db/migrations.ts';
import { generateApiToken } from '../src/lib/shared/tokens.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../tests/support/postgres.ts';
import { PROJECT_ROOT } from '../tests/support/processes.ts';
import { BUILD_ID, startWebServer, type WebServer } from '../tests/support/web-server.ts';
import { positiveSetting } from './bench-settings.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const OVERVIEW_DEPLOYMENTS = 1_000;
const RECORDS_PER_DEPLOYMENT = 20;
const HISTORY_RECORDS = 10_000;
const WARM_UP_SECONDS = 3;
const RSS_SAMPLE_MS = 200;
const REQUEST_TIMEOUT_MS = 10_000;

const TARGET_HISTORY_RPS = 1_000;
const TARGET_HISTORY_P99_MS = 100;
const TARGET_OVERVIEW_RPS = 50;
const TARGET_OVERVIEW_P99_MS = 1_000;
const TARGET_FLAT_RSS_MIB = 64;
const TARGET_DOWNLOAD_RATIO = 0.9;

interface Settings {
  connections: number;
  seconds: number;
  downloadRuns: number;
  downloadBytes: number;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const positive = (name: string, fallback: number) => positiveSetting(env, 'web', name, fallback);
  return {
    connections: positive('BENCH_CONNECTIONS', 50),
    seconds: positive('BENCH_SECONDS', 15),
    downloadRuns: positive('BENCH_DOWNLOAD_RUNS', 3),
    downloadBytes: positive('BENCH_DOWNLOAD_BYTES', GIB),
  };
}

/** One workspace: 1,000 deployments with 20 records each, and `big` with 10,000; the download's record and file. */
async function seed(
  url: string,
  root: string,
  downloadBytes: number,
): Promise<{ token: string; bigId: string; downloadId: string }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`INSERT INTO "Workspace" (id, name, slug, "updatedAt") VALUES ('w0', 'Bench', 'bench', now())`);
    await client.query(
      `INSERT INTO "Deployment" (id, "workspaceId", name, "recipeSlug", status, namespace, "backupEnabled", "backupSchedule",
                                 "backupTimezone", "backupRetention", "lastBackupAt", "createdAt", "updatedAt")
       SELECT 'd' || g, 'w0', CASE WHEN g = 0 THEN 'big' ELSE 'db-' || g END,
              (ARRAY['postgresql', 'mariadb', 'redis', 'mongodb'])[1 + g % 4], 'RUNNING', 'apps', true,
              (ARRAY['0 3 * * *', '*/15 * * * *', '0 */6 * * *', '@daily'])[1 + (g / 4) % 4], 'UTC', 10,
              CASE WHEN g % 13 = 0 THEN NULL ELSE now() - make_interval(mins => (g * 37) % (3 * 24 * 60)) END,
              now() - interval '90 days', now()
         FROM generate_series(0, $1 - 1) g`,
      [OVERVIEW_DEPLOYMENTS],
    );
    // Deployment d0 ("big") gets HISTORY_RECORDS, the others RECORDS_PER_DEPLOYMENT; one in ten failed.
    await client.query(
      `INSERT INTO "BackupRecord" (id, "deploymentId", "workspaceId", status, trigger, path, "sizeBytes", sha256, format,
                                   extension, "startedAt", "finishedAt", "durationMs", "exitCode", "errorKind", error, "updatedAt")
       SELECT 'r' || d || 'x' || n, 'd' || d, 'w0', state::"BackupStatus", 'SCHEDULE',
              CASE WHEN state = 'SUCCEEDED' THEN $2::text || '/w0/db-' || d || '/' || n || '.dump' END,
              CASE WHEN state = 'SUCCEEDED' THEN 1000000 + n END,
              CASE WHEN state = 'SUCCEEDED' THEN md5(n::text) || md5(d::text) END,
              'postgres-custom', 'dump', now() - make_interval(hours => n), now() - make_interval(hours => n) + interval '2 minutes',
              120000, CASE WHEN state = 'SUCCEEDED' THEN 0 ELSE 1 END,
              CASE WHEN state = 'FAILED' THEN 'ExecFailed' END,
              CASE WHEN state = 'FAILED' THEN 'pg_dump exited with code 1: connection to server failed' END, now()
         FROM (SELECT d, n, CASE WHEN n % 10 = 3 THEN 'FAILED' ELSE 'SUCCEEDED' END AS state
                 FROM generate_series(0, $1::int - 1) d,
                      LATERAL generate_series(1, CASE WHEN d = 0 THEN $3::int ELSE $4::int END) n) seeded`,
      [OVERVIEW_DEPLOYMENTS, root, HISTORY_RECORDS, RECORDS_PER_DEPLOYMENT],
    );
    const folder = path.join(root, 'w0', 'big');
    await mkdir(folder, { recursive: true });
    const downloadPath = path.join(folder, '20261203T000000.000Z.dump');
    await writeFile(downloadPath, '');
    await truncate(downloadPath, downloadBytes);
    await client.query(
      `INSERT INTO "BackupRecord" (id, "deploymentId", "workspaceId", status, trigger, path, "sizeBytes", sha256, format,
                                   extension, "startedAt", "finishedAt", "durationMs", "exitCode", "updatedAt")
       VALUES ('rdownload', 'd0', 'w0', 'SUCCEEDED', 'MANUAL', $1, $2, $3, 'postgres-custom', 'dump',
               now() - interval '1 minute', now(), 60000, 0, now())`,
      [downloadPath, downloadBytes, '0'.repeat(64)],
    );
    const { token, tokenHash, tokenPrefix } = generateApiToken();
    await client.query(
      `INSERT INTO "ApiToken" (id, "workspaceId", name, "tokenHash", "tokenPrefix") VALUES ('tbench', 'w0', 'bench', $1, $2)`,
      [tokenHash, tokenPrefix],
    );
    await client.query('ANALYZE');
    return { token, bigId: 'd0', downloadId: 'rdownload' };
  } finally {
    await client.end();
  }
}

interface LoadResult {
  requests: number;
  errors: number;
  /** Status codes other than 200, and failures, by kind. */
  errorKinds: Map<string, number>;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  rss: RssFigures;
  load: number;
  /** User + system CPU per request: of the server process, of PostgreSQL, of this process (the load generator). */
  serverCpuMsPerRequest: number;
  databaseCpuMsPerRequest: number;
  clientCpuMsPerRequest: number;
}

interface RssFigures {
  startMiB: number;
  peakMiB: number;
  endMiB: number;
  /** Peaks of the samples in the first and in the second half of the case (by time). */
  firstHalfPeakMiB: number;
  secondHalfPeakMiB: number;
}

async function readRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Clock ticks per second, the unit of /proc/{pid}/stat's times. */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU time a process has used so far (/proc/{pid}/stat, fields 14 and 15), in ms. */
async function readCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 (state) on: utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND) * 1000;
}

/**
 * CPU time so far of each PostgreSQL process connected to the database at `url` (the server's pool), by pid. A
 * process that ends during a case is missed, one that starts counts whole: the pool keeps its connections.
 */
async function readDatabaseCpuMs(url: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    const times = new Map<number, number>();
    for (const { pid } of rows) {
      const time = await readCpuMs(pid).catch(() => null);
      if (time !== null) times.set(pid, time);
    }
    return times;
  } finally {
    await client.end();
  }
}

/** CPU the processes of `after` used since `before`, in ms. */
function cpuSpentMs(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, time] of after) total += time - (before.get(pid) ?? 0);
  return total;
}

/** User + system CPU time of this process so far, in ms. */
function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function sampleRss(pid: number): { stop(): Promise<RssFigures> } {
  const samples: Array<{ at: number; rss: number }> = [];
  const sample = async () => {
    const at = performance.now();
    const rss = await readRssMiB(pid).catch(() => Number.NaN);
    if (!Number.isNaN(rss)) samples.push({ at, rss });
    return rss;
  };
  const started = performance.now();
  void sample();
  const timer = setInterval(() => void sample(), RSS_SAMPLE_MS);
  return {
    async stop() {
      clearInterval(timer);
      const end = await sample();
      const middle = (started + performance.now()) / 2;
      const peakOf = (list: typeof samples) => Math.max(...list.map((each) => each.rss));
      return {
        startMiB: samples[0]?.rss ?? Number.NaN,
        peakMiB: peakOf(samples),
        endMiB: end,
        firstHalfPeakMiB: peakOf(samples.filter((each) => each.at < middle)),
        secondHalfPeakMiB: peakOf(samples.filter((each) => each.at >= middle)),
      };
    },
  };
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** One GET, its body read and dropped; resolves with the status code, or a failure's name. */
function get(agent: http.Agent, url: URL, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent, headers, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      response.on('data', () => undefined);
      response.on('end', () => resolve(String(response.statusCode)));
      response.on('error', (error) => resolve(error.name));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => resolve(error.message === 'timeout' ? 'timeout' : error.name));
  });
}

/** `connections` loops of GETs over keep-alive connections for `seconds`; latencies of every request. */
async function runLoad(
  server: WebServer,
  databaseUrl: string,
  target: string,
  headers: Record<string, string>,
  settings: Settings,
  seconds: number,
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: settings.connections });
  const url = new URL(target, server.url);
  const latencies: number[] = [];
  const errorKinds = new Map<string, number>();
  const load = loadavg()[0]!;
  const pid = server.process.pid!;
  const rss = sampleRss(pid);
  const serverCpuBefore = await readCpuMs(pid);
  const databaseCpuBefore = await readDatabaseCpuMs(databaseUrl);
  const clientCpuBefore = ownCpuMs();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: settings.connections }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        const outcome = await get(agent, url, headers);
        latencies.push(performance.now() - sent);
        if (outcome !== '200') errorKinds.set(outcome, (errorKinds.get(outcome) ?? 0) + 1);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const serverCpuMs = (await readCpuMs(pid)) - serverCpuBefore;
  const clientCpuMs = ownCpuMs() - clientCpuBefore;
  const databaseCpuMs = cpuSpentMs(databaseCpuBefore, await readDatabaseCpuMs(databaseUrl));
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const errors = [...errorKinds.values()].reduce((sum, count) => sum + count, 0);
  return {
    requests: latencies.length,
    errors,
    errorKinds,
    requestsPerSecond: latencies.length / elapsed,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    rss: await rss.stop(),
    load,
    serverCpuMsPerRequest: serverCpuMs / latencies.length,
    databaseCpuMsPerRequest: databaseCpuMs / latencies.length,
    clientCpuMsPerRequest: clientCpuMs / latencies.length,
  };
}

/** Downloads `target`, dropping the bytes; MiB/s over the whole request. */
async function download(url: URL, headers: Record<string, string>, expectedBytes: number): Promise<number> {
  const started = performance.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        if (response.statusCode !== 200) return reject(new Error(`download: status ${response.statusCode}`));
        let received = 0;
        response.on('data', (chunk: Buffer) => (received += chunk.length));
        response.on('end', () => resolve(received));
        response.on('error', reject);
      })
      .on('error', reject);
  });
  if (bytes !== expectedBytes) throw new Error(`download: ${bytes} bytes, expected ${expectedBytes}`);
  return bytes / MIB / ((performance.now() - started) / 1000);
}

/** The baseline: a plain node:http server streaming the file with fs.createReadStream, in a process of its own. */
async function startPlainServer(file: string): Promise<{ url: string; stop(): void }> {
  const script = `
    const http = require('node:http'); const fs = require('node:fs');
    const server = http.createServer((request, response) => {
      const { size } = fs.statSync(process.argv[1]);
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      fs.createReadStream(process.argv[1]).pipe(response);
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the plain server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill('SIGTERM') };
}

async function signIn(server: WebServer, token: string): Promise<string> {
  const response = await fetch(new URL('/api/session', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.url },
    body: JSON.stringify({ token }),
  });
  if (!response.ok) throw new Error(`sign-in: ${response.status} ${await response.text()}`);
  const cookie = response.headers.get('set-cookie')?.split(';')[0];
  if (!cookie) throw new Error('sign-in: no session cookie');
  return cookie;
}

const fixed = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
const signed = (value: number) => `${value >= 0 ? '+' : ''}${fixed(value)}`;

function describeLoad(label: string, result: LoadResult): string {
  const kinds = [...result.errorKinds].map(([kind, count]) => `${kind}: ${count}`).join(', ');
  return (
    `  ${label}: ${fixed(result.requestsPerSecond)} req/s, p50 ${fixed(result.p50Ms, 1)} ms, p99 ${fixed(result.p99Ms, 1)} ms, ` +
    `max ${fixed(result.maxMs)} ms, ${result.requests} requests, ${result.errors} errors${kinds ? ` (${kinds})` : ''}; ` +
    `CPU per request: server ${fixed(result.serverCpuMsPerRequest, 2)} ms, PostgreSQL ${fixed(result.databaseCpuMsPerRequest, 2)} ms, load generator ${fixed(result.clientCpuMsPerRequest, 2)} ms; ` +
    `server RSS ${fixed(result.rss.startMiB)} -> peak ${fixed(result.rss.peakMiB)} -> ${fixed(result.rss.endMiB)} MiB; load ${fixed(result.load, 2)}`
  );
}

async function main(): Promise<void> {
  const settings = readSettings(process.env);
  console.log(
    `${availableParallelism()} CPUs, load average ${loadavg()
      .map((load) => load.toFixed(1))
      .join(' ')}`,
  );
  if (!existsSync(BUILD_ID)) {
    console.log('the dashboard is not built: npm run build:web');
    const code = await new Promise<number | null>((resolve) =>
      spawn('npm', ['run', 'build:web'], { cwd: PROJECT_ROOT, stdio: 'inherit' }).once('exit', resolve),
    );
    if (code !== 0) throw new Error(`npm run build:web exited with ${code}`);
  }
  const root = await mkdtemp(path.join(tmpdir(), 'web-bench-'));
  const name = await createDatabase(uniqueDatabaseName('ops_bench_web'));
  const url = databaseUrl(name);
  let server: WebServer | undefined;
  let plain: { url: string; stop(): void } | undefined;
  try {
    await withPgConnection(url, async (connection) => applyMigrations(connection, await readMigrations()));
    const seedStarted = performance.now();
    const { token, bigId, downloadId } = await seed(url, root, settings.downloadBytes);
    console.log(
      `seeded ${OVERVIEW_DEPLOYMENTS} deployments (${RECORDS_PER_DEPLOYMENT} records each, ${HISTORY_RECORDS} for one) in ` +
        `${fixed((performance.now() - seedStarted) / 1000, 1)} s (${name})`,
    );
    server = await startWebServer({
      DATABASE_URL: url,
      BACKUP_ROOT: root,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      // BENCH_PROFILE_DIR: the server writes a V8 CPU profile there when it stops (for finding where time goes).
      ...(process.env.BENCH_PROFILE_DIR
        ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}` }
        : {}),
    });
    const cookie = await signIn(server, token);
    const bearer = { authorization: `Bearer ${token}` };
    const cases = [
      {
        label: `GET history (${HISTORY_RECORDS} records, first page)`,
        target: `/api/deployments/${bigId}/backups`,
        headers: bearer,
      },
      { label: `GET overview (${OVERVIEW_DEPLOYMENTS} deployments)`, target: '/backups', headers: { cookie } },
    ];
    console.log(
      `${settings.connections} connections, ${settings.seconds} s per case after ${WARM_UP_SECONDS} s of warm-up`,
    );
    const results: LoadResult[] = [];
    for (const benchCase of cases) {
      await runLoad(server, url, benchCase.target, benchCase.headers, settings, WARM_UP_SECONDS);
      const result = await runLoad(server, url, benchCase.target, benchCase.headers, settings, settings.seconds);
      results.push(result);
      console.log(describeLoad(benchCase.label, result));
    }

    const downloadPath = path.join(root, 'w0', 'big', '20261203T000000.000Z.dump');
    plain = await startPlainServer(downloadPath);
    const ours: number[] = [];
    const baseline: number[] = [];
    for (let run = 1; run <= settings.downloadRuns; run += 1) {
      const order = run % 2 === 1 ? ['ours', 'plain'] : ['plain', 'ours'];
      for (const who of order) {
        const load = loadavg()[0]!;
        const speed =
          who === 'ours'
            ? await download(new URL(`/api/backups/${downloadId}/download`, server.url), bearer, settings.downloadBytes)
            : await download(new URL(plain.url), {}, settings.downloadBytes);
        (who === 'ours' ? ours : baseline).push(speed);
        console.log(`  download run ${run}, ${who}: ${fixed(speed)} MiB/s (load ${fixed(load, 2)})`);
      }
    }

    const [history, overview] = results as [LoadResult, LoadResult];
    const flat = (result: LoadResult) => result.rss.peakMiB - result.rss.startMiB;
    const ratio = median(ours) / median(baseline);
    console.log(
      `\nTargets (load average now ${loadavg()
        .map((load) => load.toFixed(1))
        .join(' ')})`,
    );
    const lines: Array<[boolean, string]> = [
      [
        history.requestsPerSecond >= TARGET_HISTORY_RPS,
        `history at least ${TARGET_HISTORY_RPS} req/s (${fixed(history.requestsPerSecond)})`,
      ],
      [
        history.p99Ms < TARGET_HISTORY_P99_MS,
        `history p99 under ${TARGET_HISTORY_P99_MS} ms (${fixed(history.p99Ms, 1)} ms)`,
      ],
      [
        overview.requestsPerSecond >= TARGET_OVERVIEW_RPS,
        `overview at least ${TARGET_OVERVIEW_RPS} req/s (${fixed(overview.requestsPerSecond)})`,
      ],
      [
        overview.errors === 0 && history.errors === 0,
        `no errors (history ${history.errors}, overview ${overview.errors})`,
      ],
      [
        overview.p99Ms < TARGET_OVERVIEW_P99_MS,
        `overview p99 under ${TARGET_OVERVIEW_P99_MS} ms (${fixed(overview.p99Ms)} ms)`,
      ],
      [
        Math.max(flat(history), flat(overview)) <= TARGET_FLAT_RSS_MIB,
        `server RSS flat: peak at most ${TARGET_FLAT_RSS_MIB} MiB above a case's start (history +${fixed(flat(history))}, overview +${fixed(flat(overview))} MiB)`,
      ],
      [
        ratio >= TARGET_DOWNLOAD_RATIO,
        `download ${fixed(settings.downloadBytes / MIB)} MiB at least ${TARGET_DOWNLOAD_RATIO}x plain node:http (${fixed(ratio, 2)}: ${fixed(median(ours))} vs ${fixed(median(baseline))} MiB/s, medians)`,
      ],
    ];
    for (const [pass, text] of lines) console.log(`  ${verdict(pass)}  ${text}`);
    // The target's start is right after a short warm-up, where the server's heap may still be growing to its working
    // size under this load: this shows whether it still grew in the second half of the case, as a leak would.
    const growth = (result: LoadResult) => result.rss.secondHalfPeakMiB - result.rss.firstHalfPeakMiB;
    console.log(
      `  information: server RSS, peak in the second half of a case - peak in the first: history ` +
        `${signed(growth(history))}, overview ${signed(growth(overview))} MiB (${settings.seconds} s per case)`,
    );
  } finally {
    plain?.stop();
    await server?.stop();
    await dropDatabase(name);
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
