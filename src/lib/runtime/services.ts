import type { KubeConfig } from '@kubernetes/client-node';
import {
  type AlertWebhook,
  createWebhookNotifier,
  DEFAULT_DELIVERY_RETRY_POLICY,
  noopNotifier,
  type Notifier,
} from '../alerts/index.ts';
import type { BackupDependencies } from '../backups/index.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../health/index.ts';
import { type JobQueue, openJobQueue } from '../jobs/index.ts';
import { createKubeClients, lazyKubeClients, loadKubeConfig, noKubeClients } from '../kube/index.ts';
import { createS3Destination, type OffsiteDestination } from '../offsite/index.ts';
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
  /**
   * The webhook notifier when ALERT_WEBHOOK_URL is set (new alerts get a delivery row in the outbox), else one that
   * writes none (the Alert table stays).
   */
  notifier: Notifier;
  /** What sending the outbox's deliveries needs, when ALERT_WEBHOOK_URL is set; null: no webhook. */
  alertDelivery: AlertWebhook | null;
  /** What backups, retention, restores, uploads and format checks need; the notifier included. */
  backup: BackupDependencies & { notifier: Notifier };
  /**
   * The durable job queue, opened on first use (a command that sends no job does not pay for it). Workers run
   * jobs and retry those of dead workers; the web and the CLIs only send them.
   */
  jobs(): Promise<JobQueue>;
  /** The worker's Prometheus metrics (also the observer of its backups and restores); null in other processes. */
  metrics: WorkerMetrics | null;
  /**
   * Stops the job queue (running jobs get `jobsTimeoutMs` to end; the rest are retried by another worker), sends
   * (bounded) the alert deliveries this process queued that are due, then closes the database.
   */
  close(options?: { flushTimeoutMs?: number; jobsTimeoutMs?: number }): Promise<void>;
}

/** How a process uses the job queue: a worker runs jobs, a client (web, CLI) only sends them. */
export type ProcessRole = 'worker' | 'client';

/** Replacements for a local setup (the demo's stand-in cluster). */
export interface ServiceOverrides {
  kubeConfig?: KubeConfig;
}

const DEFAULT_FLUSH_TIMEOUT_MS = 10_000;
/** How often the worker looks for due webhook deliveries between (and during) its cycles. */
const ALERT_DELIVERY_INTERVAL_MS = 5_000;

/** Opens the runtime (config, logger, migrated database) and builds the services on it. */
export async function openServices(
  env: Record<string, string | undefined>,
  name: string,
  options: { logToStderr?: boolean; role?: ProcessRole; cluster?: boolean } = {},
): Promise<Services> {
  return createServices(await openRuntime(env, name, options), {
    role: options.role ?? 'client',
    cluster: options.cluster ?? true,
  });
}

