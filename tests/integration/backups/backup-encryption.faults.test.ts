import { createHash } from 'node:crypto';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_FAILED_ALERT } from '../../../src/lib/alerts/index.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { generateIdentity } from '../../../src/lib/encryption/index.ts';
import { createS3Destination, runUploadPass } from '../../../src/lib/offsite/index.ts';
import { restoreBackup, RestoreRefusedError } from '../../../src/lib/restore/restore-backup.ts';
import { checkBackupFormat } from '../../../src/lib/verification/format-check.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { startS3Server } from '../../support/s3-server.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * Encryption fails closed and refuses clearly: a recipient list that is set but unusable starts no export and writes
 * nothing anywhere (the volume stays empty) and raises a critical alert; a worker without the identity still backs
 * up and says which check it could not run; a restore without a matching identity is refused before anything is
 * sent, naming what would open the file; a damaged encrypted file fails its format check.
 */
const team = generateIdentity();
const stranger = generateIdentity();
let harness: BackupHarness;
let live: string;
let workspaceId: string;

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

beforeAll(async () => {
  harness = await startBackupHarness();
  live = await createDatabase(uniqueDatabaseName('ops_test_encf'));
  const client = new pg.Client({ connectionString: databaseUrl(live) });
  await client.connect();
  await client.query(`CREATE TABLE items AS SELECT g AS id, 'secret row ' || g AS note FROM generate_series(1, 500) g`);
  await client.end();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});

afterAll(async () => {
  await harness?.close();
  await dropDatabase(live);
});

function addPod(name: string): void {
  harness.kube.pods.push(
    podFor(name, 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: live }),
  );
}

describe('a misconfigured recipient list', () => {
  it.each([
    ['a typo', 'age1notarecipient', 'invalid character'],
    ['an identity where a recipient belongs', team.text, 'an age identity, which is a secret key'],
    ['an empty list', '  # nobody yet\n', 'no recipient is given'],
  ])('(%s) starts no backup, writes nothing and raises a critical alert', async (_label, recipients, reason) => {
    const name = `enc-bad-${Math.random().toString(36).slice(2, 8)}`;
    addPod(name);
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name,
      recipeSlug: 'postgresql',
      backupAgeRecipients: recipients,
    });
    const execsBefore = harness.kube.execs.length;
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    expect(outcome.status).toBe('FAILED');
    if (outcome.status !== 'FAILED') return;
    expect(outcome.record).toMatchObject({ errorKind: 'EncryptionMisconfigured', path: null, sha256: null });
    expect(outcome.record.error).toContain(reason);
    expect(outcome.record.error).toContain('deployment (backupAgeRecipients)');
    // The identity never appears in what is stored or shown.
    expect(outcome.record.error).not.toContain(team.text.slice(16));
    expect(harness.kube.execs.length).toBe(execsBefore);
    const alert = await harness.db.prisma.alert.findFirstOrThrow({
      where: { deploymentId: deployment.id, kind: BACKUP_FAILED_ALERT, resolvedAt: null },
    });
    expect(alert.severity).toBe('CRITICAL');
    expect(alert.message).toContain('EncryptionMisconfigured');
    expect(await filesUnder(harness.root)).toEqual([]);
  });

  it('a valid deployment list overrides an invalid workspace one; an invalid workspace list fails its deployments', async () => {
    const workspace = await createWorkspace(harness.db.prisma);
    await harness.db.prisma.workspace.update({
      where: { id: workspace.id },
      data: { backupAgeRecipients: 'age1broken' },
    });
    addPod('enc-ws-bad');
    const failing = await createDeployment(harness.db.prisma, workspace.id, {
      name: 'enc-ws-bad',
      recipeSlug: 'postgresql',
    });
    const failed = await executeBackup(harness.deps, failing.id, { trigger: 'MANUAL' });
    expect(failed.status === 'FAILED' && failed.record.error).toContain('workspace (backupAgeRecipients)');
    expect(await filesUnder(harness.root)).toEqual([]);

    addPod('enc-ws-own');
    const own = await createDeployment(harness.db.prisma, workspace.id, {
      name: 'enc-ws-own',
      recipeSlug: 'postgresql',
      backupAgeRecipients: team.identity.recipient.text,
    });
    const succeeded = await executeBackup(harness.deps, own.id, { trigger: 'MANUAL' });
    expect(succeeded.status).toBe('SUCCEEDED');
    expect(succeeded.status === 'SUCCEEDED' && succeeded.record.extension).toBe('dump.age');
  });
});

