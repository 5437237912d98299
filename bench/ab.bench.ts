/**
 * `npm run bench:ab -- <ref> [--runs N] [--bytes N] [--age]`: this checkout's backup client against an earlier
 * commit's, side by side in one run. Meant for a change to the backup stream, before it lands: whole `bench:backup`
 * runs compare each tree with kubectl, on a host whose speed drifts between runs; this compares the two trees with
 * each other, alternating, under the same load.
 *
 * The ref's tree is taken with `git archive` (committed files only) into a temporary folder; this checkout's is used
 * as it is, uncommitted changes included. Both clients (`bench/backup-client.ts` of each tree) are compiled as
 * `bench:backup` compiles ours (tsconfig.build.json of their own tree, client-node bundled), both with this checkout's
 * node_modules, and both run under plain node with the NODE_OPTIONS of this checkout's worker image. They stream
 * `head -c BYTES /dev/urandom` from the same fake API server (this checkout's, hosted in this process) into a store in
 * the temporary folder: sha256, fsync, rename, sidecar, and age encryption with `--age`. Each run's size is checked.
 * After one unmeasured 16 MiB warm-up of each, `--runs` rounds run both (bench/ab-comparison.ts: order and summary).
 * Exits 1 when a run fails or the arguments are wrong; the figures themselves set no exit code.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, rm, symlink } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { generateIdentity } from '../src/lib/encryption/index.ts';
import {
  AB_USAGE,
  abOrder,
  formatAbSummary,
  parseAbArguments,
  summarizeSide,
  type AbRun,
  type AbSide,
} from './ab-comparison.ts';
import { BENCH_CONTAINER, runOurBackupClient } from './backup-client-run.ts';
import { benchPod, runBenchMain, withBenchSession } from './bench-session.ts';
import {
  REPO_ROOT,
  chooseMeasuringWrapper,
  compileClient,
  describeImageNode,
  fixed,
  readImageNode,
  runPlain,
} from './measured-process.ts';

const runFile = promisify(execFile);
const CLIENT = path.join('bench', 'backup-client.ts');
const WARM_UP_BYTES = 16 * 1024 * 1024;

async function git(args: string[]): Promise<string> {
  const { stdout } = await runFile('git', ['-C', REPO_ROOT, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** The commit `ref` names, or an error saying it names none here. */
async function resolveCommit(ref: string): Promise<string> {
  try {
    return await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  } catch {
    throw new Error(`bench:ab: ${JSON.stringify(ref)} is not a commit of this repository`);
  }
}

/** How this checkout is described: its HEAD and whether it has uncommitted changes. */
async function describeCheckout(): Promise<string> {
  const head = await git(['rev-parse', '--short', 'HEAD']);
  // Untracked files count too: a new module the client imports is compiled although it is not committed.
  const changes = await git(['status', '--porcelain']);
  return `this checkout (HEAD ${head}${changes === '' ? '' : ', with uncommitted changes'})`;
}

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/** Writes the committed tree of `commit` into `directory`, with this checkout's dependencies (and generated code). */
async function extractTree(commit: string, directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  const archive = `${directory}.tar`;
  await git(['archive', '--format=tar', `--output=${archive}`, commit]);
  await runPlain('ab', ['tar', '-xf', archive, '-C', directory]);
  await rm(archive);
  if (!(await exists(path.join(directory, CLIENT))))
    throw new Error(`bench:ab: ${commit} has no ${CLIENT}: it predates the benchmark client`);
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(directory, 'node_modules'), 'dir');
  const generated = path.join('src', 'generated');
  if ((await exists(path.join(REPO_ROOT, generated))) && !(await exists(path.join(directory, generated))))
    await symlink(path.join(REPO_ROOT, generated), path.join(directory, generated), 'dir');
}

