import { describe, expect, it } from 'vitest';
import { CronParseError, CronTimeZoneError, parseCron, tryParseCron } from '../../../src/lib/cron/cron.ts';

const EVERY_MINUTE = Array.from({ length: 60 }, (_, minute) => minute);
const EVERY_HOUR = Array.from({ length: 24 }, (_, hour) => hour);
const EVERY_DAY_OF_MONTH = Array.from({ length: 31 }, (_, index) => index + 1);
const EVERY_MONTH = Array.from({ length: 12 }, (_, index) => index + 1);
const EVERY_WEEKDAY = [0, 1, 2, 3, 4, 5, 6];

describe('parseCron: every syntax form', () => {
  it.each([
    // [expression, minutes, hours, days of month, months, days of week]
    ['* * * * *', EVERY_MINUTE, EVERY_HOUR, EVERY_DAY_OF_MONTH, EVERY_MONTH, EVERY_WEEKDAY],
    ['5 4 3 2 1', [5], [4], [3], [2], [1]],
    ['05 04 03 02 01', [5], [4], [3], [2], [1]],
    ['10-12 1-3 28-31 11-12 1-5', [10, 11, 12], [1, 2, 3], [28, 29, 30, 31], [11, 12], [1, 2, 3, 4, 5]],
    ['1,2,59 0,23 1,31 1,12 0,6', [1, 2, 59], [0, 23], [1, 31], [1, 12], [0, 6]],
    ['*/15 */6 */10 */4 */2', [0, 15, 30, 45], [0, 6, 12, 18], [1, 11, 21, 31], [1, 5, 9], [0, 2, 4, 6]],
    ['10-20/5 1-10/3 1-10/4 2-12/5 1-5/2', [10, 15, 20], [1, 4, 7, 10], [1, 5, 9], [2, 7, 12], [1, 3, 5]],
    ['5/20 20/2 25/3 10/1 5/1', [5, 25, 45], [20, 22], [25, 28, 31], [10, 11, 12], [0, 5, 6]],
    ['*/60 */24 */31 */12 */7', [0], [0], [1], [1], [0]],
    ['*/15,7 * * * *', [0, 7, 15, 30, 45], EVERY_HOUR, EVERY_DAY_OF_MONTH, EVERY_MONTH, EVERY_WEEKDAY],
    ['0 0 * jan-mar,JUL,Dec *', [0], [0], EVERY_DAY_OF_MONTH, [1, 2, 3, 7, 12], EVERY_WEEKDAY],
    ['0 0 * feb-nov/3 *', [0], [0], EVERY_DAY_OF_MONTH, [2, 5, 8, 11], EVERY_WEEKDAY],
    ['0 0 * * mon-fri', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [1, 2, 3, 4, 5]],
    ['0 0 * * Sun,WED,sat', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0, 3, 6]],
    ['0 0 * * mon/2', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0, 1, 3, 5]],
    // Sunday is 0 and 7; a Sunday name closing a range is the 7 at the end of the week.
    ['0 0 * * 7', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0]],
    ['0 0 * * 5-7', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0, 5, 6]],
    ['0 0 * * 0-7', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, EVERY_WEEKDAY],
    ['0 0 * * sat-sun', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0, 6]],
    ['0 0 * * sun-sun', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0]],
    ['0 0 * * sun-tue', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0, 1, 2]],
    ['0 0 * * 1/2', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, [0, 1, 3, 5]],
    ['  0\t0   * *  *  ', [0], [0], EVERY_DAY_OF_MONTH, EVERY_MONTH, EVERY_WEEKDAY],
  ])('%j', (expression, minutes, hours, daysOfMonth, months, daysOfWeek) => {
    const schedule = parseCron(expression);
    expect(schedule).toMatchObject({ expression, timezone: 'UTC', minutes, hours, daysOfMonth, months, daysOfWeek });
  });

  it.each([
    ['@yearly', '0 0 1 1 *'],
    ['@annually', '0 0 1 1 *'],
    ['@monthly', '0 0 1 * *'],
    ['@weekly', '0 0 * * 0'],
    ['@daily', '0 0 * * *'],
    ['@midnight', '0 0 * * *'],
    ['@hourly', '0 * * * *'],
    ['@DAILY', '0 0 * * *'],
  ])('macro %s means %s', (macro, expansion) => {
    const { expression: _macro, ...fromMacro } = parseCron(macro);
    const { expression: _expansion, ...fromExpansion } = parseCron(expansion);
    expect(fromMacro).toEqual(fromExpansion);
  });

  it.each([
    // [expression, dayOfMonthRestricted, dayOfWeekRestricted] (Vixie: restricted = not starting with *)
    ['0 0 * * *', false, false],
    ['0 0 1 * *', true, false],
    ['0 0 * * 1', false, true],
    ['0 0 1 * 1', true, true],
    ['0 0 */2 * 1', false, true],
    ['0 0 1-31 * 1', true, true],
  ])(
    '%j: day-of-month restricted %s, day-of-week restricted %s',
    (expression, dayOfMonthRestricted, dayOfWeekRestricted) => {
      expect(parseCron(expression)).toMatchObject({ dayOfMonthRestricted, dayOfWeekRestricted });
    },
  );

  it.each([
    ['30 2 * * *', true],
    ['0 2,14 * * *', true],
    ['0 1-3 * * *', true],
    ['@daily', true],
    ['*/5 * * * *', false],
    ['0 * * * *', false],
    ['0 0-23/2 * * *', false],
    ['5/10 2 * * *', false],
    ['@hourly', false],
  ])('%j: fixed-time job %s', (expression, fixedTime) => {
    expect(parseCron(expression).fixedTime).toBe(fixedTime);
  });

  it.each([
    ['0 0 30 2 *', false],
    ['0 0 30,31 2 *', false],
    ['0 0 31 4,6,9,11 *', false],
    ['0 0 30 2 */7', false],
    ['0 0 29 2 *', true],
    ['0 0 31 4,5 *', true],
    ['0 0 30 2 1', true],
  ])('%j: can ever fire %s', (expression, canEverFire) => {
    expect(parseCron(expression).canEverFire).toBe(canEverFire);
  });

  it('reads the expression in the given time zone, spelled as IANA does', () => {
    expect(parseCron('0 3 * * *', { timezone: 'europe/berlin' }).timezone).toBe('Europe/Berlin');
    expect(parseCron('0 3 * * *', { timezone: 'Etc/UTC' }).timezone).toBe('UTC');
  });

  it('returns frozen plain data', () => {
    const schedule = parseCron('0 3 * * *');
    expect(Object.isFrozen(schedule)).toBe(true);
    expect(Object.isFrozen(schedule.minutes)).toBe(true);
    expect(JSON.parse(JSON.stringify(schedule))).toEqual(schedule);
  });
});

