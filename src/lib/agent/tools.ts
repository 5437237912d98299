import { z } from 'zod';
import type { Deployment } from '../../generated/prisma/client.ts';
import { verifyBackupFile } from '../storage/index.ts';
import { recordFormatCheck } from '../verification/index.ts';
import { executeBackup, gatherBackupState } from '../backups/index.ts';
import { describeRetentionPolicy, idsToDelete, InvalidRetentionError, pruneBackups } from '../retention/index.ts';
import { proposeRestoreTool } from './restore-tools.ts';
import type { ToolContext } from './tool-context.ts';
import { summarizeStateForTool } from './state-render.ts';
import type { AnyAgentTool, ToolResult } from './tool.ts';
import { recordIdSchema } from '../shared/index.ts';

/**
 * The backup tools an LLM agent may call. Guards live here, not in the prompt: a deployment outside the agent's
 * workspace is reported as not found, a FAILED deployment is never backed up, retention keeps at least one backup,
 * and every input is validated by its schema before anything happens.
 */
const deploymentId = recordIdSchema(
  'must be a deployment id (lowercase letters and digits), as listed by listBackupStatus',
).describe('Id of the deployment, as listed by listBackupStatus.');

async function findDeployment(context: ToolContext, id: string): Promise<Deployment | null> {
  const deployment = await context.backup.db.deployment.findUnique({ where: { id } });
  if (!deployment || (context.workspaceId && deployment.workspaceId !== context.workspaceId)) return null;
  return deployment;
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
      return {
        ok: false,
        error: {
          code: outcome.code === 'ALREADY_RUNNING' ? 'ALREADY_RUNNING' : 'REFUSED',
          message: `${outcome.code}: ${outcome.reason}`,
        },
      };
    }
    const record = outcome.record;
    return {
      ok: true,
      value: {
        status: record.status,
        backupId: record.id,
        deployment: deployment.name,
        path: record.path,
        sizeBytes: record.sizeBytes?.toString() ?? null,
        sha256: record.sha256,
        durationMs: record.durationMs,
        ...(record.status === 'FAILED'
          ? { errorKind: record.errorKind, error: record.error, alert: 'a critical alert was raised' }
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
        deployment: deployment.name,
        backups: records.map((r) => ({
          backupId: r.id,
          status: r.status,
          trigger: r.trigger,
          startedAt: r.startedAt.toISOString(),
          durationMs: r.durationMs,
          sizeBytes: r.sizeBytes?.toString() ?? null,
          ...(r.status === 'FAILED' ? { errorKind: r.errorKind, error: r.error } : {}),
        })),
      },
    };
  },
};

export const pruneOldBackupsTool: AnyAgentTool<ToolContext> = {
  name: 'pruneOldBackups',
  description:
    "Apply one deployment's retention policy (keep-last N, GFS daily/weekly/monthly, max age). The newest successful " +
    'backup, the newest verified one and pinned backups are never deleted. By default (dryRun: true) it only returns ' +
    'the plan: each kept backup with the rules that keep it and each deletion with its reason, and expectDelete; show ' +
    'it, then call again with dryRun: false and that expectDelete to delete exactly that plan (if the plan changed ' +
    'meanwhile, nothing is deleted and the new plan comes back).',
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
          "Keep-last N for this run instead of the deployment's own (>= 1); omit to use the deployment's policy.",
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
    try {
      const report = await pruneBackups(context.backup, deployment.id, {
        ...(input.keepCount === undefined ? {} : { policy: { keepLast: input.keepCount } }),
        dryRun: input.dryRun,
        ...(input.dryRun ? {} : { expectDelete: input.expectDelete }),
      });
      return {
        ok: true,
        value: {
          deployment: deployment.name,
          policy: describeRetentionPolicy(report.policy),
          dryRun: report.dryRun,
          prunedCount: report.pruned.length,
          pruned: report.pruned,
          prunedFailedRecords: report.prunedFailedRecords.length,
          kept: report.kept,
          keep: report.keep,
          problems: report.problems,
          expectDelete: idsToDelete(report),
          ...(report.planChanged ? { planChanged: report.planChanged } : {}),
        },
      };
    } catch (error) {
      if (error instanceof InvalidRetentionError)
        return { ok: false, error: { code: 'INVALID_INPUT', message: error.message } };
      throw error;
    }
  },
};

export const listBackupStatusTool: AnyAgentTool<ToolContext> = {
  name: 'listBackupStatus',
  description:
    'The current backup state of every backup-enabled deployment in scope: schedule, last success, due or not and why, ' +
    'overdue, recent failures, running backups, stored backups and bytes, prune suggestions.',
  inputSchema: z.object({}).strict(),
  async execute(_input: Record<string, never>, context) {
    const state = await gatherBackupState(context.backup.db, {
      now: context.backup.clock(),
      ...context.stateOptions,
      workspaceId: context.workspaceId,
      backupRoot: context.backup.store.root,
    });
    return { ok: true, value: summarizeStateForTool(state) };
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
    const record = await context.backup.db.backupRecord.findUnique({ where: { id: input.backupId } });
    if (!record || (context.workspaceId && record.workspaceId !== context.workspaceId)) {
      return { ok: false, error: { code: 'NOT_FOUND', message: `no backup "${input.backupId}" in your scope` } };
    }
    if (record.status !== 'SUCCEEDED' || !record.path || !record.sha256) {
      return {
        ok: false,
        error: { code: 'NO_FILE', message: `backup ${record.id} is ${record.status}: there is no file to verify` },
      };
    }
    const result = await verifyBackupFile(record.path, record.sha256);
    if (!result.ok)
      return { ok: true, value: { backupId: record.id, ok: false, reason: result.reason, detail: result.detail } };
    // The bytes are the ones recorded; now whether they are a restorable dump (recorded on the backup, as after a backup).
    const format = await recordFormatCheck(context.backup, record, context.signal ? { signal: context.signal } : {});
    return {
      ok: true,
      value: {
        backupId: record.id,
        ok: format.outcome !== 'failed',
        sizeBytes: result.sizeBytes.toString(),
        format: { outcome: format.outcome, method: format.record.verifyMethod, detail: format.detail },
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
