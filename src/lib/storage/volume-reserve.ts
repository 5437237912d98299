/**
 * The free-space reserve of the backup volume: one tenant's backup must not fill the disk every tenant's backups
 * share. The reserve is the larger of a byte count and a share of the volume's size; a backup does not start when the
 * free space is below it, and is aborted when writing brings it below.
 */
import { statfs } from 'node:fs/promises';

/** The configured reserve (`BACKUP_MIN_FREE_BYTES`, `BACKUP_MIN_FREE_PERCENT`); zero for both: no reserve. */
export interface VolumeReserve {
  minFreeBytes: bigint;
  minFreePercent: number;
}

/** Free and total bytes of the volume (for an unprivileged process: `bavail`, what it may still write). */
export interface VolumeSpace {
  freeBytes: bigint;
  sizeBytes: bigint;
}

/** How often (in stored bytes) a running backup looks at the free space again. */
export const RESERVE_CHECK_INTERVAL_BYTES = 32 * 1024 * 1024;

/** The reserve in bytes for a volume of `sizeBytes`: the larger of the two settings. Pure. */
export function reserveBytes(reserve: VolumeReserve, sizeBytes: bigint): bigint {
  const share = (sizeBytes * BigInt(Math.round(reserve.minFreePercent * 100))) / 10_000n;
  return share > reserve.minFreeBytes ? share : reserve.minFreeBytes;
}

/** Reads the free space of the filesystem holding `folder`. */
export async function measureVolumeSpace(folder: string): Promise<VolumeSpace> {
  const stats = await statfs(folder, { bigint: true });
  return { freeBytes: stats.bavail * stats.bsize, sizeBytes: stats.blocks * stats.bsize };
}

/** The free space and the reserve, when the free space is below it; null when there is room (or no reserve). */
export async function findReserveShortfall(
  folder: string,
  reserve: VolumeReserve,
): Promise<{ freeBytes: bigint; reserveBytes: bigint } | null> {
  if (reserve.minFreeBytes <= 0n && reserve.minFreePercent <= 0) return null;
  const space = await measureVolumeSpace(folder);
  const needed = reserveBytes(reserve, space.sizeBytes);
  return space.freeBytes < needed ? { freeBytes: space.freeBytes, reserveBytes: needed } : null;
}
