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
  const piece = randomFillSync(Buffer.allocUnsafe(PIECE_BYTES));
  const perGiB = (cpu: NodeJS.CpuUsage) => ((cpu.user + cpu.system) / 1e6) * (GIB / bytes);

  let started = process.cpuUsage();
  const hash = createHash('sha256');
  for (let done = 0; done < bytes; done += PIECE_BYTES) hash.update(piece);
  hash.digest();
  const sha256 = perGiB(process.cpuUsage(started));

  const copyBytes = Math.min(bytes, COPY_BUFFER_BYTES);
  const source = randomFillSync(Buffer.allocUnsafe(copyBytes));
  const target = Buffer.alloc(copyBytes);
  started = process.cpuUsage();
  for (let done = 0; done < bytes; done += copyBytes) source.copy(target);
  const memoryCopy = perGiB(process.cpuUsage(started));

  const file = path.join(directory, `.host-calibration-${process.pid}`);
  const descriptor = openSync(file, 'wx', 0o600);
  try {
    started = process.cpuUsage();
    for (let done = 0; done < bytes; done += PIECE_BYTES) writeSync(descriptor, piece);
    const pageCacheWrite = perGiB(process.cpuUsage(started));
    return { sha256, memoryCopy, pageCacheWrite };
  } finally {
    closeSync(descriptor);
    rmSync(file, { force: true });
  }
}
