import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/generated/prisma/client.ts';
import type { BackupDependencies } from '../../../src/lib/backups/backup.ts';
import { reindexBackups } from '../../../src/lib/backups/reindex.ts';
import { auditBackupFiles } from '../../../src/lib/backups/recovery.ts';
import { fetchOffsiteCopy } from '../../../src/lib/offsite/fetch-copy.ts';
import { findOffsiteOrphans } from '../../../src/lib/offsite/offsite-orphans.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { runUploadPass } from '../../../src/lib/offsite/upload-pass.ts';
import { pruneBackups } from '../../../src/lib/retention/prune.ts';
import { createFileBackupStore } from '../../../src/lib/storage/backup-store.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createWorkspace } from '../../support/factories.ts';
import { makePostgresBackup } from '../../support/offsite-backups.ts';
import { startS3Server, type S3Server } from '../../support/s3-server.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

// The day the platform database is lost: every backup file has its manifest beside it on the volume and in the
// bucket, and `reindex` rebuilds the BackupRecords (same ids, sizes, sha256, times) into an empty, migrated database,
// from either source. Real pg_dump backups, a real S3-protocol server (s3rver).

const BACKUPS = 3;

let harness: BackupHarness;
let s3: S3Server;
let deps: BackupDependencies;
let originals: BackupRecord[];
let workspace: { id: string; slug: string };
const emptyDatabases: TestDatabase[] = [];

/** What must come back: the record as the platform had it. */
function essentials(record: BackupRecord) {
  return {
    id: record.id,
    deploymentId: record.deploymentId,
    workspaceId: record.workspaceId,
    status: record.status,
    trigger: record.trigger,
    sizeBytes: record.sizeBytes,
    sha256: record.sha256,
    format: record.format,
    extension: record.extension,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    suspicious: record.suspicious,
  };
}

async function emptyPlatformDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  emptyDatabases.push(database);
  return database;
}

beforeAll(async () => {
  harness = await startBackupHarness();
  s3 = await startS3Server();
  deps = { ...harness.deps, destinations: [createS3Destination(s3.settings())] };
  workspace = await createWorkspace(harness.db.prisma);
  originals = [];
  for (let index = 0; index < BACKUPS; index += 1)
    originals.push(await makePostgresBackup(harness, workspace.id, 'shop-db', { randomMiB: 1 }));
  const uploads = await runUploadPass(deps, new Date());
  expect(uploads).toMatchObject({ uploaded: BACKUPS, failed: 0, retrying: 0 });
});

afterAll(async () => {
  for (const database of emptyDatabases) await database.drop();
  await s3?.close();
  await harness?.close();
});

describe('the manifests', () => {
  it('are beside every file and every off-site copy, and audits do not count them as orphans', async () => {
    const destination = deps.destinations![0]!;
    const keys = (await Array.fromAsync(destination.list(''))).map((object) => object.key);
    for (const record of originals) {
      const key = destination.objectKeyFor({
        workspaceId: workspace.id,
        deploymentName: 'shop-db',
        fileName: path.basename(record.path!),
      });
      expect(keys).toContain(key);
      expect(keys).toContain(`${key}.json`);
    }
    expect(await auditBackupFiles(deps, originals[0]!.deploymentId)).toMatchObject({
      filesWithoutRecord: [],
      recordsWithoutFile: [],
    });
    const [offsite] = await findOffsiteOrphans(deps, { deploymentId: originals[0]!.deploymentId });
    expect(offsite).toMatchObject({ objectsWithoutRecord: [], uploadsWithoutObject: [] });
  });
});

