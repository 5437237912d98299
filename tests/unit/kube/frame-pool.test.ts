import { describe, expect, it } from 'vitest';
import { createFramePool } from '../../../src/lib/kube/frame-pool.ts';

describe('the frame pool of a restore stream', () => {
  it('gives a frame of exactly the size asked for', () => {
    const pool = createFramePool();

    expect(pool.take(1 + 256 * 1024)).toHaveLength(1 + 256 * 1024);
    expect(pool.take(1)).toHaveLength(1);
  });

  it('reuses a frame given back for the next one, whatever its size up to the buffer it came from', () => {
    const pool = createFramePool();
    const first = pool.take(100_000);
    pool.give(first);
    const second = pool.take(60_000);

    expect(second.buffer).toBe(first.buffer);
    expect(second).toHaveLength(60_000);
    pool.give(second);
    // The kept buffer is the whole allocation again, not the 60,000-byte view of it.
    expect(pool.take(100_000).buffer).toBe(first.buffer);
    expect(pool.allocations).toBe(1);
  });

  it('allocates when every kept buffer is too small or in flight', () => {
    const pool = createFramePool();
    const small = pool.take(10);
    const inFlight = pool.take(10);
    pool.give(small);
    const large = pool.take(1024 * 1024);

    expect(large.buffer).not.toBe(small.buffer);
    expect(large.buffer).not.toBe(inFlight.buffer);
    expect(pool.allocations).toBe(3);
  });

  it('streams a gigabyte of frames through a few buffers when each is given back after its send', () => {
    const pool = createFramePool();
    const inFlight: Buffer[] = [];
    for (let sent = 0; sent < 4096; sent += 1) {
      inFlight.push(pool.take(1 + 256 * 1024));
      // At most 16 frames queued (4 MiB of 256 KiB frames), as the socket's high-water mark allows.
      if (inFlight.length > 16) pool.give(inFlight.shift()!);
    }

    expect(pool.allocations).toBe(17);
  });

  it('keeps at most maxSpare buffers', () => {
    const pool = createFramePool(2);
    const frames = [pool.take(10), pool.take(10), pool.take(10)];
    for (const frame of frames) pool.give(frame);
    pool.take(10);
    pool.take(10);
    pool.take(10);

    expect(pool.allocations).toBe(4);
  });

  it('never hands out a slice of a buffer that something else shares', () => {
    const frame = createFramePool().take(10);

    expect(frame.byteOffset).toBe(0);
    expect(frame.buffer.byteLength).toBeGreaterThanOrEqual(10);
  });
});
