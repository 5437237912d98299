import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEntryPoint } from '../../support/processes.ts';

/**
 * `npm run bench:ab` end to end, at a size that proves the plumbing and measures nothing: it takes HEAD's committed
 * tree with git, compiles its backup client and this checkout's, streams from the fake API server through both, and
 * prints the comparison; and it refuses a ref or an argument it cannot use, before it compiles anything. Each run
 * gets a TMPDIR of its own, so the test can see that its work folder is not left behind.
 */
const BENCH = 'bench/ab.bench.ts';
const MIB = 1024 * 1024;
let temporary: string;

beforeEach(async () => {
  temporary = await mkdtemp(path.join(os.tmpdir(), 'ab-bench-test-'));
});
afterEach(async () => {
  await rm(temporary, { recursive: true, force: true });
});

/** What bench:ab left in the TMPDIR (tsx keeps its own cache there, which is not ours to remove). */
const leftBehind = async () => (await readdir(temporary)).filter((name) => name.startsWith('ab-bench-'));

async function runBench(args: string[]): Promise<{ code: number | string; output: string }> {
  const running = startEntryPoint(BENCH, args, { ...process.env, TMPDIR: temporary });
  const code = await running.exited;
  return { code, output: running.output() };
}

describe('npm run bench:ab', () => {
  it('compiles HEAD and this checkout, runs both alternately and prints the comparison, leaving nothing behind', async () => {
    const { code, output } = await runBench(['HEAD', '--runs', '2', '--bytes', String(MIB)]);
    expect(output).toMatch(/^ref {2}= HEAD \([0-9a-f]{12}, committed files\)$/m);
    expect(output).toMatch(/^tree = this checkout \(HEAD [0-9a-f]+/m);
    const runs = output.match(/^ {2}round \d (ref|tree)\s.*$/gm) ?? [];
    expect(runs.map((line) => line.slice(2, 15).trim())).toEqual([
      'round 1 ref',
      'round 1 tree',
      'round 2 tree',
      'round 2 ref',
    ]);
    expect(output).toMatch(/^client CPU s per GiB \(user \+ system\)\s+\d+\.\d{3} \[/m);
    expect(output).toMatch(/^ {2}system s per GiB\s+\d+\.\d{3} \[/m);
    expect(output).toMatch(/^too few runs to tell a difference \(2 \+ 2; at least 3 each\)/m);
    expect(code).toBe(0);
    expect(await leftBehind()).toEqual([]);
  }, 240_000);

  it('refuses a ref that names no commit, and leaves nothing behind', async () => {
    const { code, output } = await runBench(['no-such-ref-for-bench-ab', '--runs', '1']);
    expect(output).toContain('bench:ab: "no-such-ref-for-bench-ab" is not a commit of this repository');
    expect(code).toBe(1);
    expect(await leftBehind()).toEqual([]);
  }, 60_000);

  it('refuses bad arguments with the usage', async () => {
    const { code, output } = await runBench(['HEAD', '--runs', '0']);
    expect(output).toContain('bench:ab: --runs "0": must be at least 1');
    expect(output).toContain('usage: npm run bench:ab -- <ref>');
    expect(code).toBe(1);
    const unknown = await runBench(['HEAD', '--round', '3']);
    expect(unknown.output).toMatch(/^bench:ab: Unknown option '--round'.*\nusage: npm run bench:ab -- <ref>/m);
    expect(unknown.code).toBe(1);
  }, 60_000);
});