describe('reindex into an empty platform database', () => {
  it('rebuilds the records from the volume: same ids, sizes, sha256, times and paths', async () => {
    const database = await emptyPlatformDatabase();

    const report = await reindexBackups({ ...deps, db: database.prisma });

    expect(report).toMatchObject({ source: 'volume', problems: [], alreadyKnown: [] });
    expect(report.createdWorkspaces).toEqual([workspace.id]);
    expect(report.createdDeployments).toEqual([originals[0]!.deploymentId]);
    const rebuilt = await database.prisma.backupRecord.findMany({ orderBy: { startedAt: 'asc' } });
    expect(rebuilt.map(essentials)).toEqual(originals.map(essentials));
    expect(rebuilt.map((record) => record.path)).toEqual(originals.map((record) => record.path));
    const deployment = await database.prisma.deployment.findUniqueOrThrow({
      where: { id: originals[0]!.deploymentId },
      include: { workspace: true },
    });
    expect(deployment).toMatchObject({
      name: 'shop-db',
      namespace: 'apps',
      recipeSlug: 'postgresql',
      status: 'PENDING',
      backupEnabled: false,
      lastBackupAt: originals.at(-1)!.startedAt,
      workspace: { slug: workspace.slug },
    });

    // Twice adds nothing.
    const again = await reindexBackups({ ...deps, db: database.prisma });
    expect(again).toMatchObject({ restored: [], alreadyKnown: originals.map((record) => record.id) });
  });

  it('rebuilds the records from the bucket onto a new, empty volume, and fetch brings each file back', async () => {
    const database = await emptyPlatformDatabase();
    const root = await mkdtemp(path.join(os.tmpdir(), 'backups-new-volume-'));
    try {
      const fresh = {
        ...deps,
        db: database.prisma,
        store: createFileBackupStore({ root, logger: deps.logger }),
      };

      const report = await reindexBackups(fresh, { fromOffsite: true });

      expect(report).toMatchObject({ source: 'offsite:s3', problems: [] });
      const rebuilt = await database.prisma.backupRecord.findMany({
        orderBy: { startedAt: 'asc' },
        include: { uploads: true },
      });
      expect(rebuilt.map(essentials)).toEqual(originals.map(essentials));
      for (const [index, record] of rebuilt.entries()) {
        expect(record.path).toBe(path.join(root, workspace.id, 'shop-db', path.basename(originals[index]!.path!)));
        expect(record.uploads).toEqual([expect.objectContaining({ destination: 's3', status: 'UPLOADED' })]);
      }
      const fetched = await fetchOffsiteCopy(fresh, rebuilt[0]!.id);
      expect(fetched).toMatchObject({ sha256: originals[0]!.sha256, replaced: 'missing' });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('skips a manifest whose file does not match it, and says why', async () => {
    const database = await emptyPlatformDatabase();
    const victim = originals[1]!;
    const manifestPath = `${victim.path}.json`;
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    await writeFile(manifestPath, JSON.stringify({ ...manifest, sizeBytes: '1' }));
    try {
      const report = await reindexBackups({ ...deps, db: database.prisma });

      expect(report.restored.map((restored) => restored.id).sort()).toEqual(
        [originals[0]!.id, originals[2]!.id].sort(),
      );
      expect(report.problems).toEqual([
        { manifest: manifestPath, reason: `the file holds ${victim.sizeBytes} bytes, the manifest says 1` },
      ]);
    } finally {
      await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    }
  });
});

describe('audit', () => {
  it('explains a file without a record by its manifest', async () => {
    const record = originals[2]!;
    await harness.db.prisma.backupUpload.deleteMany({ where: { backupRecordId: record.id } });
    await harness.db.prisma.backupRecord.delete({ where: { id: record.id } });

    const audit = await auditBackupFiles(deps, record.deploymentId);
    const [offsite] = await findOffsiteOrphans(deps, { deploymentId: record.deploymentId });

    const described = `backup ${record.id} of ${workspace.slug}/shop-db (postgres-custom, ${record.sizeBytes} bytes, started ${record.startedAt.toISOString()}, sha256 ${record.sha256})`;
    expect(audit.filesWithoutRecord).toEqual([{ path: record.path, manifest: described }]);
    expect(offsite!.objectsWithoutRecord).toEqual([expect.objectContaining({ manifest: described })]);
  });

  it('prune deletes the manifest with the file, locally and off-site', async () => {
    const record = originals[0]!;
    const report = await pruneBackups(deps, record.deploymentId, { policy: { keepLast: 1 }, confirm: true });
    expect(report.pruned.map((pruned) => pruned.id)).toEqual([record.id]);
    const destination = deps.destinations![0]!;
    const key = destination.objectKeyFor({
      workspaceId: workspace.id,
      deploymentName: 'shop-db',
      fileName: path.basename(record.path!),
    });
    const keys = (await Array.fromAsync(destination.list(''))).map((object) => object.key);
    expect(keys).not.toContain(key);
    expect(keys).not.toContain(`${key}.json`);
    await expect(unlink(`${record.path}.json`)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
