import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { type Logger, redactSecrets } from '../shared/index.ts';
import {
  downloadManifest,
  manifestKeyFor,
  type OffsiteDestination,
  type OffsiteObject,
  rootListingPrefix,
} from '../offsite/index.ts';
import {
  type BackupManifest,
  deploymentFolder,
  findManifestFiles,
  ignoreCode,
  parseSidecar,
  readManifest,
  sidecarPathFor,
} from '../storage/index.ts';

/**
 * `npm run backup -- reindex [--from-offsite]`: the day the platform database is lost, its BackupRecords are rebuilt
 * from the manifests the store wrote beside every file, on the backup volume or in an off-site bucket. Each record
 * comes back with its own id, size, sha256, times, format and suspicious flag; a workspace or deployment the database
 * no longer has is created from the manifest (a deployment PENDING, with scheduled backups off, until a person checks
 * it). From the bucket, each record also gets its UPLOADED copy, so `backup -- fetch` brings its file back. A manifest
 * whose file is missing or does not match it, or that names a workspace slug or deployment name another id holds,
 * is reported and skipped. Records already in the database are left alone: running it twice adds nothing.
 */
export interface ReindexDependencies {
  db: PrismaClient;
  store: { root: string };
  destinations?: readonly OffsiteDestination[];
  logger: Logger;
  clock: () => Date;
}

export interface ReindexOptions {
  /** Read the manifests from this off-site destination (by name; `true`: the only one configured). */
  fromOffsite?: string | true;
}

export interface ReindexReport {
  /** `volume`, or `offsite:{destination}`. */
  source: string;
  restored: Array<{ id: string; deploymentId: string; path: string }>;
  /** Records the database already had. */
  alreadyKnown: string[];
  createdWorkspaces: string[];
  createdDeployments: string[];
  /** Manifests skipped, with why. */
  problems: Array<{ manifest: string; reason: string }>;
}

/** A manifest and what was checked about its file, ready to become a record. */
interface FoundBackup {
  manifest: BackupManifest;
  /** Where the manifest was read, for reports. */
  source: string;
  /** The file's path on the volume (from the bucket: where `fetch` puts it). */
  path: string;
  upload: { destination: string; objectKey: string; uploadedAt: Date } | null;
}

/** Rebuilds the records; see the module comment. Throws only when the source cannot be read at all. */
export async function reindexBackups(deps: ReindexDependencies, options: ReindexOptions = {}): Promise<ReindexReport> {
  const log = deps.logger.child({ module: 'ops-agent/reindex' });
  const destination = options.fromOffsite === undefined ? null : pickDestination(deps, options.fromOffsite);
  const report: ReindexReport = {
    source: destination ? `offsite:${destination.name}` : 'volume',
    restored: [],
    alreadyKnown: [],
    createdWorkspaces: [],
    createdDeployments: [],
    problems: [],
  };
  const found = destination
    ? await findInBucket(deps, destination, report)
    : await findOnVolume(deps.store.root, report);
  // Oldest first, so that `lastBackupAt` ends on the newest and reports read in order.
  found.sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt));
  for (const backup of found) {
    try {
      await restoreRecord(deps.db, backup, report);
    } catch (error) {
      report.problems.push({ manifest: backup.source, reason: messageOf(error) });
    }
  }
  log.info(
    {
      source: report.source,
      restored: report.restored.length,
      alreadyKnown: report.alreadyKnown.length,
      problems: report.problems.length,
    },
    'reindex finished',
  );
  for (const problem of report.problems) log.warn(problem, 'reindex skipped a manifest');
  return report;
}

function pickDestination(deps: ReindexDependencies, wanted: string | true): OffsiteDestination {
  const all = deps.destinations ?? [];
  const destination = wanted === true ? (all.length === 1 ? all[0] : undefined) : all.find((d) => d.name === wanted);
  if (destination) return destination;
  const names = all.map((d) => d.name).join(', ') || 'none';
  throw new ReindexSourceError(
    wanted === true
      ? `--from-offsite needs exactly one configured destination (configured: ${names}); name one`
      : `destination "${wanted}" is not configured (configured: ${names})`,
  );
}

/** The source of a reindex cannot be used (no such destination). */
export class ReindexSourceError extends Error {
  override readonly name = 'ReindexSourceError';
}

async function findOnVolume(root: string, report: ReindexReport): Promise<FoundBackup[]> {
  const found: FoundBackup[] = [];
  for (const file of await findManifestFiles(root)) {
    const backupPath = file.path.slice(0, -'.json'.length);
    try {
      const manifest = await readManifest(backupPath);
      if (!manifest) continue;
      const expected = path.join(
        deploymentFolder(root, manifest.workspaceId, manifest.deploymentName),
        manifest.fileName,
      );
      if (expected !== backupPath) throw new Error(`it describes ${expected}, not the file beside it`);
      const sidecar = await readFile(sidecarPathFor(backupPath), 'utf8').catch(ignoreCode('ENOENT'));
      const stats = await stat(backupPath).catch(ignoreCode('ENOENT'));
      if (!stats?.isFile()) throw new Error('its backup file is missing');
      if (BigInt(stats.size) !== BigInt(manifest.sizeBytes))
        throw new Error(`the file holds ${stats.size} bytes, the manifest says ${manifest.sizeBytes}`);
      if (sidecar !== undefined && parseSidecar(sidecar)?.sha256 !== manifest.sha256)
        throw new Error('the sha256 sidecar does not match the manifest');
      found.push({ manifest, source: file.path, path: backupPath, upload: null });
    } catch (error) {
      report.problems.push({ manifest: file.path, reason: messageOf(error) });
    }
  }
  return found;
}

