/**
 * How fast an operator command answers (`npm run bench:cli`): the time from starting `npm run backup -- list <id>`
 * to its first line on stdout, against a migrated database of its own on the local PostgreSQL, and the CPU the
 * process tree used (user + system, from /usr/bin/time, else python3's resource module). Three ways, interleaved over
 * BENCH_RUNS (5) rounds: as the README says (npm run → scripts/cli.mjs → compiled dist/ with Node's compile cache),
 * the compiled command without npm, and the TypeScript source under tsx (how `npm run backup` ran before). The
 * compiled build is made (or refreshed) once before the rounds, as the first `npm run backup` after a change does.
 *
 * Target: `npm run backup -- list` prints its first line within 1 s (median). Exits 0 whatever the target says.
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

const TARGET_FIRST_LINE_MS = 1_000;
const DEPLOYMENT_ID = 'dbenchcli';

interface Sample {
  firstLineMs: number;
  cpuMs: number;
}

/** Starts `argv` under a CPU-measuring wrapper; resolves with the time to its first stdout line and its CPU. */
async function measure(argv: string[], env: NodeJS.ProcessEnv, workDirectory: string, index: number): Promise<Sample> {
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
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    if (Number.isNaN(firstLineMs) && stdout.includes('\n')) firstLineMs = performance.now() - started;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0 || Number.isNaN(firstLineMs))
    throw new Error(`cli bench: ${argv.join(' ')} exited with ${code}:\n${stdout}\n${stderr.slice(-2_000)}`);
  const [user, system] = (await readFile(report, 'utf8')).trim().split(/\s+/).map(Number);
  return { firstLineMs, cpuMs: ((user ?? 0) + (system ?? 0)) * 1000 };
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
    const env = { ...process.env, DATABASE_URL: url, BACKUP_ROOT: workDirectory, LOG_LEVEL: 'warn' };
    const ways: Array<{ label: string; argv: string[]; samples: Sample[] }> = [
      {
        label: 'npm run backup -- list (compiled)',
        argv: ['npm', 'run', '-s', 'backup', '--', 'list', DEPLOYMENT_ID],
        samples: [],
      },
      {
        label: 'node scripts/cli.mjs backup list',
        argv: [process.execPath, 'scripts/cli.mjs', 'backup', 'list', DEPLOYMENT_ID],
        samples: [],
      },
      {
        label: 'before: node --import tsx src/cli/backup.ts list',
        argv: [process.execPath, '--import', 'tsx', 'src/cli/backup.ts', 'list', DEPLOYMENT_ID],
        samples: [],
      },
    ];
    // The first run builds dist/ when it is stale; not counted.
    for (const way of ways) await measure(way.argv, env, workDirectory, -1);
    let index = 0;
    for (let round = 1; round <= runs; round += 1) {
      for (const way of round % 2 === 1 ? ways : [...ways].reverse()) {
        way.samples.push(await measure(way.argv, env, workDirectory, (index += 1)));
      }
    }
    for (const way of ways) {
      const first = way.samples.map((sample) => sample.firstLineMs);
      console.log(
        `  ${way.label}: first line median ${median(first).toFixed(0)} ms (${Math.min(...first).toFixed(0)}–` +
          `${Math.max(...first).toFixed(0)}), CPU median ${median(way.samples.map((sample) => sample.cpuMs)).toFixed(0)} ms`,
      );
    }
    const npmMedian = median(ways[0]!.samples.map((sample) => sample.firstLineMs));
    console.log(
      `\nTargets (load average now ${loadavg()
        .map((load) => load.toFixed(1))
        .join(' ')})`,
    );
    console.log(
      `  ${npmMedian < TARGET_FIRST_LINE_MS ? 'PASS' : 'MISS'}  npm run backup -- list: first line within ` +
        `${TARGET_FIRST_LINE_MS} ms (median ${npmMedian.toFixed(0)} ms)`,
    );
  } finally {
    await dropDatabase(name);
    await rm(workDirectory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
