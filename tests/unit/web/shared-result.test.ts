import { describe, expect, it } from 'vitest';
import { createSharedResults } from '../../../src/lib/web/shared-result.ts';

describe('shared results', () => {
  it('computes once for concurrent requests and keeps the result for the period', async () => {
    const results = createSharedResults<number>({ ttlMs: 2_000, maxKeys: 10 });
    let computed = 0;
    const compute = async () => {
      computed += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return computed;
    };
    const answers = await Promise.all(Array.from({ length: 20 }, () => results.get('w1', 1_000, compute)));
    expect(answers).toEqual(Array(20).fill(1));
    expect(await results.get('w1', 2_999, compute)).toBe(1);
    expect(computed).toBe(1);
    expect(await results.get('w1', 3_000, compute)).toBe(2);
    expect(await results.get('w2', 3_000, compute)).toBe(3);
  });

  it('does not keep a failure: the next request computes again', async () => {
    const results = createSharedResults<string>({ ttlMs: 2_000, maxKeys: 10 });
    await expect(results.get('w1', 0, () => Promise.reject(new Error('database down')))).rejects.toThrow(
      'database down',
    );
    expect(await results.get('w1', 1, async () => 'fresh')).toBe('fresh');
  });

  it('stays within maxKeys, dropping expired entries first, then the oldest', async () => {
    const results = createSharedResults<string>({ ttlMs: 1_000, maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) await results.get(key, 0, async () => key);
    await results.get('d', 500, async () => 'd');
    expect(results.size()).toBe(3);
    expect(await results.get('a', 600, async () => 'a again')).toBe('a again');
    await results.get('e', 2_000, async () => 'e');
    expect(results.size()).toBe(1);
  });
});