async function findInBucket(
  deps: ReindexDependencies,
  destination: OffsiteDestination,
  report: ReindexReport,
): Promise<FoundBackup[]> {
  const objects = new Map<string, OffsiteObject>();
  for await (const object of destination.list(rootListingPrefix(destination.keyPrefix)))
    objects.set(object.key, object);
  const found: FoundBackup[] = [];
  for (const [key, object] of objects) {
    const manifestKey = manifestKeyFor(key);
    if (!objects.has(manifestKey)) continue;
    const source = `${destination.name}:${manifestKey}`;
    try {
      const manifest = await downloadManifest(destination, manifestKey);
      const expectedKey = destination.objectKeyFor(manifest);
      if (expectedKey !== key) throw new Error(`it describes ${expectedKey}, not the object beside it`);
      if (object.sizeBytes !== BigInt(manifest.sizeBytes))
        throw new Error(`the object holds ${object.sizeBytes} bytes, the manifest says ${manifest.sizeBytes}`);
      if (object.sha256 !== undefined && object.sha256 !== manifest.sha256)
        throw new Error('the sha256 stored with the object does not match the manifest');
      found.push({
        manifest,
        source,
        path: path.join(
          deploymentFolder(deps.store.root, manifest.workspaceId, manifest.deploymentName),
          manifest.fileName,
        ),
        upload: { destination: destination.name, objectKey: key, uploadedAt: object.lastModified },
      });
    } catch (error) {
      report.problems.push({ manifest: source, reason: messageOf(error) });
    }
  }
  return found;
}

/** One record (and, if needed, its workspace and deployment), in one transaction. */
async function restoreRecord(db: PrismaClient, backup: FoundBackup, report: ReindexReport): Promise<void> {
  const { manifest } = backup;
  await db.$transaction(async (tx) => {
    if (await tx.backupRecord.findUnique({ where: { id: manifest.recordId }, select: { id: true } })) {
      report.alreadyKnown.push(manifest.recordId);
      return;
    }
    const workspace = await tx.workspace.findUnique({ where: { id: manifest.workspaceId } });
    if (!workspace) {
      const sameSlug = await tx.workspace.findUnique({ where: { slug: manifest.workspaceSlug } });
      if (sameSlug) throw new Error(`workspace slug "${manifest.workspaceSlug}" belongs to another workspace here`);
      await tx.workspace.create({
        data: { id: manifest.workspaceId, slug: manifest.workspaceSlug, name: manifest.workspaceSlug },
      });
      report.createdWorkspaces.push(manifest.workspaceId);
    }
    const deployment = await tx.deployment.findUnique({ where: { id: manifest.deploymentId } });
    if (!deployment) {
      const sameName = await tx.deployment.findUnique({
        where: { workspaceId_name: { workspaceId: manifest.workspaceId, name: manifest.deploymentName } },
      });
      if (sameName) throw new Error(`deployment "${manifest.deploymentName}" is another deployment here`);
      await tx.deployment.create({
        data: {
          id: manifest.deploymentId,
          workspaceId: manifest.workspaceId,
          name: manifest.deploymentName,
          namespace: manifest.namespace,
          recipeSlug: manifest.recipeSlug,
          status: 'PENDING',
          backupEnabled: false,
        },
      });
      report.createdDeployments.push(manifest.deploymentId);
    } else if (deployment.workspaceId !== manifest.workspaceId || deployment.name !== manifest.deploymentName) {
      throw new Error(
        `deployment ${manifest.deploymentId} here is not ${manifest.workspaceSlug}/${manifest.deploymentName}`,
      );
    }
    const startedAt = new Date(manifest.startedAt);
    const finishedAt = new Date(manifest.finishedAt);
    await tx.backupRecord.create({
      data: {
        id: manifest.recordId,
        deploymentId: manifest.deploymentId,
        workspaceId: manifest.workspaceId,
        status: 'SUCCEEDED',
        trigger: manifest.trigger,
        path: backup.path,
        sizeBytes: BigInt(manifest.sizeBytes),
        sha256: manifest.sha256,
        format: manifest.format,
        extension: manifest.extension,
        startedAt,
        finishedAt,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        exitCode: 0,
        progressBytes: manifest.rawBytes === null ? null : BigInt(manifest.rawBytes),
        progressAt: finishedAt,
        suspicious: manifest.suspicious,
        suspiciousReason: manifest.suspiciousReason,
        ...(backup.upload
          ? {
              uploads: {
                create: {
                  destination: backup.upload.destination,
                  objectKey: backup.upload.objectKey,
                  status: 'UPLOADED',
                  uploadedAt: backup.upload.uploadedAt,
                },
              },
            }
          : {}),
      },
    });
    await tx.deployment.updateMany({
      where: {
        id: manifest.deploymentId,
        OR: [{ lastBackupAt: null }, { lastBackupAt: { lt: startedAt } }],
      },
      data: { lastBackupAt: startedAt },
    });
    report.restored.push({ id: manifest.recordId, deploymentId: manifest.deploymentId, path: backup.path });
  });
}

function messageOf(error: unknown): string {
  return redactSecrets(error instanceof Error ? error.message : String(error));
}
