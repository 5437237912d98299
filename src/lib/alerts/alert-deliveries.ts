import type { PrismaClient } from '../../generated/prisma/client.ts';

/**
 * The AlertDelivery rows (the outbox): one per alert opened while a webhook is configured, written with the alert.
 * PENDING rows are due at `nextAttemptAt`; a sender leases due rows by moving `nextAttemptAt` past the time it needs
 * (in one statement that skips rows another sender is leasing), so two senders never POST the same row at once, and a
 * crashed sender's row is sent again once its lease runs out (the receiver can drop that duplicate by its delivery
 * id).
 */

/** A leased delivery: what sending it needs. `attempts` already counts the attempt the lease is for. */
export interface LeasedDelivery {
  id: string;
  alertId: string;
  payload: unknown;
  attempts: number;
  createdAt: Date;
}

/**
 * Leases up to `limit` PENDING deliveries due at `now` (only those of `ids` when given), oldest due first, until
 * `until`, counting an attempt on each. Rows another sender is leasing at this moment are skipped, not waited for.
 */
export function leaseDueDeliveries(
  db: PrismaClient,
  now: Date,
  until: Date,
  options: { limit: number; ids?: readonly string[] },
): Promise<LeasedDelivery[]> {
  const ids = options.ids ? JSON.stringify(options.ids) : null;
  return db.$queryRaw<LeasedDelivery[]>`
    UPDATE "AlertDelivery" d
       SET "nextAttemptAt" = ${until}::timestamp(3), attempts = d.attempts + 1
     WHERE d.id IN (SELECT due.id FROM "AlertDelivery" due
                     WHERE due.status = 'PENDING' AND due."nextAttemptAt" <= ${now}::timestamp(3)
                       AND (${ids}::jsonb IS NULL OR due.id IN (SELECT jsonb_array_elements_text(${ids}::jsonb)))
                     ORDER BY due."nextAttemptAt"
                     LIMIT ${options.limit}
                       FOR UPDATE SKIP LOCKED)
    RETURNING d.id, d."alertId", d.payload, d.attempts, d."createdAt"`;
}

/** Marks a delivery sent. */
export async function markDelivered(db: PrismaClient, deliveryId: string, at: Date): Promise<void> {
  await db.alertDelivery.updateMany({
    where: { id: deliveryId, status: 'PENDING' },
    data: { status: 'DELIVERED', deliveredAt: at, lastError: null },
  });
}

/** Records a failed attempt: PENDING again at its next attempt time, or FAILED (given up). `lastError` has no URL. */
export async function recordDeliveryFailure(
  db: PrismaClient,
  deliveryId: string,
  next: { status: 'PENDING'; nextAttemptAt: Date } | { status: 'FAILED' },
  lastError: string,
): Promise<void> {
  await db.alertDelivery.updateMany({
    where: { id: deliveryId, status: 'PENDING' },
    data:
      next.status === 'PENDING' ? { nextAttemptAt: next.nextAttemptAt, lastError } : { status: 'FAILED', lastError },
  });
}

/** Hands a leased delivery back, due `at` (a sender stopped before it could try). */
export async function releaseDelivery(db: PrismaClient, deliveryId: string, at: Date): Promise<void> {
  await db.alertDelivery.updateMany({ where: { id: deliveryId, status: 'PENDING' }, data: { nextAttemptAt: at } });
}
