const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Human size in binary units: `1.5 MiB`. Accepts the BigInt sizes records store; `—` for none. */
export function formatBytes(bytes: bigint | number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—';
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** A progress line for a running backup: bytes so far and the average rate. */
export function formatProgress(bytes: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (bytes / elapsedMs) * 1_000 : 0;
  return `received ${formatBytes(bytes)} (${formatBytes(Math.round(rate))}/s)`;
}

/** A compact duration, for how late a backup is (agent state, overdue alerts): `3h 20m`, `2d 4h`, `45m`. */
export function formatLateness(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const days = Math.floor(minutes / 1_440);
  const hours = Math.floor((minutes % 1_440) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes % 60}m`;
  return `${minutes}m`;
}
