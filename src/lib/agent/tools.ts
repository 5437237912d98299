import { z } from 'zod';
import type { Deployment } from '../../generated/prisma/client.ts';
import { backupFileReferenceOf, verifyStoredBackup } from '../storage/index.ts';
import { recordFormatCheck } from '../verification/index.ts';
import { executeBackup } from '../backups/index.ts';
import {
  describeRetentionPolicy,
  findTighterRules,
  idsToDelete,
  InvalidRetentionError,
  pruneBackups,
  retentionPolicyOf,
  type TighterRule,
} from '../retention/index.ts';
import { proposeRestoreTool } from './restore-tools.ts';
import type { ToolContext } from './tool-context.ts';
import { describeStateForModel } from './state-render.ts';
import type { AnyAgentTool, ToolResult } from './tool.ts';
import { UNTRUSTED_LIMITS, untrusted } from './untrusted-text.ts';
import { gatherWorkspaceState } from './workspace-state.ts';
import { recordIdSchema } from '../shared/index.ts';

/**
 * The backup tools an LLM agent may call. Guards live here, not in the prompt: the tools are bound to the turn's
 * workspace (every lookup is filtered by it, so another workspace's id is answered exactly like a missing one), a
 * FAILED deployment is never backed up, pruning applies the deployment's own retention policy and nothing tighter,
 * and every input is validated by its schema before anything happens. What they return is data; every string in it
 * that a tenant or a pod controls is `untrusted` (untrusted-text.ts).
 */
const { name: NAME, message: MESSAGE } = UNTRUSTED_LIMITS;

const deploymentId = recordIdSchema(
  'must be a deployment id (lowercase letters and digits), as listed by listBackupStatus',
).describe('Id of the deployment, as listed by listBackupStatus.');

/** The deployment `id` of the turn's workspace; null when there is none (missing, or another workspace's). */
function findDeployment(context: ToolContext, id: string): Promise<Deployment | null> {
  return context.backup.db.deployment.findFirst({ where: { id, workspaceId: context.workspaceId } });
}

const notFound = (id: string): ToolResult<never> => ({
  ok: false,
  error: {
    code: 'NOT_FOUND',
    message: `no deployment "${id}" in your scope; call listBackupStatus for the ids you may use`,
  },
});

export const runBackupTool: AnyAgentTool<ToolContext> = {
  name: 'runBackup',
  description:
    'Back up one deployment now (trigger AGENT). Refused for deployments that are not RUNNING (a FAILED deployment may ' +
    'produce corrupt data) and for recipes without a data export. Returns the backup status, file path, size, sha256 and ' +
    'duration, or the typed failure reason; a failure also raises a critical alert.',
  inputSchema: z.object({ deploymentId }).strict(),
  async execute(input: { deploymentId: string }, context) {
    const deployment = await findDeployment(context, input.deploymentId);
    if (!deployment) return notFound(input.deploymentId);
    const outcome = await executeBackup(context.backup, deployment.id, {
      trigger: 'AGENT',
      ...(context.signal ? { signal: context.signal } : {}),
    });
    if (outcome.status === 'SKIPPED') {
      const code = outcome.code === 'ALREADY_RUNNING' ? 'ALREADY_RUNNING' : 'REFUSED';
      // The one skip reason that quotes a column's value (the recipe slug) carries it as untrusted detail.
      if (outcome.code === 'UNKNOWN_RECIPE') {
        const message = 'UNKNOWN_RECIPE: the deployment’s recipe is not known to this worker; a person must fix it';
        return { ok: false, error: { code, message, detail: untrusted(outcome.reason, MESSAGE) } };
      }
      return { ok: false, error: { code, message: `${outcome.code}: ${outcome.reason}` } };
    }
    const record = outcome.record;
    return {
      ok: true,
      value: {
        status: record.status,
        backupId: record.id,
        deployment: untrusted(deployment.name, NAME),
        path: untrusted(record.path, NAME),
        sizeBytes: record.sizeBytes?.toString() ?? null,
        sha256: record.sha256,
        durationMs: record.durationMs,
        ...(record.status === 'FAILED'
          ? {
              errorKind: record.errorKind,
              error: untrusted(record.error, MESSAGE),
              alert: 'a critical alert was raised',
            }
          : {}),
      },
    };
  },
};

