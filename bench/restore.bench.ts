/**
 * Benchmark of a restore's stream (`npm run bench:restore`). Against the fake Kubernetes API server on loopback (HTTPS
 * + the exec WebSocket protocol, hosted in this process), a file of BENCH_BYTES random bytes is streamed into the same
 * command in the same pod two ways, each in a child process of its own so that CPU and peak RSS are the client's alone:
 *   - ours: `bench/restore-client.ts`, compiled to JS with the production build settings and run by plain node with
 *     the worker image's NODE_OPTIONS (as bench/backup.bench.ts runs its client): the worker's import step, i.e.
 *     `assertBackupFileMatches` (the whole file re-hashed), then `runDataImport` (pod lookup, exec, the file streamed
 *     into stdin while hashed again, exit status);
 *   - the baseline: `kubectl exec -i … -- cksum < FILE`.
 * The command is `cksum`: its CRC and byte count of what arrived must equal those of the file (computed here by the
 * same `cksum`), on both paths and in every run, or the bench fails; a stream that loses or reorders bytes is caught.
 * cksum costs about 0.1 s of CPU per GiB (sha256sum about 3 s, which on this 2-CPU machine would slow both paths).
 *
 * Throughput, target: ours in a running worker = bytes over the time of `runDataImport` inside the client (what a
 * worker that is already up pays per restore step), against kubectl's bytes over its whole process (a Go binary
 * starts in a few ms). For information: ours as a whole new process (Node start-up, imports, the file check).
 * Client CPU: user + system of the client process tree (GNU time, or python3's resource module), per GiB; for ours
 * also that of `runDataImport` alone (process.cpuUsage inside the client). Peak RSS: the client's ru_maxrss; for ours
 * also its RSS just before `runDataImport` and the peak during it (VmHWM reset just before, so exact), whose
 * difference is held to TARGET_RSS_ABOVE_START_MIB; for information, the highest RSS sampled (every 100 ms) while the
 * second half of the file was sent against that of the first half (a gate that leaks makes a ramp; garbage buffers
 * make a sawtooth whose peaks differ by some MiB on 1 GiB, by tens on a few seconds of slow reader).
 *
 * A second case keeps the reader slow: ours streams BENCH_SLOW_BYTES into a reader that takes at most
 * BENCH_SLOW_RATE_MIB_PER_SECOND, so the pod's pipe, the fake's socket and ours fill up, and only the stdin gate
 * (bufferedAmount) keeps the file out of memory; its RSS is held to the same bounds.
 *
 * BENCH_RUNS rounds (default 3), each running every case once, in the listed order in odd rounds and in reverse in even
 * ones (a noisy neighbour or a rising load favours no client); medians. Each run records the 1-minute load average at
 * its start. KUBECTL overrides the kubectl binary. Exits 0 when every run delivered the right bytes, whatever the
 * targets say (a missed target prints MISS); 1 otherwise.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSidecar } from '../src/lib/storage/backup-path.ts';
import type { FakeKubeApi } from '../tests/support/fake-kube-api.ts';
import {
  BENCH_DEPLOYMENT,
  BENCH_NAMESPACE,
  BENCH_POD,
  benchPod,
  runBenchMain,
  withBenchSession,
} from './bench-session.ts';
import { positiveSetting } from './bench-settings.ts';
import {
  chooseMeasuringWrapper,
  compileClient,
  fixed,
  formatTable,
  kibToMib,
  median,
  mibPerSecond,
  describeImageNode,
  readImageNode,
  runMeasured,
  type MeasuredRun,
  type ImageNode,
  type MeasuringWrapper,
} from './measured-process.ts';
import type { RestoreClientReport } from './restore-client.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** The bench pod's container (bench-session.ts's `benchPod`) that the restores exec in. */
const CONTAINER = 'db';
const WARM_UP_BYTES = 16 * MIB;
const WRITE_BLOCK_BYTES = 4 * MIB;

/** Ours in a running worker against kubectl, medians of the same rounds. */
const TARGET_THROUGHPUT_RATIO = 0.9;
/**
 * Peak RSS during the stream above the RSS just before it. The stream itself holds little: 4 MiB queued in the socket
 * (STDIN_HIGH_WATER_BYTES) in reused frame buffers, and one read buffer. The limit was set when every frame and its
 * masked copy were new buffers, which V8 frees only at a mark-compact, started once 64 MiB of them have been allocated
 * since the last one (its external-memory soft limit), some more allocated while the marking runs: twice that limit.
 * Since frames are reused (src/lib/kube/frame-pool.ts) the stream holds about 20 MiB above its start; the limit stays
 * as it was. A stream without its gate holds whatever the reader has not taken instead: hundreds of MiB for 1 GiB, or
 * for 256 MiB into a slow reader.
 */
