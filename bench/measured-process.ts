/**
 * Running a benchmark's client as a child process of its own and measuring it (`bench/backup.bench.ts`,
 * `bench/restore.bench.ts`): wall time around the process, its peak RSS and CPU from the kernel's resource usage, this
 * process's CPU meanwhile (the fake API server it talks to) and the load average at its start. Also compiles a client
 * to JS the way the worker is built, and reads the NODE_OPTIONS the worker image sets.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, readFile, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bundleClientNode } from '../scripts/bundle-client-node.mjs';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER_DOCKERFILE = path.join(REPO_ROOT, 'Dockerfile.worker');
const CHILD_TIMEOUT_MS = 10 * 60_000;
const STDERR_TAIL_CHARS = 2_000;

/** Writes "maxrss_kib user_s sys_s" of the command's process tree to argv[1], like `/usr/bin/time -f '%M %U %S' -o`. */
const PYTHON_RUSAGE = [
  'import resource, subprocess, sys',
  'code = subprocess.run(sys.argv[2:]).returncode',
  'usage = resource.getrusage(resource.RUSAGE_CHILDREN)',
  "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime} {usage.ru_stime}\\n')",
  'sys.exit(code if code >= 0 else 128 - code)',
].join('\n');

/** Wraps a command so that its peak RSS and CPU land in `reportPath` as "maxrss_kib user_s sys_s". */
export type MeasuringWrapper = (argv: string[], reportPath: string) => string[];

/** One measured child process. */
export interface MeasuredRun {
  wallMs: number;
  /** The 1-minute load average when the run started: how busy the (shared) machine was. */
  loadAverage: number;
  peakRssKiB: number;
  /** User + system CPU of the child's process tree. */
  clientCpuMs: number;
  /** The same split: user, and system (the kernel on the client's behalf: reads, writes, page faults, fsync). */
  clientUserMs: number;
  clientSystemMs: number;
  /** CPU of this process meanwhile: the fake API server and its WebSockets (TLS included). */
  serverCpuMs: number;
}

/** GNU time when installed, else python3's `resource` module. */
export async function chooseMeasuringWrapper(): Promise<{ name: string; wrap: MeasuringWrapper }> {
  const gnuTime = '/usr/bin/time';
  const usable = await access(gnuTime, fsConstants.X_OK).then(
    () => true,
    () => false,
  );
  if (usable)
    return {
      name: `${gnuTime} -f '%M %U %S'`,
      wrap: (argv, reportPath) => [gnuTime, '-f', '%M %U %S', '-o', reportPath, ...argv],
    };
  return {
    name: 'python3 resource.getrusage(RUSAGE_CHILDREN)',
    wrap: (argv, reportPath) => ['python3', '-c', PYTHON_RUSAGE, reportPath, ...argv],
  };
}

/** Children run in their own process group, so a timeout or Ctrl-C can stop the wrapper and what it started. */
const runningGroups = new Set<number>();

export function stopRunningChildren(): void {
  for (const pid of runningGroups) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
}

/**
 * Runs `argv` under the measuring wrapper, with `nodeOptions` as NODE_OPTIONS when given; stdin is read from
 * `stdinPath` (else none); stdout goes to `stdoutPath` or is returned. Rejects on a non-zero exit, naming `bench`.
 */
export async function runMeasured(
  bench: string,
  wrap: MeasuringWrapper,
  argv: string[],
  reportPath: string,
  { stdinPath, stdoutPath, nodeOptions }: { stdinPath?: string; stdoutPath?: string; nodeOptions?: string } = {},
): Promise<MeasuredRun & { stdout: string }> {
  const input = stdinPath === undefined ? undefined : await open(stdinPath, 'r');
  const output = stdoutPath === undefined ? undefined : await open(stdoutPath, 'w');
  const command = wrap(argv, reportPath);
  const loadAverage = loadavg()[0]!;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const child = spawn(command[0]!, command.slice(1), {
    cwd: REPO_ROOT,
    detached: true,
    env: nodeOptions === undefined ? process.env : { ...process.env, NODE_OPTIONS: nodeOptions },
    stdio: [input ? input.fd : 'ignore', output ? output.fd : 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) runningGroups.add(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-STDERR_TAIL_CHARS)));
  const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), CHILD_TIMEOUT_MS);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  }).finally(async () => {
    clearTimeout(timer);
    if (child.pid !== undefined) runningGroups.delete(child.pid);
    await input?.close();
    await output?.close();
  });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  if (exit.code !== 0) {
    throw new Error(`${bench} bench: ${argv.join(' ')} exited with ${exit.code ?? exit.signal}\n${stderr.trim()}`);
  }
  const [maxRssKiB, userSeconds, systemSeconds] = (await readFile(reportPath, 'utf8'))
    .trim()
    .split(/\s+/)
    .slice(-3)
    .map(Number);
  if (!Number.isFinite(maxRssKiB) || !Number.isFinite(userSeconds) || !Number.isFinite(systemSeconds)) {
    throw new Error(`${bench} bench: unreadable resource report in ${reportPath}`);
  }
  return {
    wallMs,
    loadAverage,
    peakRssKiB: maxRssKiB!,
    clientCpuMs: (userSeconds! + systemSeconds!) * 1000,
    clientUserMs: userSeconds! * 1000,
    clientSystemMs: systemSeconds! * 1000,
    serverCpuMs: (cpu.user + cpu.system) / 1000,
    stdout,
  };
}

