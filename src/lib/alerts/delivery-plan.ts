/**
 * When a failed webhook delivery is tried again, as a pure function of its attempts, its age and the time: exponential
 * backoff (base × 2^(attempts-1), capped), and it gives up once it has made `maxAttempts` attempts or its next attempt
 * would fall more than `maxAgeMs` after the alert opened (a page that late is news, not an alert). A delivery is
 * always attempted at least once, however late its first attempt comes.
 */
export interface DeliveryRetryPolicy {
  /** Delay after the first failed attempt. */
  baseDelayMs: number;
  /** Longest delay between two attempts. */
  maxDelayMs: number;
  /** Attempts after which the delivery gives up. */
  maxAttempts: number;
  /** Age (from the delivery's creation) past which no further attempt is made. */
  maxAgeMs: number;
}

/** 10 s, 20 s, 40 s, … at most 15 min apart; gives up after 100 attempts or 24 hours, whichever comes first. */
export const DEFAULT_DELIVERY_RETRY_POLICY: DeliveryRetryPolicy = {
  baseDelayMs: 10_000,
  maxDelayMs: 15 * 60_000,
  maxAttempts: 100,
  maxAgeMs: 24 * 3_600_000,
};

/** What follows a failed attempt: another attempt at `nextAttemptAt`, or giving up (with the reason, for people). */
export type DeliveryRetryDecision =
  { status: 'PENDING'; nextAttemptAt: Date; delayMs: number } | { status: 'FAILED'; reason: string };

/**
 * The decision after a failed attempt. `attempts` counts the attempts made, the failed one included; `createdAt` is
 * when the delivery was written (with its alert).
 */
export function planDeliveryRetry(
  delivery: { attempts: number; createdAt: Date },
  failedAt: Date,
  policy: DeliveryRetryPolicy = DEFAULT_DELIVERY_RETRY_POLICY,
): DeliveryRetryDecision {
  if (delivery.attempts >= policy.maxAttempts) {
    return { status: 'FAILED', reason: `gave up after ${delivery.attempts} attempt(s)` };
  }
  // The exponent stops growing once the cap is reached, so 2^n never overflows.
  const exponent = Math.min(
    Math.max(delivery.attempts - 1, 0),
    Math.ceil(Math.log2(policy.maxDelayMs / policy.baseDelayMs + 1)),
  );
  const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  const nextAttemptAt = new Date(failedAt.getTime() + delayMs);
  if (nextAttemptAt.getTime() - delivery.createdAt.getTime() > policy.maxAgeMs) {
    return {
      status: 'FAILED',
      reason: `gave up after ${delivery.attempts} attempt(s): the alert is more than ${formatHours(policy.maxAgeMs)} old`,
    };
  }
  return { status: 'PENDING', nextAttemptAt, delayMs };
}

/** Whether an HTTP answer is worth another attempt: 5xx, 408 and 429 are; another 4xx means the receiver refused it. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function formatHours(ms: number): string {
  const hours = ms / 3_600_000;
  return Number.isInteger(hours) ? `${hours} h` : `${Math.round(ms / 60_000)} min`;
}
