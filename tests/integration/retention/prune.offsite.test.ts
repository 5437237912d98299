import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, Deployment, UploadStatus } from '../../../src/generated/prisma/client.ts';
import type { OffsiteDestination, OffsiteObject } from '../../../src/lib/offsite/destination.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { pruneBackups, type PruneDependencies } from '../../../src/lib/retention/prune.ts';
import { setBackupPinned } from '../../../src/lib/retention/retention-pin.ts';
import { filesUnder, folderOf } from '../../support/backup-checks.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { startS3Server, type S3Server } from '../../support/s3-server.ts';

/**
 * Retention applies to each destination: a pruned backup's off-site copies go with it, through the real S3
 * destination against a real S3-protocol server (s3rver). A copy that cannot be deleted (server unreachable,
 * destination not configured) keeps the backup, its file and its upload row, and is reported; a backup pinned while
 * the prune runs is not deleted.
 */
const T0 = new Date('2026-03-01T03:00:00Z');
const HOUR_MS = 3_600_000;
const BACKUP_BYTES = 8 * 1024;
/** Nothing listens here: every request is refused. */
const DEAD_ENDPOINT = 'http://127.0.0.1:9';

let harness: BackupHarness;
let s3: S3Server;
let destination: OffsiteDestination;
let workspaceId: string;

beforeAll(async () => {
  harness = await startBackupHarness();
  s3 = await startS3Server();
  destination = createS3Destination(s3.settings());
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});

afterAll(async () => {
  await s3?.close();
  await harness?.close();
});

function depsWith(destinations?: readonly OffsiteDestination[]): PruneDependencies {
  return { ...harness.deps, ...(destinations ? { destinations } : {}) };
}

function newDeployment(): Promise<Deployment> {
  return createDeployment(harness.db.prisma, workspaceId, {
    name: `db-${randomBytes(4).toString('hex')}`,
    backupRetention: 1,
  });
}

/**
 * A SUCCEEDED backup written by the store `hours` after T0 and, unless `upload` says otherwise, uploaded to s3rver
 * through the destination with its BackupUpload row UPLOADED.
 */
async function seedBackup(
  deployment: Deployment,
  hours: number,
  upload: UploadStatus | 'none' = 'UPLOADED',
): Promise<{ record: BackupRecord; key: string }> {
  const startedAt = new Date(T0.getTime() + hours * HOUR_MS);
  const writer = await harness.deps.store.open({
    workspaceId,
    deploymentName: deployment.name,
    extension: 'dump',
    compressed: true,
    startedAt,
  });
  writer.stream.write(randomBytes(BACKUP_BYTES));
  const stored = await writer.commit();
  const record = await harness.db.prisma.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt,
      finishedAt: startedAt,
      path: stored.path,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
      extension: stored.extension,
    },
  });
  const key = destination.objectKeyFor({
    workspaceId,
    deploymentName: deployment.name,
    fileName: path.basename(stored.path),
  });
  if (upload === 'UPLOADED')
    await destination.upload({ key, localPath: stored.path, sha256: stored.sha256, sizeBytes: stored.sizeBytes });
  if (upload !== 'none') {
    await harness.db.prisma.backupUpload.create({
      data: {
        backupRecordId: record.id,
        destination: 's3',
        objectKey: key,
        status: upload,
        ...(upload === 'UPLOADED' ? { uploadedAt: startedAt } : { lastError: 'upload failed' }),
      },
    });
  }
  return { record, key };
}

async function remoteKeys(deployment: Deployment): Promise<string[]> {
  const objects = await Array.fromAsync(
    destination.list(`${destination.keyPrefix}/${workspaceId}/${deployment.name}/`),
  );
  return objects.map((object) => object.key).sort();
}

async function everything(deployment: Deployment) {
  const records = await harness.db.prisma.backupRecord.findMany({
    where: { deploymentId: deployment.id },
    select: { id: true },
    orderBy: { id: 'asc' },
  });
  const uploads = await harness.db.prisma.backupUpload.findMany({
    where: { backupRecord: { deploymentId: deployment.id } },
    select: { objectKey: true, status: true },
    orderBy: { objectKey: 'asc' },
  });
  return {
    records: records.map((r) => r.id),
    uploads,
    files: await filesUnder(folderOf(harness.root, deployment)),
    remote: await remoteKeys(deployment),
  };
}

