import { BadCountOutputError } from './import-errors.ts';

/** What a count step found: the database it counted and rows per table, or keys per logical database. */
export interface DataCounts {
  database: string | null;
  counts: { tables: Record<string, number> } | { keys: Record<string, number> };
}

/**
 * Reads the count lines a recipe's count (or Redis scratch import) step prints: `database<TAB>name`, then
 * `table<TAB>name<TAB>rows` or `keys<TAB>db0<TAB>keys`. Names may hold anything but a tab's neighbours are the kind and
 * the number, so the name is what lies between the first and last tab. Blank lines are skipped; any other line, a
 * negative or non-integer count, or a kind other than `kind` throws `BadCountOutputError`. Pure.
 */
export function parseCountLines(text: string, kind: 'tables' | 'keys'): DataCounts {
  const counted: Record<string, number> = {};
  let database: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const first = line.indexOf('\t');
    const label = first < 0 ? line : line.slice(0, first);
    if (label === 'database' && first >= 0) {
      database = line.slice(first + 1);
      continue;
    }
    const expected = kind === 'tables' ? 'table' : 'keys';
    if (label !== expected) throw new BadCountOutputError(line, `expected "database" or "${expected}" lines`);
    const last = line.lastIndexOf('\t');
    const name = line.slice(first + 1, last);
    const value = line.slice(last + 1);
    if (last <= first || name === '' || !/^\d{1,15}$/.test(value))
      throw new BadCountOutputError(line, 'expected <kind><TAB><name><TAB><count>');
    counted[name] = Number(value);
  }
  return { database, counts: kind === 'tables' ? { tables: counted } : { keys: counted } };
}

/** The total rows or keys of a count, e.g. for a one-line summary. */
export function totalOf(counts: DataCounts['counts']): { items: number; total: number; unit: 'rows' | 'keys' } {
  const values = Object.values('tables' in counts ? counts.tables : counts.keys);
  return {
    items: values.length,
    total: values.reduce((sum, value) => sum + value, 0),
    unit: 'tables' in counts ? 'rows' : 'keys',
  };
}
