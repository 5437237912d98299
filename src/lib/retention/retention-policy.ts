import { z } from 'zod';
import { CronTimeZoneError, normalizeTimeZoneName } from '../cron/index.ts';

/**
 * A deployment's retention policy: the single zod schema for it, wherever it comes from (the Deployment columns,
 * CLI flags, the agent tool). What each rule means is written in `retention.ts`, which applies it.
 */

/** Keep-last N when the deployment says nothing else (the `backupRetention` column default). */
export const DEFAULT_KEEP_LAST = 10;
/** Upper bound of any count: far above any sensible policy, low enough to catch a typo like 10000000. */
const MAX_COUNT = 10_000;
/** About a century. */
const MAX_AGE_DAYS = 36_500;

const WHOLE = 'must be a whole number';

function periodCount(period: string) {
  return z
    .number({ error: WHOLE })
    .int({ error: WHOLE })
    .min(0, { error: `must be 0 or more (0 turns the ${period} rule off)` })
    .max(MAX_COUNT, { error: `must be at most ${MAX_COUNT}` })
    .optional()
    .describe(
      `Keep the newest successful backup of each of the last N ${period} periods that hold one (0 or absent: off).`,
    );
}

function isKnownTimeZone(name: string): boolean {
  try {
    normalizeTimeZoneName(name);
    return true;
  } catch (error) {
    if (error instanceof CronTimeZoneError) return false;
    throw error;
  }
}

export const retentionPolicySchema = z
  .object({
    keepLast: z
      .number({ error: `${WHOLE} >= 1` })
      .int({ error: `${WHOLE} >= 1` })
      .min(1, { error: `${WHOLE} >= 1 (the newest successful backup is never deleted)` })
      .max(MAX_COUNT, { error: `must be at most ${MAX_COUNT}` })
      .default(DEFAULT_KEEP_LAST)
      .describe('Keep the newest N successful backups (>= 1).'),
    daily: periodCount('day'),
    weekly: periodCount('ISO week'),
    monthly: periodCount('month'),
    maxAgeDays: z
      .number({ error: `${WHOLE} >= 1` })
      .int({ error: `${WHOLE} >= 1` })
      .min(1, { error: `${WHOLE} >= 1 (absent: no age limit)` })
      .max(MAX_AGE_DAYS, { error: `must be at most ${MAX_AGE_DAYS}` })
      .optional()
      .describe(
        'keep-last keeps no backup older than this many days (GFS, pinned and the newest backups are not limited).',
      ),
    timeZone: z
      .string()
      .refine(isKnownTimeZone, { error: 'must be an IANA time zone name such as UTC or Europe/Berlin' })
      .default('UTC')
      .describe(
        'Time zone the days, ISO weeks and months of the GFS rules are read in (the deployment backupTimezone).',
      ),
  })
  .strict();

/** A validated policy (defaults filled in). */
export type RetentionPolicy = z.output<typeof retentionPolicySchema>;
/** A policy as callers write it: only what differs from the defaults. */
export type RetentionPolicyInput = z.input<typeof retentionPolicySchema>;
/** Per-run overrides of a deployment's policy (CLI flags, the agent tool). */
export type RetentionOverrides = Partial<
  Pick<RetentionPolicy, 'keepLast' | 'daily' | 'weekly' | 'monthly' | 'maxAgeDays'>
>;

/** One rejected field: its name as the caller knows it (a policy field or a Deployment column), the value, why. */
export interface RetentionPolicyProblem {
  field: string;
  value: unknown;
  message: string;
}

/** A retention policy that is not valid; nothing is deleted under it. */
export class InvalidRetentionError extends RangeError {
  override name = 'InvalidRetentionError';
  /** The problems in words, without the `retention:` prefix (for callers that name the source themselves). */
  readonly details: string;
  constructor(readonly problems: readonly RetentionPolicyProblem[]) {
    const details = problems
      .map(
        (p) =>
          `${p.field} ${p.message} (got ${typeof p.value === 'string' ? JSON.stringify(p.value) : String(p.value)})`,
      )
      .join('; ');
    super(`retention: ${details}`);
    this.details = details;
  }
}

/**
 * Validates a policy. `fieldNames` renames fields in error messages (e.g. `daily` -> `retentionDaily` when the value
 * came from the Deployment column). Throws {@link InvalidRetentionError}.
 */
export function parseRetentionPolicy(
  input: unknown,
  fieldNames: Partial<Record<keyof RetentionPolicy, string>> = {},
): RetentionPolicy {
  const result = retentionPolicySchema.safeParse(input);
  if (result.success) return result.data;
  const given = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  throw new InvalidRetentionError(
    result.error.issues.map((issue) => {
      const key = issue.path.map(String).join('.');
      const field = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : key || 'policy';
      return {
        field: fieldNames[key as keyof RetentionPolicy] ?? field,
        value: key ? given[key] : input,
        message: issue.message,
      };
    }),
  );
}

/** The Deployment columns a policy is read from. */
export interface DeploymentRetentionColumns {
  backupRetention: number;
  retentionDaily: number | null;
  retentionWeekly: number | null;
  retentionMonthly: number | null;
  retentionMaxAgeDays: number | null;
  backupTimezone: string;
}

const COLUMN_OF = {
  keepLast: 'backupRetention',
  daily: 'retentionDaily',
  weekly: 'retentionWeekly',
  monthly: 'retentionMonthly',
  maxAgeDays: 'retentionMaxAgeDays',
  timeZone: 'backupTimezone',
} as const satisfies Record<keyof RetentionPolicy, keyof DeploymentRetentionColumns>;

/**
 * A deployment's policy from its columns (null turns a rule off), with `overrides` taking the place of single fields
 * for one run. Errors name the column a bad value came from, or the override's own name.
 */
export function retentionPolicyOf(
  deployment: DeploymentRetentionColumns,
  overrides: RetentionOverrides = {},
): RetentionPolicy {
  const input: Record<string, unknown> = {};
  const fieldNames: Partial<Record<keyof RetentionPolicy, string>> = {};
  for (const [field, column] of Object.entries(COLUMN_OF) as Array<
    [keyof RetentionPolicy, keyof DeploymentRetentionColumns]
  >) {
    const override = field === 'timeZone' ? undefined : overrides[field];
    const value = override ?? deployment[column] ?? undefined;
    if (value !== undefined) input[field] = value;
    if (override === undefined) fieldNames[field] = column;
  }
  return parseRetentionPolicy(input, fieldNames);
}

/** The policy in words, e.g. `keep-last 10, daily 7, weekly 4, monthly 6, max age 90 days (periods in Europe/Berlin)`. */
export function describeRetentionPolicy(policy: RetentionPolicy): string {
  const parts = [`keep-last ${policy.keepLast}`];
  if (policy.daily) parts.push(`daily ${policy.daily}`);
  if (policy.weekly) parts.push(`weekly ${policy.weekly}`);
  if (policy.monthly) parts.push(`monthly ${policy.monthly}`);
  if (policy.maxAgeDays !== undefined) parts.push(`max age ${policy.maxAgeDays} days for keep-last`);
  const periods = policy.daily || policy.weekly || policy.monthly ? ` (periods in ${policy.timeZone})` : '';
  return `${parts.join(', ')}${periods}`;
}