/** Builds the services of an opened runtime. */
export function createServices(
  runtime: Runtime,
  options: {
    role: ProcessRole;
    /** False for a process that must never reach the cluster (the web): its Kubernetes clients refuse every call. */
    cluster?: boolean;
    overrides?: ServiceOverrides;
  },
): Services {
  const overrides = options.overrides ?? {};
  const { config, logger, database } = runtime;
  const clock = () => new Date();
  const alertDelivery: AlertWebhook | null = config.ALERT_WEBHOOK_URL
    ? {
        deps: { db: database.prisma, url: config.ALERT_WEBHOOK_URL, clock, logger },
        retryPolicy: { ...DEFAULT_DELIVERY_RETRY_POLICY, baseDelayMs: config.ALERT_WEBHOOK_RETRY_SECONDS * 1_000 },
      }
    : null;
  const notifier = alertDelivery
    ? createWebhookNotifier(alertDelivery.deps, { retryPolicy: alertDelivery.retryPolicy })
    : noopNotifier;
  const kube =
    options.cluster === false
      ? noKubeClients(`the ${options.role} process has no access to the cluster: this work runs in a worker`)
      : lazyKubeClients(
          () =>
            createKubeClients(
              overrides.kubeConfig ??
                loadKubeConfig({
                  ...(config.KUBECONFIG ? { kubeconfigPath: config.KUBECONFIG } : {}),
                  ...(config.KUBE_SERVICE_ACCOUNT_ROOT ? { serviceAccountRoot: config.KUBE_SERVICE_ACCOUNT_ROOT } : {}),
                }),
              { workspaceLabel: config.POD_WORKSPACE_LABEL },
            ),
          config.POD_WORKSPACE_LABEL,
        );
  // A worker reads its cluster credentials at start-up, so a bad kubeconfig stops it at once; a command loads
  // client-node and the credentials only when it first looks up a pod.
  if (options.role === 'worker') void kube.core;
  let jobs: Promise<JobQueue> | null = null;
  const openJobs = () => {
    jobs ??= openJobQueue({
      connection: database.connection,
      logger,
      role: options.role,
      settings: {
        heartbeatSeconds: config.JOB_HEARTBEAT_SECONDS,
        monitorSeconds: config.JOB_MONITOR_SECONDS,
        pollSeconds: config.JOB_POLL_SECONDS,
        backupTimeoutSeconds: config.BACKUP_TIMEOUT_SECONDS,
      },
    }).catch((error: unknown) => {
      jobs = null;
      throw error;
    });
    return jobs;
  };
  const metrics =
    options.role === 'worker'
      ? createWorkerMetrics({
          intervalSeconds: config.WORKER_INTERVAL_SECONDS,
          backupRoot: config.BACKUP_ROOT,
          queueDepth: async () =>
            (await (await openJobs()).stats()).map((queue) => ({
              queue: queue.name,
              ready: queue.ready,
              running: queue.running,
            })),
        })
      : null;
  const backup = {
    db: database.prisma,
    query: database.query,
    kube,
    store: createFileBackupStore({
      root: config.BACKUP_ROOT,
      logger,
      reserve: { minFreeBytes: BigInt(config.BACKUP_MIN_FREE_BYTES), minFreePercent: config.BACKUP_MIN_FREE_PERCENT },
    }),
    clock,
    logger,
    notifier,
    destinations: createOffsiteDestinations(config),
    ...(config.BACKUP_AGE_IDENTITY ? { identities: config.BACKUP_AGE_IDENTITY } : {}),
    settings: {
      timeoutMs: config.BACKUP_TIMEOUT_SECONDS * 1_000,
      stallMs: config.BACKUP_STALL_MINUTES * 60_000,
      claimTtlMs: config.BACKUP_CLAIM_TTL_SECONDS * 1_000,
      suspicion: { belowPercent: config.BACKUP_SUSPICIOUS_PERCENT, sampleSize: config.BACKUP_SUSPICIOUS_SAMPLES },
      coverage: { minPercent: config.BACKUP_COVERAGE_PERCENT },
    },
    ...(metrics ? { observer: metrics } : {}),
  };
  return {
    runtime,
    notifier,
    alertDelivery,
    backup,
    jobs: openJobs,
    metrics,
    async close(closeOptions = {}) {
      const flushTimeoutMs = closeOptions.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
      if (jobs) {
        const queue = await jobs.catch(() => null);
        await queue?.stop({ graceful: true, timeoutMs: closeOptions.jobsTimeoutMs ?? flushTimeoutMs });
      }
      await notifier.flush(flushTimeoutMs);
      await database.close();
    },
  };
}

/** What the worker loop runs on: the backup dependencies, the cycle's settings and the optional LLM agent. */
export async function createLoopDependencies(services: Services): Promise<LoopDependencies> {
  const { config, logger } = services.runtime;
  return {
    backup: services.backup,
    jobs: await services.jobs(),
    logger,
    settings: {
      concurrency: config.BACKUP_CONCURRENCY,
      overdueGraceMs: config.BACKUP_OVERDUE_GRACE_MINUTES * 60_000,
      retryDelayMs: config.BACKUP_RETRY_MINUTES * 60_000,
    },
    alertDelivery: services.alertDelivery && {
      ...services.alertDelivery,
      intervalMs: ALERT_DELIVERY_INTERVAL_MS,
    },
    deadManPingIntervalMs: ALERT_DELIVERY_INTERVAL_MS,
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
