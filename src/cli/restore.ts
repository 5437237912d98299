import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { RestoreRecord } from '../generated/prisma/client.ts';
import { openServices, readEnvironment, runMain } from '../lib/runtime/index.ts';
import { assertBackupRootUsable } from '../lib/storage/index.ts';
import {
  approveRestore,
  cancelRestore,
  listRestores,
  type LiveRestorePlan,
  planLiveRestore,
  restoreBackup,
  type RestoreDependencies,
  RestoreRefusedError,
} from '../lib/restore/index.ts';
import { parseArgument, UsageError } from './usage.ts';
import { recordIdSchema } from '../lib/shared/index.ts';

const USAGE = `usage: npm run restore -- <command>
  plan <backupId>                      dry-run of a restore over the live data: prints what will be overwritten
                                       and a confirmation token (shown once, valid 15 minutes, works once)
  approve <restoreId>                  approve a proposed restore (e.g. the agent's): re-plans it and prints a token
  confirm <restoreId> --token T        run the planned restore over the live data (destructive)
  cancel <restoreId>                   cancel a proposed restore
  scratch <backupId> [--keep]          restore into a new scratch database next to the live one, count its
                                       tables/rows (or keys) and drop it (--keep: leave it for inspection)
  list <deploymentId> [--limit N]      the deployment's restores, newest first
Exit codes: 0 done, 1 failed or refused, 2 bad usage or configuration.`;

const idSchema = recordIdSchema('must be a record id (lowercase letters and digits)');
const tokenSchema = z
  .string()
  .regex(/^opsr_[A-Za-z0-9_-]{40}$/, { error: 'must be the confirmation token printed by plan or approve (opsr_…)' });
const limitSchema = z.coerce.number().int().min(1).max(1_000, { error: 'must be from 1 to 1000' });

/** `npm run restore -- …`: restores for operators. Output for people on stdout; logs (JSON) on stderr. */
runMain(async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      token: { type: 'string' },
      keep: { type: 'boolean' },
      limit: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const [command, argument, ...extra] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    process.exitCode = command || values.help ? 0 : 2;
    return;
  }
  try {
    if (!['plan', 'approve', 'confirm', 'cancel', 'scratch', 'list'].includes(command))
      throw new UsageError(`unknown command "${command}"`);
    if (extra.length > 0) throw new UsageError(`${command} takes one argument, got ${1 + extra.length}`);
    const id = parseArgument(
      idSchema,
      argument,
      command === 'list' ? 'deploymentId' : ['plan', 'scratch'].includes(command) ? 'backupId' : 'restoreId',
    );
    const token = command === 'confirm' ? parseArgument(tokenSchema, values.token, '--token') : null;
    const limit = values.limit === undefined ? 20 : parseArgument(limitSchema, values.limit, '--limit');
    process.exitCode = await withRestore((deps) =>
      runCommand(deps, command, id, { token, keep: values.keep === true, limit }),
    );
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`restore: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof RestoreRefusedError) {
      process.stderr.write(`restore: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
});

async function withRestore(run: (deps: RestoreDependencies) => Promise<number>): Promise<number> {
  const services = await openServices(readEnvironment(), 'restore-cli', { logToStderr: true });
  try {
    await assertBackupRootUsable(services.runtime.config.BACKUP_ROOT);
    return await run(services.backup);
  } finally {
    await services.close();
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);
/** Who ran the CLI, for the record: `cli:<login>`. */
const operator = () => `cli:${userInfo().username}`;

async function runCommand(
  deps: RestoreDependencies,
  command: string,
  id: string,
  options: { token: string | null; keep: boolean; limit: number },
): Promise<number> {
  const now = deps.clock();
  switch (command) {
    case 'plan':
      printPlan(await planLiveRestore(deps, id, { requestedBy: operator(), trigger: 'MANUAL', now }));
      return 0;
    case 'approve':
      printPlan(await approveRestore(deps, id, { approvedBy: operator(), now }));
      return 0;
    case 'confirm': {
      const proposal = await deps.db.restoreRecord.findUnique({ where: { id } });
      if (!proposal?.backupRecordId) throw new RestoreRefusedError('NOT_FOUND', `no proposed restore "${id}"`);
      out(`Restoring backup ${proposal.backupRecordId} over "${proposal.target}"…`);
      return printResult(
        await restoreBackup(deps, proposal.backupRecordId, {
          mode: 'live',
          restoreId: id,
          confirmToken: options.token ?? '',
          confirmedBy: operator(),
        }),
      );
    }
    case 'cancel':
      out(`Restore ${(await cancelRestore(deps, id, { cancelledBy: operator(), now })).id} cancelled.`);
      return 0;
    case 'scratch':
      return printResult(
        await restoreBackup(deps, id, {
          mode: 'scratch',
          requestedBy: operator(),
          trigger: 'MANUAL',
          keepScratch: options.keep,
        }),
      );
    default: {
      const restores = await listRestores(deps.db, id, options.limit);
      if (restores.length === 0) out('No restores.');
      for (const r of restores) {
        out(
          `${r.id}  ${r.createdAt.toISOString()}  ${r.kind.padEnd(11)} ${r.status.padEnd(9)} backup ${r.backupRecordId ?? '(pruned)'} → ${r.target}  by ${r.requestedBy}${r.confirmedBy ? `, confirmed by ${r.confirmedBy}` : ''}${r.errorKind ? `  ${r.errorKind}: ${r.error}` : ''}`,
        );
      }
      return 0;
    }
  }
}

function printPlan(planned: LiveRestorePlan): void {
  out(planned.plan);
  out(`\nRestore id: ${planned.restore.id}`);
  out(
    `Confirmation token (shown once, valid until ${planned.expiresAt.toISOString()}):\n\n  ${planned.confirmToken}\n`,
  );
  out(`To run it: npm run restore -- confirm ${planned.restore.id} --token ${planned.confirmToken}`);
}

function printResult(record: RestoreRecord): number {
  out(
    `Restore ${record.id} ${record.status} in ${record.durationMs ?? 0} ms, ${record.bytesRestored ?? 0} bytes into "${record.target}".`,
  );
  if (record.counts) out(`Counts: ${JSON.stringify(record.counts)}`);
  if (record.status !== 'SUCCEEDED') {
    out(`Failed (${record.errorKind}): ${record.error}`);
    if (record.stderrTail) out(`stderr:\n${record.stderrTail}`);
    return 1;
  }
  return 0;
}
