import { z } from 'zod';
import { proposeLiveRestore, RestoreRefusedError } from '../restore/index.ts';
import type { AnyAgentTool } from './tool.ts';
import type { ToolContext } from './tool-context.ts';
import { UNTRUSTED_LIMITS, untrusted } from './untrusted-text.ts';
import { recordIdSchema } from '../shared/index.ts';

/**
 * The agent's only restore tool: it *proposes* a restore over the live data. It records a PROPOSED restore with its
 * plan and no confirmation token, tells a person (log line and an INFO alert, through the notifier when there is
 * one), and returns the plan and the restore id. There is no token in what it returns or stores, and no tool that
 * confirms: only a person can approve the proposal (CLI `npm run restore -- approve <id>` or the authenticated API),
 * which re-plans it and hands the token to that person. The plan and the target are untrusted text: they name the
 * live database and its tables, which the tenant chose.
 */
export const proposeRestoreTool: AnyAgentTool<ToolContext> = {
  name: 'proposeRestore',
  description:
    'Propose restoring one backup over its deployment’s live data (destructive). This never restores anything: it ' +
    'records a proposal with a plan of what would be overwritten and notifies a person, who must approve and confirm ' +
    'it. Use it only when the live data is lost or corrupt; report the restore id and the plan to the operators.',
  inputSchema: z
    .object({
      backupId: recordIdSchema('must be a backup id').describe('Id of a SUCCEEDED backup, from getBackupHistory.'),
    })
    .strict(),
  async execute(input: { backupId: string }, context) {
    const backup = await context.backup.db.backupRecord.findFirst({
      where: { id: input.backupId, workspaceId: context.workspaceId },
      select: { id: true },
    });
    if (!backup) {
      return { ok: false, error: { code: 'NOT_FOUND', message: `no backup "${input.backupId}" in your scope` } };
    }
    try {
      const { restore, plan } = await proposeLiveRestore(context.backup, input.backupId, {
        requestedBy: 'agent',
        trigger: 'AGENT',
        now: context.backup.clock(),
      });
      return {
        ok: true,
        value: {
          restoreId: restore.id,
          status: restore.status,
          target: untrusted(restore.target, UNTRUSTED_LIMITS.name),
          plan: untrusted(plan, UNTRUSTED_LIMITS.plan),
          next: 'A person must approve this proposal and confirm it; you cannot. Tell the operators the restore id.',
        },
      };
    } catch (error) {
      if (error instanceof RestoreRefusedError)
        return {
          ok: false,
          error: {
            code: 'REFUSED',
            message: `${error.code}: the backup cannot be restored over the live data; the detail says why`,
            detail: untrusted(error.message, UNTRUSTED_LIMITS.message),
          },
        };
      throw error;
    }
  },
};
