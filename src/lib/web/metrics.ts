/**
 * The Prometheus metrics of the backup module, built from plain data into a registry of their own (never the
 * process-wide default registry, so nothing leaks between requests or tests). Pure: the numbers come from
 * `gatherMetricsSnapshot`.
 */
import { Gauge, Registry } from 'prom-client';

/** One backup-enabled deployment as the metrics see it. */
export interface DeploymentMetrics {
  workspace: string;
  deployment: string;
  /** The newest SUCCEEDED backup; null when there has never been one (its series are then left out). */
  lastSuccess: { finishedAt: Date; durationMs: number | null; sizeBytes: bigint | null } | null;
  /** Every FAILED record the deployment has. */
  failuresTotal: number;
  overdue: boolean;
  running: boolean;
}

/** One job queue as the metrics see it. */
export interface QueueMetrics {
  queue: string;
  ready: number;
  deferred: number;
  running: number;
  /** How long the oldest job that could start has waited; null when none waits (the series is then left out). */
  oldestReadySeconds: number | null;
}

export interface BackupMetricsSnapshot {
  deployments: DeploymentMetrics[];
  /** The durable job queues; absent when the queue could not be read (their series are then left out). */
  queues?: QueueMetrics[];
  /** The backup volume's filesystem; null when it cannot be read (its series are then left out). */
  volume: { usedBytes: bigint; freeBytes: bigint } | null;
}

const LABELS = ['workspace', 'deployment'] as const;

/** A registry holding every backup metric of `snapshot`; `await registry.metrics()` is the exposition text. */
export function buildMetricsRegistry(snapshot: BackupMetricsSnapshot): Registry {
  const registry = new Registry();
  const perDeployment = (name: string, help: string) =>
    new Gauge({ name, help, labelNames: LABELS, registers: [registry] });
  const lastSuccess = perDeployment(
    'ops_backup_last_success_timestamp_seconds',
    'Unix time the newest successful backup finished.',
  );
  const lastDuration = perDeployment('ops_backup_last_duration_seconds', 'Duration of the newest successful backup.');
  const lastSize = perDeployment(
    'ops_backup_last_size_bytes',
    'Size of the newest successful backup file (as stored).',
  );
  const failures = perDeployment(
    'ops_backup_failures_total',
    'Failed backup attempts on record (pruned records no longer count).',
  );
  const overdue = perDeployment('ops_backup_overdue', '1 when a scheduled backup is overdue, else 0.');
  const running = perDeployment('ops_backup_running', '1 while a backup is running, else 0.');

  for (const item of snapshot.deployments) {
    const labels = { workspace: item.workspace, deployment: item.deployment };
    if (item.lastSuccess) {
      lastSuccess.set(labels, item.lastSuccess.finishedAt.getTime() / 1_000);
      if (item.lastSuccess.durationMs !== null) lastDuration.set(labels, item.lastSuccess.durationMs / 1_000);
      if (item.lastSuccess.sizeBytes !== null) lastSize.set(labels, Number(item.lastSuccess.sizeBytes));
    }
    failures.set(labels, item.failuresTotal);
    overdue.set(labels, item.overdue ? 1 : 0);
    running.set(labels, item.running ? 1 : 0);
  }
  // Created only with a value: an unlabelled gauge would otherwise report 0 bytes for a volume it could not read.
  if (snapshot.volume) {
    new Gauge({
      name: 'ops_backup_volume_used_bytes',
      help: 'Bytes used on the backup volume.',
      registers: [registry],
    }).set(Number(snapshot.volume.usedBytes));
    new Gauge({
      name: 'ops_backup_volume_free_bytes',
      help: 'Bytes free on the backup volume.',
      registers: [registry],
    }).set(Number(snapshot.volume.freeBytes));
  }
  if (snapshot.queues) {
    const perQueue = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: ['queue'] as const, registers: [registry] });
    const ready = perQueue('ops_job_queue_ready', 'Jobs that could start now and wait for a worker.');
    const deferred = perQueue('ops_job_queue_deferred', 'Jobs waiting for a later time (a retry backoff).');
    const running = perQueue('ops_job_queue_running', 'Jobs a worker is running.');
    const oldest = perQueue(
      'ops_job_queue_oldest_ready_seconds',
      'How long the oldest job that could start has waited for a worker.',
    );
    for (const queue of snapshot.queues) {
      const labels = { queue: queue.queue };
      ready.set(labels, queue.ready);
      deferred.set(labels, queue.deferred);
      running.set(labels, queue.running);
      if (queue.oldestReadySeconds !== null) oldest.set(labels, queue.oldestReadySeconds);
    }
  }
  return registry;
}
