import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, Deployment } from '../../../src/generated/prisma/client.ts';
import { auditBackupFiles } from '../../../src/lib/backups/recovery.ts';
import { fetchOffsiteCopy, FetchRefusedError } from '../../../src/lib/offsite/fetch-copy.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { runUploadPass } from '../../../src/lib/offsite/upload-pass.ts';
import { loadRestorable, restoreBackup } from '../../../src/lib/restore/restore-backup.ts';
import { RestoreRefusedError } from '../../../src/lib/restore/restore-errors.ts';
import { runDeploymentTestRestore } from '../../../src/lib/restore/test-restore-pass.ts';
import { pruneBackups } from '../../../src/lib/retention/prune.ts';
import { backupFileName, deploymentFolder, formatSidecar } from '../../../src/lib/storage/backup-path.ts';
import { backupFileReferenceOf } from '../../../src/lib/storage/locate-backup-file.ts';
import { verifyStoredBackup } from '../../../src/lib/storage/verify-backup.ts';
import { recordFormatCheck } from '../../../src/lib/verification/record-format-check.ts';
import { openBackupFile } from '../../../src/lib/web/backup-download.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { startS3Server, type S3Server } from '../../support/s3-server.ts';

/**
 * One function locates a backup's file, and every consumer uses it: a record whose path was tampered with to point
 * at another deployment's file (same workspace or another one), through `..`, or through a symbolic link planted in
 * its own folder, is refused by download, prune, fetch, restore, verify, the format check, the off-site upload, the
 * test-restore and the audit alike. The victim's file is a real backup with a correct sha256 and sidecar, so only the
 * location check can stop them; afterwards it is untouched, nothing was uploaded and no exec reached the cluster.
 */
const T0 = new Date('2026-03-01T03:00:00.000Z');
const HOUR = 3_600_000;

let harness: BackupHarness;
let s3: S3Server;
let victim: { deployment: Deployment; path: string; bytes: Buffer; sha256: string };

/** Writes a backup file and its sidecar into `deployment`'s folder, as the store does; returns its path and sha256. */
async function writeBackupFile(deployment: Deployment, startedAt: Date, bytes: Buffer) {
  const folder = deploymentFolder(harness.root, deployment.workspaceId, deployment.name);
  await mkdir(folder, { recursive: true });
  const filePath = path.join(folder, backupFileName(startedAt, 'dump'));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(filePath, bytes);
  await writeFile(`${filePath}.sha256`, formatSidecar(sha256, path.basename(filePath)));
  return { path: filePath, sha256 };
}

async function succeededRecord(
  deployment: Deployment,
  startedAt: Date,
  file: { path: string; sha256: string; sizeBytes: bigint },
  verified: boolean,
): Promise<BackupRecord> {
  return harness.db.prisma.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId: deployment.workspaceId,
      trigger: 'MANUAL',
      status: 'SUCCEEDED',
      startedAt,
      finishedAt: new Date(startedAt.getTime() + 1_000),
      path: file.path,
      sizeBytes: file.sizeBytes,
      sha256: file.sha256,
      format: 'postgres-custom',
      extension: 'dump',
      verifiedAt: verified ? startedAt : null,
    },
  });
}

/**
 * A deployment of the attacker's with a newer backup of its own and an older tampered record pointing at the victim's
 * file, verified so that the test-restore picks it (the consumers run in order: the test-restore before the format
 * check, which takes `verifiedAt` away, and prune last, once the tampered record is no longer the newest verified).
 */
async function attackerWith(tamperedPath: (folder: string) => Promise<string>) {
  const workspace = await createWorkspace(harness.db.prisma);
  const deployment = await createDeployment(harness.db.prisma, workspace.id);
  const folder = deploymentFolder(harness.root, deployment.workspaceId, deployment.name);
  await mkdir(folder, { recursive: true });
  const own = await writeBackupFile(deployment, new Date(T0.getTime() + 2 * HOUR), randomBytes(64));
  await succeededRecord(deployment, new Date(T0.getTime() + 2 * HOUR), { ...own, sizeBytes: 64n }, false);
  const tampered = await succeededRecord(
    deployment,
    T0,
    { path: await tamperedPath(folder), sha256: victim.sha256, sizeBytes: BigInt(victim.bytes.length) },
    true,
  );
  return { deployment, tampered };
}

const TAMPERED_PATHS: Array<[string, (folder: string) => Promise<string>]> = [
  ["another deployment's file", async () => victim.path],
  [
    "another deployment's file through ..",
    async (folder) =>
      `${folder}/../../${victim.deployment.workspaceId}/${victim.deployment.name}/${path.basename(victim.path)}`,
  ],
  [
    'a symbolic link in its own folder to another deployment’s file',
    async (folder) => {
      const link = path.join(folder, backupFileName(T0, 'dump'));
      await symlink(victim.path, link);
      await symlink(`${victim.path}.sha256`, `${link}.sha256`);
      return link;
    },
  ],
];