const TARGET_RSS_ABOVE_START_MIB = 128;

const CLIENT_SCRIPT = fileURLToPath(new URL('./restore-client.ts', import.meta.url));
const STREAM_COMMAND = ['cksum'];
/** A reader that takes at most argv[1] bytes a second, in 64 KiB reads, then prints how many bytes it read. */
const SLOW_READER = [
  'import sys, time',
  'rate = float(sys.argv[1]); stdin = sys.stdin.buffer; count = 0; started = time.monotonic()',
  'while True:',
  '    block = stdin.read(65536)',
  '    if not block: break',
  '    count += len(block)',
  '    ahead = count / rate - (time.monotonic() - started)',
  '    if ahead > 0: time.sleep(ahead)',
  'print(count)',
].join('\n');

interface Settings {
  bytes: number;
  slowBytes: number;
  slowRateMiBPerSecond: number;
  runs: number;
  kubectl: string;
}

/** A file to restore, with what the pod's command must print for it. */
interface BenchFile {
  path: string;
  bytes: number;
  sha256: string;
}

type CaseKind = 'kubectl' | 'ours' | 'ours-slow-reader';

interface Run extends MeasuredRun {
  /** ours only: the client's own figures. */
  report?: RestoreClientReport;
}

interface Case {
  label: string;
  kind: CaseKind;
  bytes: number;
  runs: Run[];
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const positive = (name: string, fallback: number) => positiveSetting(env, 'restore', name, fallback);
  return {
    bytes: positive('BENCH_BYTES', GIB),
    slowBytes: positive('BENCH_SLOW_BYTES', 256 * MIB),
    slowRateMiBPerSecond: positive('BENCH_SLOW_RATE_MIB_PER_SECOND', 32),
    runs: positive('BENCH_RUNS', 3),
    kubectl: env.KUBECTL || 'kubectl',
  };
}

/** Writes `bytes` random bytes to `filePath` with its sidecar, as the store would have; returns its sha256. */
async function writeBenchFile(filePath: string, bytes: number): Promise<BenchFile> {
  const hash = createHash('sha256');
  const block = Buffer.allocUnsafe(WRITE_BLOCK_BYTES);
  const file = await open(filePath, 'w');
  try {
    for (let written = 0; written < bytes;) {
      const part = block.subarray(0, Math.min(block.length, bytes - written));
      randomFillSync(part);
      hash.update(part);
      await file.write(part);
      written += part.length;
    }
  } finally {
    await file.close();
  }
  const sha256 = hash.digest('hex');
  await writeFile(`${filePath}.sha256`, formatSidecar(sha256, path.basename(filePath)));
  return { path: filePath, bytes, sha256 };
}

/** What `cksum` prints for the file (CRC, byte count), run here: the pod's command is the same binary. */
async function localChecksum(filePath: string): Promise<string> {
  const input = await open(filePath, 'r');
  try {
    return execFileSync(STREAM_COMMAND[0]!, STREAM_COMMAND.slice(1), {
      stdio: [input.fd, 'pipe', 'inherit'],
      encoding: 'utf8',
    });
  } finally {
    await input.close();
  }
}

function expectOutput(who: string, actual: string, expected: string): void {
  if (actual !== expected)
    throw new Error(
      `restore bench: ${who}: the command printed ${JSON.stringify(actual)}, the file gives ${JSON.stringify(expected)}`,
    );
}

type RunCase = (kind: CaseKind, file: BenchFile) => Promise<Run>;

