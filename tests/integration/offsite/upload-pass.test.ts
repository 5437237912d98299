import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/generated/prisma/client.ts';
import type { OffsiteDestination } from '../../../src/lib/offsite/destination.ts';
import { findOffsiteOrphans } from '../../../src/lib/offsite/offsite-orphans.ts';
import { createS3Destination, MIN_PART_SIZE_BYTES } from '../../../src/lib/offsite/s3-destination.ts';
import { runUploadPass } from '../../../src/lib/offsite/upload-pass.ts';
import type { BackupDependencies } from '../../../src/lib/backups/backup.ts';
import { requeueUploads } from '../../../src/lib/offsite/upload-records.ts';
import { UPLOAD_FAILED_ALERT } from '../../../src/lib/alerts/alerts.ts';
import { runOnce } from '../../../src/lib/worker/loop.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { makePostgresBackup } from '../../support/offsite-backups.ts';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { withAlertInsertsRefused } from '../../support/refuse-alerts.ts';
import { startFaultyProxy, startS3Server, type FaultyProxy, type S3Server } from '../../support/s3-server.ts';

/**
 * The upload pass end to end: real pg_dump backups recorded in the real database, uploaded by `runUploadPass` to
 * s3rver through a TCP proxy that can cut the connection in the middle of an upload. Each story checks the
 * BackupUpload row, the alert, the object on the server and that the backup itself stays SUCCEEDED.
 */
const MINUTE = 60_000;
/** More than one 5 MiB part. */
const MULTIPART_MIB = 6;
/** Cut while the first part is on its way. */
const CUT_AFTER_BYTES = 3 * 1024 * 1024;
/** s3rver does not check SigV4 signatures, so any secret works: this one must never show up anywhere. */
const SECRET = 'Sup3r-s3cret-upload-key-000111';

let harness: BackupHarness;
let s3: S3Server;
let proxy: FaultyProxy;
let destination: OffsiteDestination;
let deps: BackupDependencies;
let workspaceId: string;
/** The clock runs with real time plus `skewMs`, so tests can jump past a backoff. */
let skewMs = 0;
const clock = () => new Date(Date.now() + skewMs);

beforeAll(async () => {
  harness = await startBackupHarness({ clock });
  s3 = await startS3Server();
  proxy = await startFaultyProxy(s3.port);
  destination = createS3Destination(
    s3.settings({
      endpoint: proxy.endpoint,
      partSizeBytes: MIN_PART_SIZE_BYTES,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: SECRET },
    }),
  );
  deps = { ...harness.deps, destinations: [destination] };
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});
afterAll(async () => {
  await proxy?.close();
  await s3?.close();
  await harness?.close();
});
// Each story leaves its uploads UPLOADED or FAILED, so the next story's passes see only its own backups.
beforeEach(() => proxy.recover());

function uploadOf(record: BackupRecord) {
  return harness.db.prisma.backupUpload.findUniqueOrThrow({
    where: { backupRecordId_destination: { backupRecordId: record.id, destination: 's3' } },
  });
}

function openUploadAlert(deploymentId: string) {
  return harness.db.prisma.alert.findFirst({ where: { deploymentId, kind: UPLOAD_FAILED_ALERT, resolvedAt: null } });
}