/** Runs a helper command to completion; returns its wall time. Rejects on a non-zero exit, naming `bench`. */
export async function runPlain(bench: string, argv: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output = (output + text).slice(-STDERR_TAIL_CHARS)));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output = (output + text).slice(-STDERR_TAIL_CHARS)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${bench} bench: ${argv.join(' ')} exited with ${code}: ${output.trim()}`);
  return performance.now() - started;
}

/**
 * Compiles `clientScript` and the modules it imports to JS with the project's tsc and production build settings
 * (tsconfig.build.json, pointed at the client instead of src/) into `directory`, which gets a `package.json` of type
 * module and a link to the project's node_modules. Returns the client's entry point. `root`: the tree the client and
 * its tsconfig.build.json are in, this checkout unless another is given (`npm run bench:ab` compiles an earlier
 * commit's tree with this checkout's dependencies).
 */
export async function compileClient(
  bench: string,
  clientScript: string,
  directory: string,
  root = REPO_ROOT,
): Promise<string> {
  // TypeScript 7 exports no `bin/tsc` subpath: its bin is found next to its package.json.
  const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const tsconfigPath = path.join(directory, 'tsconfig.json');
  await mkdir(directory, { recursive: true });
  const tsconfig = {
    extends: path.join(root, 'tsconfig.build.json'),
    compilerOptions: { rootDir: root, outDir: directory },
    files: [clientScript],
    include: [],
  };
  await writeFile(tsconfigPath, JSON.stringify(tsconfig, null, 2));
  await writeFile(path.join(directory, 'package.json'), '{ "type": "module" }\n');
  // Before compiling: tsc finds the `node` types through it too.
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(directory, 'node_modules'), 'dir');
  await runPlain(bench, [process.execPath, tsc, '-p', tsconfigPath]);
  await bundleClientNode(path.join(directory, 'src'));
  return path.join(directory, path.relative(root, clientScript).replace(/\.ts$/, '.js'));
}

/** How the worker image starts node (Dockerfile.worker), which ours copies in the benchmarks. */
export interface ImageNode {
  /** `ENV … NODE_OPTIONS=…`; '' when it sets none. */
  options: string;
  /**
   * The flags on node's own command line (`CMD ["node", …flags, "dist/worker.js"]`): the ones NODE_OPTIONS refuses,
   * such as `--initial-old-space-size`. Ours runs with them first.
   */
  flags: string[];
}

/** Reads {@link ImageNode} from Dockerfile.worker. */
export async function readImageNode(): Promise<ImageNode> {
  const dockerfile = await readFile(WORKER_DOCKERFILE, 'utf8');
  const options = /\bNODE_OPTIONS=(?:"([^"]*)"|(\S+))/.exec(dockerfile);
  const command = /^CMD\s+(\[.*\])\s*$/m.exec(dockerfile);
  const argv = command ? (JSON.parse(command[1]!) as string[]) : [];
  return { options: options?.[1] ?? options?.[2] ?? '', flags: argv.slice(1, -1) };
}

/** The line a benchmark prints about how it starts ours. */
export const describeImageNode = (image: ImageNode): string =>
  `ours: compiled JS, node ${image.flags.join(' ')} with NODE_OPTIONS=${JSON.stringify(image.options)} as in Dockerfile.worker`;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const MIB = 1024 * 1024;
export const mibPerSecond = (bytes: number, ms: number): number => bytes / MIB / (ms / 1000);
export const kibToMib = (kib: number): number => kib / 1024;
export const fixed = (value: number, digits = 1): string => value.toFixed(digits);

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
