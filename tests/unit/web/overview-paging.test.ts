import { describe, expect, it } from 'vitest';
import { OVERVIEW_PAGE_SIZE, overviewQuerySchema, pageOf } from '../../../src/lib/web/overview.ts';

describe('overview paging', () => {
  const items = Array.from({ length: 120 }, (_, index) => index + 1);

  it('gives each page its rows and says where it sits', () => {
    expect(pageOf(items, 1, 50)).toEqual({ items: items.slice(0, 50), page: 1, pageCount: 3, first: 1, total: 120 });
    expect(pageOf(items, 3, 50)).toEqual({ items: items.slice(100), page: 3, pageCount: 3, first: 101, total: 120 });
  });

  it('clamps a page beyond the last to the last, and below 1 to 1', () => {
    expect(pageOf(items, 99, 50).page).toBe(3);
    expect(pageOf(items, 99, 50).items).toEqual(items.slice(100));
    expect(pageOf(items, 0, 50).page).toBe(1);
  });

  it('has one empty page when there is nothing', () => {
    expect(pageOf([], 1, 50)).toEqual({ items: [], page: 1, pageCount: 1, first: 1, total: 0 });
  });

  it('reads ?page as a whole number from 1, default 1, and refuses anything else', () => {
    expect(overviewQuerySchema.parse({})).toEqual({ page: 1 });
    expect(overviewQuerySchema.parse({ page: '4' })).toEqual({ page: 4 });
    for (const bad of ['0', '-1', '1.5', 'two', '1e9'])
      expect(overviewQuerySchema.safeParse({ page: bad }).success).toBe(false);
    expect(OVERVIEW_PAGE_SIZE).toBeGreaterThanOrEqual(20);
  });
});
