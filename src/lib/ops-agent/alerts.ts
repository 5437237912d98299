import type { AlertSeverity, PrismaClient } from '../../generated/prisma/client.ts';

/**
 * Alerts: what a person must see. One open alert per deployment and kind: a repeated failure bumps `occurrences`
 * and `lastSeenAt` of the open alert instead of adding a new one; the next success resolves it.
 */
/** The alert kind a failed backup raises and a successful one resolves. */
export const BACKUP_FAILED_ALERT = 'backup_failed';

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
export async function raiseAlert(db: PrismaClient, alert: AlertInput, now: Date): Promise<{ id: string; occurrences: number }> {
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
export async function resolveAlerts(db: PrismaClient, deploymentId: string, kinds: readonly string[], now: Date): Promise<number> {
  const { count } = await db.alert.updateMany({
    where: { deploymentId, kind: { in: [...kinds] }, resolvedAt: null },
    data: { resolvedAt: now },
  });
  return count;
}
