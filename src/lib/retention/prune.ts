import type { PrismaClient } from '../../generated/prisma/client.ts';
import { type Logger, redactSecrets } from '../shared/index.ts';
import { type Notifier, PRUNE_REFUSED_ALERT, raiseAndNotify, resolveAlerts } from '../alerts/index.ts';
import { checkPruneGuard } from './prune-guard.ts';
import { manifestKeyFor, type OffsiteDestination } from '../offsite/index.ts';
import { placeBackupFile, removeBackupFile } from '../storage/index.ts';
import { planRetention, type DeleteReason, type KeepReason } from './retention.ts';
import { retentionPolicyOf, type RetentionOverrides, type RetentionPolicy } from './retention-policy.ts';

/** A backup the plan keeps, and every rule that keeps it. */
export interface KeptBackup {
  id: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startedAt: string;
  reasons: KeepReason[];
}

/** An off-site copy of a pruned backup, deleted with it. */
export interface RemoteCopy {
  destination: string;
  objectKey: string;
}

/** One backup retention removed (or, in a dry run, would remove). */
export interface PrunedBackup {
  id: string;
  startedAt: string;
  path: string | null;
  sizeBytes: string | null;
  reason: DeleteReason;
  /** Its UPLOADED off-site copies, deleted before the local file. */
  remoteCopies: RemoteCopy[];
  /** True when the record's file was already gone from disk (reported; the record is removed all the same). */
  fileWasMissing: boolean;
}

/** A failed record (no file) retention removed or would remove. */
export interface PrunedFailedRecord {
  id: string;
  startedAt: string;
  reason: DeleteReason;
}

/** A backup retention wanted to delete but did not: its record is kept and the cause reported. */
export interface PruneProblem {
  id: string;
  path: string | null;
  reason: string;
}

/** What the plan deletes now differs from what the caller confirmed: nothing was deleted. */
export interface PlanChange {
  /** Ids the plan deletes now that the caller did not confirm. */
  unconfirmed: string[];
  /** Ids the caller confirmed that the plan no longer deletes. */
  noLongerDeleted: string[];
}

export interface PruneReport {
  deploymentId: string;
  policy: RetentionPolicy;
  /**
   * True when nothing was deleted on purpose: a dry run, a plan that changed (see `planChanged`), or a plan the
   * retention guard stopped (see `guard`).
   */
  dryRun: boolean;
  planChanged: PlanChange | null;
  /**
   * Why the retention guard stops this plan (more than half of the successful backups, or the newest backup failed or
   * is suspicious), and whether a person confirmed it anyway (then it ran). Null: the guard has nothing against it.
   */
  guard: { reasons: string[]; confirmed: boolean } | null;
  /** Records left after the run (the plan's keep list, plus any that could not be deleted). */
  kept: number;
  keep: KeptBackup[];
  pruned: PrunedBackup[];
  prunedFailedRecords: PrunedFailedRecord[];
  problems: PruneProblem[];
}

export interface PruneDependencies {
  db: PrismaClient;
  store: { root: string };
  logger: Logger;
  clock: () => Date;
  /** Off-site destinations by name; a pruned backup's UPLOADED copies are deleted through the one it names. */
  destinations?: readonly OffsiteDestination[];
  /** Where the `prune_refused` alert goes besides the Alert table (webhook); optional. */
  notifier?: Notifier;
}

export interface PruneOptions {
  /** Single fields replacing the deployment's policy for this run. */
  policy?: RetentionOverrides;
  /** Only report the plan. */
  dryRun?: boolean;
  /**
   * The ids (backups and failed records) of the plan the caller saw and confirmed. When the plan now deletes a
   * different set, nothing is deleted and the report carries `planChanged` and the new plan.
   */
  expectDelete?: readonly string[];
  /**
   * A person confirmed a prune the retention guard stops (CLI `--confirm`, API `confirm`). Never set by the agent or
   * the automatic retention after a backup.
   */
  confirm?: boolean;
}

/** Longest a single backup's deletion (remote copies, file, record) may hold its row lock. */
const DELETE_TRANSACTION_TIMEOUT_MS = 120_000;

/** The ids a plan deletes, backups and failed records: what a caller confirms with `expectDelete`. */
export function idsToDelete(report: Pick<PruneReport, 'pruned' | 'prunedFailedRecords'>): string[] {
  return [...report.pruned, ...report.prunedFailedRecords].map((entry) => entry.id).sort();
}

