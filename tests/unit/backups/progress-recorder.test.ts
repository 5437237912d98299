import { describe, expect, it } from 'vitest';
import { createProgressRecorder } from '../../../src/lib/backups/progress-recorder.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';

const T0 = new Date('2026-03-01T03:00:00Z');
const INTERVAL_MS = 2_000;

/** A recorder on a clock the test moves, whose writes are recorded (and can be held open). */
function recorder() {
  let now = T0.getTime();
  const writes: Array<{ bytes: number; at: number }> = [];
  let release: (() => void) | null = null;
  let hold = false;
  const progress = createProgressRecorder({
    write: async (bytes, at) => {
      writes.push({ bytes, at: at.getTime() - T0.getTime() });
      if (hold) await new Promise<void>((resolve) => (release = resolve));
    },
    clock: () => new Date(now),
    logger: createLogger({ level: 'silent' }),
    intervalMs: INTERVAL_MS,
  });
  return {
    progress,
    writes,
    advance: (ms: number) => (now += ms),
    holdWrites: () => (hold = true),
    releaseWrite: () => {
      hold = false;
      release?.();
    },
  };
}

describe('createProgressRecorder', () => {
  it('writes the first report at once, then at most one every interval', async () => {
    const { progress, writes, advance } = recorder();
    progress.report(1);
    for (let step = 0; step < 10; step += 1) {
      advance(500);
      progress.report(2 + step);
      await Promise.resolve();
    }
    await progress.settle();
    expect(writes).toEqual([
      { bytes: 1, at: 0 },
      { bytes: 5, at: 2_000 },
      { bytes: 9, at: 4_000 },
    ]);
  });

  it('never writes twice at once, and settle waits for the write in flight', async () => {
    const { progress, writes, advance, holdWrites, releaseWrite } = recorder();
    holdWrites();
    progress.report(10);
    advance(5_000);
    progress.report(20);
    expect(writes).toHaveLength(1);
    let settled = false;
    const settling = progress.settle().then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    releaseWrite();
    await settling;
    // A report made before settle() is dropped: the record's final update follows.
    expect(writes).toEqual([{ bytes: 10, at: 0 }]);
  });

  it('a failed write is logged, never thrown, and the next report writes again', async () => {
    let now = T0.getTime();
    let fail = true;
    const attempts: number[] = [];
    const progress = createProgressRecorder({
      write: async (bytes) => {
        attempts.push(bytes);
        if (fail) throw new Error('database gone');
      },
      clock: () => new Date(now),
      logger: createLogger({ level: 'silent' }),
      intervalMs: INTERVAL_MS,
    });
    progress.report(1);
    await progress.settle();
    fail = false;
    now += INTERVAL_MS;
    progress.report(2);
    await progress.settle();
    expect(attempts).toEqual([1, 2]);
  });
});
