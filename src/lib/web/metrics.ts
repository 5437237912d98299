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

export interface BackupMetricsSnapshot {
  deployments: DeploymentMetrics[];
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
  return registry;
}
