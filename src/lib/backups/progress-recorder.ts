import type { Logger } from '../shared/index.ts';

/** Writes of a running job's progress are at least this far apart. */
export const PROGRESS_WRITE_INTERVAL_MS = 2_000;

/**
 * Throttles progress reports into at most one write every `intervalMs`, never two at once, and always the latest
 * figure: a report that arrives while a write is in flight is written when it ends (if it is still due). A failed
 * write is logged and never stops the job it reports on.
 */
export function createProgressRecorder(options: {
  write: (bytes: number, at: Date) => Promise<unknown>;
  clock: () => Date;
  logger: Logger;
  intervalMs?: number;
}): { report(bytes: number): void; settle(): Promise<void> } {
  const intervalMs = options.intervalMs ?? PROGRESS_WRITE_INTERVAL_MS;
  let lastWriteAt = Number.NEGATIVE_INFINITY;
  let pending: number | null = null;
  let inFlight: Promise<void> | null = null;

  const flush = (): void => {
    if (inFlight || pending === null) return;
    const now = options.clock();
    if (now.getTime() - lastWriteAt < intervalMs) return;
    const bytes = pending;
    pending = null;
    lastWriteAt = now.getTime();
    inFlight = options
      .write(bytes, now)
      .then(
        () => undefined,
        (error: unknown) => options.logger.warn({ err: error }, 'could not record progress'),
      )
      .finally(() => {
        inFlight = null;
      });
  };

  return {
    report(bytes) {
      pending = bytes;
      flush();
    },
    /** Waits for a write in flight, so none lands after the record's final update. */
    async settle() {
      pending = null;
      await inFlight;
    },
  };
}
