/**
 * In-process rate limits (token buckets): each key (a client address, a token id) holds up to `capacity` requests and
 * regains one every `refillMs`. Time is an argument, so the rule is testable without clocks. The state lives in the
 * web process: several replicas each allow the limit (documented), which still bounds what one client can make the
 * database and the workers do.
 */

/** A bucket's size and how fast it refills. */
export interface RateRule {
  capacity: number;
  refillMs: number;
}

/** The outcome of asking for a request: allowed, or refused with the seconds until one is allowed again. */
export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

/** Keys remembered at most; past it the least recently added is forgotten (a full bucket again). */
const MAX_KEYS = 10_000;

/** One limit over many keys. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(readonly rule: RateRule) {}

  /** Whether `key` may make a request at `now`, without counting one (see `take`). */
  check(key: string, now: Date): RateDecision {
    return this.#decide(this.#level(key, now.getTime()));
  }

  /** Counts a request of `key` at `now` if one is allowed. */
  take(key: string, now: Date): RateDecision {
    const at = now.getTime();
    const tokens = this.#level(key, at);
    const decision = this.#decide(tokens);
    this.#buckets.delete(key);
    if (this.#buckets.size >= MAX_KEYS) this.#buckets.delete(this.#buckets.keys().next().value as string);
    this.#buckets.set(key, { tokens: decision.ok ? tokens - 1 : tokens, at });
    return decision;
  }

  #level(key: string, at: number): number {
    const bucket = this.#buckets.get(key);
    if (!bucket) return this.rule.capacity;
    const regained = Math.max(0, at - bucket.at) / this.rule.refillMs;
    return Math.min(this.rule.capacity, bucket.tokens + regained);
  }

  #decide(tokens: number): RateDecision {
    if (tokens >= 1) return { ok: true };
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(((1 - tokens) * this.rule.refillMs) / 1000)) };
  }
}
