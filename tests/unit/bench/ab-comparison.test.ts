import { describe, expect, it } from 'vitest';
import {
  abOrder,
  describeCpuDifference,
  formatAbSummary,
  parseAbArguments,
  summarizeSide,
  type AbRun,
  type AbSide,
} from '../../../bench/ab-comparison.ts';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** A run of 1 GiB: `userSeconds` + `systemSeconds` of client CPU, `exportSeconds` in-process. */
function run(side: AbSide, round: number, userSeconds: number, systemSeconds: number, exportSeconds = 10): AbRun {
  return {
    side,
    round,
    loadAverage: 1,
    wallMs: exportSeconds * 1000 + 200,
    userMs: userSeconds * 1000,
    systemMs: systemSeconds * 1000,
    exportMs: exportSeconds * 1000,
    peakRssKiB: 100 * 1024,
    serverCpuMs: 2000,
  };
}

const sideOf = (side: AbSide, cpu: Array<[number, number]>) =>
  summarizeSide(
    cpu.map(([user, system], index) => run(side, index + 1, user, system)),
    GIB,
  );

describe('bench:ab, comparing two builds of the backup client', () => {
  it('alternates the trees: ref first in odd rounds, tree first in even ones', () => {
    expect(abOrder(3)).toEqual([
      { round: 1, side: 'ref' },
      { round: 1, side: 'tree' },
      { round: 2, side: 'tree' },
      { round: 2, side: 'ref' },
      { round: 3, side: 'ref' },
      { round: 3, side: 'tree' },
    ]);
  });

  it('reads its arguments with defaults, and refuses bad ones with the usage', () => {
    expect(parseAbArguments({}, ['HEAD~1'])).toEqual({ ref: 'HEAD~1', runs: 4, bytes: GIB, age: false });
    expect(parseAbArguments({ runs: '6', bytes: String(16 * MIB), age: true }, ['main'])).toEqual({
      ref: 'main',
      runs: 6,
      bytes: 16 * MIB,
      age: true,
    });
    expect(() => parseAbArguments({}, [])).toThrow(/expected one ref to compare with, got 0\nusage: npm run bench:ab/);
    expect(() => parseAbArguments({}, ['a', 'b'])).toThrow(/got 2/);
    expect(() => parseAbArguments({ runs: '0' }, ['HEAD'])).toThrow(/^bench:ab: --runs "0": must be at least 1\nusage/);
    expect(() => parseAbArguments({ runs: 'many' }, ['HEAD'])).toThrow(/--runs "many": must be a number/);
    expect(() => parseAbArguments({ bytes: '1000' }, ['HEAD'])).toThrow(/--bytes "1000": must be at least 1048576/);
    expect(() => parseAbArguments({ bytes: '1572864.5' }, ['HEAD'])).toThrow(
      /--bytes "1572864.5": must be a whole number/,
    );
  });

  it('summarises each tree per GiB: CPU split into user and system, throughput, RSS, the server', () => {
    const runs = [run('ref', 1, 1.5, 0.5, 8), run('ref', 2, 2, 1, 16), run('ref', 3, 1.8, 0.8, 10)];
    const summary = summarizeSide(runs, 2 * GIB);
    expect(summary.runs).toBe(3);
    expect(summary.cpuSecondsPerGiB).toEqual({ median: 1.3, lowest: 1, highest: 1.5 });
    expect(summary.userSecondsPerGiB).toEqual({ median: 0.9, lowest: 0.75, highest: 1 });
    expect(summary.systemSecondsPerGiB).toEqual({ median: 0.4, lowest: 0.25, highest: 0.5 });
    expect(summary.inProcessMiBPerSecond).toEqual({ median: 204.8, lowest: 128, highest: 256 });
    expect(summary.peakRssMiB.median).toBe(100);
    expect(summary.serverCpuSecondsPerGiB.median).toBe(1);
    expect(() => summarizeSide([], GIB)).toThrow(/no runs/);
  });

  it('claims a difference only when every run of one tree is below every run of the other', () => {
    const ref = sideOf('ref', [
      [1.8, 0.8],
      [1.7, 0.8],
      [1.9, 0.7],
    ]);
    const cheaper = sideOf('tree', [
      [1.6, 0.8],
      [1.5, 0.9],
      [1.6, 0.7],
    ]);
    const dearer = sideOf('tree', [
      [1.8, 1.1],
      [1.7, 1.2],
      [1.9, 1.0],
    ]);
    const overlapping = sideOf('tree', [
      [1.6, 0.8],
      [1.9, 0.8],
      [1.7, 0.8],
    ]);
    expect(describeCpuDifference(ref, cheaper)).toMatch(
      /^every run of the tree used less CPU per GiB .* 0\.9[0-9]{2}\)$/,
    );
    expect(describeCpuDifference(ref, dearer)).toMatch(
      /^every run of the tree used more CPU per GiB .* 1\.1[0-9]{2}\)$/,
    );
    expect(describeCpuDifference(ref, overlapping)).toMatch(/^the runs overlap: no difference/);
  });

  it('claims nothing from fewer than three runs a tree, however far apart they are', () => {
    const ref = sideOf('ref', [
      [2, 1],
      [2, 1],
    ]);
    const tree = sideOf('tree', [
      [1, 0.5],
      [1, 0.5],
    ]);
    expect(describeCpuDifference(ref, tree)).toMatch(/^too few runs to tell a difference \(2 \+ 2; at least 3 each\)/);
  });

  it('prints both trees, each figure with its spread, and the ratio of medians', () => {
    const text = formatAbSummary(
      { ref: 'HEAD~1 (abc, committed files)', tree: 'this checkout (HEAD def)' },
      sideOf('ref', [
        [2, 1],
        [2, 1],
        [2, 1],
      ]),
      sideOf('tree', [
        [1.5, 0.9],
        [1.5, 0.8],
        [1.5, 0.7],
      ]),
    );
    expect(text).toContain('ref  = HEAD~1 (abc, committed files)');
    expect(text).toContain('tree = this checkout (HEAD def)');
    expect(text).toMatch(
      /client CPU s per GiB \(user \+ system\)\s+3\.000 \[3\.000-3\.000\]\s+2\.300 \[2\.200-2\.400\]\s+0\.767/,
    );
    expect(text).toMatch(/ {2}system s per GiB\s+1\.000 \[1\.000-1\.000\]\s+0\.800 \[0\.700-0\.900\]\s+0\.800/);
    expect(text.split('\n').at(-1)).toMatch(/^every run of the tree used less CPU/);
  });
});
