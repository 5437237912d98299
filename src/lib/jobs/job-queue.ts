import { setTimeout as sleep } from 'node:timers/promises';
import type { JobWithMetadata, PgBoss, SendOptions } from 'pg-boss';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { DatabaseConnection } from '../db/index.ts';
import type { Logger } from '../shared/index.ts';
import {
  JOB_NAMES,
  parseJobData,
  queueDefinitions,
  readJobData,
  queueNameOf,
  type JobData,
  type JobName,
  type JobSettings,
} from './job-definitions.ts';
import { singletonKeyOf } from './job-keys.ts';

/** The schema pg-boss keeps its tables in, next to ours in the same database. */
export const JOB_SCHEMA = 'pgboss';

export interface JobQueueOptions {
  connection: DatabaseConnection;
  logger: Logger;
  settings: JobSettings & {
    /** How often an idle worker looks for new jobs (LISTEN/NOTIFY wakes it sooner on PostgreSQL). */
    pollSeconds: number;
    /** How often a supervising process fails attempts whose heartbeat stopped and expires old jobs. */
    monitorSeconds: number;
  };
  /** Worker processes supervise (retry the jobs of dead workers); the web and the CLIs only send. */
  role: 'worker' | 'client';
}

export interface EnqueueOptions {
  /** Sent inside this Prisma transaction: the job exists only if the transaction commits. */
  transaction?: Prisma.TransactionClient;
  /** Not before this time. */
  startAfter?: Date;
}

/** A job as a worker holds it: its validated data and which attempt this is. */
export interface RunningJob<Name extends JobName> {
  id: string;
  name: Name;
  data: JobData<Name>;
  /** 0 for the first attempt. */
  attempt: number;
  /** No retry follows this attempt when it fails. */
  lastAttempt: boolean;
  /** When the job was queued (work done since then answers a request for it). */
  createdAt: Date;
  /** Aborted when the worker stops taking work for good (the grace period is the caller's). */
  signal: AbortSignal;
}

export type JobState = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled';

/** A job as the web and the CLIs show it. */
export interface JobView {
  id: string;
  name: JobName;
  state: JobState;
  data: unknown;
  attempts: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** What the handler returned (or the error of a failed attempt). */
  output: unknown;
}

export interface QueueStats {
  name: JobName;
  /** Could start now. */
  ready: number;
  /** Waiting for a later time (a retry's backoff). */
  deferred: number;
  running: number;
  /** How long the oldest job that could start now has been waiting; null when none waits. */
  oldestReadySeconds: number | null;
}

/** The module's durable job queue (pg-boss on the platform database). */
export interface JobQueue {
  /** Sends a job; null when one with the same key is already waiting (a deployment's backup, say). */
  enqueue<Name extends JobName>(name: Name, data: JobData<Name>, options?: EnqueueOptions): Promise<string | null>;
  /** Sends many jobs in one statement; those whose key already waits are dropped. Returns how many were sent. */
  enqueueMany<Name extends JobName>(name: Name, items: readonly JobData<Name>[]): Promise<number>;
  /** The job with this key that waits or runs, if any (to answer a repeated request with the first one). */
  findPending<Name extends JobName>(
    name: Name,
    data: JobData<Name>,
    options?: { transaction?: Prisma.TransactionClient },
  ): Promise<JobView | null>;
  getJob(name: JobName, id: string): Promise<JobView | null>;
  /** Runs `handler` for each job of the queue, `concurrency` at a time, until `stop`. A throw fails the attempt. */
  work<Name extends JobName>(
    name: Name,
    options: { concurrency: number },
    handler: (job: RunningJob<Name>) => Promise<object | void>,
  ): Promise<void>;
  /**
   * Waits until the job has ended (succeeded, failed or cancelled) and returns it; after `timeoutMs` it is cancelled
   * if it has not started, and returned as it is then.
   */
  waitForJob(name: JobName, id: string, options: { timeoutMs: number; pollMs?: number }): Promise<JobView | null>;
  /**
   * Counts read from the jobs themselves (not pg-boss's cached figures), one statement; with `deploymentIds`, only
   * the jobs of those deployments (a workspace's view).
   */
  stats(filter?: { deploymentIds?: readonly string[] }): Promise<QueueStats[]>;
  /** Stops taking new jobs (running ones go on); `stop` ends the rest. */
  pause(): Promise<void>;
  /**
   * Resolves once no job of the module (or of the queues in `names`) is ready or running (deferred retries do not
   * count), or when `signal` aborts.
   */
  waitUntilIdle(options?: { signal?: AbortSignal; pollMs?: number; names?: readonly JobName[] }): Promise<void>;
  /** Stops working; with `graceful`, running handlers get `timeoutMs` to finish before their jobs are left to retry. */
  stop(options: { graceful: boolean; timeoutMs: number }): Promise<void>;
}

