import type { KubeConfig } from '@kubernetes/client-node';
import { createWebhookNotifier, noopNotifier, type Notifier } from '../alerts/index.ts';
import type { BackupDependencies } from '../backups/index.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../health/index.ts';
import { createKubeClients, loadKubeConfig } from '../kube/index.ts';
import { createS3Destination, type OffsiteDestination } from '../offsite/index.ts';
import type { Logger } from '../shared/index.ts';
import { createFileBackupStore } from '../storage/index.ts';
import type { LoopDependencies } from '../worker/index.ts';
import type { Config } from './config.ts';
import { openRuntime, type Runtime } from './runtime.ts';

/**
 * The composition root: the one place that turns the configuration into the services the module runs on (Kubernetes
 * clients, the backup store, the alert notifier, the off-site destinations). The entry points (worker, CLIs, web)
 * call it; no other module builds a sibling.
 */
export interface Services {
  runtime: Runtime;
  /** The webhook notifier when ALERT_WEBHOOK_URL is set, else one that drops notifications (the Alert table stays). */
  notifier: Notifier;
  /** What backups, retention, restores, uploads and format checks need; the notifier included. */
  backup: BackupDependencies & { notifier: Notifier };
  /** The worker's Prometheus metrics (also the observer of its backups and restores); null in other processes. */
  metrics: WorkerMetrics | null;
  /** Waits (bounded) for alert deliveries still in flight, then closes the database. */
  close(flushTimeoutMs?: number): Promise<void>;
}

/** What a process does: a worker runs the loop (and gets its metrics); a client (web, CLI) does not. */
export type ProcessRole = 'worker' | 'client';

/** Replacements for a local setup (the demo's stand-in cluster). */
export interface ServiceOverrides {
  kubeConfig?: KubeConfig;
}

const DEFAULT_FLUSH_TIMEOUT_MS = 10_000;

/** Opens the runtime (config, logger, migrated database) and builds the services on it. */
export async function openServices(
  env: Record<string, string | undefined>,
  name: string,
  options: { logToStderr?: boolean; role?: ProcessRole } = {},
): Promise<Services> {
  return createServices(await openRuntime(env, name, options), {}, options.role ?? 'client');
}

/** Builds the services of an opened runtime. */
export function createServices(
  runtime: Runtime,
  overrides: ServiceOverrides = {},
  role: ProcessRole = 'client',
): Services {
  const { config, logger, database } = runtime;
  const notifier = createNotifier(config, logger);
  const kubeConfig =
    overrides.kubeConfig ??
    loadKubeConfig({
      ...(config.KUBECONFIG ? { kubeconfigPath: config.KUBECONFIG } : {}),
      ...(config.KUBE_SERVICE_ACCOUNT_ROOT ? { serviceAccountRoot: config.KUBE_SERVICE_ACCOUNT_ROOT } : {}),
    });
  const metrics =
    role === 'worker'
      ? createWorkerMetrics({ intervalSeconds: config.WORKER_INTERVAL_SECONDS, backupRoot: config.BACKUP_ROOT })
      : null;
  const backup = {
    db: database.prisma,
    kube: createKubeClients(kubeConfig),
    store: createFileBackupStore({ root: config.BACKUP_ROOT, logger }),
    clock: () => new Date(),
    logger,
    notifier,
    destinations: createOffsiteDestinations(config),
    settings: { timeoutMs: config.BACKUP_TIMEOUT_SECONDS * 1_000, claimTtlMs: config.BACKUP_CLAIM_TTL_SECONDS * 1_000 },
    ...(metrics ? { observer: metrics } : {}),
  };
  return {
    runtime,
    notifier,
    backup,
    metrics,
    async close(flushTimeoutMs = DEFAULT_FLUSH_TIMEOUT_MS) {
      await notifier.flush(flushTimeoutMs);
      await database.close();
    },
  };
}

/** What the worker loop runs on: the backup dependencies, the cycle's settings and the optional LLM agent. */
export function createLoopDependencies(services: Services): LoopDependencies {
  const { config, logger } = services.runtime;
  return {
    backup: services.backup,
    logger,
    settings: {
      concurrency: config.BACKUP_CONCURRENCY,
      overdueGraceMs: config.BACKUP_OVERDUE_GRACE_MINUTES * 60_000,
      retryDelayMs: config.BACKUP_RETRY_MINUTES * 60_000,
    },
    agent: config.LLM_BASE_URL
      ? {
          llm: {
            baseUrl: config.LLM_BASE_URL,
            model: config.LLM_MODEL,
            ...(config.LLM_API_KEY ? { apiKey: config.LLM_API_KEY } : {}),
            maxSteps: config.LLM_MAX_STEPS,
            timeoutMs: config.LLM_TIMEOUT_SECONDS * 1_000,
          },
          workspaceId: config.AGENT_WORKSPACE_ID ?? null,
        }
      : null,
  };
}

function createNotifier(config: Config, logger: Logger): Notifier {
  return config.ALERT_WEBHOOK_URL ? createWebhookNotifier({ url: config.ALERT_WEBHOOK_URL, logger }) : noopNotifier;
}

/** The destinations the configuration asks for: one S3 destination named `s3` when S3_BUCKET is set, else none. */
export function createOffsiteDestinations(config: Config): OffsiteDestination[] {
  if (!config.S3_BUCKET) return [];
  return [
    createS3Destination({
      name: 's3',
      bucket: config.S3_BUCKET,
      prefix: config.S3_PREFIX,
      region: config.S3_REGION,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      ...(config.S3_ENDPOINT ? { endpoint: config.S3_ENDPOINT } : {}),
      ...(config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
        ? { credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY } }
        : {}),
    }),
  ];
}
