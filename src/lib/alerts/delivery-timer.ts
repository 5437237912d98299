import {
  type AlertDeliveryDependencies,
  DEFAULT_DELIVERY_BATCH_SIZE,
  deliverPendingAlerts,
  type DeliveryOptions,
} from './deliver-alerts.ts';

/** Alert deliveries sent in the background of a long-running process (the worker). */
export interface AlertDeliveryTimer {
  /** Sends what is due now (after the pass in progress, if any); never throws. */
  deliverNow(): Promise<void>;
  /** Stops the timer and waits for the batch in progress (its POSTs are bounded by their timeout). */
  stop(): Promise<void>;
}

/**
 * Sends due alert deliveries every `intervalMs`, and whenever `deliverNow` is called, one pass at a time: a pass
 * leases batch after batch until nothing more is due (or the timer is stopped). Failures are logged; the timer goes on. The timer never keeps
 * the process alive by itself.
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
    try {
      let summary;
      do {
        summary = await deliverPendingAlerts(deps, deps.clock(), { ...options, batchSize });
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
      clearTimeout(timer);
      stopping.abort();
      await current;
    },
  };
}
