/**
 * How fast an operator command answers (`npm run bench:cli`), against a migrated database of its own on the local
 * PostgreSQL, and the CPU the process tree used (user + system, from /usr/bin/time, else python3's resource module):
 * - `list <id>`: the time from starting it to its first line on stdout. Three ways, interleaved over BENCH_RUNS (5)
 *   rounds: as the README says (npm run → scripts/cli.mjs → compiled dist/ with Node's compile cache), the compiled
 *   command without npm, and the TypeScript source under tsx (how `npm run backup` ran before).
 * - `run <id>`: a real backup (pg_dump of that same database, run in a pod of the fake Kubernetes API server started
 *   here) through `npm run backup`; the time to its first line, `started backup <id>` on stderr, said once the
 *   RUNNING record exists, and to its exit (the result on stdout).
 * The compiled build is made (or refreshed) once before the rounds, as the first `npm run backup` after a change does.
 *
 * Targets: `npm run backup -- list` and `-- run` print their first line within 1 s (medians). Exits 0 whatever the
 * targets say.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { withPgConnection } from '../src/lib/db/database.ts';
import { applyMigrations, readMigrations } from '../src/lib/db/migrations.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../tests/support/postgres.ts';
import { PROJECT_ROOT } from '../tests/support/processes.ts';
import { podFor, startFakeKubeApi } from '../tests/support/fake-kube-api.ts';
import { DEFAULT_WORKSPACE_LABEL } from '../src/lib/kube/index.ts';

const TARGET_FIRST_LINE_MS = 1_000;
const DEPLOYMENT_ID = 'dbenchcli';

interface Sample {
  firstLineMs: number;
  exitMs: number;
  cpuMs: number;
}

/** Where a command's first useful line appears: its first stdout line, or a stderr line that starts with a prefix. */
type FirstLine = { stream: 'stdout' } | { stream: 'stderr'; prefix: string };

/**
 * Starts `argv` under a CPU-measuring wrapper; resolves with the time to its first useful line (`firstLine`), to its
 * exit, and its CPU.
 */
