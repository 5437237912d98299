/**
 * One measured restore for `bench/restore.bench.ts`, run as its own process so that its CPU and peak RSS are its own:
 * streams FILE through `runDataImport` into a command in a pod of the fake Kubernetes API, the way a worker runs the
 * import step of a restore: the whole file is checked against its sha256 first (`assertBackupFileMatches`), then
 * streamed with `verified: true` (still hashed while it streams). One exec without stdin (`true`) comes first, as a
 * running worker has made API calls before. Prints one JSON line (`RestoreClientReport`) with
 * the command's stdout, which the driver compares with the file's own checksum.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as perfConstants, PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createKubeClients, loadKubeConfig } from '../src/lib/kube/kube-clients.ts';
import { assertBackupFileMatches, runDataImport, type ImportSource } from '../src/lib/restore/data-import.ts';
import { createLogger } from '../src/lib/shared/logger.ts';

/** What the driver reads from the client's stdout. Sizes in bytes, RSS figures in KiB. */
export interface RestoreClientReport {
  bytesSent: number;
  /** The command's stdout (the driver's byte count and checksum of what arrived). */
  stdout: string;
  /** `assertBackupFileMatches`: the whole file re-hashed before anything is sent, as the worker does. */
  checkMs: number;
  /** `runDataImport` from the call to its result: pod lookup, exec, streaming with sha256, exit status. */
  importMs: number;
  /** CPU of this process (user + system) during `runDataImport`, in ms. */
  importCpuMs: number;
  /** RSS just before `runDataImport`, and the highest RSS during it (VmHWM, reset just before; sampled when unsupported). */
  importStartRssKiB: number;
  importPeakRssKiB: number;
  /** Whether the peak is the kernel's (VmHWM after a reset through /proc/self/clear_refs) or sampled every 100 ms. */
  peakSource: 'vmhwm' | 'sampled';
  /** Highest `process.memoryUsage()` figures sampled during the import. */
  sampledPeakKiB: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  /**
   * Highest RSS sampled while the first half of the bytes was being sent, and while the second half was: a stream
   * whose memory grows with what it has sent peaks later and higher.
   */
  sampledPeakRssByHalfKiB: { first: number; second: number };
  /** When the bench code started, once Node (and tsx, if used) and every import had loaded: ms since process start, and RSS. */
  loadedMs: number;
  loadedRssKiB: number;
  /** Whether ws masks our frames with bufferutil's native code (else its JavaScript loop, about 4 s of CPU per GiB). */
  nativeMasking: boolean;
  /** Garbage collections during the import: count and pause time by kind (minor = scavenge, major = mark-compact). */
  gc: { minor: number; minorMs: number; major: number; majorMs: number };
}

const SAMPLE_INTERVAL_MS = 100;
const IMPORT_TIMEOUT_MS = 10 * 60_000;

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    deployment: { type: 'string' },
    container: { type: 'string' },
    file: { type: 'string' },
    sha256: { type: 'string' },
    'command-json': { type: 'string' },
  },
});

function required(name: keyof typeof values): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new Error(`restore-client: --${name} is required`);
  return value;
}

/** Samples memory every SAMPLE_INTERVAL_MS; `sentBytes` says how far the stream is at each sample. */
function startSamplingMemory(
  sentBytes: () => number,
  totalBytes: number,
): { stop(): Pick<RestoreClientReport, 'sampledPeakKiB' | 'sampledPeakRssByHalfKiB'> } {
  const peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const byHalf = { first: 0, second: 0 };
  const sample = () => {
    const usage = process.memoryUsage();
    for (const key of Object.keys(peak) as (keyof typeof peak)[])
      peak[key] = Math.max(peak[key], Math.round(usage[key] / 1024));
    const half = sentBytes() <= totalBytes / 2 ? 'first' : 'second';
    byHalf[half] = Math.max(byHalf[half], Math.round(usage.rss / 1024));
  };
  sample();
  const timer = setInterval(sample, SAMPLE_INTERVAL_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { sampledPeakKiB: peak, sampledPeakRssByHalfKiB: byHalf };
    },
  };
}

