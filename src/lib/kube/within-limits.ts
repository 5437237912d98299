/**
 * Starts `work` unless the signal already fired, and settles with it unless the time limit or the signal comes first;
 * then it rejects with the caller's error for that case (`aborted()` / `timedOut()`) and the late outcome of `work`
 * is ignored. Used for the pod lookup before an export or an import.
 */
export function withinLimits<T>(
  work: () => Promise<T>,
  limits: { timeoutMs: number; signal: AbortSignal | undefined; aborted: () => Error; timedOut: () => Error },
): Promise<T> {
  const { timeoutMs, signal } = limits;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = () => settle(() => reject(limits.aborted()));
    const timer = setTimeout(() => settle(() => reject(limits.timedOut())), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    work().then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}
