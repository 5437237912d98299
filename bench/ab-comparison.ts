/**
 * The pure part of `npm run bench:ab` (bench/ab.bench.ts): which tree runs when, and what the runs say. Two builds of
 * the backup client, an earlier commit's ("ref") and this checkout's ("tree"), stream the same bytes from the same
 * fake API server in alternating order (ref, tree in odd rounds; tree, ref in even ones), so a load that rises or
 * falls during a round favours neither. The summary is CPU per GiB, split into user and system, because that is
 * what tells a change to the stream apart on a shared 2-CPU host: session 15's buffer-ownership change saved 0.15 s
 * of user time per GiB and cost 0.36 s of system time, which whole `bench:backup` runs could only hint at.
 */
import { z } from 'zod';
import { fixed, formatTable, median } from './measured-process.ts';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

export type AbSide = 'ref' | 'tree';

/** The command line of `npm run bench:ab`, after parseArgs. */
export const AbArguments = z.object({
  ref: z.string().min(1).describe('the commit to compare this checkout with: a sha, a branch, HEAD~2'),
  runs: z.coerce
    .number('must be a number')
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(50, 'must be at most 50')
    .default(4)
    .describe('rounds; each runs both trees once'),
  bytes: z.coerce
    .number('must be a number')
    .int('must be a whole number of bytes')
    .min(MIB, `must be at least ${MIB} (1 MiB)`)
    .max(64 * GIB, `must be at most ${64 * GIB} (64 GiB)`)
    .default(GIB)
    .describe('bytes each run streams (`head -c`)'),
  age: z.boolean().default(false).describe('encrypt to an age recipient on the way to the file'),
});
export type AbSettings = z.infer<typeof AbArguments>;

/** Reads the arguments, or throws an error that names each bad one and the usage. */
export function parseAbArguments(values: Record<string, unknown>, positionals: string[]): AbSettings {
  if (positionals.length !== 1)
    throw new Error(`bench:ab: expected one ref to compare with, got ${positionals.length}\n${AB_USAGE}`);
  const parsed = AbArguments.safeParse({ ...values, ref: positionals[0] });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      return `--${name} ${JSON.stringify(values[name])}: ${issue.message}`;
    });
    throw new Error(`bench:ab: ${problems.join('; ')}\n${AB_USAGE}`);
  }
  return parsed.data;
}

export const AB_USAGE =
  'usage: npm run bench:ab -- <ref> [--runs N (4)] [--bytes N (1073741824)] [--age]\n' +
  '  compares this checkout (uncommitted changes included) with <ref>: the backup client compiled from each tree';

/** The order of the runs: ref then tree in odd rounds, tree then ref in even ones. */
export function abOrder(rounds: number): Array<{ round: number; side: AbSide }> {
  return Array.from({ length: rounds }, (_, index) => {
    const round = index + 1;
    const sides: AbSide[] = round % 2 === 1 ? ['ref', 'tree'] : ['tree', 'ref'];
    return sides.map((side) => ({ round, side }));
  }).flat();
}

/** One measured run of one tree's client. Times in ms; RSS in KiB. */
export interface AbRun {
  side: AbSide;
  round: number;
  loadAverage: number;
  wallMs: number;
  userMs: number;
  systemMs: number;
  /** Inside the client: from opening the store to the end of commit. */
  exportMs: number;
  peakRssKiB: number;
  /** The fake API server (this process) meanwhile. */
  serverCpuMs: number;
}

export interface Spread {
  median: number;
  lowest: number;
  highest: number;
}

/** One tree's runs in figures per GiB streamed. */
export interface AbSideSummary {
  runs: number;
  cpuSecondsPerGiB: Spread;
  userSecondsPerGiB: Spread;
  systemSecondsPerGiB: Spread;
  inProcessMiBPerSecond: Spread;
  peakRssMiB: Spread;
  serverCpuSecondsPerGiB: Spread;
}

