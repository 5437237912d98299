import { formatBytes } from '../shared/index.ts';

/** When a successful backup counts as suspicious; see `assessBackupSize`. */
export interface SuspicionSettings {
  /** A backup under this percentage of the median of the recent successful ones is suspicious (0 turns it off). */
  belowPercent: number;
  /** How many of the most recent successful backups the median is taken over. */
  sampleSize: number;
}

export const DEFAULT_SUSPICION_SETTINGS: SuspicionSettings = { belowPercent: 50, sampleSize: 5 };
/** Fewer earlier successes than this give no judgement: one or two sizes say little about what is normal. */
export const MIN_SUSPICION_SAMPLES = 3;

/** A suspicious backup's reason, or null when its size is in line with the recent ones (or there are too few). */
export type SizeAssessment = { suspicious: false } | { suspicious: true; reason: string };

/**
 * Judges a new backup's stored size against the sizes of the deployment's most recent successful backups (newest
 * first, this one excluded; suspicious ones included, so that after a real shrink the new size becomes the normal one
 * within a few backups instead of flagging every backup for ever). Pure.
 */
export function assessBackupSize(
  sizeBytes: bigint,
  recentSizes: readonly bigint[],
  settings: SuspicionSettings = DEFAULT_SUSPICION_SETTINGS,
): SizeAssessment {
  const samples = recentSizes.slice(0, settings.sampleSize);
  if (settings.belowPercent <= 0 || samples.length < MIN_SUSPICION_SAMPLES) return { suspicious: false };
  const median = medianOf(samples);
  // bigint arithmetic: sizes of many GiB stay exact.
  if (sizeBytes * 100n >= median * BigInt(settings.belowPercent)) return { suspicious: false };
  const percent = median === 0n ? 0 : Number((sizeBytes * 1000n) / median) / 10;
  return {
    suspicious: true,
    reason:
      `${formatBytes(sizeBytes)} is ${percent}% of the median size (${formatBytes(median)}) of the last ` +
      `${samples.length} successful backups; under ${settings.belowPercent}% counts as suspicious`,
  };
}

function medianOf(values: readonly bigint[]): bigint {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2n;
}
