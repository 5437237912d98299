import { z } from 'zod';

/**
 * What the webhook receives about an alert: enough for a person to act, nothing secret (messages are redacted before
 * an alert is raised). It is stored with the delivery when the alert opens and read back when it is sent, so the
 * schema below is both the type and the check of what comes out of the database.
 */
export const alertNotificationSchema = z.object({
  alertId: z.string(),
  severity: z.enum(['INFO', 'WARNING', 'CRITICAL']),
  kind: z.string(),
  message: z.string(),
  workspaceId: z.string(),
  deploymentId: z.string(),
  deploymentName: z.string(),
  backupRecordId: z.string().nullable(),
  occurredAt: z.string(),
});

export type AlertNotification = z.infer<typeof alertNotificationSchema>;

/** The notification of an alert opened `now` with id `alertId`. */
export function buildNotification(
  alert: Omit<AlertNotification, 'alertId' | 'occurredAt' | 'backupRecordId'> & { backupRecordId?: string | null },
  alertId: string,
  now: Date,
): AlertNotification {
  return {
    alertId,
    severity: alert.severity,
    kind: alert.kind,
    message: alert.message,
    workspaceId: alert.workspaceId,
    deploymentId: alert.deploymentId,
    deploymentName: alert.deploymentName,
    backupRecordId: alert.backupRecordId ?? null,
    occurredAt: now.toISOString(),
  };
}

/** The JSON body POSTed to the webhook: `type` first, then the notification's fields in their documented order. */
export function buildWebhookBody(notification: AlertNotification): string {
  return JSON.stringify({ type: 'backup.alert', ...alertNotificationSchema.parse(notification) });
}