/** The command line as parseArgs splits it; an unknown option is refused with the usage. */
function readCommandLine(): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({
      allowPositionals: true,
      options: { runs: { type: 'string' }, bytes: { type: 'string' }, age: { type: 'boolean' } },
    });
  } catch (error) {
    throw new Error(`bench:ab: ${error instanceof Error ? error.message : String(error)}\n${AB_USAGE}`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = readCommandLine();
  const settings = parseAbArguments(values, positionals);
  const commit = await resolveCommit(settings.ref);
  const labels: Record<AbSide, string> = {
    ref: `${settings.ref} (${commit.slice(0, 12)}, committed files)`,
    tree: await describeCheckout(),
  };
  const measuring = await chooseMeasuringWrapper();
  const image = await readImageNode();
  await withBenchSession('ab', [benchPod(BENCH_CONTAINER)], async ({ workDirectory, api }) => {
    const refRoot = path.join(workDirectory, 'ref-tree');
    await extractTree(commit, refRoot);
    console.log(`bench:ab: compiling both clients in ${workDirectory}`);
    const clients: Record<AbSide, string> = {
      ref: await compileClient('ab', path.join(refRoot, CLIENT), path.join(workDirectory, 'ref'), refRoot),
      tree: await compileClient('ab', path.join(REPO_ROOT, CLIENT), path.join(workDirectory, 'tree')),
    };
    const ageRecipient = settings.age ? generateIdentity().identity.recipient.text : undefined;
    const storeRoot = path.join(workDirectory, 'store');
    await mkdir(storeRoot, { recursive: true });
    let sequence = 0;
    const runOnce = async (side: AbSide, bytes: number) => {
      sequence += 1;
      // Earlier runs' dirty pages are written back now, not during this measurement.
      await runPlain('ab', ['sync', '-f', workDirectory]);
      return runOurBackupClient({
        api,
        wrap: measuring.wrap,
        entryPoint: [...image.flags, clients[side]],
        nodeOptions: image.options,
        bytes,
        storeRoot,
        reportPath: path.join(workDirectory, `rusage-${sequence}`),
        ...(ageRecipient === undefined ? {} : { ageRecipient }),
      });
    };

    console.log(
      `bench:ab: ${settings.runs} round(s) of ${settings.bytes} bytes${settings.age ? ', age-encrypted' : ''}; ` +
        `fake API ${api.url}; CPU by ${measuring.name}; ${availableParallelism()} CPUs`,
    );
    console.log(describeImageNode(image));
    console.log('order: ref then tree in odd rounds, tree then ref in even ones; warm-up 16 MiB each, not counted');
    for (const side of ['ref', 'tree'] as const) await runOnce(side, WARM_UP_BYTES);
    const runs: AbRun[] = [];
    for (const { round, side } of abOrder(settings.runs)) {
      const measured = await runOnce(side, settings.bytes);
      const run: AbRun = {
        side,
        round,
        loadAverage: measured.loadAverage,
        wallMs: measured.wallMs,
        userMs: measured.clientUserMs,
        systemMs: measured.clientSystemMs,
        exportMs: measured.report.exportMs,
        peakRssKiB: measured.peakRssKiB,
        serverCpuMs: measured.serverCpuMs,
      };
      runs.push(run);
      console.log(
        `  round ${round} ${side.padEnd(4)}  load ${fixed(run.loadAverage, 2)}  ${fixed(run.wallMs / 1000, 2)} s  ` +
          `user ${fixed(run.userMs / 1000, 2)} s  sys ${fixed(run.systemMs / 1000, 2)} s  ` +
          `in-process ${fixed(run.exportMs / 1000, 2)} s  peak RSS ${fixed(run.peakRssKiB / 1024)} MiB`,
      );
    }
    const summaryOf = (side: AbSide) =>
      summarizeSide(
        runs.filter((run) => run.side === side),
        settings.bytes,
      );
    console.log('');
    console.log(formatAbSummary(labels, summaryOf('ref'), summaryOf('tree')));
    const loads = runs.map((run) => run.loadAverage);
    console.log(
      `load average at the start of the runs: ${fixed(Math.min(...loads), 2)}-${fixed(Math.max(...loads), 2)}; now ${fixed(loadavg()[0]!, 2)}`,
    );
  });
}

runBenchMain(main);