export const getBackupHistoryTool: AnyAgentTool<ToolContext> = {
  name: 'getBackupHistory',
  description:
    'The most recent backups of one deployment, newest first: status, trigger, size, start time, duration and error.',
  inputSchema: z
    .object({
      deploymentId,
      limit: z.number().int().min(1).max(100).default(10).describe('How many backups to return (1-100, default 10).'),
    })
    .strict(),
  async execute(input: { deploymentId: string; limit: number }, context) {
    const deployment = await findDeployment(context, input.deploymentId);
    if (!deployment) return notFound(input.deploymentId);
    const records = await context.backup.db.backupRecord.findMany({
      where: { deploymentId: deployment.id },
      orderBy: { startedAt: 'desc' },
      take: input.limit,
    });
    return {
      ok: true,
      value: {
        deployment: untrusted(deployment.name, NAME),
        backups: records.map((r) => ({
          backupId: r.id,
          status: r.status,
          trigger: r.trigger,
          startedAt: r.startedAt.toISOString(),
          durationMs: r.durationMs,
          sizeBytes: r.sizeBytes?.toString() ?? null,
          ...(r.status === 'FAILED' ? { errorKind: r.errorKind, error: untrusted(r.error, MESSAGE) } : {}),
        })),
      },
    };
  },
};

/** How a rule is called in the CLI's prune flags, for the refusal message. */
const RULE_FLAGS: Record<TighterRule['rule'], string> = {
  keepLast: '--keep',
  daily: '--daily',
  weekly: '--weekly',
  monthly: '--monthly',
  maxAgeDays: '--max-age-days',
};

/**
 * Why the agent may not apply these overrides: each rule that keeps less than the deployment's own policy, and how
 * a person does it (`npm run backup -- prune` with the same flags; the API applies the deployment's policy only).
 */
function refuseTighter(deploymentId: string, policy: string, tighter: readonly TighterRule[]): ToolResult<never> {
  const rules = tighter.map(({ rule, policy: own, override }) => `${rule} ${override} (the policy: ${own ?? 'none'})`);
  const flags = tighter.map(({ rule, override }) => `${RULE_FLAGS[rule]} ${override}`).join(' ');
  return {
    ok: false,
    error: {
      code: 'REFUSED',
      message:
        `pruneOldBackups: ${rules.join(', ')} would keep fewer backups than the deployment's own retention policy ` +
        `(${policy}). You may only apply that policy (omit keepCount). Deleting more is for a person: ` +
        `npm run backup -- prune ${deploymentId} ${flags} --dry-run, then without --dry-run, or a change of the ` +
        `deployment's retention policy.`,
    },
  };
}

export const pruneOldBackupsTool: AnyAgentTool<ToolContext> = {
  name: 'pruneOldBackups',
  description:
    "Apply one deployment's own retention policy (keep-last N, GFS daily/weekly/monthly, max age), as the automatic " +
    'cycle does after each backup. The newest successful backup, the newest verified one and pinned backups are ' +
    'never deleted, and nothing tighter than the policy is allowed: a keepCount below it is refused. By default ' +
    '(dryRun: true) it only returns the plan: each kept backup with the rules that keep it and each deletion with its ' +
    'reason, and expectDelete; show it, then call again with dryRun: false and that expectDelete to delete exactly ' +
    'that plan (if the plan changed meanwhile, nothing is deleted and the new plan comes back).',
  inputSchema: z
    .object({
      deploymentId,
      keepCount: z
        .number()
        .int()
        .min(1, { error: 'must be at least 1: the newest successful backup is never deleted' })
        .max(1_000)
        .optional()
        .describe(
          "Keep-last N for this run instead of the deployment's own; at least the policy's keep-last (a lower one is " +
            'refused). Omit to apply the policy as it is.',
        ),
      dryRun: z
        .boolean()
        .default(true)
        .describe('true (default): only report the plan; false: delete what the plan deletes.'),
      expectDelete: z
        .array(recordIdSchema('must hold record ids'))
        .max(10_000)
        .optional()
        .describe(
          'Required with dryRun: false: the expectDelete list of the dry run you showed, confirming that plan.',
        ),
    })
    .strict(),
  async execute(
    input: { deploymentId: string; keepCount?: number; dryRun: boolean; expectDelete?: string[] },
    context,
  ) {
    if (!input.dryRun && !input.expectDelete) {
      return {
        ok: false,
        error: {
          code: 'INVALID_INPUT',
          message:
            'pruneOldBackups: dryRun: false needs expectDelete, the list of the dry run you showed; run the dry run first',
        },
      };
    }
    const deployment = await findDeployment(context, input.deploymentId);
    if (!deployment) return notFound(input.deploymentId);
    const overrides = input.keepCount === undefined ? {} : { keepLast: input.keepCount };
    try {
      const own = retentionPolicyOf(deployment);
      const tighter = findTighterRules(own, overrides);
      if (tighter.length > 0) return refuseTighter(deployment.id, describeRetentionPolicy(own), tighter);
      const report = await pruneBackups(context.backup, deployment.id, {
        policy: overrides,
        dryRun: input.dryRun,
        ...(input.dryRun ? {} : { expectDelete: input.expectDelete }),
      });
      return {
        ok: true,
        value: {
          deployment: untrusted(deployment.name, NAME),
          policy: describeRetentionPolicy(report.policy),
          dryRun: report.dryRun,
          prunedCount: report.pruned.length,
          pruned: report.pruned.map((backup) => ({
            ...backup,
            path: untrusted(backup.path, NAME),
            remoteCopies: backup.remoteCopies.map((copy) => ({
              destination: copy.destination,
              objectKey: untrusted(copy.objectKey, NAME),
            })),
          })),
          prunedFailedRecords: report.prunedFailedRecords.length,
          kept: report.kept,
          keep: report.keep,
          problems: report.problems.map((problem) => ({
            id: problem.id,
            path: untrusted(problem.path, NAME),
            reason: untrusted(problem.reason, MESSAGE),
          })),
          expectDelete: idsToDelete(report),
          ...(report.planChanged ? { planChanged: report.planChanged } : {}),
          ...(report.guard
            ? {
                guard: {
                  reasons: report.guard.reasons,
                  note: 'the retention guard stops this prune: nothing is deleted until a person confirms it (npm run backup -- prune <id> --confirm); report it, do not retry',
                },
              }
            : {}),
        },
      };
    } catch (error) {
      if (error instanceof InvalidRetentionError)
        return {
          ok: false,
          error: {
            code: 'INVALID_POLICY',
            message: "the deployment's own retention policy is invalid, so nothing is pruned; a person must fix it",
            detail: untrusted(error.details, MESSAGE),
          },
        };
      throw error;
    }
  },
};

