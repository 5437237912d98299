/**
 * Times and durations as the dashboard shows them. Pure and deterministic (UTC, no locale), so that the server's
 * HTML and the browser's re-render agree to the character.
 */

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** `2026-03-01 03:00 UTC` (with `:ss` when `seconds`); `—` for none. */
export function formatInstant(time: Date | string | null, options: { seconds?: boolean } = {}): string {
  if (time === null) return '—';
  const iso = (typeof time === 'string' ? new Date(time) : time).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, options.seconds ? 19 : 16)} UTC`;
}

/** `420 ms`, `4.2 s`, `3 min 4 s`, `2 h 5 min`; `—` for none. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < SECOND_MS) return `${Math.round(ms)} ms`;
  if (ms < MINUTE_MS) return `${(ms / SECOND_MS).toFixed(1)} s`;
  if (ms < HOUR_MS) return `${Math.floor(ms / MINUTE_MS)} min ${Math.floor((ms % MINUTE_MS) / SECOND_MS)} s`;
  return `${Math.floor(ms / HOUR_MS)} h ${Math.floor((ms % HOUR_MS) / MINUTE_MS)} min`;
}

/** How far `time` is from `now` in words: `in 5 hours`, `3 minutes ago`, `just now`. */
export function formatRelative(time: Date, now: Date): string {
  const difference = time.getTime() - now.getTime();
  const distance = Math.abs(difference);
  if (distance < MINUTE_MS) return 'just now';
  const words = describeSpan(distance);
  return difference > 0 ? `in ${words}` : `${words} ago`;
}

/** A span in its largest whole unit: `1 minute`, `5 hours`, `3 days`. */
export function describeSpan(ms: number): string {
  const [count, unit] =
    ms >= DAY_MS
      ? [Math.floor(ms / DAY_MS), 'day']
      : ms >= HOUR_MS
        ? [Math.floor(ms / HOUR_MS), 'hour']
        : [Math.floor(ms / MINUTE_MS), 'minute'];
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** The first characters of a sha256, enough to tell backups apart at a glance. */
export function shortSha256(sha256: string): string {
  return sha256.slice(0, 12);
}
