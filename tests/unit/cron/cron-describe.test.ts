import { describe, expect, it } from 'vitest';
import { describeCron, parseCron } from '../../../src/lib/cron/cron.ts';

describe('describeCron', () => {
  it.each([
    ['0 3 * * *', 'UTC', 'every day at 03:00 (UTC)'],
    ['@daily', 'Europe/Berlin', 'every day at 00:00 (Europe/Berlin)'],
    ['0 */6 * * *', 'UTC', 'every 6 hours'],
    ['*/15 * * * *', 'UTC', 'every 15 minutes'],
    ['* * * * *', 'UTC', 'every minute'],
    ['@hourly', 'UTC', 'every hour'],
    ['5 * * * *', 'UTC', 'every hour at minute 5'],
    ['30 */2 * * *', 'UTC', 'every 2 hours at minute 30'],
    ['0,30 2,14 * * *', 'UTC', 'every day at 02:00, 02:30, 14:00 and 14:30 (UTC)'],
    ['0-10 1-5 * * *', 'UTC', 'at minutes 0-10 past hours 1-5 (UTC)'],
    ['0 0 * * 1-5', 'UTC', 'on Monday through Friday at 00:00 (UTC)'],
    ['0 12 * * sat,sun', 'UTC', 'on Saturday and Sunday at 12:00 (UTC)'],
    ['@weekly', 'UTC', 'on Sunday at 00:00 (UTC)'],
    [
      '*/15 9-17 * * mon-fri',
      'Europe/Berlin',
      'every 15 minutes during hours 9-17 on Monday through Friday (Europe/Berlin)',
    ],
    ['*/10 * * * 0', 'UTC', 'every 10 minutes on Sunday (UTC)'],
    ['0 0 1 * *', 'UTC', 'on day 1 of the month at 00:00 (UTC)'],
    ['@yearly', 'UTC', 'on January 1 at 00:00 (UTC)'],
    ['0 0 29 2 *', 'UTC', 'on February 29 at 00:00 (UTC)'],
    ['30 4 1 jan,jul *', 'UTC', 'on day 1 of January and July at 04:30 (UTC)'],
    ['0 0 * 6-8 *', 'UTC', 'every day in June through August at 00:00 (UTC)'],
    ['0 0 13 * 5', 'UTC', 'on day 13 of the month or on Friday at 00:00 (UTC)'],
    ['0 0 */2 * 1', 'UTC', 'on every 2nd day from 1 through 31 of the month if it is Monday at 00:00 (UTC)'],
    ['0 0 30 2 *', 'UTC', 'never (February has no day 30)'],
    ['0 0 31 4,6,9,11 *', 'UTC', 'never (April, June, September and November have no day 31)'],
  ])('%j in %s: %s', (expression, timezone, description) => {
    expect(describeCron(expression, { timezone })).toBe(description);
  });

  it('describes a parsed schedule in its own zone', () => {
    expect(describeCron(parseCron('0 3 * * *', { timezone: 'Asia/Kolkata' }))).toBe(
      'every day at 03:00 (Asia/Kolkata)',
    );
  });
});