async function storedSha256(key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await destination.download(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function keysUnder(prefix: string): Promise<string[]> {
  return (await Array.fromAsync(destination.list(prefix))).map((object) => object.key);
}

describe('runUploadPass', () => {
  it('queues each successful backup once, uploads it verified, and leaves failed backups alone', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-first', { randomMiB: MULTIPART_MIB });
    const deployment = await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: backup.deploymentId } });
    const failed = await harness.db.prisma.backupRecord.create({
      data: {
        deploymentId: deployment.id,
        workspaceId,
        trigger: 'MANUAL',
        status: 'FAILED',
        errorKind: 'ExecFailed',
        error: 'x',
      },
    });

    const summary = await runUploadPass(deps, clock());

    expect(summary).toEqual({ queued: 1, attempted: 1, uploaded: 1, retrying: 0, failed: 0 });
    const upload = await uploadOf(backup);
    const fileName = backup.path!.split('/').at(-1);
    expect(upload).toMatchObject({
      status: 'UPLOADED',
      attempts: 0,
      lastError: null,
      objectKey: `ops/${workspaceId}/pg-first/${fileName}`,
    });
    expect(upload.uploadedAt).toBeInstanceOf(Date);
    expect(await storedSha256(upload.objectKey)).toBe(backup.sha256);
    expect(await harness.db.prisma.backupUpload.count({ where: { backupRecordId: failed.id } })).toBe(0);

    expect(await runUploadPass(deps, clock())).toEqual({
      queued: 0,
      attempted: 0,
      uploaded: 0,
      retrying: 0,
      failed: 0,
    });
    expect(harness.logs()).toContain(`backup ${backup.id} uploaded to s3 and verified`);
  });

  it('a connection cut mid-upload leaves the copy PENDING with backoff and a warning; the next due pass uploads it', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-cut', { randomMiB: MULTIPART_MIB });
    proxy.cutAfter(CUT_AFTER_BYTES);

    const before = clock();
    const summary = await runUploadPass(deps, before);
    const after = clock();

    expect(summary).toEqual({ queued: 1, attempted: 1, uploaded: 0, retrying: 1, failed: 0 });
    expect(proxy.forwardedBytes()).toBeGreaterThanOrEqual(CUT_AFTER_BYTES);
    const pending = await uploadOf(backup);
    expect(pending).toMatchObject({ status: 'PENDING', attempts: 1, uploadedAt: null });
    expect(pending.lastError).toMatch(/^s3: upload of ".*" failed: /);
    // First retry one minute after the failure.
    expect(pending.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(before.getTime() + MINUTE);
    expect(pending.nextAttemptAt.getTime()).toBeLessThanOrEqual(after.getTime() + MINUTE);
    const alert = await openUploadAlert(backup.deploymentId);
    expect(alert).toMatchObject({ severity: 'WARNING', backupRecordId: backup.id, occurrences: 1 });
    expect(alert!.message).toContain(`Off-site copy of backup ${backup.id}`);
    expect(alert!.message).toContain('next attempt at');
    expect(alert!.message).toContain('The local backup is not affected.');
    expect(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backup.id } })).toMatchObject({
      status: 'SUCCEEDED',
      error: null,
      errorKind: null,
    });
    proxy.recover();
    expect(await keysUnder(pending.objectKey)).toEqual([]);

    // Not due yet: nothing is attempted.
    expect(await runUploadPass(deps, clock())).toMatchObject({ attempted: 0 });

    skewMs += MINUTE + 1_000;
    expect(await runUploadPass(deps, clock())).toEqual({
      queued: 0,
      attempted: 1,
      uploaded: 1,
      retrying: 0,
      failed: 0,
    });
    const uploaded = await uploadOf(backup);
    expect(uploaded).toMatchObject({ status: 'UPLOADED', attempts: 1, lastError: null });
    expect(await storedSha256(uploaded.objectKey)).toBe(backup.sha256);
    expect(await openUploadAlert(backup.deploymentId)).toBeNull();
  });

  it('gives up after the last attempt, and an operator retry uploads it', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-down', { randomMiB: 0 });
    const policy = { baseDelayMs: 1_000, maxDelayMs: 1_000, maxAttempts: 2 };
    proxy.cutAfter(0);

    expect(await runUploadPass(deps, clock(), { retryPolicy: policy })).toMatchObject({ retrying: 1, failed: 0 });
    skewMs += 2_000;
    expect(await runUploadPass(deps, clock(), { retryPolicy: policy })).toMatchObject({
      attempted: 1,
      retrying: 0,
      failed: 1,
    });
    expect(await uploadOf(backup)).toMatchObject({ status: 'FAILED', attempts: 2 });
    const alert = await openUploadAlert(backup.deploymentId);
    expect(alert).toMatchObject({ occurrences: 2, severity: 'WARNING' });
    expect(alert!.message).toContain(
      `failed for good after 2 attempt(s); retry with \`npm run backup -- upload --backup ${backup.id}\``,
    );
    skewMs += 10 * MINUTE;
    expect(await runUploadPass(deps, clock(), { retryPolicy: policy })).toMatchObject({ attempted: 0 });

    proxy.recover();
    expect(await requeueUploads(harness.db.prisma, backup.id, clock())).toBe(1);
    expect(await runUploadPass(deps, clock(), { backupId: backup.id, retryPolicy: policy })).toMatchObject({
      attempted: 1,
      uploaded: 1,
    });
    expect(await uploadOf(backup)).toMatchObject({ status: 'UPLOADED', attempts: 0 });
    expect(await openUploadAlert(backup.deploymentId)).toBeNull();
  });

  it('a backup deleted locally before its upload becomes FAILED with the reason, and the record stays SUCCEEDED', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-gone', { randomMiB: 0 });
    await rm(backup.path!);

    expect(await runUploadPass(deps, clock())).toMatchObject({ attempted: 1, failed: 1, uploaded: 0 });
    const upload = await uploadOf(backup);
    expect(upload).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(upload.lastError).toBe(
      `the local backup file ${backup.path} no longer exists (it was deleted before it was uploaded); nothing to upload`,
    );
    expect(await openUploadAlert(backup.deploymentId)).toMatchObject({
      severity: 'WARNING',
      backupRecordId: backup.id,
    });
    expect(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backup.id } })).toMatchObject({
      status: 'SUCCEEDED',
    });
  });

  it('records a failed attempt only with its alert: neither written, the copy is tried again after its lease', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-no-alert', { randomMiB: 0 });
    await rm(backup.path!);
    const db = harness.db.prisma;
    // Its only attempt fails for good (the file is gone), and the alert of that cannot be written.
    expect(await withAlertInsertsRefused(db, () => runUploadPass(deps, clock()))).toMatchObject({
      attempted: 0,
      failed: 0,
    });
    // Not FAILED without an alert (nothing would ever try or alert it again): untouched but for its lease.
    expect(await uploadOf(backup)).toMatchObject({ status: 'PENDING', attempts: 0, lastError: null });
    expect(await openUploadAlert(backup.deploymentId)).toBeNull();

    expect(await runUploadPass(deps, clock())).toMatchObject({ attempted: 0 });
    skewMs += 6 * MINUTE;
    expect(await runUploadPass(deps, clock())).toMatchObject({ attempted: 1, failed: 1 });
    expect(await uploadOf(backup)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(await openUploadAlert(backup.deploymentId)).toMatchObject({
      severity: 'WARNING',
      backupRecordId: backup.id,
    });
  });

  it('two passes at once upload each copy once', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-race', { randomMiB: 0 });
    const now = clock();
    const [first, second] = await Promise.all([runUploadPass(deps, now), runUploadPass(deps, now)]);
    expect(first.attempted + second.attempted).toBe(1);
    expect(first.uploaded + second.uploaded).toBe(1);
    const upload = await uploadOf(backup);
    expect(upload.status).toBe('UPLOADED');
    const fileName = upload.objectKey.split('/').at(-1)!;
    const puts = proxy.requests().filter((line) => line.startsWith('PUT') && line.includes(fileName));
    // The file once, and its manifest once.
    expect(puts.filter((line) => !line.includes(`${fileName}.json`))).toHaveLength(1);
    expect(puts.filter((line) => line.includes(`${fileName}.json`))).toHaveLength(1);
  });

  it('a backup pruned while its copy is on its way leaves no object behind', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-pruned', { randomMiB: 0 });
    // Retention deletes the record (and its upload row) just as the upload starts.
    const pruning: OffsiteDestination = {
      ...destination,
      async upload(input) {
        await harness.db.prisma.backupRecord.deleteMany({ where: { id: backup.id } });
        await destination.upload(input);
      },
    };
    const summary = await runUploadPass({ ...deps, destinations: [pruning] }, clock());
    expect(summary).toMatchObject({ queued: 1, uploaded: 0, retrying: 0, failed: 0 });
    expect(await keysUnder(`ops/${workspaceId}/pg-pruned/`)).toEqual([]);
    expect(harness.logs()).toContain(
      `backup ${backup.id} was pruned while it was uploaded; its copy was deleted again`,
    );
  });

  it('never writes the secret into rows, alerts or logs', async () => {
    const rows = JSON.stringify(await harness.db.prisma.backupUpload.findMany());
    const alerts = JSON.stringify(await harness.db.prisma.alert.findMany());
    expect(rows.length).toBeGreaterThan(2);
    expect(alerts).toContain(UPLOAD_FAILED_ALERT);
    for (const text of [rows, alerts, harness.logs()]) expect(text).not.toContain(SECRET);
  });
});

