import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BackupManifest,
  flagManifestSuspicious,
  formatManifest,
  InvalidManifestError,
  manifestPathFor,
  MANIFEST_VERSION,
  readManifest,
} from '../../../src/lib/storage/index.ts';

const MANIFEST: BackupManifest = {
  manifestVersion: MANIFEST_VERSION,
  recordId: 'b1',
  workspaceId: 'w1',
  workspaceSlug: 'acme',
  deploymentId: 'd1',
  deploymentName: 'shop-db',
  namespace: 'apps',
  recipeSlug: 'postgresql',
  format: 'postgres-custom',
  fileName: '2026-12-03T03-00-00-000Z.dump',
  extension: 'dump',
  compression: 'none',
  encryptionRecipient: null,
  sizeBytes: '4096',
  rawBytes: '4096',
  sha256: 'a'.repeat(64),
  engineVersion: '16.4',
  trigger: 'SCHEDULE',
  startedAt: '2026-12-03T03:00:00.000Z',
  finishedAt: '2026-12-03T03:00:02.000Z',
  suspicious: false,
  suspiciousReason: null,
};

let folder: string;
let backupPath: string;

beforeEach(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'manifest-flag-'));
  backupPath = path.join(folder, MANIFEST.fileName);
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('marking a stored backup suspicious in its manifest', () => {
  it('rewrites the manifest with the flag and the reason, everything else as it was, and leaves no temporary file', async () => {
    await writeFile(manifestPathFor(backupPath), formatManifest(MANIFEST));

    expect(await flagManifestSuspicious(backupPath, 'the dump holds 1 table of 6')).toBe('flagged');

    expect(await readManifest(backupPath)).toEqual({
      ...MANIFEST,
      suspicious: true,
      suspiciousReason: 'the dump holds 1 table of 6',
    });
    expect(await readdir(folder)).toEqual([path.basename(manifestPathFor(backupPath))]);
  });

  it('writes nothing when the manifest already says it', async () => {
    await writeFile(
      manifestPathFor(backupPath),
      formatManifest({ ...MANIFEST, suspicious: true, suspiciousReason: 'short' }),
    );

    expect(await flagManifestSuspicious(backupPath, 'short')).toBe('already-flagged');
  });

  it('cuts a reason longer than a manifest holds instead of failing', async () => {
    await writeFile(manifestPathFor(backupPath), formatManifest(MANIFEST));

    await flagManifestSuspicious(backupPath, 'x'.repeat(1_500));

    expect((await readManifest(backupPath))?.suspiciousReason).toHaveLength(1_000);
  });

  it('leaves a backup stored without a manifest as it is', async () => {
    expect(await flagManifestSuspicious(backupPath, 'short')).toBe('no-manifest');
    expect(await readdir(folder)).toEqual([]);
  });

  it('refuses a manifest that does not parse, and leaves it untouched', async () => {
    await writeFile(manifestPathFor(backupPath), '{"manifestVersion": 1');

    await expect(flagManifestSuspicious(backupPath, 'short')).rejects.toBeInstanceOf(InvalidManifestError);
    expect(await readdir(folder)).toEqual([path.basename(manifestPathFor(backupPath))]);
  });
});
