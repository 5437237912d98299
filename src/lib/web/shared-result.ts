/**
 * Results shared by concurrent requests and kept for a moment: the first request for a key computes it, those that
 * arrive meanwhile wait for the same promise, and later ones within `ttlMs` get it as it was. A dashboard page that
 * every open browser reloads costs one computation per key and period, not one per request. A failed computation is
 * not kept (the next request tries again). Bounded: when `maxKeys` would be exceeded, expired entries go first, then
 * the oldest.
 */
export interface SharedResults<V> {
  get(key: string, now: number, compute: () => Promise<V>): Promise<V>;
  /** Entries kept now (for tests and metrics). */
  size(): number;
}

export function createSharedResults<V>(options: { ttlMs: number; maxKeys: number }): SharedResults<V> {
  const entries = new Map<string, { value: Promise<V>; computedAt: number }>();
  const evict = (now: number) => {
    for (const [key, entry] of entries) if (now - entry.computedAt >= options.ttlMs) entries.delete(key);
    while (entries.size >= options.maxKeys) entries.delete(entries.keys().next().value!);
  };
  return {
    get(key, now, compute) {
      const kept = entries.get(key);
      if (kept && now - kept.computedAt < options.ttlMs) return kept.value;
      if (kept) entries.delete(key);
      evict(now);
      const value = compute();
      const entry = { value, computedAt: now };
      entries.set(key, entry);
      value.catch(() => {
        if (entries.get(key) === entry) entries.delete(key);
      });
      return value;
    },
    size: () => entries.size,
  };
}
