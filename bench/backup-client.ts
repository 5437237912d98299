/**
 * One measured backup for `bench/backup.bench.ts`, run as its own process so that its peak RSS is its own: streams
 * `head -c BYTES /dev/urandom` from a pod of the fake Kubernetes API through `runDataExport` into the file backup store
 * (sha256, fsync, atomic rename, sidecar), checks the size and prints one JSON line (`ClientReport`) on stdout.
 *
 * `--age-recipient age1…` encrypts the file to that recipient (age, in memory on the way to the file).
 *
 * `--rate-mib-per-second N` makes the destination slow: the store's file sink is wrapped in a writable that lets at
 * most N MiB/s through, so backpressure has to reach the WebSocket for memory to stay flat.
 */
import { readFile, type FileHandle } from 'node:fs/promises';
import { constants as perfConstants, PerformanceObserver, performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { runDataExport } from '../src/lib/backups/data-export.ts';
import { createKubeClients } from '../src/lib/kube/kube-clients.ts';
import { loadKubeConfig } from '../src/lib/kube/kube-clients.ts';
import { createLogger } from '../src/lib/shared/logger.ts';
import type { DataExport } from '../src/lib/recipes/recipe.ts';
import { parseRecipient } from '../src/lib/encryption/index.ts';
import { expectedStoredBytes } from './age-size.ts';
import { createFileBackupStore, createFileSink } from '../src/lib/storage/backup-store.ts';

/** What the driver reads from the client's stdout. Sizes in bytes, RSS figures in KiB. */
export interface ClientReport {
  bytes: number;
  storedBytes: number;
  sha256: string;
  path: string;
  /** From `store.open` to the end of `commit()` (fsync, rename, sidecar), inside the process. */
  exportMs: number;
  /** Of which `commit()` alone. */
  commitMs: number;
  /** Highest `process.memoryUsage()` figures, sampled every `SAMPLE_INTERVAL_MS`. */
  sampledPeakKiB: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  /** VmHWM of /proc/self/status: the kernel's own peak RSS of this process. */
  vmHwmKiB: number;
  /** When the bench code started, once Node (and tsx, if used) and every import had loaded: ms since process start, and RSS. */
  loadedMs: number;
  loadedRssKiB: number;
  /** CPU of this process from `store.open` to the end of `commit()` (user + system), in ms. */
  exportCpuMs: number;
  /** Garbage collections in that span: count and pause time by kind (minor = scavenge, major = mark-compact). */
  gc: { minor: number; minorMs: number; major: number; majorMs: number };
}

/** process.memoryUsage() took ~0.35 ms a call while streaming (1.6% of the run at 20 ms): sampled sparingly; VmHWM is exact. */
const SAMPLE_INTERVAL_MS = 100;
const EXPORT_TIMEOUT_MS = 10 * 60_000;
const MIB = 1024 * 1024;
/** Small, so that the throttle's buffer cannot hide a missing backpressure path. */
const THROTTLE_HIGH_WATER_BYTES = 64 * 1024;
/** How far behind schedule the throttle may fall and still catch up (timers fire late, chunks are small). */
const THROTTLE_CATCH_UP_MS = 50;

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    deployment: { type: 'string' },
    container: { type: 'string' },
    bytes: { type: 'string' },
    root: { type: 'string' },
    'rate-mib-per-second': { type: 'string' },
    // A real export instead of `head -c BYTES /dev/urandom`: the command as a JSON array, and whether its output is
    // already compressed (otherwise the store compresses it with --compression, gzip by default); --bytes is then not
    // checked.
    'command-json': { type: 'string' },
    'already-compressed': { type: 'boolean' },
    compression: { type: 'string' },
    extension: { type: 'string' },
    'age-recipient': { type: 'string' },
  },
});

function required(name: keyof typeof values): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new Error(`backup-client: --${name} is required`);
  return value;
}

/**
 * The store's default file sink behind a leaky bucket: each chunk reaches the file only once the bucket has room for
 * it at `bytesPerSecond`, and the chunk's callback waits for the file write.
 */
function createThrottledSink(file: FileHandle, bytesPerSecond: number): Writable {
  const fileSink = createFileSink(file);
  let nextFreeAt = performance.now();
  return new Writable({
    highWaterMark: THROTTLE_HIGH_WATER_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      const now = performance.now();
      nextFreeAt = Math.max(nextFreeAt, now - THROTTLE_CATCH_UP_MS) + (chunk.length * 1000) / bytesPerSecond;
      const write = () => fileSink.write(chunk, (error) => callback(error ?? null));
      if (nextFreeAt <= now) write();
      else setTimeout(write, nextFreeAt - now);
    },
    final(callback) {
      fileSink.end((error?: Error | null) => callback(error ?? null));
    },
    destroy(error, callback) {
      fileSink.destroy(error ?? undefined);
      callback(error);
    },
  });
}

