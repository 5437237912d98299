import {
  type AlertDeliveryDependencies,
  DEFAULT_DELIVERY_BATCH_SIZE,
  deliverPendingAlerts,
  type DeliveryOptions,
} from './deliver-alerts.ts';
import { startPassTimer } from './pass-timer.ts';

/** Alert deliveries sent in the background of a long-running process (the worker). */
export interface AlertDeliveryTimer {
  /**
   * Sends what is due now, after the pass in progress if any; resolves when done and never rejects. A caller that
   * must not wait (the worker's loop) need not await it.
   */
  deliverNow(): Promise<void>;
  /** Stops the timer; POSTs in flight are aborted and their deliveries handed back, due at once, for the next sender. */
  stop(): Promise<void>;
}

/**
 * Sends due alert deliveries every `intervalMs`, and whenever `deliverNow` is called, one pass at a time. A pass sends
 * what was due when it started, batch after batch, so it ends even while the receiver fails and deliveries keep
 * coming due again. Failures are logged; the timer goes on. The timer never keeps the process alive by itself.
 */
export function startAlertDeliveryTimer(
  deps: AlertDeliveryDependencies,
  intervalMs: number,
  options: Omit<DeliveryOptions, 'ids' | 'signal'> = {},
): AlertDeliveryTimer {
  const log = deps.logger.child({ module: 'ops-agent/notifier' });
  const batchSize = options.batchSize ?? DEFAULT_DELIVERY_BATCH_SIZE;
  const timer = startPassTimer(
    async (signal) => {
      const startedAt = deps.clock();
      let summary;
      do {
        summary = await deliverPendingAlerts(deps, startedAt, { ...options, batchSize, signal });
      } while (summary.attempted === batchSize && !signal.aborted);
    },
    intervalMs,
    (error) => log.error({ err: error }, 'alert webhook delivery pass failed; the next one tries again'),
  );
  return { deliverNow: timer.runNow, stop: timer.stop };
}
