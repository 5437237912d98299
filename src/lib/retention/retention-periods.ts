import { civilFromDays, DAY_MS, daysFromCivil, weekdayFromDays, zoneClock } from '../cron/index.ts';

/** A calendar period GFS retention groups backups by. */
export type RetentionPeriod = 'daily' | 'weekly' | 'monthly';

/**
 * Names the calendar period an instant falls in, read on the wall clock of `timeZone`: the local date for `daily`
 * (`2026-03-29`), the ISO 8601 week for `weekly` (weeks start on Monday; week 1 holds the year's first Thursday, so
 * 2027-01-01 is in `2026-W53`), the local month for `monthly` (`2026-03`). Two instants share a period exactly when
 * their labels are equal. Pure; the zone's offsets come from `Intl` (see cron-zone.ts), so a 23- or 25-hour day at a
 * daylight-saving change is still one day.
 */
export function periodLabeller(timeZone: string): (period: RetentionPeriod, instant: Date) => string {
  const clock = zoneClock(timeZone);
  return (period, instant) => {
    const time = instant.getTime();
    const localDays = Math.floor((time + clock.offsetAt(time)) / DAY_MS);
    if (period === 'weekly') {
      const mondayBased = (weekdayFromDays(localDays) + 6) % 7;
      const thursday = localDays - mondayBased + 3;
      const isoYear = civilFromDays(thursday).year;
      const weekNumber = Math.floor((thursday - daysFromCivil(isoYear, 1, 1)) / 7) + 1;
      return `${isoYear}-W${pad(weekNumber)}`;
    }
    const { year, month, day } = civilFromDays(localDays);
    return period === 'monthly' ? `${year}-${pad(month)}` : `${year}-${pad(month)}-${pad(day)}`;
  };
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}
