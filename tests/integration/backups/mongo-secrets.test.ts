import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { findRecipe } from '../../../src/lib/recipes/registry.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

/**
 * The MongoDB recipe keeps the root password off every command line: not in the argv sent to the Kubernetes API,
 * and not in the argv of `mongodump` inside the pod (where `ps` shows it). A stand-in `mongodump` (a process at the
 * pod's boundary) records its own argv and the `--config` file it is given; the password must be in that file only,
 * exactly as it is, whatever characters it holds, and in no log line.
 */
const PASSWORD = `pa"ss w$rd\`x'y\\z-${randomBytes(4).toString('hex')}`;
const USERNAME = 'root';

let harness: BackupHarness;
let stubs: string;

beforeAll(async () => {
  harness = await startBackupHarness();
  stubs = await mkdtemp(path.join(os.tmpdir(), 'mongo-stub-'));
  await writeFile(
    path.join(stubs, 'archive.gz'),
    gzipSync(Buffer.concat([Buffer.from([0x6d, 0xe2, 0x99, 0x81]), randomBytes(1024)])),
  );
  await writeFile(
    path.join(stubs, 'mongodump'),
    [
      '#!/bin/sh',
      'printf "%s\\n" "$@" > "$STUBS/argv"',
      'for argument in "$@"; do case "$argument" in --config=*) cat "${argument#--config=}" > "$STUBS/config";; esac; done',
      'cat "$STUBS/archive.gz"',
      '',
    ].join('\n'),
  );
  await chmod(path.join(stubs, 'mongodump'), 0o755);
});
afterAll(async () => {
  await harness?.close();
  if (stubs) await rm(stubs, { recursive: true, force: true });
});

describe('a MongoDB backup', () => {
  it('gives mongodump the password through its --config file, never on a command line, and logs none of it', async () => {
    const workspace = await createWorkspace(harness.db.prisma);
    const deployment = await createDeployment(harness.db.prisma, workspace.id, { recipeSlug: 'mongodb' });
    harness.kube.pods.push(
      podFor(deployment.name, 'mongodb', {
        PATH: `${stubs}:${process.env.PATH}`,
        STUBS: stubs,
        MONGO_INITDB_ROOT_USERNAME: USERNAME,
        MONGO_INITDB_ROOT_PASSWORD: PASSWORD,
      }),
    );

    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    expect(outcome.status).toBe('SUCCEEDED');

    const argv = await readFile(path.join(stubs, 'argv'), 'utf8');
    expect(argv.split('\n')).toEqual([
      '--archive',
      '--gzip',
      `--username=${USERNAME}`,
      '--config=/dev/fd/3',
      '--authenticationDatabase=admin',
      '',
    ]);
    expect(argv).not.toContain(PASSWORD);
    // A YAML literal block: the value is the indented line as it is, quotes and backslashes included.
    expect(await readFile(path.join(stubs, 'config'), 'utf8')).toBe(`password: |2-\n  ${PASSWORD}\n`);

    const [exec] = harness.kube.execs;
    expect(exec?.argv).toEqual(findRecipe('mongodb')?.dataExport?.command);
    expect(JSON.stringify(harness.kube.execs.map((record) => record.argv))).not.toContain(PASSWORD);
    expect(JSON.stringify(harness.kube.requests.map((request) => request.query))).not.toContain(PASSWORD);
    expect(harness.logs()).not.toContain(PASSWORD);
    const record = outcome.status === 'SUCCEEDED' ? outcome.record : null;
    expect(
      JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value)),
    ).not.toContain(PASSWORD);
  });

  it('restores and counts without a password on a command line either', () => {
    const dataImport = findRecipe('mongodb')?.dataImport;
    for (const script of [dataImport?.live, dataImport?.count]) {
      const text = script?.join(' ') ?? '';
      expect(text).not.toMatch(/--password/);
      expect(text).toMatch(/MONGO_INITDB_ROOT_PASSWORD/);
    }
  });
});
