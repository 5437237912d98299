import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/generated/prisma/client.ts';
import type { OffsiteDestination, OffsiteObject } from '../../../src/lib/offsite/destination.ts';
import { OffsiteRequestError, OffsiteVerificationError } from '../../../src/lib/offsite/offsite-errors.ts';
import { createS3Destination, MIN_PART_SIZE_BYTES } from '../../../src/lib/offsite/s3-destination.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createWorkspace } from '../../support/factories.ts';
import { makePostgresBackup } from '../../support/offsite-backups.ts';
import {
  S3RVER_CREDENTIALS,
  startFaultyProxy,
  startS3Server,
  type FaultyProxy,
  type S3Server,
} from '../../support/s3-server.ts';

/**
 * The S3 destination against a real S3-protocol server (s3rver): a real pg_dump backup of 12 MiB of random data goes
 * up as a multipart upload in 5 MiB parts, is listed, comes back byte for byte (sha256), carries its sha256 as
 * metadata, and is deleted. Uploads that do not match the record are refused and leave no object behind.
 */
const RANDOM_MIB = 12;
let harness: BackupHarness;
let s3: S3Server;
let destination: OffsiteDestination;
let backup: BackupRecord;
let raw: S3Client;
let proxy: FaultyProxy;

beforeAll(async () => {
  harness = await startBackupHarness();
  s3 = await startS3Server();
  // Through a proxy that only watches, to see the requests the upload makes.
  proxy = await startFaultyProxy(s3.port);
  destination = createS3Destination(
    s3.settings({ endpoint: proxy.endpoint, prefix: '/ops//prod/', partSizeBytes: MIN_PART_SIZE_BYTES }),
  );
  raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
  });
  const workspace = await createWorkspace(harness.db.prisma);
  backup = await makePostgresBackup(harness, workspace.id, 'pg-big', { randomMiB: RANDOM_MIB });
});
afterAll(async () => {
  raw?.destroy();
  await proxy?.close();
  await s3?.close();
  await harness?.close();
});

const collect = (iterable: AsyncIterable<OffsiteObject>): Promise<OffsiteObject[]> => Array.fromAsync(iterable);

function keyOf(record: BackupRecord): string {
  return destination.objectKeyFor({
    workspaceId: record.workspaceId,
    deploymentName: 'pg-big',
    fileName: record.path!.split('/').at(-1)!,
  });
}

describe('S3 destination against s3rver', () => {
  it('uploads a real multi-part backup, lists it, downloads identical bytes and deletes it', async () => {
    expect(backup.sizeBytes! > BigInt(2 * MIN_PART_SIZE_BYTES)).toBe(true);
    const key = keyOf(backup);
    expect(key).toBe(`ops/prod/${backup.workspaceId}/pg-big/${backup.path!.split('/').at(-1)}`);

    await destination.upload({ key, localPath: backup.path!, sha256: backup.sha256!, sizeBytes: backup.sizeBytes! });

    const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(head.Metadata).toEqual({ sha256: backup.sha256 });
    expect(BigInt(head.ContentLength!)).toBe(backup.sizeBytes);
    // 12+ MiB in 5 MiB parts: a multipart upload of three (or more) parts, completed once.
    const parts = Math.ceil(Number(backup.sizeBytes) / MIN_PART_SIZE_BYTES);
    expect(parts).toBeGreaterThanOrEqual(3);
    const requests = proxy.requests();
    expect(requests.filter((line) => line.startsWith('POST') && line.includes('?uploads'))).toHaveLength(1);
    const partNumbers = requests.flatMap((line) =>
      line.startsWith('PUT') ? [Number(/partNumber=(\d+)/.exec(line)?.[1])] : [],
    );
    expect(partNumbers.sort((a, b) => a - b)).toEqual(Array.from({ length: parts }, (_, i) => i + 1));
    expect(requests.filter((line) => line.startsWith('POST') && line.includes('uploadId='))).toHaveLength(1);

    const listed = await collect(destination.list(`${destination.keyPrefix}/`));
    expect(listed).toEqual([{ key, sizeBytes: backup.sizeBytes, lastModified: expect.any(Date) }]);

    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of await destination.download(key)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    expect(BigInt(bytes)).toBe(backup.sizeBytes);
    expect(hash.digest('hex')).toBe(backup.sha256);

    await destination.delete(key);
    expect(await collect(destination.list(`${destination.keyPrefix}/`))).toEqual([]);
    await expect(destination.delete(key)).resolves.toBeUndefined();
    await expect(destination.download(key)).rejects.toThrowError(OffsiteRequestError);
  });

  it('lists across pages', async () => {
    const small = `${harness.root}/small.bin`;
    await writeFile(small, 'x');
    const sha256 = createHash('sha256').update('x').digest('hex');
    const paged = createS3Destination(s3.settings({ prefix: 'paged', listPageSize: 10 }));
    const keys = Array.from({ length: 25 }, (_, i) => `paged/${String(i).padStart(4, '0')}`);
    await Promise.all(keys.map((key) => paged.upload({ key, localPath: small, sha256, sizeBytes: 1n })));
    const listed = await collect(paged.list('paged/'));
    expect(listed.map((object) => object.key)).toEqual(keys);
    expect(listed.every((object) => object.sizeBytes === 1n)).toBe(true);
  });

  it('refuses an upload whose file is not the recorded backup and leaves no object', async () => {
    const key = `${destination.keyPrefix}/bad/${backup.id}`;
    const wrongSha = 'f'.repeat(64);
    const error = await destination
      .upload({ key, localPath: backup.path!, sha256: wrongSha, sizeBytes: backup.sizeBytes! })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OffsiteVerificationError);
    expect(error).toMatchObject({ field: 'local-sha256', expected: wrongSha, actual: backup.sha256 });
    expect(await collect(destination.list(`${destination.keyPrefix}/bad/`))).toEqual([]);

    const sizeError = await destination
      .upload({ key, localPath: backup.path!, sha256: backup.sha256!, sizeBytes: backup.sizeBytes! + 1n })
      .catch((caught: unknown) => caught);
    expect(sizeError).toMatchObject({ name: 'OffsiteVerificationError', field: 'local-size' });
  });

  it('names the operation and the S3 error, never the secret, when the credentials are refused', async () => {
    const secret = 'unknown-secret-value-1234567890';
    const wrong = createS3Destination(
      s3.settings({ credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: secret } }),
    );
    const error = await wrong
      .upload({ key: 'ops/x', localPath: backup.path!, sha256: backup.sha256!, sizeBytes: backup.sizeBytes! })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OffsiteRequestError);
    expect((error as Error).message).toMatch(/^s3: upload of "ops\/x" failed: InvalidAccessKeyId \(HTTP 403\)/);
    expect((error as Error).message).not.toContain(secret);
    expect(await collect(destination.list('ops/x'))).toEqual([]);
  });
});
