import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { type AlertInput, raiseAlert, type RaisedAlert } from './alerts.ts';
import type { Notifier } from './notifier.ts';

/** An alert to raise with a change, as `raiseAndNotify` takes it. */
export type AlertWithName = AlertInput & { deploymentName: string };

/**
 * Makes a change (a record marked FAILED, say) and raises the alert it calls for in one transaction: both are written
 * or neither is. Raised after the change in a statement of its own, an alert was lost when the process stopped between
 * the two, and nothing would raise it again (the record was no longer RUNNING for recovery to find). `alertFor` sees
 * what `change` returned and may ask for no alert (null). The notifier hears of a new webhook delivery only once the
 * transaction has committed. A failure of either statement rolls both back and is thrown.
 */
export async function changeWithAlert<T>(
  db: PrismaClient,
  notifier: Notifier | undefined,
  now: Date,
  change: (tx: Prisma.TransactionClient) => Promise<T>,
  alertFor: (result: T) => AlertWithName | null,
): Promise<{ result: T; alert: RaisedAlert | null }> {
  const committed = await db.$transaction(async (tx) => {
    const result = await change(tx);
    const wanted = alertFor(result);
    if (!wanted) return { result, alert: null };
    const { deploymentName, ...input } = wanted;
    const alert = await raiseAlert(tx, input, now, notifier?.delivers ? { deploymentName } : null);
    return { result, alert };
  });
  if (committed.alert?.deliveryId) notifier?.queued([committed.alert.deliveryId]);
  return committed;
}
