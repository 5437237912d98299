import type { Prisma } from '../../generated/prisma/client.ts';
import { recordFormatCheck, type FormatCheckDependencies, type FormatCheckOutcome } from './record-format-check.ts';

/**
 * Catches up format checks that never ran: a worker that stopped (crash, deploy, SIGKILL) between recording a backup
 * SUCCEEDED and checking its file leaves the backup unchecked, and nothing else would ever check it. Each cycle takes
 * the newest few such backups that finished more than `graceMs` ago (so a check still running right after its backup
 * is not repeated) and checks them. Only backups whose format has a check are picked, so one without a check is not
 * picked again every cycle.
 */
export interface UncheckedBackupsOptions {
  now: Date;
  /** Backups that finished less than this long ago are left to the check that follows them. Default 15 min. */
  graceMs?: number;
  /** Most backups checked in one pass. Default 3. */
  limit?: number;
  signal?: AbortSignal;
}

export const DEFAULT_UNCHECKED_GRACE_MS = 15 * 60_000;
const DEFAULT_LIMIT = 3;

/** The records the format check understands: a known format, or any gzipped file. */
const CHECKABLE: Prisma.BackupRecordWhereInput = {
  OR: [
    { format: { in: ['postgres-custom', 'mysql-sql', 'redis-rdb', 'mongo-archive'] } },
    { extension: { endsWith: 'gz' } },
    { extension: { endsWith: 'zst' } },
    { extension: { endsWith: '.age' } },
  ],
};

/** Checks the newest unchecked successful backups; returns how each check ended. */
export async function checkUncheckedBackups(
  deps: FormatCheckDependencies,
  options: UncheckedBackupsOptions,
): Promise<Array<{ backupId: string; outcome: FormatCheckOutcome }>> {
  const finishedBefore = new Date(options.now.getTime() - (options.graceMs ?? DEFAULT_UNCHECKED_GRACE_MS));
  const unchecked = await deps.db.backupRecord.findMany({
    where: {
      status: 'SUCCEEDED',
      path: { not: null },
      verifyMethod: null,
      finishedAt: { lt: finishedBefore },
      ...CHECKABLE,
      // Without an identity an encrypted backup cannot be checked here: not picked again every cycle.
      ...(deps.identities?.length ? {} : { NOT: { extension: { endsWith: '.age' } } }),
    },
    orderBy: { finishedAt: 'desc' },
    take: options.limit ?? DEFAULT_LIMIT,
  });
  const results: Array<{ backupId: string; outcome: FormatCheckOutcome }> = [];
  for (const record of unchecked) {
    if (options.signal?.aborted) break;
    const checked = await recordFormatCheck(deps, record, options.signal ? { signal: options.signal } : {});
    results.push({ backupId: record.id, outcome: checked.outcome });
  }
  if (results.length > 0) {
    deps.logger
      .child({ module: 'verification/unchecked' })
      .info({ results }, `format checks caught up for ${results.length} backup(s) left unchecked`);
  }
  return results;
}
