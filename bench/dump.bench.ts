/**
 * Real dumps through the fake cluster (`npm run bench:dump`): a PostgreSQL database made by `pgbench -i -s SCALE`
 * (BENCH_PGBENCH_SCALE, default 30: ~450 MB of tables) and one of incompressible rows (BENCH_RANDOM_MIB of
 * `gen_random_bytes`, default 256), each dumped by the PostgreSQL recipe's own command in the "pod" (the fake API
 * server runs it on this machine against the local server), two ways in the same run, interleaved over BENCH_RUNS (3)
 * rounds, and the pgbench database over BENCH_PGBENCH_RUNS (7): its dumps take 1.5-2.5 s each, where one scheduler
 * hiccup on a loaded machine moves a run by 20% (three rounds at load 3 gave kubectl 1.48, 1.78 and 1.48 s for the
 * same dump, and ours 1.48, 1.92 and 1.78 s), so it takes more rounds for the same median precision; the random
 * database's 15-25 s runs average such hiccups out within each run (each target line prints both sides' spread).
 * The pairs:
 *   - custom format (the recipe: `pg_dump --format=custom`, compressed by pg_dump): ours (bench/backup-client.ts:
 *     runDataExport into the file store with sha256, fsync, rename, sidecar) against `kubectl exec … > file` + sync;
 *   - plain SQL: ours with the store's gzip against `kubectl exec … | gzip > file` + sync, and with the store's zstd
 *     against `| zstd > file` + sync (the CLI's defaults; beside it, not a target, the CLI with the store's
 *     parameters: `zstd --zstd=mml=N`).
 * Ours runs as the worker does: bench/backup-client.ts compiled as `npm run build` compiles (client-node bundled),
 * under plain node with the worker image's NODE_OPTIONS and node flags (Dockerfile.worker). Ours' throughput is the
 * in-process figure (store open to commit, as a running worker makes a backup); its whole process (start-up included)
 * is printed too. Sizes are of the stored files. Target: ours at least 1.0x the
 * matching kubectl pipeline (medians), as the ratio of the times to back up the same dump (kubectl's / ours'); stored
 * MiB/s, which scores a smaller file as slower when the compressors' ratios differ, is printed as information.
 * Exits 0 whatever the targets say; 1 when a run fails.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';
import { findRecipe } from '../src/lib/recipes/registry.ts';
import { ZSTD_MIN_MATCH } from '../src/lib/storage/backup-encoding.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../tests/support/fake-kube-api.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../tests/support/postgres.ts';
import { PROJECT_ROOT } from '../tests/support/processes.ts';
import type { ClientReport } from './backup-client.ts';
import { positiveSetting } from './bench-settings.ts';
import { compileClient, readImageNode } from './measured-process.ts';

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;
const NAMESPACE = 'bench';
const CONTAINER = 'postgres';
const TARGET_RATIO = 1.0;

interface Settings {
  scale: number;
  randomMiB: number;
  runs: number;
  /** Rounds for the pgbench database (short dumps: more rounds for the same precision). */
  pgbenchRuns: number;
  kubectl: string;
}

interface Run {
  wallMs: number;
  /** ours: store open to commit, inside the process. */
  inProcessMs?: number;
  storedBytes: number;
  cpuMs: number;
  load: number;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const positive = (name: string, fallback: number) => positiveSetting(env, 'dump', name, fallback);
  return {
    scale: positive('BENCH_PGBENCH_SCALE', 30),
    randomMiB: positive('BENCH_RANDOM_MIB', 256),
    runs: positive('BENCH_RUNS', 3),
    pgbenchRuns: positive('BENCH_PGBENCH_RUNS', 7),
    kubectl: env.KUBECTL || 'kubectl',
  };
}

