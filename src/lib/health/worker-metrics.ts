import type { StatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BackupEnding, RestoreEnding, WorkObserver } from '../shared/index.ts';
import type { CycleObserver, CycleSummary } from '../worker/index.ts';

/**
 * The names of the worker's own Prometheus metrics, in one place: the registry below registers them under these
 * names, and the tests of the alert rules and the Grafana dashboard (deploy/monitoring) check every name they use
 * against what the registries export. Besides these, the registry carries prom-client's default process metrics
 * (`process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`, …).
 */
export const WORKER_METRIC_NAMES = {
  cycleDuration: 'ops_worker_cycle_duration_seconds',
  lastCycleCompleted: 'ops_worker_last_cycle_completed_timestamp_seconds',
  cycleInterval: 'ops_worker_cycle_interval_seconds',
  backups: 'ops_worker_backups_total',
  backupBytes: 'ops_worker_backup_bytes_written_total',
  formatChecks: 'ops_worker_format_checks_total',
  restores: 'ops_worker_restores_total',
  queueJobs: 'ops_worker_queue_jobs',
  volumeFree: 'ops_worker_volume_free_bytes',
  volumeSize: 'ops_worker_volume_size_bytes',
} as const;

/** Jobs waiting and running in one queue of the durable job queue. */
export interface QueueDepth {
  queue: string;
  ready: number;
  running: number;
}

export interface WorkerMetricsOptions {
  /** Seconds between two cycles, exported so alert rules can say "three intervals" without repeating the setting. */
  intervalSeconds: number;
  /** The backup volume; its size and free space are read (statfs) at each scrape. */
  backupRoot: string;
  /** Jobs per queue, read at each scrape; absent: the queue-depth metric is not exported at all. */
  queueDepth?: () => Promise<QueueDepth[]>;
}

/**
 * The worker's metrics: a registry of its own (never prom-client's global one), counted where the work happens. It
 * observes backups and restores (`WorkObserver`, called by `executeBackup` and `restoreBackup`) and the loop's cycles
 * (`CycleObserver`, called by `runLoop`), and remembers when the last cycle
 * ended and whether one is running, which the health server judges liveness by.
 */
export interface WorkerMetrics extends WorkObserver, CycleObserver {
  registry: Registry;
  lastCycleAt(): Date | null;
  cycleRunningSince(): Date | null;
}

const CYCLE_BUCKETS_SECONDS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3_600, 21_600];

export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const names = WORKER_METRIC_NAMES;

  const cycleDuration = new Histogram({
    name: names.cycleDuration,
    help: 'Duration of the ops-agent cycles (including the backups, uploads and test-restores they ran).',
    buckets: CYCLE_BUCKETS_SECONDS,
    registers,
  });
  const lastCycleCompleted = new Gauge({
    name: names.lastCycleCompleted,
    help: 'Unix time the last cycle ended (a cycle that threw counts: the loop went on).',
    registers,
  });
  new Gauge({
    name: names.cycleInterval,
    help: 'Configured seconds between two cycles (WORKER_INTERVAL_SECONDS).',
    registers,
  }).set(options.intervalSeconds);
  const backups = new Counter({
    name: names.backups,
    help: 'Backups this worker ran, by result (succeeded, failed, skipped).',
    labelNames: ['result'],
    registers,
  });
  const backupBytes = new Counter({
    name: names.backupBytes,
    help: 'Bytes of backup files this worker stored (successful backups, as stored on the volume).',
    registers,
  });
  const formatChecks = new Counter({
    name: names.formatChecks,
    help: 'Format checks of new backups, by result (verified, failed: the backup is probably not restorable).',
    labelNames: ['result'],
    registers,
  });
  const restores = new Counter({
    name: names.restores,
    help: 'Restores this worker ran, by kind (test, scratch, destructive) and result (succeeded, failed, refused).',
    labelNames: ['kind', 'result'],
    registers,
  });
  for (const result of ['succeeded', 'failed', 'skipped']) backups.inc({ result }, 0);
  for (const result of ['verified', 'failed']) formatChecks.inc({ result }, 0);
  for (const result of ['succeeded', 'failed', 'refused']) restores.inc({ kind: 'test', result }, 0);

  if (options.queueDepth) {
    const queueDepth = options.queueDepth;
    new Gauge({
      name: names.queueJobs,
      help: 'Jobs in the durable job queue, by queue and state (ready: waiting to run, running).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const { queue, ready, running } of await queueDepth()) {
          this.set({ queue, state: 'ready' }, ready);
          this.set({ queue, state: 'running' }, running);
        }
      },
    });
  }
  // Read at each scrape (statfs), so the numbers are the volume's now. Labelled with the path: a gauge without labels
  // would report 0 for a volume that cannot be read, where it should report nothing.
  const volumeGauge = (name: string, help: string, bytes: (info: StatsFs) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['path'],
      registers,
      async collect() {
        const info = await statfs(options.backupRoot).catch(() => null);
        this.reset();
        if (info) this.set({ path: options.backupRoot }, bytes(info));
      },
    });
  volumeGauge(
    names.volumeFree,
    'Bytes available to the worker on the backup volume.',
    (info) => info.bavail * info.bsize,
  );
  volumeGauge(names.volumeSize, 'Size of the backup volume in bytes.', (info) => info.blocks * info.bsize);

  let lastCycleAt: Date | null = null;
  let runningSince: Date | null = null;
  return {
    registry,
    lastCycleAt: () => lastCycleAt,
    cycleRunningSince: () => runningSince,
    cycleStarted(at: Date) {
      runningSince = at;
    },
    cycleFinished(at: Date, _summary: CycleSummary | null) {
      if (runningSince) cycleDuration.observe((at.getTime() - runningSince.getTime()) / 1_000);
      runningSince = null;
      lastCycleAt = at;
      lastCycleCompleted.set(at.getTime() / 1_000);
    },
    backupFinished(ending: BackupEnding) {
      backups.inc({ result: ending.status.toLowerCase() });
      if (ending.status === 'SUCCEEDED' && ending.sizeBytes !== null) backupBytes.inc(Number(ending.sizeBytes));
      if (ending.formatCheck) formatChecks.inc({ result: ending.formatCheck });
    },
    restoreFinished(ending: RestoreEnding) {
      restores.inc({ kind: ending.kind.toLowerCase(), result: ending.status.toLowerCase() });
    },
  };
}
