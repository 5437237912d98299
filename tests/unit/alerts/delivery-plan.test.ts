import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DELIVERY_RETRY_POLICY,
  type DeliveryRetryPolicy,
  isRetryableStatus,
  planDeliveryRetry,
} from '../../../src/lib/alerts/delivery-plan.ts';

const T0 = new Date('2026-12-02T03:00:00.000Z');
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const at = (ms: number) => new Date(T0.getTime() + ms);

describe('planDeliveryRetry', () => {
  it.each([
    [1, 10 * SECOND],
    [2, 20 * SECOND],
    [3, 40 * SECOND],
    [4, 80 * SECOND],
    [6, 320 * SECOND],
    [7, 640 * SECOND],
    [8, 15 * MINUTE],
    [50, 15 * MINUTE],
  ])('after %i failed attempt(s) the next one waits %i ms', (attempts, delayMs) => {
    const failedAt = at(MINUTE);
    expect(planDeliveryRetry({ attempts, createdAt: T0 }, failedAt)).toEqual({
      status: 'PENDING',
      delayMs,
      nextAttemptAt: new Date(failedAt.getTime() + delayMs),
    });
  });

  it('gives up after the last allowed attempt', () => {
    expect(planDeliveryRetry({ attempts: DEFAULT_DELIVERY_RETRY_POLICY.maxAttempts, createdAt: T0 }, at(HOUR))).toEqual(
      {
        status: 'FAILED',
        reason: 'gave up after 100 attempt(s)',
      },
    );
  });

  it('gives up when the next attempt would come more than 24 hours after the alert opened', () => {
    const createdAt = T0;
    expect(planDeliveryRetry({ attempts: 30, createdAt }, at(24 * HOUR - 15 * MINUTE))).toMatchObject({
      status: 'PENDING',
      nextAttemptAt: at(24 * HOUR),
    });
    expect(planDeliveryRetry({ attempts: 31, createdAt }, at(24 * HOUR - 15 * MINUTE + 1))).toEqual({
      status: 'FAILED',
      reason: 'gave up after 31 attempt(s): the alert is more than 24 h old',
    });
  });

  it('follows a custom policy, and a huge attempt count never overflows the cap', () => {
    const policy: DeliveryRetryPolicy = {
      baseDelayMs: SECOND,
      maxDelayMs: 5 * SECOND,
      maxAttempts: 10_000,
      maxAgeMs: 90 * MINUTE,
    };
    expect(planDeliveryRetry({ attempts: 1, createdAt: T0 }, T0, policy)).toMatchObject({ delayMs: SECOND });
    expect(planDeliveryRetry({ attempts: 3, createdAt: T0 }, T0, policy)).toMatchObject({ delayMs: 4 * SECOND });
    expect(planDeliveryRetry({ attempts: 5_000, createdAt: T0 }, T0, policy)).toMatchObject({ delayMs: 5 * SECOND });
    expect(planDeliveryRetry({ attempts: 2, createdAt: T0 }, at(90 * MINUTE), policy)).toEqual({
      status: 'FAILED',
      reason: 'gave up after 2 attempt(s): the alert is more than 90 min old',
    });
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [500, true],
    [502, true],
    [503, true],
    [408, true],
    [429, true],
    [400, false],
    [401, false],
    [404, false],
    [410, false],
  ])('HTTP %i: retry %s', (status, retry) => {
    expect(isRetryableStatus(status)).toBe(retry);
  });
});
