/**
 * Parsing of 5-field cron expressions (crontab(5), Vixie cron semantics) into plain data.
 *
 * Supported: `*`, numbers, ranges `a-b`, lists `a,b,c`, steps `*\/n`, `a-b/n` and `a/n` (= `a-max/n`),
 * month names `jan`-`dec`, weekday names `sun`-`sat` (any case), `7` as Sunday, and the macros
 * `@hourly @daily @midnight @weekly @monthly @yearly @annually`. Anything else is rejected with a
 * {@link CronParseError} naming the field, the bad token and what is allowed; nothing is guessed.
 */
import { CronTimeZoneError, normalizeTimeZoneName } from './cron-zone.ts';

/** The five fields of a cron expression, in order. */
export type CronField = 'minute' | 'hour' | 'day-of-month' | 'month' | 'day-of-week';

/** Options shared by the cron functions. */
export interface CronOptions {
  /** IANA time zone the expression is read in, e.g. `Europe/Berlin`. Default `UTC`. */
  timezone?: string;
}

/**
 * A parsed cron schedule: plain, frozen data. Value lists are sorted and free of duplicates;
 * `daysOfWeek` uses 0 = Sunday ... 6 = Saturday (a `7` in the expression is stored as 0).
 */
export interface CronSchedule {
  /** The expression as given. */
  readonly expression: string;
  /** The IANA time zone the schedule runs in (`UTC` by default), see `normalizeTimeZoneName`. */
  readonly timezone: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly months: readonly number[];
  readonly daysOfWeek: readonly number[];
  /**
   * Vixie cron: a day field is unrestricted when its text starts with `*` (so `*` and `*\/2` both
   * are). When both day fields are restricted a day matches if either matches; otherwise both
   * must match (an unrestricted `*` matches every day).
   */
  readonly dayOfMonthRestricted: boolean;
  readonly dayOfWeekRestricted: boolean;
  /**
   * True when the minute and hour fields hold only numbers, lists and ranges (no `*`, no step).
   * Such a job runs at fixed wall-clock times, which decides its daylight-saving behaviour
   * (see `cron.ts`).
   */
  readonly fixedTime: boolean;
  /** False for a schedule whose days can never occur, such as `0 0 30 2 *`. */
  readonly canEverFire: boolean;
}

/** A cron expression (or its time zone) that cannot be used, with what was wrong and what is allowed. */
export class CronParseError extends Error {
  override readonly name = 'CronParseError';
  constructor(
    /** The field the problem is in, or `expression` for the expression as a whole. */
    readonly field: CronField | 'expression',
    /** The offending piece of text. */
    readonly token: string,
    /** The whole expression. */
    readonly expression: string,
    /** What the field accepts, e.g. `0-59`. */
    readonly allowed: string,
    message: string,
  ) {
    super(message);
  }
}

/** Result of {@link tryParseCron}: expected failures are data, not exceptions. */
export type CronParseResult =
  { ok: true; value: CronSchedule } | { ok: false; error: CronParseError | CronTimeZoneError };

interface FieldSpec {
  readonly field: CronField;
  readonly min: number;
  readonly max: number;
  /** Largest accepted step: the number of distinct values in the field. */
  readonly maxStep: number;
  readonly names: Readonly<Record<string, number>> | undefined;
  readonly allowed: string;
}

const MONTH_NAMES = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};
const WEEKDAY_NAMES = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

const FIELD_SPECS: readonly FieldSpec[] = [
  { field: 'minute', min: 0, max: 59, maxStep: 60, names: undefined, allowed: '0-59' },
  { field: 'hour', min: 0, max: 23, maxStep: 24, names: undefined, allowed: '0-23' },
  { field: 'day-of-month', min: 1, max: 31, maxStep: 31, names: undefined, allowed: '1-31' },
  { field: 'month', min: 1, max: 12, maxStep: 12, names: MONTH_NAMES, allowed: '1-12 or jan-dec' },
  // 0-7 as in Vixie cron: `*` and `a/n` run up to 7 (Sunday again), so `5/1` is Fri, Sat, Sun.
  {
    field: 'day-of-week',
    min: 0,
    max: 7,
    maxStep: 7,
    names: WEEKDAY_NAMES,
    allowed: '0-7 or sun-sat (0 and 7 are Sunday)',
  },
];

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MACRO_LIST = Object.keys(MACROS).join(' ');

