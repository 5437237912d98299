import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import { removeBackupFile } from '../storage/backup-files.ts';
import { planRetention } from './retention.ts';

/** One backup retention removed (or, in a dry run, would remove). */
export interface PrunedBackup {
  id: string;
  startedAt: string;
  path: string | null;
  sizeBytes: string | null;
  /** True when the record's file was already gone from disk (reported; the record is removed all the same). */
  fileWasMissing: boolean;
}

/** A backup retention wanted to delete but did not: its record is kept and the cause reported. */
export interface PruneProblem {
  id: string;
  path: string | null;
  reason: string;
}

export interface PruneReport {
  deploymentId: string;
  keepCount: number;
  dryRun: boolean;
  kept: number;
  pruned: PrunedBackup[];
  prunedFailedRecords: number;
  problems: PruneProblem[];
}

export interface PruneDependencies {
  db: PrismaClient;
  store: { root: string };
  logger: Logger;
}

/**
 * Applies retention to one deployment: keeps its newest `keepCount` successful backups (never fewer than one),
 * deletes older backup files with their records, and failed records older than the kept window. A file is deleted
 * only through `removeBackupFile`, which refuses anything outside this deployment's folder; a file that cannot be
 * deleted keeps its record and is reported. Running it twice deletes nothing more. `dryRun` reports the plan only.
 */
export async function pruneBackups(
  deps: PruneDependencies,
  deploymentId: string,
  options: { keepCount?: number; dryRun?: boolean } = {},
): Promise<PruneReport> {
  const log = deps.logger.child({ module: 'ops-agent/prune', deploymentId });
  const deployment = await deps.db.deployment.findUniqueOrThrow({ where: { id: deploymentId } });
  const keepCount = options.keepCount ?? deployment.backupRetention;
  const records = await deps.db.backupRecord.findMany({
    where: { deploymentId },
    select: { id: true, status: true, startedAt: true, path: true, sizeBytes: true },
  });
  const plan = planRetention(records, keepCount);
  const report: PruneReport = {
    deploymentId,
    keepCount,
    dryRun: options.dryRun ?? false,
    kept: plan.keep.length,
    pruned: [],
    prunedFailedRecords: plan.deleteFailedRecords.length,
    problems: [],
  };
  const describe = (record: (typeof records)[number], fileWasMissing: boolean): PrunedBackup => ({
    id: record.id,
    startedAt: record.startedAt.toISOString(),
    path: record.path,
    sizeBytes: record.sizeBytes?.toString() ?? null,
    fileWasMissing,
  });
  if (report.dryRun) {
    report.pruned = plan.deleteBackups.map((record) => describe(record, false));
    return report;
  }

  for (const record of plan.deleteBackups) {
    let fileWasMissing = false;
    if (record.path) {
      try {
        const removal = await removeBackupFile(deps.store.root, deployment.workspaceId, deployment.name, record.path);
        fileWasMissing = removal.missing;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        log.error({ backupId: record.id, path: record.path }, `prune kept a backup it could not delete: ${reason}`);
        report.problems.push({ id: record.id, path: record.path, reason });
        continue;
      }
    }
    await deps.db.backupRecord.delete({ where: { id: record.id } });
    if (fileWasMissing) log.warn({ backupId: record.id, path: record.path }, 'pruned a record whose file was already missing');
    report.pruned.push(describe(record, fileWasMissing));
  }
  if (plan.deleteFailedRecords.length > 0) {
    await deps.db.backupRecord.deleteMany({ where: { id: { in: plan.deleteFailedRecords.map((record) => record.id) }, status: 'FAILED' } });
  }
  report.kept = records.length - report.pruned.length - report.prunedFailedRecords;
  log.info({ keepCount, pruned: report.pruned.length, prunedFailedRecords: report.prunedFailedRecords, problems: report.problems.length }, 'retention applied');
  return report;
}
