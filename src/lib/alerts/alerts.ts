import type { AlertSeverity, PrismaClient } from '../../generated/prisma/client.ts';
import type { Notifier } from './notifier.ts';

/**
 * Alerts: what a person must see. One open alert per deployment and kind: a repeated failure bumps `occurrences`
 * and `lastSeenAt` of the open alert instead of adding a new one; the next success resolves it.
 */
/** The alert kind a failed backup raises and a successful one resolves. */
export const BACKUP_FAILED_ALERT = 'backup_failed';
/** Raised when a scheduled backup is overdue (no success since the schedule fired); resolved by the next success. */
export const BACKUP_OVERDUE_ALERT = 'backup_overdue';
/** Raised when backups are on but cannot run (deployment not RUNNING, invalid schedule); resolved when they can. */
export const BACKUP_BLOCKED_ALERT = 'backup_blocked';
/** Raised (WARNING) when an off-site upload of a backup fails; resolved by the deployment's next successful upload. */
export const UPLOAD_FAILED_ALERT = 'upload_failed';
/** Raised when a restore fails (critical for a restore over live data); resolved by the next successful live restore. */
export const RESTORE_FAILED_ALERT = 'restore_failed';
/** Raised (INFO) when a destructive restore is proposed and waits for a person; resolved when confirmed or cancelled. */
export const RESTORE_PROPOSED_ALERT = 'restore_proposed';
/**
 * Raised (critical) when a backup's file fails its format check, or the check cannot run: the backup is probably not
 * restorable. Resolved when a backup as new or newer passes it.
 */
export const BACKUP_UNVERIFIED_ALERT = 'backup_unverified';
/** Raised (critical) when a scheduled test-restore fails; resolved by the next successful one. */
export const TEST_RESTORE_FAILED_ALERT = 'test_restore_failed';
/** Raised (warning) when a test-restore finds tables or keys shrunk against the previous one; resolved by a clean run. */
export const DATA_SHRANK_ALERT = 'data_shrank';

export interface AlertInput {
  workspaceId: string;
  deploymentId: string;
  backupRecordId?: string | null;
  severity: AlertSeverity;
  /** Cause key, e.g. `backup_failed`. */
  kind: string;
  /** Already redacted. */
  message: string;
}

/** Opens an alert, or records another occurrence of the open one. Returns its id. */
export async function raiseAlert(
  db: PrismaClient,
  alert: AlertInput,
  now: Date,
): Promise<{ id: string; occurrences: number }> {
  return db.$transaction(async (tx) => {
    const open = await tx.alert.findFirst({
      where: { deploymentId: alert.deploymentId, kind: alert.kind, resolvedAt: null },
      orderBy: { createdAt: 'asc' },
    });
    if (open) {
      return tx.alert.update({
        where: { id: open.id },
        data: {
          occurrences: { increment: 1 },
          lastSeenAt: now,
          message: alert.message,
          severity: alert.severity,
          backupRecordId: alert.backupRecordId ?? open.backupRecordId,
        },
        select: { id: true, occurrences: true },
      });
    }
    return tx.alert.create({
      data: { ...alert, backupRecordId: alert.backupRecordId ?? null, createdAt: now, lastSeenAt: now },
      select: { id: true, occurrences: true },
    });
  });
}

/** Resolves the open alerts of these kinds for a deployment (e.g. after a successful backup). Returns how many. */
export async function resolveAlerts(
  db: PrismaClient,
  deploymentId: string,
  kinds: readonly string[],
  now: Date,
): Promise<number> {
  const { count } = await db.alert.updateMany({
    where: { deploymentId, kind: { in: [...kinds] }, resolvedAt: null },
    data: { resolvedAt: now },
  });
  return count;
}

/**
 * Raises an alert and, when it is a new one (not another occurrence of an open alert), hands it to the notifier.
 * Repeated failures therefore page once, until a success resolves the alert.
 */
export async function raiseAndNotify(
  db: PrismaClient,
  notifier: Notifier | undefined,
  alert: AlertInput & { deploymentName: string },
  now: Date,
): Promise<{ id: string; occurrences: number }> {
  const { deploymentName, ...input } = alert;
  const raised = await raiseAlert(db, input, now);
  if (raised.occurrences === 1) {
    notifier?.notify({
      alertId: raised.id,
      severity: input.severity,
      kind: input.kind,
      message: input.message,
      workspaceId: input.workspaceId,
      deploymentId: input.deploymentId,
      deploymentName,
      backupRecordId: input.backupRecordId ?? null,
      occurredAt: now.toISOString(),
    });
  }
  return raised;
}