/** Whether `bufferutil` loads with its native code, as ws (which requires it when it can) then masks with it. */
function hasNativeMasking(): boolean {
  if (process.env.WS_NO_BUFFER_UTIL) return false;
  const require = createRequire(import.meta.url);
  try {
    const bufferUtil = require('bufferutil') as { mask: unknown };
    return bufferUtil.mask !== (require('bufferutil/fallback') as { mask: unknown }).mask;
  } catch {
    return false;
  }
}

async function readVmHwmKiB(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error('restore-client: no VmHWM in /proc/self/status');
  return Number(match[1]);
}

/** Resets VmHWM to the current RSS (Linux >= 4.0: "5" in clear_refs); false when the kernel refuses. */
async function resetPeakRss(): Promise<boolean> {
  return writeFile('/proc/self/clear_refs', '5').then(
    () => true,
    () => false,
  );
}

function observeGc(): { stop(): RestoreClientReport['gc'] } {
  const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.major += 1;
        gc.majorMs += entry.duration;
      } else {
        gc.minor += 1;
        gc.minorMs += entry.duration;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      observer.disconnect();
      return gc;
    },
  };
}

async function main(): Promise<void> {
  const loadedMs = performance.now();
  const loadedRssKiB = Math.round(process.memoryUsage.rss() / 1024);
  const command = JSON.parse(required('command-json')) as unknown;
  if (!Array.isArray(command) || !command.every((part) => typeof part === 'string'))
    throw new Error('restore-client: --command-json must be a JSON array of strings');
  const logger = createLogger({ level: 'silent' });
  const clients = createKubeClients(loadKubeConfig({ kubeconfigPath: required('kubeconfig') }));
  const source: ImportSource = {
    path: required('file'),
    sha256: required('sha256'),
    encoding: { compression: 'none', encrypted: false },
  };

  const request = {
    workspaceId: 'bench',
    namespace: required('namespace'),
    podSelector: null,
    deploymentName: required('deployment'),
    container: required('container'),
    timeoutMs: IMPORT_TIMEOUT_MS,
  };
  // A running worker has made API calls before: client-node loads its API classes and opens TLS sessions on first use,
  // which is start-up (counted in the whole process's figures), not the stream's.
  await runDataImport(clients, { ...request, command: ['true'] }, logger);

  const checkStarted = performance.now();
  await assertBackupFileMatches(source);
  const checkMs = performance.now() - checkStarted;

  const importStartRssKiB = Math.round(process.memoryUsage.rss() / 1024);
  const exactPeak = await resetPeakRss();
  let sentBytes = 0;
  const { size: fileBytes } = await stat(source.path);
  const memory = startSamplingMemory(() => sentBytes, fileBytes);
  const gc = observeGc();
  const cpuStarted = process.cpuUsage();
  const started = performance.now();
  const result = await runDataImport(
    clients,
    { ...request, command, source: { ...source, verified: true }, onProgress: (bytes) => (sentBytes = bytes) },
    logger,
  );
  const importMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStarted);
  const { sampledPeakKiB, sampledPeakRssByHalfKiB } = memory.stop();
  const report: RestoreClientReport = {
    bytesSent: result.bytesSent,
    stdout: result.stdout,
    checkMs,
    importMs,
    importCpuMs: (cpu.user + cpu.system) / 1000,
    importStartRssKiB,
    importPeakRssKiB: exactPeak ? await readVmHwmKiB() : sampledPeakKiB.rss,
    peakSource: exactPeak ? 'vmhwm' : 'sampled',
    sampledPeakKiB,
    sampledPeakRssByHalfKiB,
    loadedMs,
    loadedRssKiB,
    nativeMasking: hasNativeMasking(),
    gc: gc.stop(),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
