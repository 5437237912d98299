import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeHttp, nodeHttps } from '../../../src/lib/shared/index.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Whether a fresh node (with tsx, as the scripts run) has loaded undici after running `source` as an ES module. */
function loadsUndici(source: string): boolean {
  const output = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `${source}\nprocess.stdout.write(String(process.moduleLoadList.some((name) => name.includes('undici'))));`,
    ],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  return output.trim() === 'true';
}

describe('node:http without undici', () => {
  it('are the built-in modules themselves', async () => {
    expect(nodeHttp).toBe((await import('node:http')).default);
    expect(nodeHttps).toBe((await import('node:https')).default);
  });

  it('an ES import of node:http loads undici in this Node (what the workaround is for)', () => {
    expect(loadsUndici("await import('node:http');")).toBe(true);
    expect(loadsUndici('')).toBe(false);
  });

  it('the composition root and the Kubernetes layer load without undici (CLIs and backup processes start faster)', () => {
    expect(loadsUndici("await import('./src/lib/runtime/index.ts');")).toBe(false);
    expect(loadsUndici("await import('./src/lib/kube/index.ts');")).toBe(false);
  });
});
