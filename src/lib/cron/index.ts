export { civilFromDays, DAY_MS, daysFromCivil, weekdayFromDays } from './cron-calendar.ts';
export { describeCron } from './cron-describe.ts';
export { CronTimeZoneError, normalizeTimeZoneName, zoneClock } from './cron-zone.ts';
export { nextFireTime, previousFireTime, shouldRunNow, tryParseCron, type CronParseResult } from './cron.ts';