const STATE_OF: Record<string, JobState> = {
  created: 'queued',
  retry: 'retrying',
  active: 'running',
  completed: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
};

/**
 * Opens the queue: pg-boss on the platform database (its own schema, created or migrated on first start), with the
 * module's queues created or brought up to date. The embedded database shares its single PGlite connection.
 */
export async function openJobQueue(options: JobQueueOptions): Promise<JobQueue> {
  const log = options.logger.child({ module: 'jobs' });
  const worker = options.role === 'worker';
  const { connection, settings } = options;
  // Loaded when a queue is opened: a command that never queues work does not pay for pg-boss's import.
  const { fromPglite, fromPrisma, PgBoss } = await import('pg-boss');
  const boss = new PgBoss({
    ...(connection.kind === 'postgres'
      ? { connectionString: connection.url, max: worker ? 10 : 4 }
      : { db: fromPglite(connection.pglite), backend: 'pglite' as const }),
    schema: JOB_SCHEMA,
    application_name: `ops-agent-${options.role}`,
    supervise: worker,
    schedule: false,
    migrate: true,
    superviseIntervalSeconds: settings.monitorSeconds,
    monitorIntervalSeconds: settings.monitorSeconds,
    useListenNotify: worker && connection.kind === 'postgres',
  });
  boss.on('error', (error: Error) => log.error({ err: error }, 'job queue error'));
  boss.on('warning', (warning: unknown) => log.warn({ warning }, 'job queue warning'));
  await boss.start();
  await ensureQueues(boss, settings);

  const toView = (name: JobName, job: JobWithMetadata<unknown>): JobView => ({
    id: job.id,
    name,
    state: STATE_OF[job.state] ?? 'failed',
    data: job.data,
    attempts: job.retryCount + (job.state === 'created' ? 0 : 1),
    createdAt: new Date(job.createdOn),
    startedAt: job.state === 'created' ? null : new Date(job.startedOn),
    finishedAt: job.completedOn ? new Date(job.completedOn) : null,
    output: job.output ?? null,
  });

  const working = new Set<string>();
  const queue: JobQueue = {
    async enqueue(name, data, enqueueOptions = {}) {
      const parsed = parseJobData(name, data);
      const sendOptions: SendOptions = { singletonKey: singletonKeyOf(name, parsed) };
      if (enqueueOptions.transaction) sendOptions.db = fromPrisma(enqueueOptions.transaction);
      if (enqueueOptions.startAfter) sendOptions.startAfter = enqueueOptions.startAfter;
      const id = await boss.send(queueNameOf(name), parsed, sendOptions);
      log.info({ job: name, jobId: id, key: sendOptions.singletonKey, duplicate: id === null }, 'job queued');
      return id;
    },
    async enqueueMany(name, items) {
      if (items.length === 0) return 0;
      const jobs = items.map((data) => {
        const parsed = parseJobData(name, data);
        return { data: parsed, singletonKey: singletonKeyOf(name, parsed) };
      });
      const ids = await boss.insert(queueNameOf(name), jobs, { returnId: true });
      return ids?.length ?? 0;
    },
    async findPending(name, data, findOptions = {}) {
      const key = singletonKeyOf(name, parseJobData(name, data));
      const jobs = await boss.findJobs<unknown>(queueNameOf(name), {
        key,
        limit: 100,
        ...(findOptions.transaction ? { db: fromPrisma(findOptions.transaction) } : {}),
      });
      const pending = jobs.filter((job) => job.state === 'created' || job.state === 'retry' || job.state === 'active');
      const newest = pending.sort((a, b) => new Date(b.createdOn).getTime() - new Date(a.createdOn).getTime())[0];
      return newest ? toView(name, newest) : null;
    },
    async getJob(name, id) {
      const job = await boss.getJobById<unknown>(queueNameOf(name), id);
      return job ? toView(name, job) : null;
    },
    async work(name, workOptions, handler) {
      const queueName = queueNameOf(name);
      working.add(queueName);
      await boss.work<unknown>(
        queueNameOf(name),
        {
          localConcurrency: workOptions.concurrency,
          pollingIntervalSeconds: settings.pollSeconds,
          // NOTIFY wakes a worker for a job queued while it idles; one queued while it was busy waits for the next
          // poll, so the backstop polls as often as without NOTIFY.
          notifyPollingIntervalSeconds: settings.pollSeconds,
          includeMetadata: true,
        },
        async ([job]) => {
          if (!job) return;
          const meta = job as unknown as JobWithMetadata<unknown>;
          const parsed = readJobData(name, job.data);
          const jobLog = log.child({ job: name, jobId: job.id, attempt: job.retryCount });
          if (!parsed.ok) {
            // A job no handler can read is not retried: it would fail the same way every time.
            jobLog.error({ issues: parsed.issues }, 'job data is invalid; the job is dropped');
            return { dropped: 'invalid data' };
          }
          try {
            return await handler({
              id: job.id,
              name,
              data: parsed.value,
              attempt: job.retryCount,
              lastAttempt: job.retryCount >= (meta.retryLimit ?? 0),
              createdAt: new Date(meta.createdOn),
              signal: job.signal,
            });
          } finally {
            // A worker that finished a job looks again at once instead of waiting out its poll: a backlog of short
            // jobs drains at the speed of the database, not one job per poll interval.
            for (const worker of boss.getWipData()) if (worker.name === queueName) boss.notifyWorker(worker.id);
          }
        },
      );
    },
    async waitForJob(name, id, waitOptions) {
      const deadline = Date.now() + waitOptions.timeoutMs;
      for (;;) {
        const job = await queue.getJob(name, id);
        if (!job || ['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
        if (Date.now() >= deadline) {
          if (job.state === 'queued' || job.state === 'retrying') await boss.cancel(queueNameOf(name), id);
          return queue.getJob(name, id);
        }
        await sleep(waitOptions.pollMs ?? 100);
      }
    },
    async stats(filter = {}) {
      const only = filter.deploymentIds;
      const { rows } = await boss.getDb().executeSql(
        `SELECT name,
                count(*) FILTER (WHERE state IN ('created', 'retry') AND start_after <= now())::int AS ready,
                count(*) FILTER (WHERE state IN ('created', 'retry') AND start_after > now())::int AS deferred,
                count(*) FILTER (WHERE state = 'active')::int AS running,
                extract(epoch FROM now() - min(created_on) FILTER (WHERE state IN ('created', 'retry')
                  AND start_after <= now()))::float AS oldest
           FROM ${JOB_SCHEMA}.job
          WHERE name = ANY($1::text[]) AND state IN ('created', 'retry', 'active')
            ${only ? `AND data->>'deploymentId' = ANY($2::text[])` : ''}
          GROUP BY name`,
        only ? [JOB_NAMES.map(queueNameOf), [...only]] : [JOB_NAMES.map(queueNameOf)],
      );
      const byName = new Map(rows.map((row: Record<string, unknown>) => [row.name, row]));
      return JOB_NAMES.map((name) => {
        const row = byName.get(queueNameOf(name)) as Record<string, unknown> | undefined;
        return {
          name,
          ready: Number(row?.ready ?? 0),
          deferred: Number(row?.deferred ?? 0),
          running: Number(row?.running ?? 0),
          oldestReadySeconds: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest),
        };
      });
    },
    async waitUntilIdle(waitOptions = {}) {
      const pollMs = waitOptions.pollMs ?? 250;
      while (!waitOptions.signal?.aborted) {
        const busy = (await queue.stats()).some(
          (stats) => (!waitOptions.names || waitOptions.names.includes(stats.name)) && stats.ready + stats.running > 0,
        );
        if (!busy) return;
        await sleep(pollMs, undefined, waitOptions.signal ? { signal: waitOptions.signal } : {}).catch(() => undefined);
      }
    },
    async pause() {
      await Promise.all([...working].map((name) => boss.offWork(name, { wait: false })));
    },
    async stop(stopOptions) {
      await boss.stop({ graceful: stopOptions.graceful, timeout: stopOptions.timeoutMs, close: true });
    },
  };
  return queue;
}

/** Creates the module's queues, or updates the options of existing ones. */
async function ensureQueues(boss: PgBoss, settings: JobSettings): Promise<void> {
  const definitions = queueDefinitions(settings);
  for (const name of JOB_NAMES) {
    const definition = definitions[name];
    const options = {
      retryLimit: definition.retryLimit,
      retryDelay: definition.retryDelaySeconds,
      retryBackoff: definition.retryBackoff,
      ...(definition.retryBackoff && definition.retryDelayMaxSeconds !== undefined
        ? { retryDelayMax: definition.retryDelayMaxSeconds }
        : {}),
      expireInSeconds: definition.expireInSeconds,
      heartbeatSeconds: definition.heartbeatSeconds,
      notify: true,
    };
    const queueName = queueNameOf(name);
    if (!(await boss.getQueue(queueName))) {
      // Two processes starting together may both find it missing: the loser's create fails, and it updates.
      const created = await boss
        .createQueue(queueName, {
          ...options,
          policy: definition.policy,
        })
        .then(
          () => true,
          async (error: unknown) => {
            if (await boss.getQueue(queueName)) return false;
            throw error;
          },
        );
      if (created) continue;
    }
    await boss.updateQueue(queueName, options);
  }
}
