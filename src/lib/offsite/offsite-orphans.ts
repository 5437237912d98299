import type { PrismaClient } from '../../generated/prisma/client.ts';
import { describeManifest, InvalidManifestError, isManifestName } from '../storage/index.ts';
import type { OffsiteDestination, OffsiteObject } from './destination.ts';
import { downloadManifest, manifestKeyFor } from './manifest-copy.ts';
import { deploymentListingPrefix, rootListingPrefix } from './object-key.ts';

/** What one destination holds that the records do not know, and what the records claim that it does not hold. */
export interface OffsiteOrphans {
  destination: string;
  /** The prefix that was listed. */
  prefix: string;
  /**
   * Objects with no BackupUpload (and so no BackupRecord) pointing at them; a manifest is never listed on its own when
   * its backup object is there. `manifest` says what the object is by its manifest (`{key}.json`): null without one.
   */
  objectsWithoutRecord: Array<OffsiteObject & { manifest: string | null }>;
  /** UPLOADED copies whose object is missing from the destination. */
  uploadsWithoutObject: Array<{ uploadId: string; backupRecordId: string; objectKey: string }>;
}

/**
 * Compares each destination's objects with the BackupUpload rows, for one deployment or (without `deploymentId`)
 * everything under the configured prefix. Reports only; nothing is deleted.
 */
export async function findOffsiteOrphans(
  deps: { db: PrismaClient; destinations?: readonly OffsiteDestination[] | undefined },
  scope: { deploymentId?: string } = {},
): Promise<OffsiteOrphans[]> {
  const deployment = scope.deploymentId
    ? await deps.db.deployment.findUniqueOrThrow({
        where: { id: scope.deploymentId },
        select: { id: true, workspaceId: true, name: true },
      })
    : null;
  const reports: OffsiteOrphans[] = [];
  for (const destination of deps.destinations ?? []) {
    const prefix = deployment
      ? deploymentListingPrefix(destination.keyPrefix, {
          workspaceId: deployment.workspaceId,
          deploymentName: deployment.name,
        })
      : rootListingPrefix(destination.keyPrefix);
    const uploads = await deps.db.backupUpload.findMany({
      where: {
        destination: destination.name,
        ...(deployment ? { backupRecord: { deploymentId: deployment.id } } : {}),
      },
      select: { id: true, backupRecordId: true, objectKey: true, status: true },
    });
    const recordedKeys = new Set(uploads.map((upload) => upload.objectKey));
    const listedKeys = new Set<string>();
    const listed: OffsiteObject[] = [];
    for await (const object of destination.list(prefix)) {
      listedKeys.add(object.key);
      listed.push(object);
    }
    const objectsWithoutRecord: OffsiteOrphans['objectsWithoutRecord'] = [];
    for (const object of listed) {
      // A manifest belongs to its backup's object: reported with it, or known with its record.
      const backupKey = isManifestName(object.key) ? object.key.slice(0, -'.json'.length) : null;
      if (backupKey && (listedKeys.has(backupKey) || recordedKeys.has(backupKey))) continue;
      if (recordedKeys.has(object.key)) continue;
      const manifestKey = manifestKeyFor(object.key);
      const manifest = listedKeys.has(manifestKey) ? await explainByManifest(destination, manifestKey) : null;
      objectsWithoutRecord.push({ ...object, manifest });
    }
    reports.push({
      destination: destination.name,
      prefix,
      objectsWithoutRecord,
      uploadsWithoutObject: uploads
        .filter((upload) => upload.status === 'UPLOADED' && !listedKeys.has(upload.objectKey))
        .map((upload) => ({ uploadId: upload.id, backupRecordId: upload.backupRecordId, objectKey: upload.objectKey })),
    });
  }
  return reports;
}

/** What an orphan object is, by its manifest; a manifest that cannot be read says so (never throws). */
async function explainByManifest(destination: OffsiteDestination, manifestKey: string): Promise<string> {
  try {
    return describeManifest(await downloadManifest(destination, manifestKey));
  } catch (error) {
    if (error instanceof InvalidManifestError) return `unreadable manifest: ${error.detail}`;
    return `manifest could not be read: ${error instanceof Error ? error.message : String(error)}`;
  }
}
