import {
  type AlertDeliveryDependencies,
  DEFAULT_DELIVERY_BATCH_SIZE,
  deliverPendingAlerts,
  type DeliveryOptions,
} from './deliver-alerts.ts';

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
  const stopping = new AbortController();
  const batchSize = options.batchSize ?? DEFAULT_DELIVERY_BATCH_SIZE;
  let current: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  async function pass(): Promise<void> {
    const startedAt = deps.clock();
    try {
      let summary;
      do {
        summary = await deliverPendingAlerts(deps, startedAt, { ...options, batchSize, signal: stopping.signal });
      } while (summary.attempted === batchSize && !stopping.signal.aborted);
    } catch (error) {
      log.error({ err: error }, 'alert webhook delivery pass failed; the next one tries again');
    }
  }
  function deliverNow(): Promise<void> {
    current = current.then(pass);
    return current;
  }
  function schedule(): void {
    timer = setTimeout(() => void deliverNow().then(() => stopping.signal.aborted || schedule()), intervalMs);
    timer.unref();
  }
  schedule();
  return {
    deliverNow,
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await current;
    },
  };
}
