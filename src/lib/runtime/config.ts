import path from 'node:path';
import { z } from 'zod';
import { readVariableFiles } from './config-files.ts';
import { DEFAULT_WORKSPACE_LABEL, isLabelKey } from '../kube/index.ts';
import { normaliseKeyPrefix } from '../offsite/index.ts';
import { parseIdentityFile } from '../encryption/index.ts';
import { isSecretKey, recordIdSchema } from '../shared/index.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function integerVariable(min: number, max: number, fallback: number) {
  return z.coerce
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be a whole number from ${min} to ${max}` })
    .max(max, { error: `must be a whole number from ${min} to ${max}` })
    .default(fallback);
}

/**
 * The worker's environment, validated once at start-up. This schema is the single source of the variable names,
 * their defaults and their documentation (`.env.example` and the README table follow it).
 */
export const configSchema = z
  .object({
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// or postgresql:// connection string' })
      .optional()
      .describe(
        'PostgreSQL connection string (or DATABASE_URL_FILE: a file holding it). Unset: an embedded PGlite database.',
      ),
    EMBEDDED_DATABASE_DIR: z
      .string()
      .default('.data/pglite')
      .describe('Data folder of the embedded database used when DATABASE_URL is unset.'),
    BACKUP_ROOT: z
      .string()
      .refine((value) => path.isAbsolute(value), { error: 'must be an absolute path' })
      .default('/backups')
      .describe('Root folder of the backup volume; files go to {root}/{workspaceId}/{deploymentName}/.'),
    WORKER_INTERVAL_SECONDS: integerVariable(5, 86_400, 60).describe('Seconds between two ops-agent cycles.'),
    BACKUP_CONCURRENCY: integerVariable(1, 32, 2).describe('How many backups one worker runs at the same time.'),
    BACKUP_TIMEOUT_SECONDS: integerVariable(10, 7 * 86_400, 6 * 3_600).describe('A backup running longer is aborted.'),
    BACKUP_AGE_IDENTITY: z
      .string()
      .min(1)
      .optional()
      .transform((text, context) => {
        if (text === undefined) return undefined;
        try {
          return parseIdentityFile(text);
        } catch (error) {
          // AgeKeyError names the line, never the key.
          context.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
          return z.NEVER;
        }
      })
      .describe(
        'age identities (AGE-SECRET-KEY-1…, one per line, as age-keygen writes them; usually BACKUP_AGE_IDENTITY_FILE) ' +
          'that read encrypted backups back: restores, test-restores, format checks. Not needed to back up (that takes ' +
          'only the recipients); unset: those checks are skipped for encrypted backups and restoring one is refused.',
      ),
    BACKUP_STALL_MINUTES: integerVariable(1, 24 * 60, 10).describe(
      'An export (or a restore sending its backup) that moves no byte for this long is stopped as Stalled.',
    ),
    BACKUP_SUSPICIOUS_PERCENT: integerVariable(0, 99, 50).describe(
      'A successful backup under this percentage of the median size of the recent ones is flagged suspicious (0: never).',
    ),
    BACKUP_SUSPICIOUS_SAMPLES: integerVariable(3, 50, 5).describe(
      'How many recent successful backups the median size is taken over.',
    ),
    BACKUP_COVERAGE_PERCENT: integerVariable(0, 100, 100).describe(
      'A backup whose dump holds fewer than this percentage of the tables the database had just before the export ' +
        'is flagged suspicious (100: any missing table; 0: never). PostgreSQL, MariaDB and MySQL.',
    ),
    BACKUP_CLAIM_TTL_SECONDS: integerVariable(30, 3_600, 300).describe(
      'Lease length of a backup claim; a crashed worker’s claim expires after this.',
    ),
    BACKUP_MIN_FREE_BYTES: integerVariable(0, Number.MAX_SAFE_INTEGER, 0).describe(
      'Free space kept on the backup volume, in bytes: a backup does not start, or is aborted, below it (with ' +
        'BACKUP_MIN_FREE_PERCENT, the larger applies).',
    ),
    BACKUP_MIN_FREE_PERCENT: z.coerce
      .number({ error: 'must be a number from 0 to 90' })
      .min(0, { error: 'must be a number from 0 to 90' })
      .max(90, { error: 'must be a number from 0 to 90' })
      .default(5)
      .describe('Free space kept on the backup volume, as a percentage of its size (0: none).'),
    BACKUP_RETRY_MINUTES: integerVariable(1, 24 * 60, 15).describe(
      'After a failed scheduled backup, wait this long before the next attempt (until the next success).',
    ),
    BACKUP_OVERDUE_GRACE_MINUTES: integerVariable(1, 7 * 24 * 60, 60).describe(
      'A scheduled backup not made this long after its fire time counts as overdue.',
    ),
    JOB_HEARTBEAT_SECONDS: integerVariable(10, 3_600, 30).describe(
      'A worker running a job proves it is alive this often (half of it); after this long without a sign, the job is retried elsewhere (or, for a live restore, failed).',
    ),
    JOB_MONITOR_SECONDS: integerVariable(1, 600, 15).describe(
      'How often workers look for jobs whose worker died (and expire old ones).',
    ),
    JOB_POLL_SECONDS: integerVariable(1, 60, 2).describe(
      'How often an idle worker looks for new jobs (on PostgreSQL it is also woken at once when one is queued).',
    ),
    SHUTDOWN_GRACE_SECONDS: integerVariable(0, 3_600, 60).describe(
      'On SIGTERM, running backups may finish for this long before they are aborted.',
    ),
    ALERT_WEBHOOK_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .optional()
      .describe(
        'New alerts are POSTed here as JSON (in addition to the Alert table), from a durable outbox (or ALERT_WEBHOOK_URL_FILE). Unset: no webhook.',
      ),
    ALERT_WEBHOOK_RETRY_SECONDS: integerVariable(1, 3_600, 10).describe(
      'Delay before a failed webhook delivery is tried again; doubled each time, at most 15 minutes apart.',
    ),
    AGENT_WORKSPACE_ID: recordIdSchema('must be a workspace id')
      .optional()
      .describe(
        'Only this workspace gets an LLM agent turn. Unset: every workspace with backup-enabled deployments gets its own.',
      ),
    LLM_BASE_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .optional()
      .describe('OpenAI-compatible chat-completions endpoint (e.g. http://localhost:11434/v1). Unset: no LLM agent.'),
    LLM_MODEL: z.string().min(1).default('gpt-4o-mini').describe('Model name sent to the LLM endpoint.'),
    LLM_API_KEY: z
      .string()
      .min(1)
      .optional()
      .describe('Bearer token for the LLM endpoint (or LLM_API_KEY_FILE); never logged.'),
    LLM_MAX_STEPS: integerVariable(1, 50, 8).describe('Most model calls in one workspace’s agent turn.'),
    LLM_TIMEOUT_SECONDS: integerVariable(1, 600, 60).describe('Timeout of one model call.'),
    METRICS_TOKEN: z
      .string()
      .min(16, { error: 'must be at least 16 characters' })
      .optional()
      .describe('Bearer token for GET /api/metrics (or METRICS_TOKEN_FILE). Unset: the metrics endpoint answers 401.'),
    WEB_ALLOW_PLAIN_HTTP: z
      .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
      .default('false')
      .transform((value) => value === 'true' || value === '1')
      .describe(
        'Dashboard: true lets a production server be used over plain http (local use): session cookies lose Secure and no HSTS is sent. Leave false behind https.',
      ),
    WEB_TRUST_PROXY: z
      .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
      .default('false')
      .transform((value) => value === 'true' || value === '1')
      .describe(
        'Dashboard: true when a reverse proxy sits in front: the client address for rate limits is the last X-Forwarded-For entry (the one the proxy added), not the connection’s.',
      ),
    LOG_LEVEL: z
      .enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })
      .default('info')
      .describe('pino log level.'),
    KUBECONFIG: z
      .string()
      .optional()
      .describe('Kubeconfig file for the cluster; unset: in-cluster service account, else ~/.kube/config.'),
    KUBE_SERVICE_ACCOUNT_ROOT: z
      .string()
      .refine((value) => path.isAbsolute(value), { error: 'must be an absolute path' })
      .optional()
      .describe(
        'In a cluster (KUBERNETES_SERVICE_HOST set, no KUBECONFIG): the folder the service-account files are read under ' +
          '({root}/var/run/secrets/kubernetes.io/serviceaccount/token, ca.crt). Unset: the pod’s own mount.',
      ),
    POD_WORKSPACE_LABEL: z
      .string()
      .refine(isLabelKey, { error: 'must be a Kubernetes label key, e.g. platform.example/workspace-id' })
      .default(DEFAULT_WORKSPACE_LABEL)
      .describe(
        'Label whose value is the workspace id on every pod a deployment may be backed up or restored from (or on ' +
          'its namespace); pods without it are refused (PodNotOwned) and nothing runs in them.',
      ),
    HEALTH_PORT: integerVariable(0, 65_535, 8080).describe(
      'Port of the worker’s health server (/healthz, /readyz, /metrics); 0: any free port.',
    ),
    HEALTH_HOST: z
      .string()
      .min(1)
      .default('0.0.0.0')
      .describe('Address the worker’s health server listens on (0.0.0.0: every IPv4 interface, as a pod needs).'),
    S3_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
        error: 'must be a bucket name (3-63 lowercase letters, digits, "." and "-")',
      })
      .optional()
      .describe('Bucket for off-site copies of every successful backup. Unset: off-site copies are off.'),
    S3_ENDPOINT: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .optional()
      .describe('S3-compatible endpoint (MinIO, Garage, Backblaze B2, …). Unset: AWS S3 in S3_REGION.'),
    S3_PREFIX: z
      .string()
      .default('')
      .transform((prefix, context) => {
        try {
          return normaliseKeyPrefix(prefix);
        } catch {
          context.addIssue({
            code: 'custom',
            message: 'must be segments of letters, digits, ".", "_" and "-" separated by "/" (no "." or ".." segment)',
          });
          return z.NEVER;
        }
      })
      .describe(
        'Key prefix inside the bucket; objects are {prefix}/{workspaceId}/{deploymentName}/{file}. Empty: none.',
      ),
    S3_REGION: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/, { error: 'must be a region name such as us-east-1' })
      .default('us-east-1')
      .describe('Region of the bucket (most S3-compatible servers accept any, e.g. us-east-1).'),
    S3_ACCESS_KEY_ID: z
      .string()
      .min(1)
      .optional()
      .describe('Access key id (or S3_ACCESS_KEY_ID_FILE). Unset with the secret: the AWS default credential chain.'),
    S3_SECRET_ACCESS_KEY: z
      .string()
      .min(1)
      .optional()
      .describe('Secret access key (or S3_SECRET_ACCESS_KEY_FILE); never logged.'),
    S3_FORCE_PATH_STYLE: z
      .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
      .default('false')
      .transform((value) => value === 'true' || value === '1')
      .describe('Address the bucket as {endpoint}/{bucket} instead of {bucket}.{endpoint} (MinIO, Garage: true).'),
  })
  .superRefine((config, context) => {
    if (Boolean(config.S3_ACCESS_KEY_ID) !== Boolean(config.S3_SECRET_ACCESS_KEY)) {
      const missing = config.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID';
      context.addIssue({
        code: 'custom',
        path: [missing],
        message: 'must be set together with the other S3 credential (or neither, for the AWS default credential chain)',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** Thrown when the environment is invalid; the message names every bad variable and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`config: invalid environment:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Parses the environment (empty strings count as unset). Throws `ConfigError` naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key]?.trim();
    if (value) input[key] = value;
  }
  const files = readVariableFiles(env);
  Object.assign(input, files.values);
  const result = configSchema.safeParse(input);
  if (result.success && files.problems.length === 0) return result.data;
  throw new ConfigError([
    ...files.problems,
    ...(result.error?.issues ?? []).map((issue) => {
      const key = String(issue.path[0] ?? '?');
      const shown = isSecretKey(key) || CREDENTIAL_VARIABLES.has(key) ? '' : ` (got "${input[key] ?? ''}")`;
      return `${key} ${issue.message}${shown}`;
    }),
  ]);
}

/** Credentials whose names do not look secret but which are never shown either. */
const CREDENTIAL_VARIABLES: ReadonlySet<string> = new Set(['S3_ACCESS_KEY_ID', 'BACKUP_AGE_IDENTITY']);

/** The configuration as it is safe to log: secrets replaced by whether they are set. */
export function describeConfig(config: Config): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      key,
      isSecretKey(key) || CREDENTIAL_VARIABLES.has(key) ? (value ? '(set)' : '(unset)') : value,
    ]),
  );
}
