import { describe, expect, it } from 'vitest';
import { runWithConcurrency } from '../../../src/lib/shared/run-with-concurrency.ts';

/** A task that finishes only when the test releases it, recording how many run at once. */
function gate() {
  let running = 0;
  let peak = 0;
  const releases: Array<() => void> = [];
  const started: number[] = [];
  return {
    work: (item: number) =>
      new Promise<void>((resolve) => {
        running += 1;
        peak = Math.max(peak, running);
        started.push(item);
        releases.push(() => {
          running -= 1;
          resolve();
        });
      }),
    releaseAll: () => releases.splice(0).forEach((release) => release()),
    peak: () => peak,
    started,
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('runWithConcurrency', () => {
  it('runs every item, never more than the limit at once', async () => {
    const g = gate();
    const done = runWithConcurrency([1, 2, 3, 4, 5], 2, undefined, g.work);
    for (let i = 0; i < 5; i += 1) {
      await flush();
      g.releaseAll();
    }
    await done;
    expect(g.started.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(g.peak()).toBe(2);
  });

  it('starts nothing new once stopped, and lets running items finish', async () => {
    const g = gate();
    const stop = new AbortController();
    const done = runWithConcurrency([1, 2, 3, 4], 2, stop.signal, g.work);
    await flush();
    expect(g.started).toEqual([1, 2]);
    stop.abort();
    g.releaseAll();
    await done;
    expect(g.started).toEqual([1, 2]);
  });

  it('keeps going when an item fails, and returns the failures', async () => {
    const seen: number[] = [];
    const failures = await runWithConcurrency([1, 2, 3], 1, undefined, async (item) => {
      seen.push(item);
      if (item === 1) throw new Error('boom');
    });
    expect(seen).toEqual([1, 2, 3]);
    expect(failures).toEqual([new Error('boom')]);
  });
});
