import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/generated/prisma/client.ts';
import type { OffsiteDestination } from '../../../src/lib/offsite/destination.ts';
import { fetchOffsiteCopy, FetchedCopyMismatchError, FetchRefusedError } from '../../../src/lib/offsite/fetch-copy.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { runUploadPass } from '../../../src/lib/offsite/upload-pass.ts';
import type { BackupDependencies } from '../../../src/lib/backups/backup.ts';
import { restoreBackup, RestoreRefusedError } from '../../../src/lib/restore/restore-backup.ts';
import { hashFile, verifyBackupFile } from '../../../src/lib/storage/verify-backup.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createWorkspace } from '../../support/factories.ts';
import { makePostgresBackup } from '../../support/offsite-backups.ts';
import { startS3Server, type S3Server } from '../../support/s3-server.ts';

/**
 * Disaster recovery from the off-site copy: real pg_dump backups uploaded to s3rver by the upload pass, their local
 * files lost (one with the whole workspace folder, as with a new /backups volume), fetched back, checked byte for byte
 * and restored into a scratch database. A tampered object, no uploaded copy and an intact local file are refused,
 * leaving no file and no temporary file behind.
 */
const RANDOM_MIB = 2;
/** makePostgresBackup writes 256 KiB rows. */
const ROWS = RANDOM_MIB * 4;

let harness: BackupHarness;
let s3: S3Server;
let destination: OffsiteDestination;
let deps: BackupDependencies;
let workspaceId: string;

beforeAll(async () => {
  harness = await startBackupHarness();
  s3 = await startS3Server();
  destination = createS3Destination(s3.settings());
  deps = { ...harness.deps, destinations: [destination] };
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});
afterAll(async () => {
  await s3?.close();
  await harness?.close();
});

/** A real backup of `name`, uploaded and verified on s3rver. */
async function uploadedBackup(name: string, randomMiB = 0): Promise<{ backup: BackupRecord; objectKey: string }> {
  const backup = await makePostgresBackup(harness, workspaceId, name, { randomMiB });
  const summary = await runUploadPass(deps, deps.clock(), { backupId: backup.id });
  expect(summary.uploaded).toBe(1);
  const upload = await harness.db.prisma.backupUpload.findFirstOrThrow({
    where: { backupRecordId: backup.id, status: 'UPLOADED' },
  });
  return { backup, objectKey: upload.objectKey };
}

/**
 * Everything in the backup's folder (temporary files are hidden names) but the manifest, which the backup wrote and
 * fetch leaves alone.
 */
async function folderEntries(backup: BackupRecord): Promise<string[]> {
  const entries = await readdir(path.dirname(backup.path!)).catch(() => []);
  return entries.filter((entry) => entry !== `${path.basename(backup.path!)}.json`).sort();
}

