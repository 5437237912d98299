/**
 * Prints what the benchmarks run on (`npm run bench:host`, first and last in `npm run bench`); see host-facts.ts.
 * Reads /proc (Linux); where a file cannot be read, says so. Then a calibration (host-calibration.ts): two hosts that
 * /proc describes alike may still differ by half in speed.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { calibrateHost } from './host-calibration.ts';
import { describeCalibration, describeHost, parseCpuInfo, parseCpuTimes } from './host-facts.ts';

const read = (file: string) => readFile(file, 'utf8').catch(() => null);
const [cpuinfo, stat] = await Promise.all([read('/proc/cpuinfo'), read('/proc/stat')]);
console.log(
  describeHost(cpuinfo === null ? null : parseCpuInfo(cpuinfo), stat === null ? null : parseCpuTimes(stat), {
    cpus: availableParallelism(),
    memoryBytes: totalmem(),
    load: loadavg(),
  }),
);
const CALIBRATION_PASSES = 3;
console.log(describeCalibration(calibrateHost(tmpdir(), undefined, CALIBRATION_PASSES), CALIBRATION_PASSES));
