import { describe, expect, it } from 'vitest';
import {
  DEFAULT_UPLOAD_RETRY_POLICY,
  planUploadRetry,
  type UploadRetryPolicy,
} from '../../../src/lib/offsite/upload-backoff.ts';

const T0 = new Date('2026-11-22T03:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('planUploadRetry', () => {
  it.each([
    [0, 1, 1 * MINUTE],
    [1, 2, 2 * MINUTE],
    [2, 3, 4 * MINUTE],
    [3, 4, 8 * MINUTE],
    [6, 7, 64 * MINUTE],
    [8, 9, 256 * MINUTE],
    [9, 10, 6 * HOUR],
    [10, 11, 6 * HOUR],
  ])('after %i earlier attempts: attempt %i failed, the next one waits %i ms', (previous, attempts, delayMs) => {
    expect(planUploadRetry(previous, T0)).toEqual({
      status: 'PENDING',
      attempts,
      delayMs,
      nextAttemptAt: new Date(T0.getTime() + delayMs),
    });
  });

  it('gives up when the last allowed attempt failed', () => {
    expect(planUploadRetry(DEFAULT_UPLOAD_RETRY_POLICY.maxAttempts - 1, T0)).toEqual({
      status: 'FAILED',
      attempts: 12,
    });
    expect(planUploadRetry(DEFAULT_UPLOAD_RETRY_POLICY.maxAttempts + 5, T0)).toMatchObject({ status: 'FAILED' });
  });

  it('follows a custom policy, and a huge attempt count never overflows the cap', () => {
    const policy: UploadRetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 10_000, maxAttempts: 3 };
    expect(planUploadRetry(0, T0, policy)).toMatchObject({ status: 'PENDING', delayMs: 1_000 });
    expect(planUploadRetry(1, T0, policy)).toMatchObject({ status: 'PENDING', delayMs: 2_000 });
    expect(planUploadRetry(2, T0, policy)).toEqual({ status: 'FAILED', attempts: 3 });
    const patient = { ...policy, maxAttempts: 10_000 };
    expect(planUploadRetry(5_000, T0, patient)).toMatchObject({ status: 'PENDING', delayMs: 10_000 });
  });
});
