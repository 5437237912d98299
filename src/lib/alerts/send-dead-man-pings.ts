import type { PrismaClient } from '../../generated/prisma/client.ts';
import { type Logger, runWithConcurrency } from '../shared/index.ts';
import { type LeasedPing, leaseDuePings, pingUrlFor, recordPingOutcome } from './dead-man-pings.ts';
import { DEFAULT_DELIVERY_RETRY_POLICY, type DeliveryRetryPolicy, planDeliveryRetry } from './delivery-plan.ts';
import { postOutboxRow } from './outbox-post.ts';
import { startPassTimer } from './pass-timer.ts';

/** What sending dead-man pings needs. */
export interface DeadManPingDependencies {
  db: PrismaClient;
  clock: () => Date;
  logger: Logger;
  fetch?: typeof fetch;
}

export interface PingOptions {
  /** Default: the alert webhook's (10 s doubling to 15 min; gives up after 100 attempts or 24 h). */
  retryPolicy?: DeliveryRetryPolicy;
  batchSize?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PingSummary {
  attempted: number;
  delivered: number;
  retrying: number;
  failed: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const LEASE_MARGIN_MS = 30_000;

/**
 * Sends the due dead-man pings (an empty POST, which healthchecks.io and its peers accept like a GET): a 2xx is DELIVERED; a network error,
 * timeout, 5xx, 408 or 429 is retried with the webhook's backoff until it gives up; another 4xx, or a deployment
 * whose URL was removed, gives up at once. Every failure is logged and recorded; the URL (it carries the check's
 * secret) never is.
 */
export async function sendDeadManPings(
  deps: DeadManPingDependencies,
  now: Date,
  options: PingOptions = {},
): Promise<PingSummary> {
  const summary: PingSummary = { attempted: 0, delivered: 0, retrying: 0, failed: 0 };
  if (options.signal?.aborted) return summary;
  const log = deps.logger.child({ module: 'ops-agent/dead-man' });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const leased = await leaseDuePings(
    deps.db,
    now,
    new Date(now.getTime() + timeoutMs + LEASE_MARGIN_MS),
    options.batchSize ?? 100,
  );
  summary.attempted = leased.length;
  await runWithConcurrency(leased, 4, undefined, async (ping) => {
    const outcome = await attemptPing(deps, ping, options, timeoutMs, log).catch((error: unknown) => {
      log.error({ err: error, pingId: ping.id }, 'dead-man ping crashed');
      return null;
    });
    if (outcome) summary[outcome] += 1;
  });
  return summary;
}

async function attemptPing(
  deps: DeadManPingDependencies,
  ping: LeasedPing,
  options: PingOptions,
  timeoutMs: number,
  log: Logger,
): Promise<'delivered' | 'retrying' | 'failed'> {
  const context = { pingId: ping.id, deploymentId: ping.deploymentId, event: ping.event, attempt: ping.attempts };
  if (!ping.url) {
    await recordPingOutcome(deps.db, ping.id, {
      status: 'FAILED',
      lastError: 'the deployment has no dead-man URL now',
    });
    log.warn(context, 'dead-man ping given up: the deployment has no dead-man URL now');
    return 'failed';
  }
  const posted = await postOutboxRow(
    pingUrlFor(ping.url, ping.event),
    { headers: { 'user-agent': 'ops-agent-backups', 'x-ops-ping-id': ping.id } },
    { fetch: deps.fetch, timeoutMs, signal: options.signal, urlPlaceholder: '<dead-man URL>' },
  );
  if (posted.ok) {
    await recordPingOutcome(deps.db, ping.id, { status: 'DELIVERED', at: deps.clock() });
    log.info(context, `dead-man ping "${ping.event}" delivered`);
    return 'delivered';
  }
  const { reason, retryable } = posted;
  if (!retryable) {
    await recordPingOutcome(deps.db, ping.id, { status: 'FAILED', lastError: `${reason} (refused)` });
    log.error({ ...context, reason }, 'the dead-man service refused the ping; not retrying');
    return 'failed';
  }
  const decision = planDeliveryRetry(ping, deps.clock(), options.retryPolicy ?? DEFAULT_DELIVERY_RETRY_POLICY);
  if (decision.status === 'FAILED') {
    await recordPingOutcome(deps.db, ping.id, { status: 'FAILED', lastError: `${reason} (${decision.reason})` });
    log.error({ ...context, reason }, 'dead-man ping given up');
    return 'failed';
  }
  await recordPingOutcome(deps.db, ping.id, {
    status: 'PENDING',
    nextAttemptAt: decision.nextAttemptAt,
    lastError: reason,
  });
  log.warn(
    { ...context, reason, nextAttemptAt: decision.nextAttemptAt.toISOString() },
    'dead-man ping failed; retrying',
  );
  return 'retrying';
}

/** Dead-man pings sent in the background of the worker. */
export interface DeadManPingTimer {
  sendNow(): Promise<void>;
  stop(): Promise<void>;
}

/** Sends due pings every `intervalMs` and on `sendNow`, one pass at a time; never keeps the process alive. */
export function startDeadManPingTimer(
  deps: DeadManPingDependencies,
  intervalMs: number,
  options: Omit<PingOptions, 'signal'> = {},
): DeadManPingTimer {
  const log = deps.logger.child({ module: 'ops-agent/dead-man' });
  const timer = startPassTimer(
    async (signal) => {
      await sendDeadManPings(deps, deps.clock(), { ...options, signal });
    },
    intervalMs,
    (error) => log.error({ err: error }, 'dead-man ping pass failed; the next one tries again'),
  );
  return { sendNow: timer.runNow, stop: timer.stop };
}
