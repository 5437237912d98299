import { formatBytes } from '../shared/index.ts';
import { formatDuration } from './display.ts';

/** What the dashboard shows for a running backup or restore. */
export interface ProgressView {
  /** `123.4 MiB received · 41.2 MiB/s · 3 min 4 s` */
  text: string;
  /** 0 to 1 when an expected size is known (the previous backup's), else null (an indeterminate bar). */
  fraction: number | null;
}

/**
 * Describes a running job's progress from its record: bytes so far, the average rate since it started, and the
 * elapsed time at `now`. `expectedBytes` (the previous successful run's size) fills a bar, capped below 100% while
 * the job runs. Pure, so the server's HTML and the browser's re-render agree.
 */
export function describeProgress(
  record: { startedAt: string; progressBytes: string | null; progressAt: string | null },
  now: Date,
  options: { expectedBytes?: bigint | null; verb?: string } = {},
): ProgressView {
  const elapsedMs = Math.max(0, now.getTime() - Date.parse(record.startedAt));
  const elapsed = formatDuration(elapsedMs);
  const verb = options.verb ?? 'received';
  if (record.progressBytes === null || record.progressAt === null) {
    return { text: `starting · ${elapsed}`, fraction: null };
  }
  const bytes = BigInt(record.progressBytes);
  const measuredMs = Date.parse(record.progressAt) - Date.parse(record.startedAt);
  const rate = measuredMs > 0 ? Number(bytes) / (measuredMs / 1_000) : 0;
  const expected = options.expectedBytes ?? null;
  const fraction = expected && expected > 0n ? Math.min(0.99, Number(bytes) / Number(expected)) : null;
  return { text: `${formatBytes(bytes)} ${verb} · ${formatBytes(Math.round(rate))}/s · ${elapsed}`, fraction };
}
