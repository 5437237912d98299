import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/generated/prisma/client.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createWorkspace } from '../../support/factories.ts';
import { makePostgresBackup } from '../../support/offsite-backups.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';
import { startFaultyProxy, startS3Server, type FaultyProxy, type S3Server } from '../../support/s3-server.ts';

/**
 * `npm run backup -- upload` and `audit` as separate processes configured only through the environment, with the
 * S3 credentials read from *_FILE files (as Docker and Kubernetes secrets are mounted), against s3rver.
 */
const CLI = 'src/cli/backup.ts';
const SECRET = 'cli-secret-from-a-file-7777';

let harness: BackupHarness;
let s3: S3Server;
let proxy: FaultyProxy;
let secrets: string;
let backup: BackupRecord;

beforeAll(async () => {
  harness = await startBackupHarness();
  s3 = await startS3Server();
  proxy = await startFaultyProxy(s3.port);
  secrets = await mkdtemp(path.join(os.tmpdir(), 'secrets-'));
  await writeFile(path.join(secrets, 'key-id'), 'S3RVER\n');
  await writeFile(path.join(secrets, 'secret'), `${SECRET}\n`);
  const workspace = await createWorkspace(harness.db.prisma);
  backup = await makePostgresBackup(harness, workspace.id, 'pg-cli', { randomMiB: 0 });
});
afterAll(async () => {
  await proxy?.close();
  await s3?.close();
  await harness?.close();
  if (secrets) await rm(secrets, { recursive: true, force: true });
});

function runCli(args: string[], extra: Record<string, string> = {}) {
  const cli = startEntryPoint(
    CLI,
    args,
    childEnvironment({
      DATABASE_URL: harness.db.url,
      BACKUP_ROOT: harness.root,
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: proxy.endpoint,
      S3_PREFIX: '/cli/',
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID_FILE: path.join(secrets, 'key-id'),
      S3_SECRET_ACCESS_KEY_FILE: path.join(secrets, 'secret'),
      ...extra,
    }),
  );
  let stdout = '';
  cli.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  return cli.exited.then((code) => ({ code, stdout, output: cli.output() }));
}

describe('backup CLI: off-site copies', () => {
  it('upload fails while the destination is unreachable, then uploads that backup on request; audit agrees', async () => {
    proxy.cutAfter(0);
    const down = await runCli(['upload']);
    expect(down.code, down.output).toBe(1);
    expect(down.stdout).toContain('0 uploaded and verified, 1 failed (to retry), 0 failed for good, 1 newly queued');
    expect(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backup.id } })).toMatchObject({
      status: 'SUCCEEDED',
    });

    proxy.recover();
    const retried = await runCli(['upload', '--backup', backup.id]);
    expect(retried.code, retried.output).toBe(0);
    expect(retried.stdout).toContain('1 uploaded and verified, 0 failed (to retry), 0 failed for good, 0 newly queued');
    const key = `cli/${backup.workspaceId}/pg-cli/${path.basename(backup.path!)}`;
    expect(retried.stdout).toMatch(new RegExp(`^  s3  UPLOADED  ${key.replace(/\./g, '\\.')}$`, 'm'));

    const audit = await runCli(['audit', backup.deploymentId]);
    expect(audit.code, audit.output).toBe(0);
    expect(audit.stdout).toContain(`s3 objects under cli/${backup.workspaceId}/pg-cli/ and upload records agree`);

    const stray = `cli/${backup.workspaceId}/pg-cli/20200101T000000.000Z.dump`;
    const destination = createS3Destination(s3.settings({ prefix: 'cli' }));
    await destination.upload({
      key: stray,
      localPath: backup.path!,
      sha256: backup.sha256!,
      sizeBytes: backup.sizeBytes!,
    });
    const orphaned = await runCli(['audit', backup.deploymentId]);
    expect(orphaned.code, orphaned.output).toBe(1);
    expect(orphaned.stdout).toContain(`s3 object without record: ${stray}`);
    expect(await destination.list(stray)[Symbol.asyncIterator]().next()).toMatchObject({ done: false });

    for (const run of [down, retried, audit, orphaned]) expect(run.output).not.toContain(SECRET);
  });

  it('refuses to start with a credential file that is missing, naming the variable', async () => {
    const missing = path.join(secrets, 'nope');
    const run = await runCli(['upload'], { S3_SECRET_ACCESS_KEY_FILE: missing });
    expect(run.code, run.output).toBe(2);
    expect(run.output).toContain(
      `S3_SECRET_ACCESS_KEY_FILE names a file that cannot be read (got "${missing}": ENOENT)`,
    );
  });

  it('says so when off-site copies are off', async () => {
    const run = await runCli(['upload'], { S3_BUCKET: '' });
    expect(run.code, run.output).toBe(2);
    expect(run.stdout).toContain('off-site copies are off: set S3_BUCKET');
  });
});
