/**
 * When a failed off-site upload is tried again, as a pure function of the attempt count and the time: exponential
 * backoff (base × 2^(attempts-1), capped), and after `maxAttempts` failed attempts the upload gives up (FAILED).
 */
export interface UploadRetryPolicy {
  /** Delay after the first failure. */
  baseDelayMs: number;
  /** Longest delay between two attempts. */
  maxDelayMs: number;
  /** Failed attempts after which the upload is FAILED for good (until an operator retries it). */
  maxAttempts: number;
}

/** 1 min, 2, 4, … capped at 6 h; 12 attempts span about 20 hours of trying. */
export const DEFAULT_UPLOAD_RETRY_POLICY: UploadRetryPolicy = {
  baseDelayMs: 60_000,
  maxDelayMs: 6 * 3_600_000,
  maxAttempts: 12,
};

/** What follows a failed attempt: another attempt at `nextAttemptAt`, or giving up. */
export type UploadRetryDecision =
  | { status: 'PENDING'; attempts: number; nextAttemptAt: Date; delayMs: number }
  | { status: 'FAILED'; attempts: number };

/** The decision after a failure, given the attempts made before it (0 for the first) and when it failed. */
export function planUploadRetry(
  previousAttempts: number,
  failedAt: Date,
  policy: UploadRetryPolicy = DEFAULT_UPLOAD_RETRY_POLICY,
): UploadRetryDecision {
  const attempts = previousAttempts + 1;
  if (attempts >= policy.maxAttempts) return { status: 'FAILED', attempts };
  // 2^(attempts-1) overflows nothing for any realistic cap: the exponent stops growing once the cap is reached.
  const exponent = Math.min(attempts - 1, Math.ceil(Math.log2(policy.maxDelayMs / policy.baseDelayMs + 1)));
  const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return { status: 'PENDING', attempts, nextAttemptAt: new Date(failedAt.getTime() + delayMs), delayMs };
}
