import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { newRecordId } from '../shared/index.ts';

/**
 * The DeadManPing rows (an outbox, like AlertDelivery): a deployment with a `deadManUrl` (healthchecks.io style) is
 * pinged at `{url}/start` when a backup starts, `{url}` when it succeeds and `{url}/fail` when it fails. Each ping is
 * written in the statement (or transaction) that records the event, then sent by `sendDeadManPings`, with retries,
 * across restarts. Pings of one deployment go out in order; a failing `start` overtaken by a later ping is given up,
 * because a /start arriving after the run's end would open a run that never ends.
 */

export const DEAD_MAN_EVENTS = ['start', 'success', 'fail'] as const;
export type DeadManEvent = (typeof DEAD_MAN_EVENTS)[number];

type Queryable = Pick<PrismaClient, '$queryRaw'> | Pick<Prisma.TransactionClient, '$queryRaw'>;

/**
 * Queues a ping when the deployment has a dead-man URL (one insert; nothing otherwise). Usable inside a transaction
 * and in a batch (`$transaction([...])`): it returns the PrismaPromise of the ids it wrote.
 */
export function queueDeadManPing(
  db: Queryable,
  ping: { deploymentId: string; backupRecordId: string | null; event: DeadManEvent },
  now: Date,
) {
  return db.$queryRaw<Array<{ id: string }>>`
    INSERT INTO "DeadManPing" (id, "deploymentId", "backupRecordId", event, "nextAttemptAt", "createdAt")
    SELECT ${newRecordId()}, d.id, ${ping.backupRecordId}, ${ping.event}, ${now}::timestamp(3), ${now}::timestamp(3)
      FROM "Deployment" d
     WHERE d.id = ${ping.deploymentId} AND d."deadManUrl" IS NOT NULL
    RETURNING id`;
}

/** A leased ping: what sending it needs. `url` is the deployment's dead-man URL now (null: removed since). */
export interface LeasedPing {
  id: string;
  deploymentId: string;
  event: DeadManEvent;
  attempts: number;
  createdAt: Date;
  url: string | null;
}

/**
 * Gives up the PENDING `start` pings that failed at least once and that a later ping of their deployment has
 * overtaken (the end of the run must not wait behind them; sent late, they would open a run that never ends), then leases up to `limit`
 * due pings until `until` (counting an attempt), only the oldest PENDING ping of each deployment, skipping rows
 * another sender holds.
 */
export async function leaseDuePings(db: PrismaClient, now: Date, until: Date, limit: number): Promise<LeasedPing[]> {
  await db.$executeRaw`
    UPDATE "DeadManPing" s
       SET status = 'FAILED', "lastError" = 'superseded: a later ping of this deployment was queued before it was sent'
     WHERE s.status = 'PENDING' AND s.event = 'start' AND s.attempts > 0
       AND EXISTS (SELECT 1 FROM "DeadManPing" later
                    WHERE later."deploymentId" = s."deploymentId" AND later.id <> s.id
                      AND (later."createdAt" > s."createdAt" OR (later."createdAt" = s."createdAt" AND later.event <> 'start')))`;
  return db.$queryRaw<LeasedPing[]>`
    UPDATE "DeadManPing" p
       SET "nextAttemptAt" = ${until}::timestamp(3), attempts = p.attempts + 1
     WHERE p.id IN (SELECT due.id FROM "DeadManPing" due
                     WHERE due.status = 'PENDING' AND due."nextAttemptAt" <= ${now}::timestamp(3)
                       AND NOT EXISTS (SELECT 1 FROM "DeadManPing" older
                                        WHERE older."deploymentId" = due."deploymentId" AND older.status = 'PENDING'
                                          AND (older."createdAt" < due."createdAt"
                                               OR (older."createdAt" = due."createdAt" AND older.event = 'start'
                                                   AND due.event <> 'start')))
                     ORDER BY due."nextAttemptAt"
                     LIMIT ${limit}
                       FOR UPDATE SKIP LOCKED)
    RETURNING p.id, p."deploymentId", p.event, p.attempts, p."createdAt",
              (SELECT d."deadManUrl" FROM "Deployment" d WHERE d.id = p."deploymentId") AS url`;
}

/** Records how an attempt ended: DELIVERED, PENDING again at its next time, or FAILED (given up). No URL in errors. */
export async function recordPingOutcome(
  db: PrismaClient,
  pingId: string,
  outcome:
    | { status: 'DELIVERED'; at: Date }
    | { status: 'PENDING'; nextAttemptAt: Date; lastError: string }
    | { status: 'FAILED'; lastError: string },
): Promise<void> {
  await db.deadManPing.updateMany({
    where: { id: pingId, status: 'PENDING' },
    data:
      outcome.status === 'DELIVERED'
        ? { status: 'DELIVERED', deliveredAt: outcome.at, lastError: null }
        : outcome.status === 'PENDING'
          ? { nextAttemptAt: outcome.nextAttemptAt, lastError: outcome.lastError }
          : { status: 'FAILED', lastError: outcome.lastError },
  });
}

/** The URL a ping goes to: `{url}/start`, `{url}`, `{url}/fail` (a trailing slash and the query are kept apart). */
export function pingUrlFor(url: string, event: DeadManEvent): string {
  if (event === 'success') return url;
  const parsed = new URL(url);
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/${event}`;
  return parsed.toString();
}
