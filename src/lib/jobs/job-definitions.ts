import { z } from 'zod';
import { recordIdSchema } from '../shared/index.ts';

/**
 * The durable jobs of the module, one queue each: what a job carries (its zod schema, checked when it is sent and
 * again when a worker takes it) and how its queue behaves (one per deployment at a time, retries, heartbeats). The
 * web process and the CLIs only send jobs; workers run them (`src/lib/worker/job-runners.ts`).
 */

const BACKUP_TRIGGERS = ['SCHEDULE', 'AGENT', 'MANUAL', 'API'] as const;

export const jobSchemas = {
  /** One backup of one deployment. */
  backup: z
    .object({
      deploymentId: recordIdSchema('must be a deployment id'),
      trigger: z.enum(BACKUP_TRIGGERS),
      /** Who asked (`api:<tokenId>`, `agent`, `schedule`), for the logs. */
      requestedBy: z.string().min(1).max(200),
      /** Scheduled backups: the `lastBackupAt` the due decision saw (ISO), checked again under the claim. */
      expectedLastBackupAt: z.iso.datetime().nullable().optional(),
    })
    .strict(),
  /** A live restore a person confirmed (its RestoreRecord is QUEUED). */
  restore: z.object({ restoreId: recordIdSchema('must be a restore id') }).strict(),
  /** A scheduled test-restore of one deployment's newest backup into a scratch database. */
  testRestore: z.object({ deploymentId: recordIdSchema('must be a deployment id') }).strict(),
  /**
   * A dry-run of a live restore (count the live data, record the PROPOSED restore and its plan), or a person's
   * approval of a proposal. The web process asks a worker for it and waits: only a worker may exec into pods. The
   * token stays with the web process; the job carries its hash, like the record.
   */
  restorePlan: z.discriminatedUnion('action', [
    z.object({
      action: z.literal('plan'),
      backupId: recordIdSchema('must be a backup id'),
      requestedBy: z.string().min(1).max(200),
      trigger: z.enum(BACKUP_TRIGGERS),
      tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
      expiresAt: z.iso.datetime(),
    }),
    z.object({
      action: z.literal('approve'),
      restoreId: recordIdSchema('must be a restore id'),
      approvedBy: z.string().min(1).max(200),
      tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
      expiresAt: z.iso.datetime(),
    }),
  ]),
  /** An off-site upload pass: every due upload, or only one backup's. */
  upload: z.object({ backupId: recordIdSchema('must be a backup id').optional() }).strict(),
} as const;

export type JobName = keyof typeof jobSchemas;
export type JobData<Name extends JobName> = z.infer<(typeof jobSchemas)[Name]>;

export const JOB_NAMES = Object.keys(jobSchemas) as JobName[];

/** The settings queues are made from (from the configuration). */
export interface JobSettings {
  /** A running job's worker proves it is alive this often (half of it); silence this long fails the attempt. */
  heartbeatSeconds: number;
  /** The longest a backup may run; its job may stay active a little longer. */
  backupTimeoutSeconds: number;
}

/** pg-boss queue options, in our own words. */
export interface QueueDefinition {
  /** `stately`: at most one waiting and one running job per singleton key (a deployment). */
  policy: 'standard' | 'stately';
  /** Attempts after the first; an attempt whose worker died counts as one. */
  retryLimit: number;
  retryDelaySeconds: number;
  retryBackoff: boolean;
  retryDelayMaxSeconds?: number;
  expireInSeconds: number;
  heartbeatSeconds: number;
}

/** pg-boss's ceiling for how long a job may be active. */
const MAX_ACTIVE_SECONDS = 24 * 3_600;

/**
 * How each queue behaves. Retrying is safe for every job because each handler checks the state of its record
 * first: a backup attempt that died left a RUNNING record that recovery marks FAILED and the retry makes a new
 * backup; a live restore that died mid-way is never run twice (its handler finds it RUNNING and fails it).
 */
export function queueDefinitions(settings: JobSettings): Record<JobName, QueueDefinition> {
  const heartbeatSeconds = settings.heartbeatSeconds;
  const hours = (seconds: number) => Math.min(MAX_ACTIVE_SECONDS, seconds);
  return {
    backup: {
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 30,
      retryBackoff: true,
      retryDelayMaxSeconds: 600,
      expireInSeconds: hours(settings.backupTimeoutSeconds + 3_600),
      heartbeatSeconds,
    },
    restore: {
      policy: 'standard',
      // A confirmed restore waits for a running backup of its deployment: up to about an hour of retries.
      retryLimit: 20,
      retryDelaySeconds: 15,
      retryBackoff: true,
      retryDelayMaxSeconds: 300,
      expireInSeconds: hours(settings.backupTimeoutSeconds + 3_600),
      heartbeatSeconds,
    },
    testRestore: {
      policy: 'stately',
      retryLimit: 2,
      retryDelaySeconds: 60,
      retryBackoff: true,
      retryDelayMaxSeconds: 900,
      expireInSeconds: hours(settings.backupTimeoutSeconds + 3_600),
      heartbeatSeconds,
    },
    restorePlan: {
      policy: 'standard',
      // The web waits for the answer; a plan that failed is asked for again by the person, not retried here.
      retryLimit: 0,
      retryDelaySeconds: 0,
      retryBackoff: false,
      expireInSeconds: 600,
      heartbeatSeconds,
    },
    upload: {
      policy: 'stately',
      retryLimit: 3,
      retryDelaySeconds: 30,
      retryBackoff: true,
      retryDelayMaxSeconds: 600,
      expireInSeconds: MAX_ACTIVE_SECONDS,
      heartbeatSeconds,
    },
  };
}

/** pg-boss's queue names allow letters, digits, `-`, `_`, `.` and `/`: ours are the job names in kebab case. */
export function queueNameOf(name: JobName): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** Checks a job's data against its queue's schema: the typed data, or a zod error naming the bad field. */
export function parseJobData<Name extends JobName>(name: Name, data: unknown): JobData<Name> {
  return (jobSchemas[name] as unknown as z.ZodType<JobData<Name>>).parse(data);
}

/** Like `parseJobData`, as data: a job from the queue whose data no longer fits is dropped, not retried. */
export function readJobData<Name extends JobName>(
  name: Name,
  data: unknown,
): { ok: true; value: JobData<Name> } | { ok: false; issues: z.core.$ZodIssue[] } {
  const parsed = (jobSchemas[name] as unknown as z.ZodType<JobData<Name>>).safeParse(data);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, issues: parsed.error.issues };
}
