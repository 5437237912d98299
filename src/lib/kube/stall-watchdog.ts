/** How long an export or a restore may go without moving a byte before it is stopped as `Stalled` (10 minutes). */
export const DEFAULT_STALL_MS = 10 * 60_000;

/** Watches a byte stream for silence; see `startStallWatchdog`. */
export interface StallWatchdog {
  /** Bytes moved: the silence starts again from now. */
  touch(): void;
  /** The silence is ours (we paused the stream for backpressure, or the input has all been sent): stop watching. */
  hold(): void;
  /** Watch again, the silence starting from now. */
  release(): void;
  stop(): void;
}

/**
 * Calls `onStall` once when `touch` has not been called for `stallMs` while not held. A check runs every quarter of
 * `stallMs` (a few timers per transfer, not one per chunk), so a stall is seen between `stallMs` and 1.25 × `stallMs`
 * after the last byte.
 */
export function startStallWatchdog(stallMs: number, onStall: () => void): StallWatchdog {
  let lastActivity = performance.now();
  let held = false;
  const check = setInterval(
    () => {
      if (held || performance.now() - lastActivity < stallMs) return;
      clearInterval(check);
      onStall();
    },
    Math.max(10, Math.floor(stallMs / 4)),
  );
  check.unref();
  return {
    touch() {
      lastActivity = performance.now();
    },
    hold() {
      held = true;
    },
    release() {
      held = false;
      lastActivity = performance.now();
    },
    stop() {
      clearInterval(check);
    },
  };
}
