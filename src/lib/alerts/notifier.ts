import { type AlertDeliveryDependencies, deliverPendingAlerts, type DeliveryOptions } from './deliver-alerts.ts';

/**
 * The alert webhook as the code that raises alerts sees it. Alerts never wait for the webhook: a new alert's delivery
 * is a row written with the alert (the outbox), sent by `deliverPendingAlerts` (the worker, after each cycle and on a
 * timer) and, for a short-lived process such as a CLI, by `flush` before it exits. A failing webhook never turns a
 * backup into a failure.
 */
export interface Notifier {
  /** True when a webhook is configured: each new alert gets a delivery row, written in the statement that opens it. */
  readonly delivers: boolean;
  /** Takes note of delivery rows this process wrote (committed), so that `flush` sends them. */
  queued(deliveryIds: readonly string[]): void;
  /**
   * Sends the deliveries this process queued that are due, for at most `timeoutMs`; what fails stays in the outbox
   * for the worker to retry.
   */
  flush(timeoutMs: number): Promise<void>;
}

/** No webhook: alerts are only rows of the Alert table, and no delivery is written. */
export const noopNotifier: Notifier = {
  delivers: false,
  queued: () => undefined,
  flush: async () => undefined,
};

/** Deliveries a process remembers for `flush`; a long-running process forgets the oldest (its loop sends them). */
const MAX_REMEMBERED = 1_000;

/** The notifier of a process with ALERT_WEBHOOK_URL set. */
export function createWebhookNotifier(
  deps: AlertDeliveryDependencies,
  options: Omit<DeliveryOptions, 'ids' | 'signal'> = {},
): Notifier {
  const remembered = new Set<string>();
  return {
    delivers: true,
    queued(deliveryIds) {
      for (const id of deliveryIds) remembered.add(id);
      for (const id of remembered) {
        if (remembered.size <= MAX_REMEMBERED) break;
        remembered.delete(id);
      }
    },
    async flush(timeoutMs) {
      if (remembered.size === 0) return;
      const ids = [...remembered];
      remembered.clear();
      await deliverPendingAlerts(deps, deps.clock(), {
        ...options,
        ids,
        batchSize: ids.length,
        timeoutMs: Math.min(timeoutMs, options.timeoutMs ?? timeoutMs),
        signal: AbortSignal.timeout(timeoutMs),
      }).catch((error: unknown) =>
        deps.logger
          .child({ module: 'ops-agent/notifier' })
          .error({ err: error }, 'could not send the alert webhook deliveries before exiting'),
      );
    },
  };
}