/** Runs `shell` (bash -c) under /usr/bin/time; wall, CPU of the tree and the exit. */
async function timed(
  shell: string,
  workDirectory: string,
  env: NodeJS.ProcessEnv,
): Promise<{ wallMs: number; cpuMs: number; stdout: string }> {
  const report = path.join(workDirectory, `time-${process.hrtime.bigint()}`);
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', report, 'bash', '-o', 'pipefail', '-c', shell], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`dump bench: \`${shell}\` exited with ${code}: ${stderr.slice(-2_000)}`);
  const [user, system] = (await readFile(report, 'utf8')).trim().split(/\s+/).map(Number);
  return { wallMs, cpuMs: ((user ?? 0) + (system ?? 0)) * 1000, stdout };
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

async function seedSources(settings: Settings): Promise<{ pgbench: string; random: string }> {
  const pgbench = await createDatabase(uniqueDatabaseName('ops_bench_dump_pgbench'));
  const random = await createDatabase(uniqueDatabaseName('ops_bench_dump_random'));
  const started = performance.now();
  await execFileAsync('pgbench', ['-i', '-q', '-s', String(settings.scale), databaseUrl(pgbench)]);
  const client = new pg.Client({ connectionString: databaseUrl(random) });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pgcrypto');
    await client.query(
      `CREATE TABLE blobs AS SELECT g AS id, gen_random_bytes(1024) AS payload FROM generate_series(1, $1::int) g`,
      [settings.randomMiB * 1024],
    );
  } finally {
    await client.end();
  }
  console.log(
    `sources: pgbench scale ${settings.scale} (${pgbench}) and ${settings.randomMiB} MiB of random rows (${random}), ` +
      `made in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { pgbench, random };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const mibPerSecond = (run: Run, inProcess = false) =>
  run.storedBytes / MIB / (((inProcess ? run.inProcessMs : undefined) ?? run.wallMs) / 1000);

async function main(): Promise<void> {
  const settings = readSettings(process.env);
  console.log(
    `${availableParallelism()} CPUs, load average ${loadavg()
      .map((load) => load.toFixed(1))
      .join(' ')}`,
  );
  const workDirectory = await mkdtemp(path.join(tmpdir(), 'dump-bench-'));
  const sources = await seedSources(settings);
  let api: FakeKubeApi | undefined;
  try {
    const recipe = findRecipe('postgresql')!;
    const customCommand = recipe.dataExport!.command;
    // The recipe's command with plain SQL output instead of the custom format.
    const plainCommand = customCommand.map((part) => part.replace('--format=custom', '--format=plain'));
    api = await startFakeKubeApi({
      pods: Object.entries(sources).map(([kind, database]) => ({
        namespace: NAMESPACE,
        name: `${kind}-0`,
        labels: { 'app.kubernetes.io/instance': kind, 'platform.example/workspace-id': 'bench' },
        phase: 'Running' as const,
        containers: [
          {
            name: CONTAINER,
            ready: true,
            env: { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: database },
          },
        ],
      })),
    });
    const env = { ...process.env };
    // Ours as the worker runs: compiled (as `npm run build` compiles it) and started as the image starts node.
    const compiledClient = await compileClient(
      'dump',
      path.join(PROJECT_ROOT, 'bench', 'backup-client.ts'),
      path.join(workDirectory, 'compiled'),
    );
    const image = await readImageNode();
    const oursEnv = { ...process.env, NODE_OPTIONS: image.options };
    const oursNode = [process.execPath, ...image.flags].map(quote).join(' ');
    const kubectlExec = (pod: string, command: string[]) =>
      `${quote(settings.kubectl)} --kubeconfig ${quote(api!.kubeconfigPath)} exec -n ${NAMESPACE} ${pod} -c ${CONTAINER} -- ${command.map(quote).join(' ')}`;

    type Way = { label: string; ours: boolean; run(pod: string, kind: string, index: number): Promise<Run> };
    const kubectlWay = (label: string, command: string[], pipe: string): Way => ({
      label,
      ours: false,
      async run(pod, kind, index) {
        const file = path.join(workDirectory, `${kind}-${index}.out`);
        const load = loadavg()[0]!;
        const result = await timed(
          `${kubectlExec(pod, command)}${pipe} > ${quote(file)} && sync ${quote(file)}`,
          workDirectory,
          env,
        );
        const { size } = await stat(file);
        await rm(file);
        return { wallMs: result.wallMs, storedBytes: size, cpuMs: result.cpuMs, load };
      },
    });
    const oursWay = (
      label: string,
      command: string[],
      alreadyCompressed: boolean,
      extension: string,
      compression = 'gzip',
    ): Way => ({
      label,
      ours: true,
      async run(pod, kind, index) {
        const root = path.join(workDirectory, `store-${kind}-${index}`);
        await mkdir(root, { recursive: true });
        const load = loadavg()[0]!;
        const args = [
          '--kubeconfig',
          api!.kubeconfigPath,
          '--namespace',
          NAMESPACE,
          '--deployment',
          kind,
          '--container',
          CONTAINER,
          '--root',
          root,
          '--command-json',
          JSON.stringify(command),
          '--extension',
          extension,
          '--compression',
          compression,
          ...(alreadyCompressed ? ['--already-compressed'] : []),
        ];
        const result = await timed(
          `${oursNode} ${quote(compiledClient)} ${args.map(quote).join(' ')}`,
          workDirectory,
          oursEnv,
        );
        const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ClientReport;
        await rm(root, { recursive: true, force: true });
        return {
          wallMs: result.wallMs,
          inProcessMs: report.exportMs,
          storedBytes: report.storedBytes,
          cpuMs: result.cpuMs,
          load,
        };
      },
    });
    const pairs: Array<{ title: string; ours: Way; kubectl: Way; info?: Way }> = [
      {
        title: 'custom format (the recipe)',
        ours: oursWay('ours', customCommand, true, 'dump'),
        kubectl: kubectlWay('kubectl > file', customCommand, ''),
      },
      {
        title: 'plain SQL, gzip',
        ours: oursWay('ours (store gzip)', plainCommand, false, 'sql'),
        kubectl: kubectlWay('kubectl | gzip > file', plainCommand, ' | gzip'),
      },
      {
        title: 'plain SQL, zstd',
        ours: oursWay('ours (store zstd)', plainCommand, false, 'sql', 'zstd'),
        kubectl: kubectlWay('kubectl | zstd > file', plainCommand, ' | zstd -q'),
        // Not a target: the CLI with the store's parameters, to compare like with like (sizes and speed).
        info: kubectlWay(
          `kubectl | zstd --zstd=mml=${ZSTD_MIN_MATCH}`,
          plainCommand,
          ` | zstd -q --zstd=mml=${ZSTD_MIN_MATCH}`,
        ),
      },
    ];
    const results = new Map<string, Run[]>();
    const push = (key: string, run: Run) => results.set(key, [...(results.get(key) ?? []), run]);
    let index = 0;
    const roundsOf = (kind: string) => (kind === 'pgbench' ? settings.pgbenchRuns : settings.runs);
    const rounds = Math.max(...Object.keys(sources).map(roundsOf));
    for (let round = 1; round <= rounds; round += 1) {
      for (const kind of Object.keys(sources).filter((each) => round <= roundsOf(each))) {
        for (const pair of pairs) {
          const ways = [pair.ours, pair.kubectl, ...(pair.info ? [pair.info] : [])];
          for (const way of round % 2 === 1 ? ways : [...ways].reverse()) {
            const run = await way.run(`${kind}-0`, kind, (index += 1));
            push(`${kind}|${pair.title}|${way.label}`, run);
            console.log(
              `  round ${round} ${kind}, ${pair.title}, ${way.label}: ${(run.storedBytes / MIB).toFixed(1)} MiB in ` +
                `${(run.wallMs / 1000).toFixed(2)} s${run.inProcessMs !== undefined ? ` (in process ${(run.inProcessMs / 1000).toFixed(2)} s)` : ''}, ` +
                `CPU ${(run.cpuMs / 1000).toFixed(2)} s, load ${run.load.toFixed(2)}`,
            );
          }
        }
      }
    }
    console.log(
      `\nTargets (medians; load average now ${loadavg()
        .map((load) => load.toFixed(1))
        .join(' ')})`,
    );
    for (const kind of Object.keys(sources)) {
      for (const pair of pairs) {
        const ours = results.get(`${kind}|${pair.title}|${pair.ours.label}`)!;
        const kubectl = results.get(`${kind}|${pair.title}|${pair.kubectl.label}`)!;
        const oursSpeed = median(ours.map((run) => mibPerSecond(run, true)));
        const wholeSpeed = median(ours.map((run) => mibPerSecond(run)));
        const kubectlSpeed = median(kubectl.map((run) => mibPerSecond(run)));
        // Both dump the same database: the job's throughput ratio is the ratio of the times. Stored MiB/s would score
        // a smaller file as a slower backup when the two compressors' ratios differ (printed too, as information).
        const oursTimes = ours.map((run) => run.inProcessMs ?? run.wallMs);
        const kubectlTimes = kubectl.map((run) => run.wallMs);
        const oursMs = median(oursTimes);
        const kubectlMs = median(kubectlTimes);
        const spread = (times: number[]) =>
          `${(Math.min(...times) / 1000).toFixed(2)}-${(Math.max(...times) / 1000).toFixed(2)} s`;
        const ratio = kubectlMs / oursMs;
        const info = pair.info ? results.get(`${kind}|${pair.title}|${pair.info.label}`)! : null;
        console.log(
          `  ${ratio >= TARGET_RATIO ? 'PASS' : 'MISS'}  ${kind}, ${pair.title}: the same dump in ${(oursMs / 1000).toFixed(2)} s ` +
            `in a running worker vs ${(kubectlMs / 1000).toFixed(2)} s by ${pair.kubectl.label} = ${ratio.toFixed(2)}x ` +
            `(>= ${TARGET_RATIO}); stored ${(median(ours.map((run) => run.storedBytes)) / MIB).toFixed(1)} ` +
            `vs ${(median(kubectl.map((run) => run.storedBytes)) / MIB).toFixed(1)} MiB; ${ours.length} round${ours.length === 1 ? '' : 's'}, ` +
            `ours ${spread(oursTimes)}, kubectl ${spread(kubectlTimes)}`,
        );
        console.log(
          `        information: stored MiB/s ours ${oursSpeed.toFixed(1)} vs ${kubectlSpeed.toFixed(1)} = ` +
            `${(oursSpeed / kubectlSpeed).toFixed(2)}x; ours as a whole process ${wholeSpeed.toFixed(1)} MiB/s` +
            (info
              ? `; ${pair.info!.label}: ${(median(info.map((run) => run.storedBytes)) / MIB).toFixed(1)} MiB in ` +
                `${(median(info.map((run) => run.wallMs)) / 1000).toFixed(2)} s`
              : ''),
        );
      }
    }
  } finally {
    await api?.close();
    await dropDatabase(sources.pgbench);
    await dropDatabase(sources.random);
    await rm(workDirectory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