type Consumer = (record: BackupRecord, deployment: Deployment) => Promise<void>;

const CONSUMERS: Array<[string, Consumer]> = [
  [
    'download',
    async (record, deployment) => {
      const opened = await openBackupFile(harness.root, { ...record, deployment });
      expect(opened).toMatchObject({ ok: false, reason: 'outside-root' });
    },
  ],
  [
    'verify',
    async (record, deployment) => {
      const result = await verifyStoredBackup(
        harness.root,
        backupFileReferenceOf({ ...record, deployment }),
        record.sha256!,
      );
      expect(result).toMatchObject({ ok: false, reason: 'file-refused' });
    },
  ],
  [
    'test-restore',
    async (_record, deployment) => {
      const result = await runDeploymentTestRestore(harness.deps, deployment.id);
      expect(result).toMatchObject({ outcome: 'failed' });
      expect(result?.detail).toMatch(/file is refused/);
    },
  ],
  [
    'format check',
    async (record) => {
      const checked = await recordFormatCheck(harness.deps, record);
      expect(checked.outcome).toBe('failed');
      expect(checked.record).toMatchObject({ verifyMethod: 'locate', verifiedAt: null });
      expect(checked.record.verifyError).toMatch(/^the file was not checked: /);
    },
  ],
  [
    'restore',
    async (record) => {
      const refused = await loadRestorable(harness.deps, record.id).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RestoreRefusedError);
      expect((refused as RestoreRefusedError).code).toBe('BACKUP_NOT_RESTORABLE');
      expect((refused as Error).message).toMatch(/file is refused/);
      await expect(
        restoreBackup(harness.deps, record.id, { mode: 'scratch', requestedBy: 'test', trigger: 'MANUAL' }),
      ).rejects.toThrow(/file is refused/);
    },
  ],
  [
    'fetch',
    async (record) => {
      const refused = await fetchOffsiteCopy(harness.deps, record.id).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(FetchRefusedError);
      expect((refused as FetchRefusedError).code).toBe('PATH_NOT_IN_STORE');
    },
  ],
  [
    'off-site upload',
    async (record) => {
      const destination = createS3Destination(s3.settings());
      await runUploadPass({ ...harness.deps, destinations: [destination] }, new Date(), { backupId: record.id });
      const upload = await harness.db.prisma.backupUpload.findFirstOrThrow({ where: { backupRecordId: record.id } });
      expect(upload.status).toBe('FAILED');
      expect(upload.lastError).toMatch(/refused/);
    },
  ],
  [
    'audit',
    async (record, deployment) => {
      const audit = await auditBackupFiles(harness.deps, deployment.id);
      expect(audit.recordsWithoutFile.map((entry) => entry.id)).toEqual([record.id]);
      expect(audit.filesWithoutRecord).toEqual([]);
    },
  ],
  [
    'prune',
    async (record, deployment) => {
      const report = await pruneBackups(harness.deps, deployment.id, { policy: { keepLast: 1 } });
      expect(report.pruned).toEqual([]);
      expect(report.problems.map((problem) => problem.id)).toEqual([record.id]);
      expect(report.problems[0]?.reason).toMatch(/^storage: refused /);
      expect(await harness.db.prisma.backupRecord.count({ where: { id: record.id } })).toBe(1);
    },
  ],
];

beforeAll(async () => {
  harness = await startBackupHarness({ pods: [podFor('unused', 'postgres', {})] });
  s3 = await startS3Server();
  const workspace = await createWorkspace(harness.db.prisma);
  const deployment = await createDeployment(harness.db.prisma, workspace.id);
  const bytes = randomBytes(256);
  victim = { deployment, bytes, ...(await writeBackupFile(deployment, T0, bytes)) };
  await succeededRecord(deployment, T0, { path: victim.path, sha256: victim.sha256, sizeBytes: 256n }, true);
});
afterAll(async () => {
  await s3?.close();
  await harness?.close();
});

describe.each(TAMPERED_PATHS)('a record whose path is %s', (_label, tamperedPath) => {
  let attacker: Awaited<ReturnType<typeof attackerWith>>;
  beforeAll(async () => {
    attacker = await attackerWith(tamperedPath);
  });

  it.each(CONSUMERS)('is refused by the %s', async (_consumer, consume) => {
    const record = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: attacker.tampered.id } });
    await consume(record, attacker.deployment);
    expect(await readFile(victim.path)).toEqual(victim.bytes);
    expect(await readFile(`${victim.path}.sha256`, 'utf8')).toBe(
      formatSidecar(victim.sha256, path.basename(victim.path)),
    );
    expect(harness.kube.execs).toEqual([]);
    expect(await readdir(s3.directory, { recursive: true })).not.toContainEqual(
      expect.stringContaining(attacker.deployment.name),
    );
  });
});