/**
 * Applies the deployment's retention policy (retention.ts; `options.policy` overrides single fields for this run):
 * plans, then deletes each planned backup in its own transaction that holds the record's row lock, so a backup pinned
 * meanwhile is skipped: first its UPLOADED off-site copies through the matching destination (each upload row goes
 * with its object), then its file through `removeBackupFile` (which refuses anything outside this deployment's folder),
 * then its record. A copy or file that cannot be deleted keeps the record and is reported in `problems`. Failed
 * records older than the kept window go last. Running it twice deletes nothing more. `dryRun` reports the plan only.
 * Throws `InvalidRetentionError` (nothing deleted) for an invalid policy.
 */
export async function pruneBackups(
  deps: PruneDependencies,
  deploymentId: string,
  options: PruneOptions = {},
): Promise<PruneReport> {
  const log = deps.logger.child({ module: 'ops-agent/prune', deploymentId });
  const deployment = await deps.db.deployment.findUniqueOrThrow({
    where: { id: deploymentId },
    include: { workspace: { select: { slug: true } } },
  });
  const policy = retentionPolicyOf(deployment, options.policy);
  const records = await deps.db.backupRecord.findMany({
    where: { deploymentId },
    select: {
      id: true,
      status: true,
      startedAt: true,
      verifiedAt: true,
      pinned: true,
      suspicious: true,
      path: true,
      sizeBytes: true,
    },
  });
  const plan = planRetention({ backups: records, policy, now: deps.clock() });
  const uploads = await deps.db.backupUpload.findMany({
    where: { backupRecordId: { in: plan.deleteBackups.map((decision) => decision.record.id) }, status: 'UPLOADED' },
    select: { backupRecordId: true, destination: true, objectKey: true },
    orderBy: { destination: 'asc' },
  });
  const copiesOf = (id: string): RemoteCopy[] =>
    uploads
      .filter((upload) => upload.backupRecordId === id)
      .map(({ destination, objectKey }) => ({ destination, objectKey }));

  const report: PruneReport = {
    deploymentId,
    policy,
    dryRun: options.dryRun ?? false,
    planChanged: null,
    guard: null,
    kept: plan.keep.length,
    keep: plan.keep.map(({ record, reasons }) => ({
      id: record.id,
      status: record.status,
      startedAt: record.startedAt.toISOString(),
      reasons,
    })),
    pruned: plan.deleteBackups.map(({ record, reason }) => ({
      id: record.id,
      startedAt: record.startedAt.toISOString(),
      path: record.path,
      sizeBytes: record.sizeBytes?.toString() ?? null,
      reason,
      remoteCopies: copiesOf(record.id),
      fileWasMissing: false,
    })),
    prunedFailedRecords: plan.deleteFailedRecords.map(({ record, reason }) => ({
      id: record.id,
      startedAt: record.startedAt.toISOString(),
      reason,
    })),
    problems: [],
  };
  if (options.expectDelete) {
    const expected = new Set(options.expectDelete);
    const planned = new Set(idsToDelete(report));
    const change = {
      unconfirmed: [...planned].filter((id) => !expected.has(id)),
      noLongerDeleted: [...expected].filter((id) => !planned.has(id)).sort(),
    };
    if (change.unconfirmed.length + change.noLongerDeleted.length > 0) {
      log.warn(change, 'prune refused: the plan differs from the one confirmed');
      return { ...report, dryRun: true, planChanged: change };
    }
  }
  const stop = checkPruneGuard({ records, deleteCount: report.pruned.length });
  if (stop) report.guard = { reasons: stop.reasons, confirmed: options.confirm ?? false };
  if (report.dryRun) return report;
  if (stop && !options.confirm) {
    log.warn({ reasons: stop.reasons }, 'prune stopped by the retention guard; nothing deleted');
    await raisePruneRefused(deps, deployment, stop.reasons, report.pruned.length).catch((error: unknown) =>
      log.error({ err: error }, 'could not record the alert for a prune the guard stopped'),
    );
    return { ...report, dryRun: true };
  }
  if (stop) log.warn({ reasons: stop.reasons }, 'prune confirmed by a person despite the retention guard');

  const planned = report.pruned;
  report.pruned = [];
  for (const backup of planned) {
    const outcome = await deleteBackup(deps, { ...deployment, log }, backup);
    if (outcome.kind === 'deleted') report.pruned.push({ ...backup, fileWasMissing: outcome.fileWasMissing });
    else report.problems.push({ id: backup.id, path: backup.path, reason: outcome.reason });
  }
  if (report.prunedFailedRecords.length > 0) {
    const { count } = await deps.db.backupRecord.deleteMany({
      where: { id: { in: report.prunedFailedRecords.map((record) => record.id) }, status: 'FAILED', pinned: false },
    });
    if (count !== report.prunedFailedRecords.length)
      log.warn(
        { planned: report.prunedFailedRecords.length, deleted: count },
        'some failed records changed meanwhile and were kept',
      );
  }
  report.kept = records.length - report.pruned.length - report.prunedFailedRecords.length;
  await resolveAlerts(deps.db, deploymentId, [PRUNE_REFUSED_ALERT], deps.clock());
  log.info(
    {
      policy,
      pruned: report.pruned.length,
      prunedFailedRecords: report.prunedFailedRecords.length,
      problems: report.problems.length,
    },
    'retention applied',
  );
  return report;
}

