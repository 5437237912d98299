import { describe, expect, it } from 'vitest';
import { stringifyJson } from '../../../src/lib/web/http.ts';

describe('stringifyJson', () => {
  it('writes BigInt values, at any depth, as exact decimal strings', () => {
    const value = { size: 2n ** 60n, items: [{ progress: 7n, name: 'a' }], at: new Date('2026-03-01T02:59:00Z') };
    expect(JSON.parse(stringifyJson(value))).toEqual({
      size: '1152921504606846976',
      items: [{ progress: '7', name: 'a' }],
      at: '2026-03-01T02:59:00.000Z',
    });
  });

  it('is JSON.stringify for values without a BigInt', () => {
    const value = { a: 1, b: [null, 'x', { c: true }], d: undefined, e: new Date(0) };
    expect(stringifyJson(value)).toBe(JSON.stringify(value));
  });

  it('still refuses what JSON cannot hold', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => stringifyJson(circular)).toThrow(TypeError);
  });
});
