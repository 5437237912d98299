/** A pass run in the background of a long-running process (the worker), one at a time. */
export interface PassTimer {
  /** Runs a pass now, after the one in progress if any; resolves when done and never rejects. */
  runNow(): Promise<void>;
  /** Stops the timer, aborts the pass in progress (through its signal) and waits for it. */
  stop(): Promise<void>;
}

/**
 * Runs `pass` every `intervalMs` (counted from the end of the previous one) and whenever `runNow` is called, never
 * two at once. A pass that throws is handed to `onError` and the timer goes on. It never keeps the process alive.
 */
export function startPassTimer(
  pass: (signal: AbortSignal) => Promise<void>,
  intervalMs: number,
  onError: (error: unknown) => void,
): PassTimer {
  const stopping = new AbortController();
  let current: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const guarded = async () => {
    try {
      await pass(stopping.signal);
    } catch (error) {
      onError(error);
    }
  };
  const runNow = () => (current = current.then(guarded));
  const schedule = () => {
    timer = setTimeout(() => void runNow().then(() => stopping.signal.aborted || schedule()), intervalMs);
    timer.unref();
  };
  schedule();
  return {
    runNow,
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await current;
    },
  };
}