/** The warning that a prune was stopped: what it would have deleted, why, and how a person goes ahead. */
async function raisePruneRefused(
  deps: PruneDependencies,
  deployment: { id: string; workspaceId: string; name: string; workspace: { slug: string } },
  reasons: readonly string[],
  wouldDelete: number,
): Promise<void> {
  await raiseAndNotify(
    deps.db,
    deps.notifier,
    {
      workspaceId: deployment.workspaceId,
      deploymentId: deployment.id,
      deploymentName: deployment.name,
      severity: 'WARNING',
      kind: PRUNE_REFUSED_ALERT,
      message:
        `Retention of ${deployment.workspace.slug}/${deployment.name} deleted nothing: ${reasons.join('; ')}. ` +
        `It would have deleted ${wouldDelete} backup(s). Check the backups and the policy; to go ahead, run ` +
        `\`npm run backup -- prune ${deployment.id} --confirm\` (see --dry-run first).`,
    },
    deps.clock(),
  );
}

type DeleteOutcome = { kind: 'deleted'; fileWasMissing: boolean } | { kind: 'kept'; reason: string };

/** Deletes one backup's remote copies, file and record under its row lock; see {@link pruneBackups}. */
async function deleteBackup(
  deps: PruneDependencies,
  deployment: { workspaceId: string; name: string; log: Logger },
  backup: PrunedBackup,
): Promise<DeleteOutcome> {
  const { log } = deployment;
  const keep = (reason: string): DeleteOutcome => {
    log.error({ backupId: backup.id, path: backup.path }, `prune kept a backup it could not delete: ${reason}`);
    return { kind: 'kept', reason };
  };
  return deps.db.$transaction(
    async (tx) => {
      const [row] = await tx.$queryRaw<Array<{ pinned: boolean; status: string; extension: string | null }>>`
        SELECT "pinned", "status"::text AS "status", "extension"
        FROM "BackupRecord" WHERE "id" = ${backup.id} FOR UPDATE`;
      if (!row) return keep('the record is already gone (deleted by another prune)');
      if (row.pinned || row.status !== 'SUCCEEDED')
        return keep(`it was ${row.pinned ? 'pinned' : `marked ${row.status}`} after the plan was made`);
      const reference = {
        workspaceId: deployment.workspaceId,
        deploymentName: deployment.name,
        path: backup.path,
        extension: row.extension,
      };
      // Refused before anything is deleted: a tampered path must not cost the backup its off-site copies either.
      const placed = placeBackupFile(deps.store.root, reference);
      if (!placed.ok && placed.reason === 'outside-folder')
        return keep(`storage: refused ${backup.path}: ${placed.detail}`);

      const uploads = await tx.backupUpload.findMany({
        where: { backupRecordId: backup.id, status: 'UPLOADED' },
        orderBy: { destination: 'asc' },
      });
      for (const upload of uploads) {
        const destination = deps.destinations?.find((candidate) => candidate.name === upload.destination);
        if (!destination)
          return keep(
            `its copy on destination "${upload.destination}" cannot be deleted: that destination is not configured`,
          );
        try {
          await destination.delete(upload.objectKey);
          await destination.delete(manifestKeyFor(upload.objectKey));
        } catch (error) {
          return keep(
            `its copy ${upload.objectKey} on destination "${upload.destination}" could not be deleted: ${messageOf(error)}`,
          );
        }
        await tx.backupUpload.delete({ where: { id: upload.id } });
      }

      let fileWasMissing = false;
      if (backup.path) {
        try {
          fileWasMissing = (
            await removeBackupFile(
              deps.store.root,
              reference.workspaceId,
              reference.deploymentName,
              backup.path,
              row.extension,
            )
          ).missing;
        } catch (error) {
          return keep(messageOf(error));
        }
      }
      await tx.backupRecord.delete({ where: { id: backup.id } });
      if (fileWasMissing)
        log.warn({ backupId: backup.id, path: backup.path }, 'pruned a record whose file was already missing');
      return { kind: 'deleted', fileWasMissing };
    },
    { timeout: DELETE_TRANSACTION_TIMEOUT_MS, maxWait: DELETE_TRANSACTION_TIMEOUT_MS },
  );
}

/** An error's message, redacted: a destination's error may quote a signed URL or credentials. */
function messageOf(error: unknown): string {
  return redactSecrets(error instanceof Error ? error.message : String(error));
}