function startSamplingMemory(): { stop(): ClientReport['sampledPeakKiB'] } {
  const peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const usage = process.memoryUsage();
    for (const key of Object.keys(peak) as (keyof typeof peak)[])
      peak[key] = Math.max(peak[key], Math.round(usage[key] / 1024));
  };
  sample();
  const timer = setInterval(sample, SAMPLE_INTERVAL_MS);
  // A failed backup ends the process (main's catch) instead of sampling forever.
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

async function readVmHwmKiB(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error('backup-client: no VmHWM in /proc/self/status');
  return Number(match[1]);
}

async function main(): Promise<void> {
  const loadedMs = performance.now();
  const loadedRssKiB = Math.round(process.memoryUsage.rss() / 1024);
  const command = values['command-json'] === undefined ? null : (JSON.parse(values['command-json']) as string[]);
  const bytes = command ? null : Number(required('bytes'));
  if (bytes !== null && (!Number.isSafeInteger(bytes) || bytes <= 0))
    throw new Error(`backup-client: --bytes must be a positive integer (got ${values.bytes})`);
  const rate = values['rate-mib-per-second'] === undefined ? null : Number(values['rate-mib-per-second']) * MIB;
  if (rate !== null && !(rate > 0))
    throw new Error(`backup-client: --rate-mib-per-second must be positive (got ${values['rate-mib-per-second']})`);
  const deploymentName = required('deployment');
  const compressed = command ? values['already-compressed'] === true : true;
  const extension = values.extension ?? 'bin';
  const compression = (values.compression ?? 'gzip') as 'gzip' | 'zstd' | 'none';
  const recipients = values['age-recipient'] ? [parseRecipient(values['age-recipient'])] : [];
  const dataExport: DataExport = {
    container: required('container'),
    command: command ?? ['head', '-c', String(bytes), '/dev/urandom'],
    format: command ? 'bench-export' : 'bench-random',
    extension,
    // Random bytes: stored as they are, not gzipped.
    compressed,
    environment: [],
  };

  const memory = startSamplingMemory();
  const logger = createLogger({ level: 'silent' });
  const clients = createKubeClients(loadKubeConfig({ kubeconfigPath: required('kubeconfig') }));
  const store = createFileBackupStore({
    root: required('root'),
    logger,
    ...(rate !== null && { createSink: (file: FileHandle) => createThrottledSink(file, rate) }),
  });

  const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
  const gcObserver = new PerformanceObserver((list) => {
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
  gcObserver.observe({ entryTypes: ['gc'] });
  const cpuStarted = process.cpuUsage();
  const started = performance.now();
  const writer = await store.open({
    workspaceId: 'bench',
    deploymentName,
    extension,
    compressed,
    compression,
    ...(recipients.length > 0 ? { recipients } : {}),
    startedAt: new Date(),
  });
  const exported = await runDataExport(
    clients,
    {
      workspaceId: 'bench',
      namespace: required('namespace'),
      podSelector: null,
      deploymentName,
      dataExport,
      destination: writer.stream,
      timeoutMs: EXPORT_TIMEOUT_MS,
    },
    logger,
  ).catch(async (error: unknown) => {
    await writer.abort();
    throw error;
  });
  const commitStarted = performance.now();
  const stored = await writer.commit();
  const finished = performance.now();
  const cpu = process.cpuUsage(cpuStarted);
  gcObserver.disconnect();
  const sampledPeakKiB = memory.stop();

  if (
    bytes !== null &&
    (exported.bytes !== bytes || stored.sizeBytes !== BigInt(expectedStoredBytes(bytes, recipients.length > 0)))
  ) {
    throw new Error(`backup-client: expected ${bytes} bytes, exported ${exported.bytes}, stored ${stored.sizeBytes}`);
  }
  const report: ClientReport = {
    bytes: exported.bytes,
    storedBytes: Number(stored.sizeBytes),
    sha256: stored.sha256,
    path: stored.path,
    exportMs: finished - started,
    commitMs: finished - commitStarted,
    sampledPeakKiB,
    vmHwmKiB: await readVmHwmKiB(),
    loadedMs,
    loadedRssKiB,
    exportCpuMs: (cpu.user + cpu.system) / 1000,
    gc,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