export const listBackupStatusTool: AnyAgentTool<ToolContext> = {
  name: 'listBackupStatus',
  description:
    'The current backup state of the workspace, as in the user message but fresh: every backup-enabled deployment ' +
    'with its schedule, last success, due or not and why, overdue, recent failures, running backups, stored backups ' +
    'and bytes; prune suggestions; open alerts.',
  inputSchema: z.object({}).strict(),
  async execute(_input: Record<string, never>, context) {
    const state = await gatherWorkspaceState(context.backup, context.workspaceId, {
      now: context.backup.clock(),
      ...context.stateOptions,
    });
    return { ok: true, value: describeStateForModel(state) };
  },
};

export const verifyBackupTool: AnyAgentTool<ToolContext> = {
  name: 'verifyBackup',
  description:
    'Re-read one backup file: check its sha256 against the record and the .sha256 sidecar, then its format (pg_restore, ' +
    'the MySQL dump trailer, the RDB checksum, gzip integrity); the format result is recorded on the backup.',
  inputSchema: z
    .object({ backupId: recordIdSchema('must be a backup id').describe('Id of the backup, from getBackupHistory.') })
    .strict(),
  async execute(input: { backupId: string }, context) {
    const record = await context.backup.db.backupRecord.findFirst({
      where: { id: input.backupId, workspaceId: context.workspaceId },
      include: { deployment: { select: { name: true } } },
    });
    if (!record) {
      return { ok: false, error: { code: 'NOT_FOUND', message: `no backup "${input.backupId}" in your scope` } };
    }
    if (record.status !== 'SUCCEEDED' || !record.path || !record.sha256) {
      return {
        ok: false,
        error: { code: 'NO_FILE', message: `backup ${record.id} is ${record.status}: there is no file to verify` },
      };
    }
    const result = await verifyStoredBackup(context.backup.store.root, backupFileReferenceOf(record), record.sha256);
    if (!result.ok) {
      const detail = untrusted(result.detail, MESSAGE);
      return { ok: true, value: { backupId: record.id, ok: false, reason: result.reason, detail } };
    }
    // The bytes are the ones recorded; now whether they are a restorable dump (recorded on the backup, as after a backup).
    const format = await recordFormatCheck(context.backup, record, context.signal ? { signal: context.signal } : {});
    return {
      ok: true,
      value: {
        backupId: record.id,
        ok: format.outcome !== 'failed',
        sizeBytes: result.sizeBytes.toString(),
        format: {
          outcome: format.outcome,
          method: format.record.verifyMethod,
          detail: untrusted(format.detail, MESSAGE),
        },
      },
    };
  },
};

/** Every tool the agent gets, in the order the model sees them. */
export const backupTools: readonly AnyAgentTool<ToolContext>[] = [
  listBackupStatusTool,
  runBackupTool,
  getBackupHistoryTool,
  pruneOldBackupsTool,
  verifyBackupTool,
  proposeRestoreTool,
];