async function measure(
  argv: string[],
  env: NodeJS.ProcessEnv,
  workDirectory: string,
  index: number,
  firstLine: FirstLine,
): Promise<Sample> {
  const report = path.join(workDirectory, `cpu-${index}`);
  const wrapped = existsSync('/usr/bin/time')
    ? ['/usr/bin/time', '-f', '%U %S', '-o', report, ...argv]
    : [
        'python3',
        '-c',
        'import resource,subprocess,sys;c=subprocess.run(sys.argv[2:]).returncode;u=resource.getrusage(resource.RUSAGE_CHILDREN);open(sys.argv[1],"w").write(f"{u.ru_utime} {u.ru_stime}");sys.exit(c)',
        report,
        ...argv,
      ];
  const started = performance.now();
  const child = spawn(wrapped[0]!, wrapped.slice(1), { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let firstLineMs = Number.NaN;
  let stdout = '';
  let stderr = '';
  /** Notes the time once the awaited line is in what `stream` has said so far. */
  const look = (stream: FirstLine['stream'], text: string) => {
    if (!Number.isNaN(firstLineMs) || stream !== firstLine.stream) return;
    const found =
      firstLine.stream === 'stdout'
        ? text.includes('\n')
        : text.split('\n').some((line) => line.startsWith(firstLine.prefix));
    if (found) firstLineMs = performance.now() - started;
  };
  child.stdout.on('data', (chunk: Buffer) => look('stdout', (stdout += chunk.toString('utf8'))));
  child.stderr.on('data', (chunk: Buffer) => look('stderr', (stderr += chunk.toString('utf8'))));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const exitMs = performance.now() - started;
  if (code !== 0 || Number.isNaN(firstLineMs))
    throw new Error(`cli bench: ${argv.join(' ')} exited with ${code}:\n${stdout}\n${stderr.slice(-2_000)}`);
  const [user, system] = (await readFile(report, 'utf8')).trim().split(/\s+/).map(Number);
  return { firstLineMs, exitMs, cpuMs: ((user ?? 0) + (system ?? 0)) * 1000 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  console.log(
    `${availableParallelism()} CPUs, load average ${loadavg()
      .map((load) => load.toFixed(1))
      .join(' ')}`,
  );
  const name = await createDatabase(uniqueDatabaseName('ops_bench_cli'));
  const url = databaseUrl(name);
  const workDirectory = await mkdtemp(path.join(tmpdir(), 'cli-bench-'));
  try {
    await withPgConnection(url, async (connection) => applyMigrations(connection, await readMigrations()));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`INSERT INTO "Workspace" (id, name, slug, "updatedAt") VALUES ('wcli', 'CLI', 'cli', now())`);
    await client.query(
      `INSERT INTO "Deployment" (id, "workspaceId", name, "recipeSlug", status, namespace, "updatedAt")
       VALUES ($1, 'wcli', 'db', 'postgresql', 'RUNNING', 'apps', now())`,
      [DEPLOYMENT_ID],
    );
    await client.end();
    // The pod of deployment `db`: its exec runs the recipe's pg_dump here, against this same database.
    const kube = await startFakeKubeApi({
      pods: [
        podFor(
          'db',
          'postgres',
          { PGHOST: new URL(url).hostname, POSTGRES_USER: 'postgres', POSTGRES_DB: name },
          { labels: { 'app.kubernetes.io/instance': 'db', [DEFAULT_WORKSPACE_LABEL]: 'wcli' } },
        ),
      ],
    });
    try {
      const env = { ...process.env, DATABASE_URL: url, BACKUP_ROOT: workDirectory, LOG_LEVEL: 'warn' };
      const runEnv = { ...env, KUBECONFIG: kube.kubeconfigPath };
      const stdoutLine: FirstLine = { stream: 'stdout' };
      const ways: Array<{
        label: string;
        argv: string[];
        env: NodeJS.ProcessEnv;
        firstLine: FirstLine;
        samples: Sample[];
      }> = [
        {
          label: 'npm run backup -- list (compiled)',
          argv: ['npm', 'run', '-s', 'backup', '--', 'list', DEPLOYMENT_ID],
          env,
          firstLine: stdoutLine,
          samples: [],
        },
        {
          label: 'node scripts/cli.mjs backup list',
          argv: [process.execPath, 'scripts/cli.mjs', 'backup', 'list', DEPLOYMENT_ID],
          env,
          firstLine: stdoutLine,
          samples: [],
        },
        {
          label: 'before: node --import tsx src/cli/backup.ts list',
          argv: [process.execPath, '--import', 'tsx', 'src/cli/backup.ts', 'list', DEPLOYMENT_ID],
          env,
          firstLine: stdoutLine,
          samples: [],
        },
        {
          label: 'npm run backup -- run (compiled), "started backup" on stderr',
          argv: ['npm', 'run', '-s', 'backup', '--', 'run', DEPLOYMENT_ID],
          env: runEnv,
          firstLine: { stream: 'stderr', prefix: 'started backup ' },
          samples: [],
        },
      ];
      // The first run builds dist/ when it is stale; not counted.
      for (const way of ways) await measure(way.argv, way.env, workDirectory, -1, way.firstLine);
      let index = 0;
      for (let round = 1; round <= runs; round += 1) {
        for (const way of round % 2 === 1 ? ways : [...ways].reverse()) {
          way.samples.push(await measure(way.argv, way.env, workDirectory, (index += 1), way.firstLine));
        }
      }
      for (const way of ways) {
        const first = way.samples.map((sample) => sample.firstLineMs);
        console.log(
          `  ${way.label}: first line median ${median(first).toFixed(0)} ms (${Math.min(...first).toFixed(0)}–` +
            `${Math.max(...first).toFixed(0)}), exit median ${median(way.samples.map((sample) => sample.exitMs)).toFixed(0)} ms, ` +
            `CPU median ${median(way.samples.map((sample) => sample.cpuMs)).toFixed(0)} ms`,
        );
      }
      console.log(
        `\nTargets (load average now ${loadavg()
          .map((load) => load.toFixed(1))
          .join(' ')})`,
      );
      for (const [command, way] of [
        ['list', ways[0]!],
        ['run', ways[3]!],
      ] as const) {
        const firstMedian = median(way.samples.map((sample) => sample.firstLineMs));
        console.log(
          `  ${firstMedian < TARGET_FIRST_LINE_MS ? 'PASS' : 'MISS'}  npm run backup -- ${command}: first line within ` +
            `${TARGET_FIRST_LINE_MS} ms (median ${firstMedian.toFixed(0)} ms)`,
        );
      }
    } finally {
      await kube.close();
    }
  } finally {
    await dropDatabase(name);
    await rm(workDirectory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
