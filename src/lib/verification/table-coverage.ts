import { describeTables } from './dump-tables.ts';

/** When a dump counts as short of tables; see `assessTableCoverage`. */
export interface CoverageSettings {
  /**
   * A dump holding fewer than this percentage of the live tables is suspicious: 100 flags any missing table, 0 turns
   * the check off.
   */
  minPercent: number;
}

/**
 * Any missing table: the live count is taken in the same container right before the dump, and pg_dump and
 * mysqldump dump every table of the database or fail, so a difference is a hole (a table filter, a tool that skipped
 * tables), not noise. Only a table dropped in the seconds between the count and the dump gives a false alarm, and
 * that is a warning a person can dismiss. A percentage would hide exactly the common case, one table of many.
 */
export const DEFAULT_COVERAGE_SETTINGS: CoverageSettings = { minPercent: 100 };

/** Whether the dump holds too few tables, and the reason for a person (counts only, never a table's name). */
export type CoverageAssessment = { short: false } | { short: true; reason: string };

/**
 * Judges the tables a dump holds against the tables the database held just before the export. Tables created in
 * between are in the dump and not in the count, so they can only make the dump look fuller: only fewer tables than
 * the count is short. Pure.
 */
export function assessTableCoverage(
  dumpTables: number,
  liveTables: number,
  settings: CoverageSettings = DEFAULT_COVERAGE_SETTINGS,
): CoverageAssessment {
  if (settings.minPercent <= 0 || dumpTables * 100 >= liveTables * settings.minPercent) return { short: false };
  // Rounded down: 99.97% must not read as 100%.
  const percent = Math.floor((dumpTables * 1000) / liveTables) / 10;
  const rule =
    settings.minPercent >= 100
      ? 'any missing table counts as suspicious'
      : `under ${settings.minPercent}% counts as suspicious`;
  return {
    short: true,
    reason:
      `the dump holds ${describeTables(dumpTables)} of the ${liveTables} the database had when the export began ` +
      `(${percent}%); ${rule}`,
  };
}
