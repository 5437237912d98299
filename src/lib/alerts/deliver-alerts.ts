import type { PrismaClient } from '../../generated/prisma/client.ts';
import { type Logger, runWithConcurrency } from '../shared/index.ts';
import {
  type LeasedDelivery,
  leaseDueDeliveries,
  markDelivered,
  recordDeliveryFailure,
  releaseDelivery,
} from './alert-deliveries.ts';
import { alertNotificationSchema, buildWebhookBody } from './alert-notification.ts';
import {
  DEFAULT_DELIVERY_RETRY_POLICY,
  type DeliveryRetryDecision,
  type DeliveryRetryPolicy,
  planDeliveryRetry,
} from './delivery-plan.ts';
import { postOutboxRow } from './outbox-post.ts';

/** What sending alert deliveries needs; any process with the database and the URL can do it. */
export interface AlertDeliveryDependencies {
  db: PrismaClient;
  /** The webhook (ALERT_WEBHOOK_URL). It may carry a token: it is never logged or stored. */
  url: string;
  clock: () => Date;
  logger: Logger;
  fetch?: typeof fetch;
}

/** A configured webhook: what sending needs, and how failed deliveries are retried. */
export interface AlertWebhook {
  deps: AlertDeliveryDependencies;
  retryPolicy: DeliveryRetryPolicy;
}

export interface DeliveryOptions {
  /** Only these deliveries (a CLI's own, before it exits). */
  ids?: readonly string[];
  retryPolicy?: DeliveryRetryPolicy;
  /** Most deliveries one call leases. Default `DEFAULT_DELIVERY_BATCH_SIZE`. */
  batchSize?: number;
  /** Deliveries POSTed at the same time. Default 4. */
  concurrency?: number;
  /** Timeout of one POST. Default 10 s. */
  timeoutMs?: number;
  /** Stops taking new deliveries and aborts the POSTs in flight; those are handed back, due at once. */
  signal?: AbortSignal;
}

/** What one call did. */
export interface DeliverySummary {
  /** Deliveries leased (due, and not being sent by another sender). */
  attempted: number;
  delivered: number;
  /** Failed attempts that will be retried. */
  retrying: number;
  /** Deliveries given up (refused, too old, or too many attempts). */
  failed: number;
}

/** Deliveries one call leases unless told otherwise. */
export const DEFAULT_DELIVERY_BATCH_SIZE = 100;
const DEFAULT_TIMEOUT_MS = 10_000;
/** A lease outlives the POST's timeout by this much, so a slow answer is never sent twice. */
const LEASE_MARGIN_MS = 30_000;
const MAX_ERROR_LENGTH = 500;

/**
 * Sends the due webhook deliveries: leases them (no other sender takes them meanwhile), POSTs each alert's JSON body
 * with its delivery id in `X-Ops-Delivery-Id` and `Idempotency-Key` (the same on every attempt, so a receiver can
 * drop the rare duplicate after a sender crashed between its POST and its commit), and records the outcome: DELIVERED;
 * a 5xx, 408, 429 or network failure is retried with backoff (`planDeliveryRetry`) until it gives up; any other 4xx is
 * the receiver refusing the alert, given up at once. Every failure is logged; the URL never is.
 */
export async function deliverPendingAlerts(
  deps: AlertDeliveryDependencies,
  now: Date,
  options: DeliveryOptions = {},
): Promise<DeliverySummary> {
  const summary: DeliverySummary = { attempted: 0, delivered: 0, retrying: 0, failed: 0 };
  if (options.ids?.length === 0 || options.signal?.aborted) return summary;
  const log = deps.logger.child({ module: 'ops-agent/notifier' });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const leased = await leaseDueDeliveries(deps.db, now, new Date(now.getTime() + timeoutMs + LEASE_MARGIN_MS), {
    limit: options.batchSize ?? DEFAULT_DELIVERY_BATCH_SIZE,
    ...(options.ids ? { ids: options.ids } : {}),
  });
  summary.attempted = leased.length;
  await runWithConcurrency(leased, options.concurrency ?? 4, undefined, async (delivery) => {
    const outcome = await attemptDelivery(deps, delivery, options, timeoutMs, log).catch((error: unknown) => {
      log.error({ err: error, deliveryId: delivery.id }, 'alert webhook delivery crashed');
      return null;
    });
    if (outcome === 'delivered') summary.delivered += 1;
    if (outcome === 'PENDING') summary.retrying += 1;
    if (outcome === 'FAILED') summary.failed += 1;
  });
  return summary;
}

type AttemptOutcome = 'delivered' | 'released' | DeliveryRetryDecision['status'];

async function attemptDelivery(
  deps: AlertDeliveryDependencies,
  delivery: LeasedDelivery,
  options: DeliveryOptions,
  timeoutMs: number,
  log: Logger,
): Promise<AttemptOutcome> {
  const context = { alertId: delivery.alertId, deliveryId: delivery.id, attempt: delivery.attempts };
  const notification = alertNotificationSchema.safeParse(delivery.payload);
  if (!notification.success) {
    const reason = `the stored notification is not valid: ${notification.error.message}`;
    await recordDeliveryFailure(deps.db, delivery.id, { status: 'FAILED' }, reason.slice(0, MAX_ERROR_LENGTH));
    log.error({ ...context, reason }, 'could not deliver the alert to the webhook; giving up');
    return 'FAILED';
  }
  if (options.signal?.aborted) {
    await releaseDelivery(deps.db, delivery.id, deps.clock());
    return 'released';
  }
  const posted = await postOutboxRow(
    deps.url,
    {
      headers: {
        'content-type': 'application/json',
        'user-agent': 'ops-agent-backups',
        'x-ops-delivery-id': delivery.id,
        'idempotency-key': delivery.id,
      },
      body: buildWebhookBody(notification.data),
    },
    { fetch: deps.fetch, timeoutMs, signal: options.signal, urlPlaceholder: '<webhook>' },
  );
  if (posted.ok) {
    await markDelivered(deps.db, delivery.id, deps.clock());
    log.info(context, 'alert delivered to the webhook');
    return 'delivered';
  }
  if (posted.aborted) {
    // Stopping is not the receiver's fault: hand the delivery back for whoever sends next.
    await releaseDelivery(deps.db, delivery.id, deps.clock());
    log.warn(context, 'alert webhook delivery interrupted; it will be sent again');
    return 'released';
  }
  const { reason, retryable } = posted;
  if (!retryable) {
    await recordDeliveryFailure(deps.db, delivery.id, { status: 'FAILED' }, `${reason} (refused by the webhook)`);
    log.error({ ...context, reason }, 'the webhook refused the alert; not retrying');
    return 'FAILED';
  }
  const decision = planDeliveryRetry(delivery, deps.clock(), options.retryPolicy ?? DEFAULT_DELIVERY_RETRY_POLICY);
  await recordDeliveryFailure(
    deps.db,
    delivery.id,
    decision,
    decision.status === 'FAILED' ? `${reason} (${decision.reason})` : reason,
  );
  if (decision.status === 'FAILED') {
    log.error({ ...context, reason, gaveUp: decision.reason }, 'could not deliver the alert to the webhook; giving up');
  } else {
    log.warn(
      { ...context, reason, nextAttemptAt: decision.nextAttemptAt.toISOString() },
      'alert webhook delivery failed; retrying',
    );
  }
  return decision.status;
}