async function putObject(key: string, body: Buffer): Promise<void> {
  const settings = s3.settings();
  const client = new S3Client({
    region: settings.region,
    endpoint: settings.endpoint!,
    forcePathStyle: true,
    credentials: settings.credentials!,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
  } finally {
    client.destroy();
  }
}

describe('fetchOffsiteCopy', () => {
  it('brings back a backup lost with its whole folder; the fetched file is identical and restores with its counts', async () => {
    const { backup, objectKey } = await uploadedBackup('pg-lost', RANDOM_MIB);
    // The volume is gone: a new, empty one holds not even the workspace folder.
    await rm(path.join(harness.root, workspaceId), { recursive: true, force: true });

    const refused = await restoreBackup(harness.deps, backup.id, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RestoreRefusedError);
    expect((refused as RestoreRefusedError).message).toContain(
      `is missing; an off-site copy is on s3 (${objectKey}): fetch it with \`npm run backup -- fetch ${backup.id}\`, then restore again`,
    );

    const progress: number[] = [];
    const fetched = await fetchOffsiteCopy(deps, backup.id, { onProgress: (bytes) => progress.push(bytes) });

    expect(fetched).toMatchObject({
      backupId: backup.id,
      path: backup.path,
      sizeBytes: backup.sizeBytes,
      sha256: backup.sha256,
      destination: 's3',
      objectKey,
      replaced: 'missing',
    });
    expect(await hashFile(backup.path!)).toEqual({ sha256: backup.sha256, sizeBytes: backup.sizeBytes });
    expect(await verifyBackupFile(backup.path!, backup.sha256!)).toEqual({ ok: true, sizeBytes: backup.sizeBytes });
    expect(await readFile(`${backup.path}.sha256`, 'utf8')).toBe(`${backup.sha256}  ${path.basename(backup.path!)}\n`);
    expect(await folderEntries(backup)).toEqual([path.basename(backup.path!), `${path.basename(backup.path!)}.sha256`]);
    expect(progress.at(-1)).toBe(Number(backup.sizeBytes));
    expect(harness.logs()).toContain(`backup ${backup.id} fetched from s3 and verified`);

    // The source database was dropped after the backup: the scratch database is created from the server's own.
    const pod = harness.kube.pods.find((candidate) => candidate.name === 'pg-lost-0')!;
    pod.containers[0]!.env = { ...pod.containers[0]!.env, POSTGRES_DB: 'postgres' };
    const restored = await restoreBackup(harness.deps, backup.id, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', errorKind: null });
    expect(restored.counts).toEqual({ tables: { 'public.blobs': ROWS } });

    await expect(fetchOffsiteCopy(deps, backup.id)).rejects.toMatchObject({ code: 'LOCAL_FILE_INTACT' });
  });

  it('replaces a local file that no longer matches its record', async () => {
    const { backup } = await uploadedBackup('pg-damaged');
    const original = await readFile(backup.path!);
    const damaged = Buffer.from(original);
    damaged.writeUInt8(damaged.readUInt8(damaged.length >> 1) ^ 0xff, damaged.length >> 1);
    await writeFile(backup.path!, damaged);

    const fetched = await fetchOffsiteCopy(deps, backup.id);

    expect(fetched.replaced).toBe('damaged');
    expect(fetched.localProblem).toContain('checksum-mismatch');
    expect((await readFile(backup.path!)).equals(original)).toBe(true);
    expect(await verifyBackupFile(backup.path!, backup.sha256!)).toMatchObject({ ok: true });
  });

  it('refuses a tampered copy of the same size or longer: no file, no sidecar, no temporary file left', async () => {
    const { backup, objectKey } = await uploadedBackup('pg-tampered');
    await rm(backup.path!);
    await rm(`${backup.path}.sha256`);
    const size = Number(backup.sizeBytes);

    await putObject(objectKey, randomBytes(size));
    const sameSize = await fetchOffsiteCopy(deps, backup.id).catch((error: unknown) => error);
    expect(sameSize).toBeInstanceOf(FetchedCopyMismatchError);
    expect(sameSize).toMatchObject({ field: 'sha256', expected: backup.sha256, destination: 's3', key: objectKey });
    expect((sameSize as Error).message).toContain('nothing was written');
    expect(await folderEntries(backup)).toEqual([]);

    await putObject(objectKey, randomBytes(size + 1));
    await expect(fetchOffsiteCopy(deps, backup.id)).rejects.toMatchObject({
      name: 'FetchedCopyMismatchError',
      field: 'size',
      expected: String(size),
    });
    expect(await folderEntries(backup)).toEqual([]);

    await putObject(objectKey, randomBytes(size - 1));
    await expect(fetchOffsiteCopy(deps, backup.id)).rejects.toMatchObject({ field: 'size', actual: String(size - 1) });
    expect(await folderEntries(backup)).toEqual([]);
  });

  it('an interrupted download leaves the path as it was and no temporary file', async () => {
    const { backup } = await uploadedBackup('pg-interrupted', 1);
    await rm(backup.path!);
    const stop = new AbortController();
    const result = await fetchOffsiteCopy(deps, backup.id, {
      signal: stop.signal,
      onProgress: () => stop.abort(),
    }).catch((error: unknown) => error);
    expect(result).toBeInstanceOf(Error);
    expect(stop.signal.aborted).toBe(true);
    expect(await folderEntries(backup)).toEqual([`${path.basename(backup.path!)}.sha256`]);
  });

  it('refuses a backup without an uploaded copy, saying so, and the restore refusal says it too', async () => {
    const backup = await makePostgresBackup(harness, workspaceId, 'pg-local-only', { randomMiB: 0 });
    await rm(backup.path!);

    const refused = await fetchOffsiteCopy(deps, backup.id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(FetchRefusedError);
    expect(refused).toMatchObject({ code: 'NO_UPLOADED_COPY', backupId: backup.id });
    expect((refused as Error).message).toContain('it was never queued for upload');
    await expect(
      restoreBackup(harness.deps, backup.id, { mode: 'scratch', requestedBy: 'test', trigger: 'MANUAL' }),
    ).rejects.toThrow('is missing; it has no uploaded off-site copy to fetch');

    // A copy whose upload gave up is no copy; its reason is shown.
    await harness.db.prisma.backupUpload.create({
      data: {
        backupRecordId: backup.id,
        destination: 's3',
        objectKey: `ops/${workspaceId}/pg-local-only/x.dump`,
        status: 'FAILED',
        attempts: 12,
        lastError: 'bucket unreachable',
      },
    });
    await expect(fetchOffsiteCopy(deps, backup.id)).rejects.toThrow('s3 FAILED (bucket unreachable)');
    expect(await folderEntries(backup)).toEqual([`${path.basename(backup.path!)}.sha256`]);
  });

  it('refuses when the local file is intact, a backup is not SUCCEEDED, or its destination is not configured, downloading nothing', async () => {
    const { backup } = await uploadedBackup('pg-intact');
    let downloads = 0;
    const counting: OffsiteDestination = {
      ...destination,
      download: (key, signal) => ((downloads += 1), destination.download(key, signal)),
    };
    const countingDeps = { ...deps, destinations: [counting] };

    const intact = await fetchOffsiteCopy(countingDeps, backup.id).catch((error: unknown) => error);
    expect(intact).toMatchObject({ code: 'LOCAL_FILE_INTACT' });
    expect((intact as Error).message).toContain(`nothing to fetch: the local file ${backup.path} is intact`);

    const failed = await harness.db.prisma.backupRecord.create({
      data: {
        deploymentId: backup.deploymentId,
        workspaceId,
        trigger: 'MANUAL',
        status: 'FAILED',
        errorKind: 'ExecFailed',
        error: 'x',
      },
    });
    await expect(fetchOffsiteCopy(countingDeps, failed.id)).rejects.toMatchObject({ code: 'NOT_SUCCEEDED' });
    await expect(fetchOffsiteCopy(countingDeps, 'nosuchbackup')).rejects.toMatchObject({ code: 'NOT_FOUND' });

    await rm(backup.path!);
    await expect(fetchOffsiteCopy({ ...deps, destinations: [] }, backup.id)).rejects.toThrow(
      's3, which is not configured here (configured: none; set S3_BUCKET)',
    );
    await expect(fetchOffsiteCopy(countingDeps, backup.id, { destination: 'b2' })).rejects.toMatchObject({
      code: 'NO_UPLOADED_COPY',
    });
    expect(downloads).toBe(0);

    // A record whose path is not in this store (another BACKUP_ROOT) is refused too.
    await harness.db.prisma.backupRecord.update({
      where: { id: backup.id },
      data: { path: `/elsewhere/${workspaceId}/pg-intact/x.dump` },
    });
    await expect(fetchOffsiteCopy(countingDeps, backup.id)).rejects.toMatchObject({ code: 'PATH_NOT_IN_STORE' });
    expect(downloads).toBe(0);
  });
});
