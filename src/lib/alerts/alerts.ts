import type { AlertSeverity, Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { newRecordId } from '../shared/index.ts';
import { buildNotification } from './alert-notification.ts';
import type { Notifier } from './notifier.ts';

/**
 * Alerts: what a person must see. One open alert per deployment and kind (a unique index on open alerts holds it, also
 * when workers race): a repeated failure bumps `occurrences` and `lastSeenAt` of the open alert instead of adding a new
 * one; the next success resolves it.
 */
/** The alert kind a failed backup raises and a successful one resolves. */
export const BACKUP_FAILED_ALERT = 'backup_failed';
/**
 * Raised (critical) instead of `backup_failed` when an export received no byte for the stall limit and was stopped
 * (a dump waiting on a lock, a hung pod); resolved by the next success.
 */
export const BACKUP_STALLED_ALERT = 'backup_stalled';
/** Raised instead of `restore_failed` when a restore's command took no input for the stall limit and was stopped. */
export const RESTORE_STALLED_ALERT = 'restore_stalled';
/**
 * Raised (warning) when a backup SUCCEEDED but is far smaller than the recent ones (`BackupRecord.suspicious`): a dump
 * that lost most of the data, or data that really shrank. Resolved by the next backup of normal size.
 */
export const BACKUP_SUSPICIOUS_ALERT = 'backup_suspicious';
/**
 * Raised (warning) when the retention guard stopped a prune (more than half of the successful backups, or the newest
 * backup failed or is suspicious): nothing was deleted. Resolved by the next prune that runs.
 */
export const PRUNE_REFUSED_ALERT = 'prune_refused';
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

/** What raising an alert did. */
export interface RaisedAlert {
  id: string;
  occurrences: number;
  /** True when this call opened the alert; false when it counted another occurrence of the open one. */
  opened: boolean;
  /** The webhook delivery written with a newly opened alert; null when none was (not new, or no webhook). */
  deliveryId: string | null;
}

/**
 * Opens an alert, or records another occurrence of the open one (`occurrences` + 1, `lastSeenAt`, the new message,
 * severity and backup record), in one insert-on-conflict against the unique index of open alerts: however many
 * workers raise the same alert at once, one opens it and the others count. With `delivery`, a newly opened alert gets
 * its webhook delivery row in the same statement, so an alert is never open without its page queued.
 */
export async function raiseAlert(
  db: PrismaClient | Prisma.TransactionClient,
  alert: AlertInput,
  now: Date,
  delivery: { deploymentName: string } | null = null,
): Promise<RaisedAlert> {
  const id = newRecordId();
  const deliveryId = delivery ? newRecordId() : null;
  const payload = delivery
    ? JSON.stringify(buildNotification({ ...alert, deploymentName: delivery.deploymentName }, id, now))
    : null;
  const [row] = await db.$queryRaw<Array<{ id: string; occurrences: number; deliveryId: string | null }>>`
    WITH raised AS (
      INSERT INTO "Alert" (id, "workspaceId", "deploymentId", "backupRecordId", severity, kind, message, occurrences,
                           "createdAt", "lastSeenAt")
      VALUES (${id}, ${alert.workspaceId}, ${alert.deploymentId}, ${alert.backupRecordId ?? null},
              ${alert.severity}::"AlertSeverity", ${alert.kind}, ${alert.message}, 1, ${now}::timestamp(3),
              ${now}::timestamp(3))
      ON CONFLICT ("deploymentId", kind) WHERE "resolvedAt" IS NULL DO UPDATE
        SET occurrences = "Alert".occurrences + 1,
            "lastSeenAt" = EXCLUDED."lastSeenAt",
            message = EXCLUDED.message,
            severity = EXCLUDED.severity,
            "backupRecordId" = COALESCE(EXCLUDED."backupRecordId", "Alert"."backupRecordId")
      RETURNING id, occurrences
    ), queued AS (
      INSERT INTO "AlertDelivery" (id, "alertId", payload, "nextAttemptAt", "createdAt")
      SELECT ${deliveryId}::text, raised.id, ${payload}::jsonb, ${now}::timestamp(3), ${now}::timestamp(3)
        FROM raised
       WHERE raised.id = ${id} AND ${deliveryId}::text IS NOT NULL
      RETURNING id
    )
    SELECT raised.id, raised.occurrences, (SELECT queued.id FROM queued) AS "deliveryId" FROM raised`;
  if (!row) throw new Error(`raising alert ${alert.kind} of deployment ${alert.deploymentId} returned no row`);
  return { id: row.id, occurrences: row.occurrences, opened: row.id === id, deliveryId: row.deliveryId };
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
 * Raises an alert and, when it is a new one (not another occurrence of an open alert) and a webhook is configured,
 * queues its webhook delivery with it (the same statement) and tells the notifier. Repeated failures therefore page
 * once, until a success resolves the alert.
 */
export async function raiseAndNotify(
  db: PrismaClient,
  notifier: Notifier | undefined,
  alert: AlertInput & { deploymentName: string },
  now: Date,
): Promise<RaisedAlert> {
  const { deploymentName, ...input } = alert;
  const raised = await raiseAlert(db, input, now, notifier?.delivers ? { deploymentName } : null);
  if (raised.deliveryId) notifier?.queued([raised.deliveryId]);
  return raised;
}
