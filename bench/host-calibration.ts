/**
 * Three small measurements that tell hosts apart where /proc's description does not (printed by `npm run bench:host`):
 * the CPU time of sha256, of a memory copy and of writing into the page cache, each over the same bytes in this
 * process, per GiB. Session 14's and session 15's hosts printed the same model, clock and steal, yet kubectl needed
 * 1.92 s and 2.94 s of CPU per GiB of the same stream, and the web tier served 5473 and 3067 requests a second.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

const GIB = 1024 ** 3;
/** The size of each piece: a file write of the backup store's sink, and a hash update of about that. */
const PIECE_BYTES = 256 * 1024;
/** The memory copy runs between two buffers this large, larger than any CPU cache here. */
const COPY_BUFFER_BYTES = 64 * 1024 * 1024;

/** CPU seconds per GiB (user and system, all of this process's threads). */
export interface HostCalibration {
  sha256: number;
  memoryCopy: number;
  pageCacheWrite: number;
}

/** CPU seconds (user and system, all of this process's threads) since `started`. */
function cpuSecondsSince(started: NodeJS.CpuUsage): number {
  const spent = process.cpuUsage(started);
  return (spent.user + spent.system) / 1e6;
}

/**
 * CPU seconds that node:crypto's sha256 takes for `bytes` fed in updates of `chunkBytes` (the last one shorter when
 * `bytes` is not a multiple), in this process. `bench:backup` uses it too, for what its client pays for the checksum.
 */
export function sha256CpuSeconds(bytes: number, chunkBytes: number): number {
  const chunk = Buffer.alloc(chunkBytes, 0xa5);
  const hash = createHash('sha256');
  const started = process.cpuUsage();
  for (let done = 0; done < bytes; done += chunkBytes)
    hash.update(bytes - done >= chunkBytes ? chunk : chunk.subarray(0, bytes - done));
  hash.digest();
  return cpuSecondsSince(started);
}

/**
 * Each measured `passes` times over `bytes` (a multiple of 256 KiB), and the lowest kept: the page-cache write swings
 * several times over with the writeback of other files' dirty pages (0.23–2.04 s per GiB in one minute here while CI
 * ran beside it), and the least disturbed pass is the host's own cost.
 */
export function calibrateHost(directory: string, bytes = 128 * 1024 * 1024, passes = 3): HostCalibration {
  const measured = Array.from({ length: passes }, () => measureOnce(directory, bytes));
  const lowest = (key: keyof HostCalibration) => Math.min(...measured.map((each) => each[key]));
  return { sha256: lowest('sha256'), memoryCopy: lowest('memoryCopy'), pageCacheWrite: lowest('pageCacheWrite') };
}

/**
 * One pass. The write goes to a new file in `directory`, with no fsync (the disk is not what is measured), and the
 * file is removed, also when a write fails.
 */
function measureOnce(directory: string, bytes: number): HostCalibration {
  const perGiB = GIB / bytes;
  const sha256 = sha256CpuSeconds(bytes, PIECE_BYTES) * perGiB;

  const piece = randomFillSync(Buffer.allocUnsafe(PIECE_BYTES));
  const copyBytes = Math.min(bytes, COPY_BUFFER_BYTES);
  const source = randomFillSync(Buffer.allocUnsafe(copyBytes));
  const target = Buffer.allocUnsafe(copyBytes);
  // One copy before the clock starts, so the kernel has mapped the target's pages: the first write into new memory
  // also pays a page fault per 4 KiB, which made this "copy" 0.32-0.34 s per GiB instead of 0.11 s on session 15's host.
  source.copy(target);
  let started = process.cpuUsage();
  for (let done = 0; done < bytes; done += copyBytes) source.copy(target);
  const memoryCopy = cpuSecondsSince(started) * perGiB;

  const file = path.join(directory, `.host-calibration-${process.pid}`);
  const descriptor = openSync(file, 'wx', 0o600);
  try {
    started = process.cpuUsage();
    for (let done = 0; done < bytes; done += PIECE_BYTES) writeSync(descriptor, piece);
    const pageCacheWrite = cpuSecondsSince(started) * perGiB;
    return { sha256, memoryCopy, pageCacheWrite };
  } finally {
    closeSync(descriptor);
    rmSync(file, { force: true });
  }
}