describe('findOffsiteOrphans', () => {
  it('reports objects without a record and uploaded copies whose object is gone, deleting nothing', async () => {
    const deployment = await createDeployment(harness.db.prisma, workspaceId, { name: 'pg-orphans' });
    const kept = await makePostgresBackup(harness, workspaceId, 'pg-orphans', { randomMiB: 0 });
    const lost = await makePostgresBackup(harness, workspaceId, 'pg-orphans', { randomMiB: 0 });
    expect(await runUploadPass(deps, clock())).toMatchObject({ uploaded: 2 });
    const lostUpload = await uploadOf(lost);
    await destination.delete(lostUpload.objectKey);
    const strayKey = `ops/${workspaceId}/pg-orphans/20200101T000000.000Z.dump`;
    await destination.upload({
      key: strayKey,
      localPath: kept.path!,
      sha256: kept.sha256!,
      sizeBytes: kept.sizeBytes!,
    });

    const [scoped] = await findOffsiteOrphans(deps, { deploymentId: deployment.id });
    expect(scoped).toMatchObject({
      destination: 's3',
      prefix: `ops/${workspaceId}/pg-orphans/`,
      objectsWithoutRecord: [{ key: strayKey, sizeBytes: kept.sizeBytes }],
      uploadsWithoutObject: [{ uploadId: lostUpload.id, backupRecordId: lost.id, objectKey: lostUpload.objectKey }],
    });
    const [everything] = await findOffsiteOrphans(deps);
    expect(everything!.prefix).toBe('ops/');
    expect(everything!.objectsWithoutRecord.map((object) => object.key)).toEqual([strayKey]);
    expect(await keysUnder(strayKey)).toEqual([strayKey]);
  });
});

