/**
 * What the benchmarks run on (`npm run bench:host`, first and last in `npm run bench`): the CPU model, its clock and
 * whether it has SHA extensions, the CPUs, the memory, and the CPU time the hypervisor took away (steal) since boot.
 * Figures from different sessions are comparable only on comparable hosts: the same backup stream cost 4.21 s of CPU
 * per GiB on one host and 2.03 s on another, and its ratio to kubectl's went from 1.43 to 1.05. Printed before and
 * after a run, the steal tells how much of the run the host took. Pure: `host.ts` reads /proc and prints.
 */
import type { HostCalibration } from './host-calibration.ts';

/** Linux reports /proc/stat times in USER_HZ: 100 on x86 and ARM. */
const TICKS_PER_SECOND = 100;
const GIB = 1024 ** 3;

export interface CpuFacts {
  model: string | null;
  mhz: number | null;
  /** Its x86 `flags` (`sha_ni`, `vaes`, …); null where it lists none (e.g. ARM, which names its features otherwise). */
  flags: ReadonlySet<string> | null;
}

export interface CpuTimes {
  /** All CPU time since boot, in seconds (idle and steal included). */
  totalSeconds: number;
  stealSeconds: number;
}

/** The first processor's model, clock and flags, from /proc/cpuinfo (each null when absent or empty). */
export function parseCpuInfo(text: string): CpuFacts {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() || null;
  const mhz = Number(field('cpu MHz'));
  const flags = field('flags');
  return {
    model: field('model name'),
    mhz: Number.isFinite(mhz) && mhz > 0 ? mhz : null,
    flags: flags === null ? null : new Set(flags.split(/\s+/)),
  };
}

/** The all-CPU line of /proc/stat (user nice system idle iowait irq softirq steal …), in seconds; null if absent. */
export function parseCpuTimes(text: string): CpuTimes | null {
  const line = /^cpu\s+(.*)$/m.exec(text)?.[1];
  if (!line) return null;
  const ticks = line.trim().split(/\s+/).map(Number);
  if (ticks.length < 8 || ticks.some((value) => !Number.isFinite(value))) return null;
  // guest and guest_nice (9th and 10th) are already counted in user and nice.
  const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { totalSeconds: total / TICKS_PER_SECOND, stealSeconds: ticks[7]! / TICKS_PER_SECOND };
}

export function describeHost(
  cpu: CpuFacts | null,
  times: CpuTimes | null,
  machine: { cpus: number; memoryBytes: number; load: number[] },
): string {
  const processor = cpu
    ? `${cpu.model ?? 'CPU model unknown'}, ${machine.cpus} CPUs at ${cpu.mhz === null ? '?' : cpu.mhz.toFixed(0)} MHz, ` +
      (cpu.flags === null ? 'SHA extensions unknown' : `${cpu.flags.has('sha_ni') ? 'with' : 'without'} SHA extensions`)
    : `${machine.cpus} CPUs (no /proc/cpuinfo)`;
  const steal = times
    ? `CPU steal since boot ${times.stealSeconds.toFixed(1)} s of ${times.totalSeconds.toFixed(0)} s ` +
      `(${((100 * times.stealSeconds) / Math.max(times.totalSeconds, Number.MIN_VALUE)).toFixed(2)}%)`
    : 'CPU steal unknown (no /proc/stat)';
  return (
    `host: ${processor}; ${(machine.memoryBytes / GIB).toFixed(1)} GiB; ${steal}; ` +
    `load average ${machine.load.map((value) => value.toFixed(2)).join(' ')}`
  );
}

/** The line `bench:host` prints after the host's description (see host-calibration.ts). */
export function describeCalibration(calibration: HostCalibration, passes: number): string {
  const seconds = (value: number) => `${value.toFixed(2)} s`;
  return (
    `calibration, CPU per GiB in this process (lowest of ${passes} passes): sha256 ${seconds(calibration.sha256)}, ` +
    `memory copy ${seconds(calibration.memoryCopy)}, page-cache write ${seconds(calibration.pageCacheWrite)}`
  );
}
