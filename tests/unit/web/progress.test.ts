import { describe, expect, it } from 'vitest';
import { describeProgress } from '../../../src/lib/web/progress.ts';

const STARTED = '2026-03-01T03:00:00.000Z';
const MIB = 1024 * 1024;
const at = (seconds: number) => new Date(Date.parse(STARTED) + seconds * 1_000);

describe('describeProgress: what a running job shows', () => {
  it.each([
    ['nothing recorded yet', { progressBytes: null, progressAt: null }, 5, undefined, 'starting · 5.0 s', null],
    [
      'bytes, the average rate since the start, and the elapsed time',
      { progressBytes: String(300 * MIB), progressAt: at(60).toISOString() },
      75,
      undefined,
      '300.0 MiB received · 5.0 MiB/s · 1 min 15 s',
      null,
    ],
    [
      'a bar towards the previous size',
      { progressBytes: String(50 * MIB), progressAt: at(10).toISOString() },
      10,
      BigInt(200 * MIB),
      '50.0 MiB received · 5.0 MiB/s · 10.0 s',
      0.25,
    ],
    [
      'a bar that never reads full while the job runs',
      { progressBytes: String(500 * MIB), progressAt: at(10).toISOString() },
      10,
      BigInt(200 * MIB),
      '500.0 MiB received · 50.0 MiB/s · 10.0 s',
      0.99,
    ],
  ])('%s', (_case, record, elapsedSeconds, expectedBytes, text, fraction) => {
    const view = describeProgress({ startedAt: STARTED, ...record }, at(elapsedSeconds), { expectedBytes });
    expect(view).toEqual({ text, fraction });
  });
});