const LONGEST_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const DIGITS = /^[0-9]+$/;
const LETTERS = /^[a-z]+$/i;

/**
 * Parse a 5-field cron expression (or a macro) read in `options.timezone` (default UTC).
 * Throws {@link CronParseError} for a malformed expression and `CronTimeZoneError` for an unknown zone.
 */
export function parseCron(expression: string, options: CronOptions = {}): CronSchedule {
  if (typeof expression !== 'string') {
    throw new CronParseError(
      'expression',
      String(expression),
      String(expression),
      'a string',
      'cron: expression must be a string',
    );
  }
  const timezone = normalizeTimeZoneName(options.timezone ?? 'UTC');
  const trimmed = expression.trim();
  if (trimmed === '') {
    throw new CronParseError('expression', '', expression, '5 fields or a macro', 'cron: expression is empty');
  }
  const fieldTexts = expandMacro(trimmed, expression).split(/\s+/);
  if (fieldTexts.length !== FIELD_SPECS.length) {
    throw new CronParseError(
      'expression',
      expression,
      expression,
      '5 fields',
      `cron: expected 5 fields (minute hour day-of-month month day-of-week) but got ${fieldTexts.length} in "${expression}"`,
    );
  }
  const [minuteText, hourText, dayOfMonthText, , dayOfWeekText] = fieldTexts as [
    string,
    string,
    string,
    string,
    string,
  ];
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = FIELD_SPECS.map((spec, index) =>
    parseField(spec, fieldTexts[index] ?? '', expression),
  ) as [number[], number[], number[], number[], number[]];

  const dayOfMonthRestricted = !dayOfMonthText.startsWith('*');
  const dayOfWeekRestricted = !dayOfWeekText.startsWith('*');
  const schedule: CronSchedule = {
    expression,
    timezone,
    minutes: Object.freeze(minutes),
    hours: Object.freeze(hours),
    daysOfMonth: Object.freeze(daysOfMonth),
    months: Object.freeze(months),
    daysOfWeek: Object.freeze(foldSunday(daysOfWeek)),
    dayOfMonthRestricted,
    dayOfWeekRestricted,
    fixedTime: isFixedTimeField(minuteText) && isFixedTimeField(hourText),
    // With the either-day rule every month has a matching weekday; otherwise some allowed
    // month must have one of the allowed days (the weekdays of a date cycle through all seven).
    canEverFire:
      (dayOfMonthRestricted && dayOfWeekRestricted) ||
      months.some((month) => daysOfMonth.some((day) => day <= (LONGEST_MONTH[month] ?? 0))),
  };
  return Object.freeze(schedule);
}

/** {@link parseCron} without exceptions, for validating user input. */
export function tryParseCron(expression: string, options: CronOptions = {}): CronParseResult {
  try {
    return { ok: true, value: parseCron(expression, options) };
  } catch (error) {
    if (error instanceof CronParseError || error instanceof CronTimeZoneError) return { ok: false, error };
    throw error;
  }
}

function expandMacro(trimmed: string, expression: string): string {
  if (!trimmed.startsWith('@')) return trimmed;
  const expansion = MACROS[trimmed.toLowerCase()];
  if (expansion === undefined) {
    throw new CronParseError(
      'expression',
      trimmed,
      expression,
      MACRO_LIST,
      `cron: "${trimmed}" is not a supported macro (allowed ${MACRO_LIST}) in "${expression}"`,
    );
  }
  return expansion;
}

