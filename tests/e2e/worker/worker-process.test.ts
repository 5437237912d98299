import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

const SECRET_PASSWORD = 'e2e-Secret-Pw-771';
let db: TestDatabase;
let tmp: string;

beforeAll(async () => {
  db = await createTestDatabase();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'worker-e2e-'));
});
afterAll(async () => {
  await db.drop();
  await rm(tmp, { recursive: true, force: true });
});

describe('worker process', () => {
  it('starts on PostgreSQL when DATABASE_URL is set, never logs the password, and exits 0 on SIGTERM', async () => {
    // Local PostgreSQL uses trust authentication, so the password is accepted and ignored: only its absence from
    // the output is under test here.
    const url = new URL(db.url);
    url.username = 'postgres';
    url.password = SECRET_PASSWORD;
    const worker = startEntryPoint(
      'src/worker.ts',
      [],
      childEnvironment({ DATABASE_URL: url.toString(), BACKUP_ROOT: tmp }),
    );
    await worker.waitForOutput(/"msg":"worker ready"/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const output = worker.output();
    expect(output).toContain('"kind":"postgres"');
    expect(output).toContain('"msg":"worker stopped"');
    expect(output).not.toContain(SECRET_PASSWORD);
  });

  it('starts on the embedded database when DATABASE_URL is unset, says so, and exits 0 on SIGINT', async () => {
    const dataDir = path.join(tmp, 'pglite');
    const worker = startEntryPoint(
      'src/worker.ts',
      [],
      childEnvironment({ EMBEDDED_DATABASE_DIR: dataDir, BACKUP_ROOT: tmp }),
    );
    await worker.waitForOutput(/"msg":"worker ready"/, 60_000);
    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toContain('DATABASE_URL is not set: using the embedded PGlite database');
    expect(worker.output()).toContain('"kind":"embedded"');
  });

  it('refuses to start with bad configuration, naming the variable, with exit code 2', async () => {
    const worker = startEntryPoint(
      'src/worker.ts',
      [],
      childEnvironment({ BACKUP_CONCURRENCY: 'many', BACKUP_ROOT: 'relative/dir' }),
    );
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toContain('BACKUP_CONCURRENCY must be a whole number from 1 to 32 (got "many")');
    expect(worker.output()).toContain('BACKUP_ROOT must be an absolute path (got "relative/dir")');
    expect(worker.output()).not.toMatch(/\n\s+at /);
  });
});
