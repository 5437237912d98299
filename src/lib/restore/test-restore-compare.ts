/**
 * Comparing the counts of two test-restores of a deployment: did the data shrink unexpectedly? Growth and new tables
 * are normal; a table (or Redis database) that disappeared, one that went to zero, or one that lost more than the
 * tolerated share of its rows (or keys) is a finding. Pure, table-tested.
 */
import { z } from 'zod';

/** What a RestoreRecord's `counts` holds (see count-lines.ts). */
export type RestoreCounts = { tables: Record<string, number> } | { keys: Record<string, number> };

const countMapSchema = z.record(z.string(), z.number().int().nonnegative());
/** The shape of `RestoreRecord.counts`, to read the JSON column safely. */
export const restoreCountsSchema = z.union([
  z.object({ tables: countMapSchema }).strict(),
  z.object({ keys: countMapSchema }).strict(),
]);

export const shrinkOptionsSchema = z.object({
  shrinkTolerance: z
    .number()
    .min(0)
    .max(1, { error: 'must be a fraction from 0 to 1 (0.1 tolerates a drop of 10%)' })
    .default(0.1)
    .describe("Largest tolerated drop of a table's rows (or a database's keys), as a fraction of the previous count."),
  minimumDrop: z
    .number()
    .int()
    .nonnegative()
    .default(10)
    .describe(
      'A drop of fewer rows or keys than this is never a finding (a table of 5 rows losing 1), except to zero.',
    ),
});
export type ShrinkOptions = z.input<typeof shrinkOptionsSchema>;

/** One table or Redis database that shrank. `current` is null when it disappeared. */
export interface Shrinkage {
  name: string;
  previous: number;
  current: number | null;
  change: 'disappeared' | 'emptied' | 'shrank';
}

export type CountComparison =
  /** No previous counts, or counts of another kind (tables vs keys): nothing to compare. */
  | { comparable: false; reason: string }
  | { comparable: true; unit: 'rows' | 'keys'; shrank: Shrinkage[]; compared: number };

/** Compares the counts of the previous test-restore with the current one's. */
export function compareRestoreCounts(
  previous: RestoreCounts | null,
  current: RestoreCounts,
  options: ShrinkOptions = {},
): CountComparison {
  const { shrinkTolerance, minimumDrop } = shrinkOptionsSchema.parse(options);
  if (previous === null)
    return { comparable: false, reason: 'this is the first test-restore: its counts are the baseline' };
  const before = 'tables' in previous ? previous.tables : previous.keys;
  const unit = 'tables' in current ? 'rows' : 'keys';
  if ('tables' in previous !== 'tables' in current) {
    return { comparable: false, reason: 'the previous test-restore counted other things (tables against keys)' };
  }
  const after = 'tables' in current ? current.tables : current.keys;
  const shrank: Shrinkage[] = [];
  for (const [name, previousCount] of Object.entries(before).sort(([a], [b]) => a.localeCompare(b))) {
    const currentCount = Object.hasOwn(after, name) ? (after[name] as number) : null;
    if (currentCount === null) {
      shrank.push({ name, previous: previousCount, current: null, change: 'disappeared' });
    } else if (currentCount === 0 && previousCount > 0) {
      shrank.push({ name, previous: previousCount, current: 0, change: 'emptied' });
    } else {
      const drop = previousCount - currentCount;
      if (drop >= Math.max(minimumDrop, 1) && drop > previousCount * shrinkTolerance) {
        shrank.push({ name, previous: previousCount, current: currentCount, change: 'shrank' });
      }
    }
  }
  return { comparable: true, unit, shrank, compared: Object.keys(before).length };
}

/** The findings as one sentence per table, e.g. `public.orders: 1200 → 30 rows (-97.5%)`. */
export function describeShrinkage(shrank: readonly Shrinkage[], unit: 'rows' | 'keys'): string {
  return shrank
    .map((item) => {
      if (item.current === null) return `${item.name} disappeared (it had ${item.previous} ${unit})`;
      const percent = item.previous === 0 ? 0 : ((item.current - item.previous) / item.previous) * 100;
      return `${item.name}: ${item.previous} → ${item.current} ${unit} (${percent.toFixed(1)}%)`;
    })
    .join('; ');
}
