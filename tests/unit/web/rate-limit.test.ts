import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../src/lib/web/rate-limit.ts';
import { limitRequest } from '../../../src/lib/web/request-limits.ts';

const T0 = new Date('2026-03-01T02:59:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('RateLimiter (token bucket)', () => {
  it('allows a burst of `capacity`, then one per refill interval, and says when to come back', () => {
    const limiter = new RateLimiter({ capacity: 3, refillMs: 20_000 });
    expect([1, 2, 3].map(() => limiter.take('tok', T0).ok)).toEqual([true, true, true]);
    expect(limiter.take('tok', T0)).toEqual({ ok: false, retryAfterSeconds: 20 });
    expect(limiter.take('tok', at(15_000))).toEqual({ ok: false, retryAfterSeconds: 5 });
    expect(limiter.take('tok', at(20_000)).ok).toBe(true);
    expect(limiter.take('tok', at(20_000)).ok).toBe(false);
  });

  it('keeps keys apart and never holds more than its capacity', () => {
    const limiter = new RateLimiter({ capacity: 2, refillMs: 1_000 });
    limiter.take('a', T0);
    limiter.take('a', T0);
    expect(limiter.take('a', T0).ok).toBe(false);
    expect(limiter.take('b', T0).ok).toBe(true);
    const later = at(3_600_000);
    expect([1, 2, 3].map(() => limiter.take('a', later).ok)).toEqual([true, true, false]);
  });

  it('check does not count; a refused take does not count either', () => {
    const limiter = new RateLimiter({ capacity: 1, refillMs: 10_000 });
    expect(limiter.check('a', T0).ok).toBe(true);
    expect(limiter.check('a', T0).ok).toBe(true);
    expect(limiter.take('a', T0).ok).toBe(true);
    expect(limiter.take('a', at(5_000)).ok).toBe(false);
    expect(limiter.take('a', at(10_000)).ok).toBe(true);
  });
});

describe('limitRequest', () => {
  it('429 with Retry-After when the token or the address is over its limit; neither counts a refusal', async () => {
    const byToken = new RateLimiter({ capacity: 1, refillMs: 30_000 });
    const byAddress = new RateLimiter({ capacity: 2, refillMs: 30_000 });
    const limiters = { byToken, byAddress };
    expect(limitRequest(limiters, { tokenId: 't1', address: 'a' }, T0, 'restore plans')).toBeNull();
    const refused = limitRequest(limiters, { tokenId: 't1', address: 'a' }, T0, 'restore plans')!;
    expect([refused.status, refused.headers.get('retry-after')]).toEqual([429, '30']);
    expect((await refused.json()).error).toBe('too many restore plans: try again in 30 s');
    // The refusal did not use the address's second request: another token from it still gets one.
    expect(limitRequest(limiters, { tokenId: 't2', address: 'a' }, T0, 'restore plans')).toBeNull();
    expect(limitRequest(limiters, { tokenId: 't3', address: 'a' }, T0, 'restore plans')?.status).toBe(429);
  });
});
