/**
 * The web process's rate limits: failed sign-ins per client address (password guessing), and the expensive requests
 * (a restore dry-run or approval counts every live table; a backup request queues work) per token and per client
 * address. A refused request gets 429 with `Retry-After` and does nothing.
 */
import { problem } from './http.ts';
import { RateLimiter, type RateDecision } from './rate-limit.ts';

const SECOND = 1_000;

/** The limiters of one web process (built once, with the web context). */
export interface RequestLimits {
  /** Failed sign-ins per client address: 10 at once, then one every 6 s. */
  failedSignIns: RateLimiter;
  /** Restore dry-runs and approvals per token: 3 at once, then one every 20 s; per address twice that. */
  restorePlansByToken: RateLimiter;
  restorePlansByAddress: RateLimiter;
  /** Backup requests per token: 10 at once, then one every 6 s; per address twice that. */
  backupRequestsByToken: RateLimiter;
  backupRequestsByAddress: RateLimiter;
}

/** Fresh limiters with the limits above. */
export function createRequestLimits(): RequestLimits {
  return {
    failedSignIns: new RateLimiter({ capacity: 10, refillMs: 6 * SECOND }),
    restorePlansByToken: new RateLimiter({ capacity: 3, refillMs: 20 * SECOND }),
    restorePlansByAddress: new RateLimiter({ capacity: 6, refillMs: 10 * SECOND }),
    backupRequestsByToken: new RateLimiter({ capacity: 10, refillMs: 6 * SECOND }),
    backupRequestsByAddress: new RateLimiter({ capacity: 20, refillMs: 3 * SECOND }),
  };
}

/**
 * Counts one request against a token's and an address's limiter: null when both allow it, else the 429 to send
 * (neither counts a refused request).
 */
export function limitRequest(
  limiters: { byToken: RateLimiter; byAddress: RateLimiter },
  keys: { tokenId: string; address: string },
  now: Date,
  what: string,
): Response | null {
  const byToken = limiters.byToken.check(keys.tokenId, now);
  const byAddress = limiters.byAddress.check(keys.address, now);
  const refused = [byToken, byAddress].find((decision) => !decision.ok);
  if (refused) return tooManyRequests(refused, what);
  limiters.byToken.take(keys.tokenId, now);
  limiters.byAddress.take(keys.address, now);
  return null;
}

/** The 429 for a refused decision. */
export function tooManyRequests(decision: RateDecision, what: string): Response {
  const seconds = decision.ok ? 1 : decision.retryAfterSeconds;
  return problem(429, `too many ${what}: try again in ${seconds} s`, { 'retry-after': String(seconds) });
}
