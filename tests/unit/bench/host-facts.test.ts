import { describe, expect, it } from 'vitest';
import { describeHost, parseCpuInfo, parseCpuTimes } from '../../../bench/host-facts.ts';

const CPUINFO = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2450.000
flags\t\t: fpu vme sse2 avx2 sha_ni vaes

processor\t: 1
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2450.000
`;

describe('host facts for the benchmarks', () => {
  it('reads the first processor’s model, clock and SHA extensions', () => {
    expect(parseCpuInfo(CPUINFO)).toEqual({
      model: 'AMD EPYC 7B13',
      mhz: 2450,
      flags: new Set(['fpu', 'vme', 'sse2', 'avx2', 'sha_ni', 'vaes']),
    });
    expect(parseCpuInfo('model name\t: Other\nflags\t\t: fpu sse2\n')).toEqual({
      model: 'Other',
      mhz: null,
      flags: new Set(['fpu', 'sse2']),
    });
    expect(parseCpuInfo('processor\t: 0\nFeatures\t: fp asimd sha2\n')).toEqual({
      model: null,
      mhz: null,
      flags: null,
    });
  });

  it('reads steal and the total CPU time from /proc/stat in seconds, without counting guest time twice', () => {
    const stat = 'cpu  1000 10 500 8000 100 0 90 300 700 0\ncpu0 500 5 250 4000 50 0 45 150 350 0\n';
    expect(parseCpuTimes(stat)).toEqual({ totalSeconds: 100, stealSeconds: 3 });
    expect(parseCpuTimes('cpu0 1 2 3\n')).toBeNull();
    expect(parseCpuTimes('cpu  1 2 3 4\n')).toBeNull();
  });

  it('describes the host in one line, and says what it could not read', () => {
    const machine = { cpus: 2, memoryBytes: 24 * 1024 ** 3, load: [0.5, 1, 1.25] };
    expect(describeHost(parseCpuInfo(CPUINFO), { totalSeconds: 1000, stealSeconds: 70 }, machine)).toBe(
      'host: AMD EPYC 7B13, 2 CPUs at 2450 MHz, with SHA extensions; 24.0 GiB; CPU steal since boot 70.0 s of 1000 s ' +
        '(7.00%); load average 0.50 1.00 1.25',
    );
    expect(describeHost({ model: null, mhz: null, flags: null }, null, machine)).toBe(
      'host: CPU model unknown, 2 CPUs at ? MHz, SHA extensions unknown; 24.0 GiB; CPU steal unknown (no /proc/stat); ' +
        'load average 0.50 1.00 1.25',
    );
    expect(describeHost(null, null, machine)).toBe(
      'host: 2 CPUs (no /proc/cpuinfo); 24.0 GiB; CPU steal unknown (no /proc/stat); load average 0.50 1.00 1.25',
    );
  });
});