function createRunner(
  api: FakeKubeApi,
  settings: Settings,
  wrap: MeasuringWrapper,
  workDirectory: string,
  compiledClient: string,
  image: ImageNode,
  checksums: Map<string, string>,
): RunCase {
  let sequence = 0;
  /** BENCH_PROFILE_DIR: each run of ours writes a V8 CPU profile there (`--cpu-prof`), to read in DevTools. */
  const profileDirectory = process.env.BENCH_PROFILE_DIR;
  const slowReader = ['python3', '-c', SLOW_READER, String(settings.slowRateMiBPerSecond * MIB)];

  async function runKubectl(file: BenchFile): Promise<Run> {
    const argv = [settings.kubectl, '--kubeconfig', api.kubeconfigPath, 'exec', '-i', '-n', BENCH_NAMESPACE, BENCH_POD];
    argv.push('-c', CONTAINER, '--', ...STREAM_COMMAND);
    const { stdout, ...measured } = await runMeasured('restore', wrap, argv, reportPath(), { stdinPath: file.path });
    expectOutput('kubectl', stdout, checksums.get(file.path)!);
    return measured;
  }

  async function runOurs(file: BenchFile, command: string[], expected: string): Promise<Run> {
    const argv = [process.execPath, ...image.flags, compiledClient, '--kubeconfig', api.kubeconfigPath];
    argv.push('--namespace', BENCH_NAMESPACE);
    argv.push('--deployment', BENCH_DEPLOYMENT, '--container', CONTAINER, '--file', file.path, '--sha256', file.sha256);
    argv.push('--command-json', JSON.stringify(command));
    const { stdout, ...measured } = await runMeasured('restore', wrap, argv, reportPath(), {
      nodeOptions: profileDirectory ? `${image.options} --cpu-prof --cpu-prof-dir=${profileDirectory}` : image.options,
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RestoreClientReport;
    expectOutput('ours', report.stdout, expected);
    if (report.bytesSent !== file.bytes)
      throw new Error(`restore bench: ours sent ${report.bytesSent} bytes of ${file.path}, expected ${file.bytes}`);
    return { ...measured, report };
  }

  function reportPath(): string {
    sequence += 1;
    return path.join(workDirectory, `rusage-${sequence}`);
  }

  return async (kind, file) => {
    if (kind === 'kubectl') return runKubectl(file);
    if (kind === 'ours') return runOurs(file, STREAM_COMMAND, checksums.get(file.path)!);
    return runOurs(file, slowReader, `${file.bytes}\n`);
  };
}

function formatSize(bytes: number): string {
  if (bytes % GIB === 0) return `${bytes / GIB} GiB`;
  if (bytes % MIB === 0) return `${bytes / MIB} MiB`;
  return `${bytes} B`;
}

const gib = (benchCase: Case) => benchCase.bytes / GIB;
const reportsOf = (benchCase: Case): RestoreClientReport[] =>
  benchCase.runs.flatMap((run) => (run.report ? [run.report] : []));
const medianThroughput = (benchCase: Case): number =>
  mibPerSecond(benchCase.bytes, median(benchCase.runs.map((run) => run.wallMs)));
const medianStreamThroughput = (benchCase: Case): number =>
  mibPerSecond(benchCase.bytes, median(reportsOf(benchCase).map((report) => report.importMs)));
const medianCheckAndStreamThroughput = (benchCase: Case): number =>
  mibPerSecond(benchCase.bytes, median(reportsOf(benchCase).map((report) => report.checkMs + report.importMs)));
const medianCpuPerGib = (benchCase: Case): number =>
  median(benchCase.runs.map((run) => run.clientCpuMs / 1000 / gib(benchCase)));
const medianStreamCpuPerGib = (benchCase: Case): number =>
  median(reportsOf(benchCase).map((report) => report.importCpuMs / 1000 / gib(benchCase)));
const rssAboveStartMib = (report: RestoreClientReport): number =>
  kibToMib(report.importPeakRssKiB - report.importStartRssKiB);
const maxRssAboveStartMib = (benchCase: Case): number => Math.max(...reportsOf(benchCase).map(rssAboveStartMib));
const maxRssGrowthMib = (benchCase: Case): number =>
  Math.max(
    ...reportsOf(benchCase).map((report) =>
      kibToMib(report.sampledPeakRssByHalfKiB.second - report.sampledPeakRssByHalfKiB.first),
    ),
  );

function describeRun(benchCase: Case, run: Run): string {
  const parts = [
    `${benchCase.label}:`,
    `load ${fixed(run.loadAverage, 2)}`,
    `${fixed(run.wallMs / 1000, 2)} s`,
    `${fixed(mibPerSecond(benchCase.bytes, run.wallMs))} MiB/s`,
    `client CPU ${fixed(run.clientCpuMs / 1000, 2)} s`,
    `server CPU ${fixed(run.serverCpuMs / 1000, 2)} s`,
    `peak RSS ${fixed(kibToMib(run.peakRssKiB))} MiB`,
  ];
  const report = run.report;
  if (report)
    parts.push(
      `check ${fixed(report.checkMs / 1000, 2)} s, stream ${fixed(report.importMs / 1000, 2)} s`,
      `(${fixed(mibPerSecond(benchCase.bytes, report.importMs))} MiB/s, CPU ${fixed(report.importCpuMs / 1000, 2)} s,`,
      `RSS ${fixed(kibToMib(report.importStartRssKiB))} -> ${fixed(kibToMib(report.importPeakRssKiB))} MiB,`,
      `GC ${report.gc.major} major ${fixed(report.gc.majorMs, 0)} ms + ${report.gc.minor} minor ${fixed(report.gc.minorMs, 0)} ms)`,
    );
  return parts.join('  ');
}

function printTable(cases: Case[]): void {
  const rows = cases.map((benchCase) => {
    const reports = reportsOf(benchCase);
    const ours = reports.length > 0;
    const medianOf = (pick: (report: RestoreClientReport) => number, digits = 1) =>
      ours ? fixed(median(reports.map(pick)), digits) : '';
    return [
      benchCase.label,
      String(benchCase.runs.length),
      fixed(median(benchCase.runs.map((run) => run.wallMs)) / 1000, 2),
      fixed(medianThroughput(benchCase)),
      ours ? fixed(medianStreamThroughput(benchCase)) : '',
      medianOf((report) => report.checkMs / 1000, 2),
      fixed(medianCpuPerGib(benchCase), 2),
      ours ? fixed(medianStreamCpuPerGib(benchCase), 2) : '',
      fixed(kibToMib(Math.max(...benchCase.runs.map((run) => run.peakRssKiB)))),
      ours ? fixed(maxRssAboveStartMib(benchCase)) : '',
      medianOf((report) => report.gc.major, 0),
      fixed(median(benchCase.runs.map((run) => run.serverCpuMs)) / 1000, 2),
    ];
  });
  console.log('');
  console.log(
    formatTable(
      [
        'case',
        'runs',
        'median s',
        'MiB/s',
        'stream MiB/s',
        'check s',
        'CPU s/GiB',
        'stream CPU s/GiB',
        'peak RSS MiB',
        'above start MiB',
        'major GCs',
        'server CPU s',
      ],
      rows,
    ),
  );
  console.log(
    [
      '',
      'median s, MiB/s: wall time of the client process, start to exit (runtime start-up, TLS, pod lookup included), median.',
      "stream: ours' runDataImport inside the client (pod lookup, exec, streaming with sha256, exit status), median;",
      '  check: the whole file re-hashed before it (assertBackupFileMatches), as the worker does.',
      'CPU s/GiB: user+sys of the client process per GiB, median; stream CPU: of runDataImport alone (process.cpuUsage).',
      'peak RSS: ru_maxrss of the client, highest run. above start: peak RSS during runDataImport (VmHWM, reset just',
      '  before) minus the RSS just before it, highest run. major GCs: mark-compacts during runDataImport, median.',
      'second half - first half: the highest RSS sampled (every 100 ms) while the second half of the file was sent, minus',
      '  that while the first half was (a ramp would show a missing gate; the sawtooth of garbage buffers gives some MiB).',
      'server CPU: this process meanwhile = the fake API server (TLS, WebSocket unmasking, pipe writes), median; the',
      "  pod's command itself is not counted.",
    ].join('\n'),
  );
}

function printTargets(kubectl: Case, ours: Case, slow: Case, settings: Settings): void {
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const ratioRow = (label: string, ratio: number, target?: number) => [
    label,
    fixed(ratio, 2),
    target === undefined ? '' : `>= ${target}`,
    target === undefined ? '' : verdict(ratio >= target),
  ];
  const rssRow = (label: string, mib: number) => [
    label,
    `${fixed(mib)} MiB`,
    `<= ${TARGET_RSS_ABOVE_START_MIB} MiB`,
    verdict(mib <= TARGET_RSS_ABOVE_START_MIB),
  ];
  const growthRow = (label: string, benchCase: Case) => [label, `${fixed(maxRssGrowthMib(benchCase))} MiB`, '', ''];
  const kubectlThroughput = medianThroughput(kubectl);
  const slowSeconds = median(reportsOf(slow).map((report) => report.importMs)) / 1000;
  const rows = [
    ratioRow(
      `throughput ours (stream in a running worker) / kubectl ${formatSize(ours.bytes)}, medians`,
      medianStreamThroughput(ours) / kubectlThroughput,
      TARGET_THROUGHPUT_RATIO,
    ),
    ratioRow('  information: ours check + stream / kubectl', medianCheckAndStreamThroughput(ours) / kubectlThroughput),
    ratioRow(
      '  information: ours as a whole new process (start-up, imports, check) / kubectl',
      medianThroughput(ours) / kubectlThroughput,
    ),
    [
      `  information: client CPU per GiB, ours' stream / kubectl (${fixed(medianStreamCpuPerGib(ours), 2)} s vs ${fixed(medianCpuPerGib(kubectl), 2)} s)`,
      fixed(medianStreamCpuPerGib(ours) / medianCpuPerGib(kubectl), 2),
      '',
      '',
    ],
    rssRow(
      `RSS flat: peak above start during ours' stream, ${formatSize(ours.bytes)}, highest run`,
      maxRssAboveStartMib(ours),
    ),
    rssRow(`RSS flat: the same, ${slow.label}`, maxRssAboveStartMib(slow)),
    growthRow(`  information: peak in the second half of the stream - in the first, ${formatSize(ours.bytes)}`, ours),
    growthRow(`  information: the same, ${slow.label}`, slow),
    [
      `  information: ${slow.label} took (median; the reader's pace alone needs ${fixed(slow.bytes / MIB / settings.slowRateMiBPerSecond, 1)} s)`,
      `${fixed(slowSeconds, 1)} s`,
      '',
      '',
    ],
  ];
  console.log('');
  console.log(formatTable(['target', 'measured', 'limit', 'result'], rows));
}

async function main(): Promise<void> {
  const settings = readSettings(process.env);
  const measuring = await chooseMeasuringWrapper();
  await withBenchSession('restore', [benchPod(CONTAINER)], async ({ workDirectory, api }) => {
    const files = {
      stream: await writeBenchFile(path.join(workDirectory, 'restore.bin'), settings.bytes),
      slow: await writeBenchFile(path.join(workDirectory, 'slow.bin'), settings.slowBytes),
      warmUp: await writeBenchFile(path.join(workDirectory, 'warm-up.bin'), WARM_UP_BYTES),
    };
    const checksums = new Map<string, string>();
    for (const file of [files.stream, files.warmUp]) checksums.set(file.path, await localChecksum(file.path));
    const compiledClient = await compileClient('restore', CLIENT_SCRIPT, path.join(workDirectory, 'compiled'));
    const image = await readImageNode();
    const runCase = createRunner(api, settings, measuring.wrap, workDirectory, compiledClient, image, checksums);
    const size = formatSize(settings.bytes);
    const kubectl: Case = { label: `kubectl ${size}`, kind: 'kubectl', bytes: settings.bytes, runs: [] };
    const ours: Case = { label: `ours ${size}`, kind: 'ours', bytes: settings.bytes, runs: [] };
    const slow: Case = {
      label: `ours ${formatSize(settings.slowBytes)} into a reader of ${settings.slowRateMiBPerSecond} MiB/s`,
      kind: 'ours-slow-reader',
      bytes: settings.slowBytes,
      runs: [],
    };
    const cases = [kubectl, ours, slow];
    const fileOf = (benchCase: Case) => (benchCase === slow ? files.slow : files.stream);

    console.log(
      `restore bench: fake API ${api.url}, work dir ${workDirectory} (files in the page cache), peak RSS by ${measuring.name}, ${settings.runs} round(s)`,
    );
    console.log(
      `both paths run \`${STREAM_COMMAND.join(' ')}\` in the pod; its output must equal the file's: ${JSON.stringify(checksums.get(files.stream.path))}`,
    );
    console.log(describeImageNode(image));
    console.log(
      'cases run in the order of round 1 in odd rounds, in reverse in even rounds; "load" = 1-minute load average at the start of a run',
    );
    console.log(`warm-up (${formatSize(WARM_UP_BYTES)} each, not counted): kubectl, ours`);
    await runCase('kubectl', files.warmUp);
    const warmUp = await runCase('ours', files.warmUp);
    console.log(
      `ours: the fake API is HTTPS, so stdin frames go out with a zero masking key (src/lib/kube/exec-socket.ts); over plain ws: ws would mask them with ${warmUp.report?.nativeMasking ? "bufferutil's native code" : 'its JavaScript loop (bufferutil not loaded)'}`,
    );
    for (let round = 1; round <= settings.runs; round += 1) {
      for (const benchCase of round % 2 === 1 ? cases : [...cases].reverse()) {
        const run = await runCase(benchCase.kind, fileOf(benchCase));
        benchCase.runs.push(run);
        console.log(`  round ${round}  ${describeRun(benchCase, run)}`);
      }
    }
    printTable(cases);
    const loads = cases.flatMap((benchCase) => benchCase.runs.map((run) => run.loadAverage));
    console.log(
      `load average at the start of the runs: lowest ${fixed(Math.min(...loads), 2)}, median ${fixed(median(loads), 2)}, highest ${fixed(Math.max(...loads), 2)} (${availableParallelism()} CPUs)`,
    );
    printTargets(kubectl, ours, slow, settings);
  });
}

runBenchMain(main);
