import { readdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The README's first command: one real backup cycle with no server configured and no cluster. */
describe('npm run demo', () => {
  it('backs up the demo database through the local cluster stand-in on the embedded database, twice', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'demo-'));
    dirs.push(dir);
    const env = childEnvironment({
      EMBEDDED_DATABASE_DIR: path.join(dir, 'pglite'),
      BACKUP_ROOT: path.join(dir, 'backups'),
    });
    for (const run of [1, 2]) {
      const demo = startEntryPoint('src/cli/demo.ts', [], env);
      expect(await demo.exited, demo.output()).toBe(0);
      const output = demo.output();
      expect(output).toContain('embedded PGlite');
      expect(output).toContain('a local stand-in API server at https://127.0.0.1:');
      expect(output).toMatch(/cycle: 1 due, 1 run, 1 succeeded, 0 failed, 2 skipped/);
      expect(output).toContain('"status": "SUCCEEDED"');
      expect(output).toMatch(/re-read and checked against the record and .*\.dump\.sha256: OK/);
      expect(output).toContain('cannot run: the deployment is FAILED');
      const folders = await readdir(path.join(dir, 'backups'));
      const files = await readdir(path.join(dir, 'backups', folders[0]!, 'shop-db'));
      expect(files.filter((file) => file.endsWith('.dump'))).toHaveLength(run);
    }
  });
});
