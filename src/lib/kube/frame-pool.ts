/** Frame buffers are allocated in steps of this size, so frames of nearby sizes share them. */
const FRAME_ALLOCATION_STEP = 64 * 1024;

/**
 * Reusable buffers for the stdin frames of one exec. A frame is taken for one `ws.send` and given back by that
 * send's write callback: by then the socket has taken its bytes (ws either copies a frame while masking it, before
 * `send` returns, or writes it by reference and calls back once it is written), so the next frame may overwrite it.
 * A new buffer per frame instead is garbage that V8 frees only in a mark-compact of the whole heap, which it starts
 * after some tens of MiB of such buffers: dozens per GiB restored.
 *
 * At most `maxSpare` buffers are kept; the frames in flight are bounded by the caller (the socket's high-water mark).
 */
export interface FramePool {
  /** A buffer of exactly `bytes` bytes (a view of a kept buffer when one is large enough), contents undefined. */
  take(bytes: number): Buffer;
  /** Hands back a frame that `take` gave; its bytes must no longer be needed. */
  give(frame: Buffer): void;
  /** How many buffers the pool has allocated so far (for tests and benchmarks). */
  readonly allocations: number;
}

export function createFramePool(maxSpare = 32): FramePool {
  const spare: Buffer[] = [];
  let allocations = 0;
  return {
    take(bytes) {
      for (let index = spare.length - 1; index >= 0; index -= 1) {
        const kept = spare[index]!;
        if (kept.length < bytes) continue;
        spare.splice(index, 1);
        return kept.subarray(0, bytes);
      }
      allocations += 1;
      const capacity = Math.ceil(Math.max(bytes, 1) / FRAME_ALLOCATION_STEP) * FRAME_ALLOCATION_STEP;
      // Slow: a buffer of its own (never a slice of Node's shared pool), so `give` can recover all of it.
      return Buffer.allocUnsafeSlow(capacity).subarray(0, bytes);
    },
    give(frame) {
      if (spare.length >= maxSpare) return;
      spare.push(Buffer.from(frame.buffer, 0, frame.buffer.byteLength));
    },
    get allocations() {
      return allocations;
    },
  };
}