describe('the worker cycle', () => {
  it('uploads the backups it made after making them, and counts them in its summary', async () => {
    const source = await createDatabase(uniqueDatabaseName('ops_test_offsite_cycle'));
    try {
      harness.kube.pods.push(
        podFor('pg-cycle', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source }),
      );
      const deployment = await createDeployment(harness.db.prisma, workspaceId, {
        name: 'pg-cycle',
        backupEnabled: true,
        backupSchedule: '0 3 * * *',
      });
      const loop = await harness.loop({
        backup: deps,
        settings: { concurrency: 1, overdueGraceMs: 60 * MINUTE, retryDelayMs: 60 * MINUTE },
      });

      const { jobs } = await runOnce(loop);

      expect(jobs).toMatchObject({ backupsSucceeded: 1, backupsFailed: 0, uploaded: 1, uploadsFailed: 0 });
      const backup = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { deploymentId: deployment.id } });
      expect(await uploadOf(backup)).toMatchObject({ status: 'UPLOADED' });
      expect(await storedSha256((await uploadOf(backup)).objectKey)).toBe(backup.sha256);
      const again = await runOnce({ ...loop, backup: { ...deps, destinations: [] } });
      expect(again.cycle.uploadPassQueued).toBe(false);
      expect(again.jobs).toMatchObject({ uploaded: 0, uploadsFailed: 0 });
    } finally {
      await dropDatabase(source);
    }
  });
});
