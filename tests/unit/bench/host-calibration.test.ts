import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { calibrateHost } from '../../../bench/host-calibration.ts';
import { describeCalibration } from '../../../bench/host-facts.ts';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'host-calibration-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('the host calibration of the benchmarks', () => {
  it('measures CPU per GiB of sha256, a memory copy and a page-cache write, and leaves no file behind', async () => {
    const calibration = calibrateHost(directory, 8 * 1024 * 1024, 2);
    for (const value of Object.values(calibration)) {
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
    }
    // Hashing 8 MiB takes some CPU at any speed: the figure is measured, not a default.
    expect(calibration.sha256).toBeGreaterThan(0);
    expect(await readdir(directory)).toEqual([]);
  });

  it('fails with the error when its file cannot be made (a folder that does not exist)', () => {
    expect(() => calibrateHost(path.join(directory, 'missing'), 256 * 1024, 1)).toThrow(/ENOENT/);
  });

  it('prints seconds per GiB with two decimals', () => {
    expect(describeCalibration({ sha256: 0.6012, memoryCopy: 0.0849, pageCacheWrite: 0.354 }, 3)).toBe(
      'calibration, CPU per GiB in this process (lowest of 3 passes): sha256 0.60 s, memory copy 0.08 s, page-cache write 0.35 s',
    );
  });
});
