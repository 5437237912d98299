import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/generated/prisma/client.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { runUploadPass } from '../../../src/lib/offsite/upload-pass.ts';
import { hashFile } from '../../../src/lib/storage/verify-backup.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createWorkspace } from '../../support/factories.ts';
import { makePostgresBackup } from '../../support/offsite-backups.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';
import { startS3Server, type S3Server } from '../../support/s3-server.ts';

/**
 * `npm run backup -- fetch` as a separate process configured through the environment: a backup uploaded to s3rver,
 * its local file deleted, fetched back by the CLI; exit codes for an intact file, no configuration and a bad id.
 */
const CLI = 'src/cli/backup.ts';

let harness: BackupHarness;
let s3: S3Server;
let backup: BackupRecord;

beforeAll(async () => {
  harness = await startBackupHarness();
  s3 = await startS3Server();
  const workspace = await createWorkspace(harness.db.prisma);
  backup = await makePostgresBackup(harness, workspace.id, 'pg-fetch-cli', { randomMiB: 1 });
  const uploaded = await runUploadPass(
    { ...harness.deps, destinations: [createS3Destination(s3.settings())] },
    new Date(),
    { backupId: backup.id },
  );
  if (uploaded.uploaded !== 1) throw new Error(`upload did not succeed: ${JSON.stringify(uploaded)}`);
});
afterAll(async () => {
  await s3?.close();
  await harness?.close();
});

function runCli(args: string[], extra: Record<string, string> = {}) {
  const cli = startEntryPoint(
    CLI,
    args,
    childEnvironment({
      DATABASE_URL: harness.db.url,
      BACKUP_ROOT: harness.root,
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_PREFIX: 'ops',
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      ...extra,
    }),
  );
  let stdout = '';
  cli.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  return cli.exited.then((code) => ({ code, stdout, output: cli.output() }));
}

describe('backup CLI: fetch', () => {
  it('says there is nothing to fetch while the file is intact, then brings a deleted file back', async () => {
    const intact = await runCli(['fetch', backup.id]);
    expect(intact.code, intact.output).toBe(3);
    expect(intact.stdout).toContain(`nothing to fetch: the local file ${backup.path} is intact`);

    await rm(backup.path!);
    await rm(`${backup.path}.sha256`);
    const fetched = await runCli(['fetch', backup.id]);
    expect(fetched.code, fetched.output).toBe(0);
    expect(fetched.stdout).toContain(`FETCHED ${backup.id} from s3`);
    expect(fetched.stdout).toContain(`file    ${backup.path} (was missing)`);
    expect(fetched.stdout).toContain(`sha256  ${backup.sha256} (verified)`);
    expect(fetched.stdout).toContain(`npm run restore -- scratch ${backup.id}`);
    expect(await hashFile(backup.path!)).toEqual({ sha256: backup.sha256, sizeBytes: backup.sizeBytes });
  });

  it('exit 2 without off-site configuration or for an unknown backup', async () => {
    await rm(backup.path!, { force: true });
    const off = await runCli(['fetch', backup.id], { S3_BUCKET: '' });
    expect(off.code, off.output).toBe(2);
    expect(off.stdout).toContain('not configured here (configured: none; set S3_BUCKET)');

    const unknown = await runCli(['fetch', 'nosuchbackup']);
    expect(unknown.code, unknown.output).toBe(2);
    expect(unknown.output).toContain('backup "nosuchbackup" does not exist');
  });
});