describe('identities', () => {
  let backupId: string;
  let backupPath: string;

  beforeAll(async () => {
    addPod('enc-keys');
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name: 'enc-keys',
      recipeSlug: 'postgresql',
      backupAgeRecipients: team.identity.recipient.text,
    });
    harness.deps.identities = undefined;
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
    backupId = outcome.record.id;
    backupPath = outcome.record.path!;
  });

  it('a worker without an identity backs up, and says the format check was not run (no failure, no alert)', async () => {
    const record = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backupId } });
    expect(record).toMatchObject({ status: 'SUCCEEDED', verifiedAt: null, verifyError: null, verifyMethod: null });
    expect(record.encryptedTo).toBe(team.identity.recipient.fingerprint);
    expect(harness.logs()).toContain(
      'this worker has no age identity (BACKUP_AGE_IDENTITY_FILE): format check not run',
    );
    expect(await harness.db.prisma.alert.count({ where: { backupRecordId: backupId } })).toBe(0);
  });

  it('refuses a restore without an identity, naming the variable and the recipient fingerprint', async () => {
    harness.deps.identities = undefined;
    const refusal = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RestoreRefusedError);
    expect((refusal as RestoreRefusedError).code).toBe('NO_IDENTITY');
    expect((refusal as Error).message).toContain('BACKUP_AGE_IDENTITY_FILE');
    expect((refusal as Error).message).toContain(team.identity.recipient.fingerprint);
  });

  it('refuses a restore with only a wrong identity, before contacting the cluster', async () => {
    harness.deps.identities = [stranger.identity];
    const execsBefore = harness.kube.execs.length;
    const refusal = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    }).catch((error: unknown) => error);
    expect((refusal as RestoreRefusedError).code).toBe('NO_IDENTITY');
    expect((refusal as Error).message).toContain(
      `none of the 1 age identities in BACKUP_AGE_IDENTITY_FILE (${stranger.identity.recipient.fingerprint})`,
    );
    expect(harness.kube.execs.length).toBe(execsBefore);
  });

  it('restores once the right identity is among them', async () => {
    harness.deps.identities = [stranger.identity, team.identity];
    const restored = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', counts: { tables: { 'public.items': 500 } } });
  });

  it('a damaged encrypted dump fails its format check with the age payload error; a wrong identity cannot run it', async () => {
    const damaged = `${backupPath}.damaged.dump.age`;
    await copyFile(backupPath, damaged);
    const bytes = await readFile(damaged);
    bytes[bytes.length - 40]! ^= 0x01;
    await writeFile(damaged, bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).not.toBe('');
    const input = { path: damaged, format: 'postgres-custom', extension: 'dump.age' };
    const result = await checkBackupFormat(input, { identities: [team.identity] });
    expect(result).toMatchObject({ ok: false, method: 'pg_restore' });
    expect(result?.ok === false && result.error).toContain('the payload is damaged or incomplete');
    await expect(checkBackupFormat(input, { identities: [stranger.identity] })).rejects.toThrow(
      'format check age could not run',
    );
  });
});

describe('off-site copies', () => {
  it('are the encrypted bytes; the refused backups have nothing in the bucket either', async () => {
    const s3 = await startS3Server();
    try {
      const deps = { ...harness.deps, destinations: [createS3Destination(s3.settings())] };
      const stored = await harness.db.prisma.backupRecord.findMany({ where: { status: 'SUCCEEDED' } });
      expect(stored.length).toBe(2);
      const summary = await runUploadPass(deps, harness.deps.clock());
      expect(summary).toMatchObject({ uploaded: 2, failed: 0 });
      const uploadedFiles = (await filesUnder(s3.directory)).filter((file) => file.endsWith('._S3rver_object'));
      // Each copy has its manifest beside it (metadata only: sizes, sha256, recipients).
      const manifests = uploadedFiles.filter((file) => file.endsWith('.json._S3rver_object'));
      const objects = uploadedFiles.filter((file) => !manifests.includes(file));
      expect(objects).toHaveLength(2);
      expect(manifests).toHaveLength(2);
      for (const manifest of manifests) expect((await readFile(manifest)).includes('secret row')).toBe(false);
      const localFiles = await Promise.all(stored.map((record) => readFile(record.path!)));
      for (const object of objects) {
        const bytes = await readFile(object);
        expect(bytes.subarray(0, 22).toString('latin1')).toBe('age-encryption.org/v1\n');
        expect(bytes.includes('secret row')).toBe(false);
        expect(localFiles.some((local) => local.equals(bytes))).toBe(true);
      }
      const refused = await harness.db.prisma.backupRecord.findMany({
        where: { errorKind: 'EncryptionMisconfigured' },
      });
      expect(refused.length).toBe(4);
      expect(
        await harness.db.prisma.backupUpload.count({ where: { backupRecordId: { in: refused.map((r) => r.id) } } }),
      ).toBe(0);
    } finally {
      await s3.close();
    }
  });
});
