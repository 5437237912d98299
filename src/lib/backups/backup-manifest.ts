import type { BackupRecord, BackupTrigger } from '../../generated/prisma/client.ts';
import { type BackupManifest, encodingOfExtension, MANIFEST_VERSION, type StoredBackup } from '../storage/index.ts';
import type { SizeAssessment } from './backup-suspicion.ts';

/** What a backup's manifest says, from what the backup knows when its file is committed. Pure. */
export function describeBackup(input: {
  record: Pick<BackupRecord, 'id'>;
  deployment: {
    id: string;
    workspaceId: string;
    name: string;
    namespace: string;
    recipeSlug: string;
    workspace: { slug: string };
  };
  dataExport: { format: string; compressed: boolean };
  stored: StoredBackup;
  rawBytes: number;
  trigger: BackupTrigger;
  startedAt: Date;
  finishedAt: Date;
  size: SizeAssessment;
  /** The engine's version as the dump's head states it (`engineVersionFromHead`); null: not known. */
  engineVersion: string | null;
}): BackupManifest {
  const { deployment, stored, size } = input;
  return {
    manifestVersion: MANIFEST_VERSION,
    recordId: input.record.id,
    workspaceId: deployment.workspaceId,
    workspaceSlug: deployment.workspace.slug,
    deploymentId: deployment.id,
    deploymentName: deployment.name,
    namespace: deployment.namespace,
    recipeSlug: deployment.recipeSlug,
    format: input.dataExport.format,
    fileName: stored.fileName,
    extension: stored.extension,
    compression: input.dataExport.compressed ? 'none' : encodingOfExtension(stored.extension).compression,
    encryptionRecipient: stored.encryptedTo.length > 0 ? stored.encryptedTo.join(',') : null,
    sizeBytes: stored.sizeBytes.toString(),
    rawBytes: String(input.rawBytes),
    sha256: stored.sha256,
    engineVersion: input.engineVersion,
    trigger: input.trigger,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    suspicious: size.suspicious,
    suspiciousReason: size.suspicious ? size.reason : null,
  };
}
