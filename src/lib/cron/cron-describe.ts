/**
 * English descriptions of cron schedules for the dashboard and the agent, such as
 * "every day at 03:00 (UTC)", "every 6 hours" or "every 15 minutes on Monday through Friday (Europe/Berlin)".
 */
import { parseCron, type CronOptions, type CronSchedule } from './cron-parse.ts';

const MONTHS = [
  '',
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
/** Indexed 1-7, Monday first, so that ranges read naturally ("Saturday and Sunday"). */
const WEEKDAYS = ['', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const LONGEST_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** Up to this many clock times are listed one by one ("at 02:00 and 14:00"). */
const MAX_LISTED_TIMES = 4;

/**
 * Describe when a schedule fires. The time zone is named unless the schedule only counts minutes
 * or hours from midnight on every day ("every 15 minutes", "every 6 hours").
 */
export function describeCron(input: CronSchedule | string, options: CronOptions = {}): string {
  const schedule = typeof input === 'string' ? parseCron(input, options) : input;
  let description = descriptions.get(schedule);
  if (description === undefined) {
    description = describeSchedule(schedule);
    descriptions.set(schedule, description);
  }
  return description;
}

/** Schedules are frozen and shared by the parse cache, so one description each serves every deployment using it. */
const descriptions = new WeakMap<CronSchedule, string>();

function describeSchedule(schedule: CronSchedule): string {
  if (!schedule.canEverFire) return `never (${describeMissingDays(schedule)})`;

  const days = describeDays(schedule);
  const interval = describeInterval(schedule);
  if (interval === null) return `${days ?? 'every day'} at ${describeTimes(schedule)} (${schedule.timezone})`;
  const periodicHours = schedule.hours.length === 24 || stepFromZero(schedule.hours, 24) !== null;
  if (periodicHours && days === null) return interval;
  return `${interval}${days === null ? '' : ` ${days}`} (${schedule.timezone})`;
}

/** "every 15 minutes", "every 6 hours", "every hour at minute 5" ..., or null for a few times of day. */
function describeInterval(schedule: CronSchedule): string | null {
  const { minutes, hours } = schedule;
  const hourStep = stepFromZero(hours, 24);
  const minuteStep = stepFromZero(minutes, 60);
  if (minutes.length === 1 && (hours.length === 24 || hourStep !== null)) {
    const every = hours.length === 24 ? 'every hour' : `every ${hourStep} hours`;
    return minutes[0] === 0 ? every : `${every} at minute ${minutes[0]}`;
  }
  if (minutes.length * hours.length <= MAX_LISTED_TIMES) return null;
  const minutePart =
    minutes.length === 60
      ? 'every minute'
      : minuteStep !== null
        ? `every ${minuteStep} minutes`
        : `at ${describeNumbers(minutes, 'minute')}`;
  if (hours.length === 24) return minutePart.startsWith('at') ? `${minutePart} past every hour` : minutePart;
  return `${minutePart} ${minutePart.startsWith('at') ? 'past' : 'during'} ${describeNumbers(hours, 'hour')}`;
}

function describeTimes(schedule: CronSchedule): string {
  const times = schedule.hours.flatMap((hour) => schedule.minutes.map((minute) => `${pad(hour)}:${pad(minute)}`));
  return joinWithAnd(times);
}

/** The day and month phrase ("on Monday through Friday", "on January 1"), or null for every day. */
function describeDays(schedule: CronSchedule): string | null {
  const { daysOfMonth, daysOfWeek, months } = schedule;
  const everyDayOfMonth = daysOfMonth.length === 31;
  const everyWeekday = daysOfWeek.length === 7;
  const inMonths = months.length === 12 ? '' : ` in ${joinRanges(months, monthName)}`;
  const weekdays = describeWeekdays(daysOfWeek);
  // Vixie: with both day fields restricted either may match; otherwise both must.
  const either = schedule.dayOfMonthRestricted && schedule.dayOfWeekRestricted;
  if (either ? everyDayOfMonth || everyWeekday : everyDayOfMonth && everyWeekday) {
    return inMonths === '' ? null : `every day${inMonths}`;
  }
  if (either) return `on ${describeNumbers(daysOfMonth, 'day')} of the month or on ${weekdays}${inMonths}`;
  if (everyDayOfMonth) return `on ${weekdays}${inMonths}`;
  const dateText =
    months.length === 1 && daysOfMonth.length === 1
      ? `on ${monthName(months[0] ?? 1)} ${daysOfMonth[0]}`
      : `on ${describeNumbers(daysOfMonth, 'day')} of ${months.length === 12 ? 'the month' : joinRanges(months, monthName)}`;
  return everyWeekday ? dateText : `${dateText} if it is ${describeWeekdays(daysOfWeek, ' or ')}`;
}

function describeMissingDays(schedule: CronSchedule): string {
  const months = schedule.months.map(monthName);
  const days = schedule.daysOfMonth.filter((day) =>
    schedule.months.every((month) => day > (LONGEST_MONTH[month] ?? 0)),
  );
  return `${joinWithAnd(months)} ${months.length === 1 ? 'has' : 'have'} no day ${joinWithAnd(days.map(String), ' or ')}`;
}

function describeWeekdays(daysOfWeek: readonly number[], lastSeparator = ' and '): string {
  const mondayFirst = daysOfWeek.map((day) => (day === 0 ? 7 : day)).sort((a, b) => a - b);
  return joinRanges(mondayFirst, (day) => WEEKDAYS[day] ?? String(day), lastSeparator);
}

/** "day 1", "days 1-5 and 10", or "every 2nd day from 1 through 31" for a longer progression. */
function describeNumbers(values: readonly number[], unit: string): string {
  const [first = 0, second = 0] = values;
  const step = second - first;
  if (values.length >= 3 && step > 1 && values.every((value, index) => value === first + index * step)) {
    return `every ${ordinal(step)} ${unit} from ${first} through ${values[values.length - 1]}`;
  }
  return `${values.length === 1 ? unit : `${unit}s`} ${joinRanges(values, String)}`;
}

/** n if the values are 0, n, 2n, ... up to the end of a field of `size` values, with n > 1; else null. */
function stepFromZero(values: readonly number[], size: number): number | null {
  const step = values[1];
  if (values[0] !== 0 || step === undefined || step < 2 || values.length !== Math.ceil(size / step)) return null;
  return values.every((value, index) => value === index * step) ? step : null;
}

/** Join sorted values, writing runs of three or more as "first-last" (numbers) or "first through last" (names). */
function joinRanges(values: readonly number[], name: (value: number) => string, lastSeparator = ' and '): string {
  const parts: string[] = [];
  for (let start = 0; start < values.length;) {
    let end = start;
    while (end + 1 < values.length && values[end + 1] === (values[end] ?? 0) + 1) end++;
    const low = values[start] ?? 0;
    const high = values[end] ?? 0;
    if (end - start >= 2) parts.push(name === String ? `${low}-${high}` : `${name(low)} through ${name(high)}`);
    else for (let index = start; index <= end; index++) parts.push(name(values[index] ?? 0));
    start = end + 1;
  }
  return joinWithAnd(parts, lastSeparator);
}

function joinWithAnd(parts: readonly string[], lastSeparator = ' and '): string {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')}${lastSeparator}${parts[parts.length - 1]}`;
}

function monthName(month: number): string {
  return MONTHS[month] ?? String(month);
}

function ordinal(value: number): string {
  const suffix =
    value % 10 === 1 && value !== 11
      ? 'st'
      : value % 10 === 2 && value !== 12
        ? 'nd'
        : value % 10 === 3 && value !== 13
          ? 'rd'
          : 'th';
  return `${value}${suffix}`;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}