function isFixedTimeField(text: string): boolean {
  return !text.includes('*') && !text.includes('/');
}

function foldSunday(daysOfWeek: number[]): number[] {
  return [...new Set(daysOfWeek.map((day) => day % 7))].sort((a, b) => a - b);
}

function parseField(spec: FieldSpec, text: string, expression: string): number[] {
  const selected = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') fail(spec, text, expression, 'has an empty list item');
    const [start, end, step] = parseItem(spec, item, expression);
    for (let value = start; value <= end; value += step) selected.add(value);
  }
  return [...selected].sort((a, b) => a - b);
}

/** One list item as `[start, end, step]`. */
function parseItem(spec: FieldSpec, item: string, expression: string): [number, number, number] {
  const slashParts = item.split('/');
  if (slashParts.length > 2) malformed(spec, item, expression);
  const [base = '', stepText] = slashParts;
  let step = 1;
  if (stepText !== undefined) {
    if (!DIGITS.test(stepText)) malformed(spec, item, expression);
    step = Number(stepText);
    if (step < 1 || step > spec.maxStep) {
      throw new CronParseError(
        spec.field,
        item,
        expression,
        `1-${spec.maxStep}`,
        `cron: ${spec.field} "${item}" has a step out of range 1-${spec.maxStep} in "${expression}"`,
      );
    }
  }
  if (base === '*') return [spec.min, spec.max, step];

  const rangeParts = base.split('-');
  if (rangeParts.length > 2 || rangeParts.some((part) => part === '')) malformed(spec, item, expression);
  const [startText = '', endText] = rangeParts;
  const start = parseValue(spec, startText, item, expression);
  if (endText === undefined) return [start, stepText === undefined ? start : spec.max, step];

  let end = parseValue(spec, endText, item, expression);
  // `sat-sun` means Saturday to Sunday: a Sunday name closing a range is the 7 at the end of the week.
  if (spec.field === 'day-of-week' && end === 0 && start > 0 && LETTERS.test(endText)) end = 7;
  if (start > end) {
    throw new CronParseError(
      spec.field,
      base,
      expression,
      spec.allowed,
      `cron: ${spec.field} "${base}" is a reversed range (its start is after its end; allowed ${spec.allowed}) in "${expression}"`,
    );
  }
  return [start, end, step];
}

function parseValue(spec: FieldSpec, text: string, item: string, expression: string): number {
  let value: number | undefined;
  if (DIGITS.test(text)) {
    value = Number(text);
  } else if (LETTERS.test(text) && spec.names !== undefined) {
    value = spec.names[text.toLowerCase()];
    if (value === undefined) {
      throw new CronParseError(
        spec.field,
        text,
        expression,
        spec.allowed,
        `cron: ${spec.field} "${text}" is not a known name (allowed ${spec.allowed}) in "${expression}"`,
      );
    }
  } else if (LETTERS.test(text)) {
    throw new CronParseError(
      spec.field,
      text,
      expression,
      spec.allowed,
      `cron: ${spec.field} "${text}" is not a number (allowed ${spec.allowed}) in "${expression}"`,
    );
  } else {
    malformed(spec, item, expression);
  }
  if (value < spec.min || value > spec.max) {
    throw new CronParseError(
      spec.field,
      text,
      expression,
      `${spec.min}-${spec.max}`,
      `cron: ${spec.field} "${text}" is out of range ${spec.min}-${spec.max} in "${expression}"`,
    );
  }
  return value;
}

function malformed(spec: FieldSpec, item: string, expression: string): never {
  fail(spec, item, expression, `is malformed (expected *, n, a-b, */n, a-b/n or a/n with values ${spec.allowed})`);
}

function fail(spec: FieldSpec, token: string, expression: string, problem: string): never {
  throw new CronParseError(
    spec.field,
    token,
    expression,
    spec.allowed,
    `cron: ${spec.field} "${token}" ${problem} in "${expression}"`,
  );
}
