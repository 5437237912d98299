/**
 * Runs `work` over `items`, at most `limit` at a time, starting nothing new once `stop` is aborted. A failing item
 * does not stop the others; the failures are returned.
 */
export async function runWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  stop: AbortSignal | undefined,
  work: (item: T) => Promise<void>,
): Promise<unknown[]> {
  let next = 0;
  const failures: unknown[] = [];
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !stop?.aborted) {
      const item = items[next] as T;
      next += 1;
      await work(item).catch((error: unknown) => failures.push(error));
    }
  });
  await Promise.all(lanes);
  return failures;
}