function spreadOf(values: number[]): Spread {
  if (values.length === 0) throw new Error('bench:ab: no runs to summarise');
  return { median: median(values), lowest: Math.min(...values), highest: Math.max(...values) };
}

export function summarizeSide(runs: AbRun[], bytes: number): AbSideSummary {
  const perGiB = (ms: number) => ms / 1000 / (bytes / GIB);
  return {
    runs: runs.length,
    cpuSecondsPerGiB: spreadOf(runs.map((run) => perGiB(run.userMs + run.systemMs))),
    userSecondsPerGiB: spreadOf(runs.map((run) => perGiB(run.userMs))),
    systemSecondsPerGiB: spreadOf(runs.map((run) => perGiB(run.systemMs))),
    inProcessMiBPerSecond: spreadOf(runs.map((run) => bytes / MIB / (run.exportMs / 1000))),
    peakRssMiB: spreadOf(runs.map((run) => run.peakRssKiB / 1024)),
    serverCpuSecondsPerGiB: spreadOf(runs.map((run) => perGiB(run.serverCpuMs))),
  };
}

/** With fewer runs a side, "every run used less" is too easily true by chance (with one each, half the time). */
const MIN_RUNS_TO_TELL = 3;

/**
 * What the CPU figures can say: a difference only when every run of one tree used less CPU per GiB than every run of
 * the other (and each tree ran at least MIN_RUNS_TO_TELL times); otherwise the runs overlap, and this comparison
 * shows no difference (more rounds may).
 */
export function describeCpuDifference(ref: AbSideSummary, tree: AbSideSummary): string {
  const [refCpu, treeCpu] = [ref.cpuSecondsPerGiB, tree.cpuSecondsPerGiB];
  const ratio = fixed(treeCpu.median / refCpu.median, 3);
  if (Math.min(ref.runs, tree.runs) < MIN_RUNS_TO_TELL)
    return `too few runs to tell a difference (${ref.runs} + ${tree.runs}; at least ${MIN_RUNS_TO_TELL} each) (medians tree / ref ${ratio})`;
  if (treeCpu.highest < refCpu.lowest)
    return `every run of the tree used less CPU per GiB than every run of the ref (medians tree / ref ${ratio})`;
  if (treeCpu.lowest > refCpu.highest)
    return `every run of the tree used more CPU per GiB than every run of the ref (medians tree / ref ${ratio})`;
  return `the runs overlap: no difference in CPU per GiB that ${ref.runs} + ${tree.runs} runs can show (medians tree / ref ${ratio})`;
}

const formatSpread = (spread: Spread, digits: number) =>
  `${fixed(spread.median, digits)} [${fixed(spread.lowest, digits)}-${fixed(spread.highest, digits)}]`;

/** The table bench:ab prints: one row per figure, a column per tree and their ratio of medians. */
export function formatAbSummary(labels: Record<AbSide, string>, ref: AbSideSummary, tree: AbSideSummary): string {
  const row = (name: string, pick: (summary: AbSideSummary) => Spread, digits: number) => [
    name,
    formatSpread(pick(ref), digits),
    formatSpread(pick(tree), digits),
    fixed(pick(tree).median / pick(ref).median, 3),
  ];
  return [
    `ref  = ${labels.ref}`,
    `tree = ${labels.tree}`,
    '',
    formatTable(
      ['median [lowest-highest]', 'ref', 'tree', 'tree / ref'],
      [
        row('client CPU s per GiB (user + system)', (summary) => summary.cpuSecondsPerGiB, 3),
        row('  user s per GiB', (summary) => summary.userSecondsPerGiB, 3),
        row('  system s per GiB', (summary) => summary.systemSecondsPerGiB, 3),
        row('in-process MiB/s (store open to commit)', (summary) => summary.inProcessMiBPerSecond, 1),
        row('peak RSS MiB', (summary) => summary.peakRssMiB, 1),
        row('server CPU s per GiB (fake API, same for both)', (summary) => summary.serverCpuSecondsPerGiB, 3),
      ],
    ),
    '',
    describeCpuDifference(ref, tree),
  ].join('\n');
}