describe('prune deletes off-site copies', () => {
  it('lists the copies in the dry run, then deletes objects, upload rows, files and records together', async () => {
    const deployment = await newDeployment();
    const [oldest, middle, newest] = [
      await seedBackup(deployment, 0),
      await seedBackup(deployment, 1),
      await seedBackup(deployment, 2),
    ];
    expect(await remoteKeys(deployment)).toEqual([oldest!.key, middle!.key, newest!.key].sort());

    const plan = await pruneBackups(depsWith([destination]), deployment.id, { dryRun: true });
    expect(plan.pruned.map((p) => [p.id, p.remoteCopies])).toEqual([
      [middle!.record.id, [{ destination: 's3', objectKey: middle!.key }]],
      [oldest!.record.id, [{ destination: 's3', objectKey: oldest!.key }]],
    ]);
    expect(await remoteKeys(deployment)).toHaveLength(3);

    const report = await pruneBackups(depsWith([destination]), deployment.id, { confirm: true });

    expect(report.problems).toEqual([]);
    expect(report.pruned.map((p) => p.id)).toEqual([middle!.record.id, oldest!.record.id]);
    const left = await everything(deployment);
    expect(left).toEqual({
      records: [newest!.record.id],
      uploads: [{ objectKey: newest!.key, status: 'UPLOADED' }],
      files: [path.basename(newest!.record.path!), `${path.basename(newest!.record.path!)}.sha256`].sort(),
      remote: [newest!.key],
    });
    expect((await pruneBackups(depsWith([destination]), deployment.id, { confirm: true })).pruned).toEqual([]);
  });

  it('keeps the backup, its file, its upload row and its object when the destination cannot be reached, and says why', async () => {
    const deployment = await newDeployment();
    const [old] = [await seedBackup(deployment, 0), await seedBackup(deployment, 1)];
    const before = await everything(deployment);
    const unreachable = createS3Destination(s3.settings({ endpoint: DEAD_ENDPOINT }));

    const report = await pruneBackups(depsWith([unreachable]), deployment.id, { confirm: true });

    expect(report.pruned).toEqual([]);
    expect(report.problems).toEqual([
      {
        id: old!.record.id,
        path: old!.record.path,
        reason: expect.stringContaining(`its copy ${old!.key} on destination "s3" could not be deleted: `),
      },
    ]);
    expect(report.problems[0]!.reason).not.toContain(s3.settings().credentials!.secretAccessKey);
    expect(await everything(deployment)).toEqual(before);
    expect(harness.logs()).toContain('prune kept a backup it could not delete');

    // Reachable again: the next prune finishes the job.
    expect(
      (await pruneBackups(depsWith([destination]), deployment.id, { confirm: true })).pruned.map((p) => p.id),
    ).toEqual([old!.record.id]);
    expect((await everything(deployment)).remote).toHaveLength(1);
  });

  it('keeps a backup whose copy is on a destination that is not configured', async () => {
    const deployment = await newDeployment();
    const [old] = [await seedBackup(deployment, 0), await seedBackup(deployment, 1)];
    const before = await everything(deployment);

    const report = await pruneBackups(depsWith(), deployment.id, { confirm: true });

    expect(report.problems.map((p) => [p.id, p.reason])).toEqual([
      [old!.record.id, 'its copy on destination "s3" cannot be deleted: that destination is not configured'],
    ]);
    expect(await everything(deployment)).toEqual(before);
  });

  it('deletes backups whose upload failed or never started without asking any destination', async () => {
    const deployment = await newDeployment();
    const failedUpload = await seedBackup(deployment, 0, 'FAILED');
    const noUpload = await seedBackup(deployment, 1, 'none');
    const newest = await seedBackup(deployment, 2, 'none');

    const report = await pruneBackups(depsWith(), deployment.id, { confirm: true });

    expect(report.problems).toEqual([]);
    expect(report.pruned.map((p) => [p.id, p.remoteCopies])).toEqual([
      [noUpload.record.id, []],
      [failedUpload.record.id, []],
    ]);
    expect(await everything(deployment)).toMatchObject({ records: [newest.record.id], uploads: [] });
  });

  it('does not delete a backup pinned while the prune runs', async () => {
    const deployment = await newDeployment();
    const [older, old, newest] = [
      await seedBackup(deployment, 0),
      await seedBackup(deployment, 1),
      await seedBackup(deployment, 2),
    ];
    // Backups are deleted newest first: while `old`'s copy is being deleted, someone pins `older`.
    const pinningMeanwhile: OffsiteDestination = {
      ...destination,
      async delete(key) {
        if (key === old!.key)
          expect(await setBackupPinned(harness.db.prisma, { backupId: older!.record.id }, true)).toMatchObject({
            ok: true,
          });
        await destination.delete(key);
      },
    };

    const report = await pruneBackups(depsWith([pinningMeanwhile]), deployment.id, { confirm: true });

    expect(report.pruned.map((p) => p.id)).toEqual([old!.record.id]);
    expect(report.problems).toEqual([
      { id: older!.record.id, path: older!.record.path, reason: 'it was pinned after the plan was made' },
    ]);
    expect(await everything(deployment)).toMatchObject({
      records: [older!.record.id, newest!.record.id].sort(),
      remote: [older!.key, newest!.key].sort(),
    });
  });
});
