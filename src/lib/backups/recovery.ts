import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Logger } from '../shared/index.ts';
import {
  backupFileReferenceOf,
  describeManifest,
  listBackupFiles,
  locateBackupFile,
  readManifest,
  removeStaleTempFiles,
} from '../storage/index.ts';
import { BACKUP_FAILED_ALERT, changeWithAlert, type Notifier, queueDeadManPing } from '../alerts/index.ts';

/** Largest value of a PostgreSQL `integer` column. */
const MAX_INT32 = 2_147_483_647;

/** What a crash-recovery pass found and did. */
export interface RecoveryReport {
  /** RUNNING records whose worker is gone, now FAILED "Interrupted". */
  interrupted: Array<{ id: string; deploymentId: string; startedAt: string }>;
  /** Temporary files of interrupted backups, removed. */
  removedTempFiles: string[];
  /** Temporary files that could not be removed (with the reason). */
  tempFileProblems: Array<{ path: string; reason: string }>;
}

export interface RecoveryDependencies {
  db: PrismaClient;
  store: { root: string };
  clock: () => Date;
  logger: Logger;
  notifier?: Notifier;
  settings: { claimTtlMs: number };
}

/**
 * Crash recovery, run at start-up and periodically: a worker killed mid-backup leaves a RUNNING record and a
 * temporary file. A RUNNING record whose deployment claim expired or passed to another attempt becomes FAILED
 * ("Interrupted", with a critical alert). Temporary files untouched for longer than a claim lease are removed:
 * a live backup refreshes its file's mtime with every claim renewal, so it is never mistaken for an orphan.
 */
export async function recoverInterruptedBackups(deps: RecoveryDependencies): Promise<RecoveryReport> {
  const log = deps.logger.child({ module: 'ops-agent/recovery' });
  const now = deps.clock();
  const running = await deps.db.backupRecord.findMany({
    where: { status: 'RUNNING' },
    include: {
      deployment: {
        select: {
          name: true,
          backupClaimToken: true,
          backupClaimExpiresAt: true,
          lastBackupAt: true,
          workspace: { select: { slug: true } },
        },
      },
    },
  });
  const report: RecoveryReport = { interrupted: [], removedTempFiles: [], tempFileProblems: [] };
  for (const record of running) {
    const { deployment } = record;
    const claimAlive =
      deployment.backupClaimToken !== null &&
      deployment.backupClaimToken === record.claimToken &&
      deployment.backupClaimExpiresAt !== null &&
      deployment.backupClaimExpiresAt > now;
    if (claimAlive) continue;
    const message = 'interrupted: the worker running this backup stopped before it finished (no file was kept)';
    // FAILED, the dead-man ping (its /start was sent when the backup began) and the alert in one transaction: once
    // the record is no longer RUNNING no later pass would find it, so none of the three may be left out.
    const { result: count } = await changeWithAlert(
      deps.db,
      deps.notifier,
      now,
      async (tx) => {
        const updated = await tx.backupRecord.updateMany({
          where: { id: record.id, status: 'RUNNING' },
          data: {
            status: 'FAILED',
            errorKind: 'Interrupted',
            error: message,
            finishedAt: now,
            // The column is a 32-bit integer: a record interrupted weeks ago must still be recoverable.
            durationMs: Math.min(now.getTime() - record.startedAt.getTime(), MAX_INT32),
          },
        });
        if (updated.count > 0)
          await queueDeadManPing(
            tx,
            { deploymentId: record.deploymentId, backupRecordId: record.id, event: 'fail' },
            now,
          );
        return updated.count;
      },
      (updated) =>
        updated === 0
          ? null
          : {
              workspaceId: record.workspaceId,
              deploymentId: record.deploymentId,
              deploymentName: deployment.name,
              backupRecordId: record.id,
              severity: 'CRITICAL',
              kind: BACKUP_FAILED_ALERT,
              message:
                `Backup of ${deployment.workspace.slug}/${deployment.name} was ${message}. Data-loss risk: the last successful ` +
                `backup is from ${deployment.lastBackupAt?.toISOString() ?? 'never'}.`,
            },
    );
    if (count === 0) continue;
    report.interrupted.push({
      id: record.id,
      deploymentId: record.deploymentId,
      startedAt: record.startedAt.toISOString(),
    });
    log.error({ backupId: record.id, deploymentId: record.deploymentId }, `backup ${message}`);
  }
  const stale = await removeStaleTempFiles(deps.store.root, new Date(now.getTime() - deps.settings.claimTtlMs));
  report.removedTempFiles = stale.removed.map((file) => file.path);
  report.tempFileProblems = stale.failed.map((failure) => ({ path: failure.path, reason: failure.error.message }));
  for (const problem of report.tempFileProblems) log.error(problem, 'could not remove a stale temporary backup file');
  if (report.removedTempFiles.length > 0)
    log.warn({ files: report.removedTempFiles }, 'removed temporary files of interrupted backups');
  return report;
}

/** Disagreements between the backup volume and the records of one deployment. */
export interface FileAudit {
  deploymentId: string;
  /**
   * Finished files in the deployment's folder that no record points at; `manifest` says what each one is by its
   * manifest (null without one).
   */
  filesWithoutRecord: Array<{ path: string; manifest: string | null }>;
  /** SUCCEEDED records whose file is not there, or whose recorded path is refused (`locateBackupFile`), and why. */
  recordsWithoutFile: Array<{ id: string; path: string | null; problem: string }>;
}

/** Compares a deployment's folder with its SUCCEEDED records, both ways. Reports; never deletes. */
export async function auditBackupFiles(
  deps: Pick<RecoveryDependencies, 'db' | 'store'>,
  deploymentId: string,
): Promise<FileAudit> {
  const deployment = await deps.db.deployment.findUniqueOrThrow({
    where: { id: deploymentId },
    select: {
      name: true,
      workspaceId: true,
      backupRecords: { where: { status: 'SUCCEEDED' }, select: { id: true, path: true, extension: true } },
    },
  });
  const files = await listBackupFiles(deps.store.root, deployment.workspaceId, deployment.name);
  const recordsWithoutFile: FileAudit['recordsWithoutFile'] = [];
  const located = new Set<string>();
  for (const record of deployment.backupRecords) {
    const location = await locateBackupFile(
      deps.store.root,
      backupFileReferenceOf({ ...record, workspaceId: deployment.workspaceId, deployment }),
    );
    if (location.ok) located.add(location.path);
    else recordsWithoutFile.push({ id: record.id, path: record.path, problem: location.detail });
  }
  return {
    deploymentId,
    filesWithoutRecord: await Promise.all(
      files
        .filter((file) => !located.has(file.path))
        .map(async (file) => ({ path: file.path, manifest: await explainFile(file.path) })),
    ),
    recordsWithoutFile,
  };
}

/** What an orphan file is, by its manifest; a manifest that cannot be read says so. */
async function explainFile(filePath: string): Promise<string | null> {
  try {
    const manifest = await readManifest(filePath);
    return manifest ? describeManifest(manifest) : null;
  } catch (error) {
    return `unreadable manifest: ${error instanceof Error ? error.message : String(error)}`;
  }
}