describe('parseCron: every error', () => {
  it.each([
    // [expression, field, token, message]
    ['61 * * * *', 'minute', '61', 'cron: minute "61" is out of range 0-59 in "61 * * * *"'],
    ['* 24 * * *', 'hour', '24', 'cron: hour "24" is out of range 0-23 in "* 24 * * *"'],
    ['* * 0 * *', 'day-of-month', '0', 'cron: day-of-month "0" is out of range 1-31 in "* * 0 * *"'],
    ['* * 32 * *', 'day-of-month', '32', 'cron: day-of-month "32" is out of range 1-31 in "* * 32 * *"'],
    ['* * * 13 *', 'month', '13', 'cron: month "13" is out of range 1-12 in "* * * 13 *"'],
    ['* * * 0 *', 'month', '0', 'cron: month "0" is out of range 1-12 in "* * * 0 *"'],
    ['* * * * 8', 'day-of-week', '8', 'cron: day-of-week "8" is out of range 0-7 in "* * * * 8"'],
    ['1-60 * * * *', 'minute', '60', 'cron: minute "60" is out of range 0-59 in "1-60 * * * *"'],
    [
      '0 0 0 * * *',
      'expression',
      '0 0 0 * * *',
      'cron: expected 5 fields (minute hour day-of-month month day-of-week) but got 6 in "0 0 0 * * *"',
    ],
    [
      '0 0 * *',
      'expression',
      '0 0 * *',
      'cron: expected 5 fields (minute hour day-of-month month day-of-week) but got 4 in "0 0 * *"',
    ],
    ['', 'expression', '', 'cron: expression is empty'],
    ['   ', 'expression', '', 'cron: expression is empty'],
    ['1,,2 * * * *', 'minute', '1,,2', 'cron: minute "1,,2" has an empty list item in "1,,2 * * * *"'],
    ['1, * * * *', 'minute', '1,', 'cron: minute "1," has an empty list item in "1, * * * *"'],
    [
      '1- * * * *',
      'minute',
      '1-',
      'cron: minute "1-" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "1- * * * *"',
    ],
    [
      '-1 * * * *',
      'minute',
      '-1',
      'cron: minute "-1" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "-1 * * * *"',
    ],
    [
      '1-2-3 * * * *',
      'minute',
      '1-2-3',
      'cron: minute "1-2-3" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "1-2-3 * * * *"',
    ],
    [
      '*/ * * * *',
      'minute',
      '*/',
      'cron: minute "*/" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "*/ * * * *"',
    ],
    [
      '1/2/3 * * * *',
      'minute',
      '1/2/3',
      'cron: minute "1/2/3" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "1/2/3 * * * *"',
    ],
    [
      '*-5 * * * *',
      'minute',
      '*-5',
      'cron: minute "*-5" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "*-5 * * * *"',
    ],
    [
      '+5 * * * *',
      'minute',
      '+5',
      'cron: minute "+5" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "+5 * * * *"',
    ],
    [
      '? * * * *',
      'minute',
      '?',
      'cron: minute "?" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-59) in "? * * * *"',
    ],
    [
      '0 0 15W * *',
      'day-of-month',
      '15W',
      'cron: day-of-month "15W" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 1-31) in "0 0 15W * *"',
    ],
    [
      '0 0 * * 5#2',
      'day-of-week',
      '5#2',
      'cron: day-of-week "5#2" is malformed (expected *, n, a-b, */n, a-b/n or a/n with values 0-7 or sun-sat (0 and 7 are Sunday)) in "0 0 * * 5#2"',
    ],
    ['*/0 * * * *', 'minute', '*/0', 'cron: minute "*/0" has a step out of range 1-60 in "*/0 * * * *"'],
    ['*/61 * * * *', 'minute', '*/61', 'cron: minute "*/61" has a step out of range 1-60 in "*/61 * * * *"'],
    [
      '0 0 * * 1-5/8',
      'day-of-week',
      '1-5/8',
      'cron: day-of-week "1-5/8" has a step out of range 1-7 in "0 0 * * 1-5/8"',
    ],
    [
      '5-2 * * * *',
      'minute',
      '5-2',
      'cron: minute "5-2" is a reversed range (its start is after its end; allowed 0-59) in "5-2 * * * *"',
    ],
    [
      '0 0 * * fri-mon',
      'day-of-week',
      'fri-mon',
      'cron: day-of-week "fri-mon" is a reversed range (its start is after its end; allowed 0-7 or sun-sat (0 and 7 are Sunday)) in "0 0 * * fri-mon"',
    ],
    [
      '0 0 * * 6-0',
      'day-of-week',
      '6-0',
      'cron: day-of-week "6-0" is a reversed range (its start is after its end; allowed 0-7 or sun-sat (0 and 7 are Sunday)) in "0 0 * * 6-0"',
    ],
    ['0 0 * foo *', 'month', 'foo', 'cron: month "foo" is not a known name (allowed 1-12 or jan-dec) in "0 0 * foo *"'],
    [
      '0 0 * january *',
      'month',
      'january',
      'cron: month "january" is not a known name (allowed 1-12 or jan-dec) in "0 0 * january *"',
    ],
    [
      '0 0 * * mon-foo',
      'day-of-week',
      'foo',
      'cron: day-of-week "foo" is not a known name (allowed 0-7 or sun-sat (0 and 7 are Sunday)) in "0 0 * * mon-foo"',
    ],
    [
      '0 0 * * jan',
      'day-of-week',
      'jan',
      'cron: day-of-week "jan" is not a known name (allowed 0-7 or sun-sat (0 and 7 are Sunday)) in "0 0 * * jan"',
    ],
    ['jan * * * *', 'minute', 'jan', 'cron: minute "jan" is not a number (allowed 0-59) in "jan * * * *"'],
    ['0 0 L * *', 'day-of-month', 'L', 'cron: day-of-month "L" is not a number (allowed 1-31) in "0 0 L * *"'],
    [
      '@reboot',
      'expression',
      '@reboot',
      'cron: "@reboot" is not a supported macro (allowed @yearly @annually @monthly @weekly @daily @midnight @hourly) in "@reboot"',
    ],
    [
      '@daily 0',
      'expression',
      '@daily 0',
      'cron: "@daily 0" is not a supported macro (allowed @yearly @annually @monthly @weekly @daily @midnight @hourly) in "@daily 0"',
    ],
  ])('rejects %j', (expression, field, token, message) => {
    const error = catchError(() => parseCron(expression));
    expect(error).toBeInstanceOf(CronParseError);
    expect(error).toMatchObject({ name: 'CronParseError', field, token, expression, message });
  });

  it('rejects an unknown time zone', () => {
    const error = catchError(() => parseCron('0 3 * * *', { timezone: 'Mars/Base' }));
    expect(error).toBeInstanceOf(CronTimeZoneError);
    expect(error).toMatchObject({ timezone: 'Mars/Base', message: 'cron: unknown time zone "Mars/Base"' });
  });
});

describe('tryParseCron', () => {
  it('returns the schedule as data', () => {
    const result = tryParseCron('0 3 * * *', { timezone: 'Europe/Berlin' });
    expect(result).toEqual({ ok: true, value: parseCron('0 3 * * *', { timezone: 'Europe/Berlin' }) });
  });

  it.each([
    ['61 * * * *', {}, 'cron: minute "61" is out of range 0-59 in "61 * * * *"'],
    ['0 3 * * *', { timezone: 'Mars/Base' }, 'cron: unknown time zone "Mars/Base"'],
  ])('returns the error for %j %j as data', (expression, options, message) => {
    const result = tryParseCron(expression, options);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.message).toBe(message);
  });
});

function catchError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
