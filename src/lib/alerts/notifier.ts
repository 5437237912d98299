import type { Logger } from '../shared/index.ts';

/** What a notifier sends about an alert: enough for a person to act, nothing secret (messages are redacted). */
export interface AlertNotification {
  alertId: string;
  severity: 'INFO' | 'WARNING' | 'CRITICAL';
  kind: string;
  message: string;
  workspaceId: string;
  deploymentId: string;
  deploymentName: string;
  backupRecordId: string | null;
  occurredAt: string;
}

/**
 * Delivers alerts beyond the Alert table (which is always written first, by `raiseAlert`). `notify` never throws
 * and never blocks the caller: delivery happens in the background, and a failing notifier never turns a backup
 * into a failure. `flush` waits (bounded) for deliveries in flight, for a clean shutdown.
 */
export interface Notifier {
  notify(notification: AlertNotification): void;
  flush(timeoutMs: number): Promise<void>;
}

export const noopNotifier: Notifier = {
  notify: () => undefined,
  flush: async () => undefined,
};

export interface WebhookNotifierOptions {
  url: string;
  logger: Logger;
  /** Attempts per notification (first try included). */
  maxAttempts?: number;
  /** Delay before the second attempt; doubled for each later one. */
  baseDelayMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * POSTs each notification as JSON to `url`, retrying failures (network errors, timeouts, 5xx and 429) with
 * exponential backoff. A 4xx other than 429 is not retried: the receiver refused the payload. Every failed
 * delivery is logged; the URL (which may carry a token) is never logged.
 */
export function createWebhookNotifier(options: WebhookNotifierOptions): Notifier {
  const log = options.logger.child({ module: 'ops-agent/notifier' });
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const send = options.fetch ?? fetch;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref()));
  const inFlight = new Set<Promise<void>>();

  async function deliver(notification: AlertNotification): Promise<void> {
    const body = JSON.stringify({ type: 'backup.alert', ...notification });
    for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
      let reason: string;
      try {
        const response = await send(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'ops-agent-backups' },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await response.body?.cancel().catch(() => undefined);
        if (response.ok) {
          log.info({ alertId: notification.alertId, attempt }, 'alert delivered to the webhook');
          return;
        }
        reason = `HTTP ${response.status}`;
        if (response.status < 500 && response.status !== 429) {
          log.error(
            { alertId: notification.alertId, status: response.status },
            'the webhook refused the alert; not retrying',
          );
          return;
        }
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
      if (attempt === maxAttempts) {
        log.error(
          { alertId: notification.alertId, attempts: attempt, reason },
          'could not deliver the alert to the webhook; giving up',
        );
        return;
      }
      log.warn({ alertId: notification.alertId, attempt, reason }, 'alert webhook delivery failed; retrying');
      await sleep(baseDelayMs * 2 ** (attempt - 1));
    }
  }

  return {
    notify(notification) {
      const delivery = deliver(notification).catch((error: unknown) =>
        log.error({ err: error }, 'alert webhook delivery crashed'),
      );
      inFlight.add(delivery);
      void delivery.finally(() => inFlight.delete(delivery));
    },
    async flush(flushTimeoutMs) {
      if (inFlight.size === 0) return;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise<void>((resolve) => setTimeout(resolve, flushTimeoutMs).unref()),
      ]);
    },
  };
}
