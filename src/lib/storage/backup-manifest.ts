import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { MANIFEST_FILE_SUFFIX } from './backup-path.ts';
import { ignoreCode } from './file-system.ts';

/**
 * The manifest beside each backup file, `{file}.json`: what is needed to use the file without the platform database
 * (whose workspace and deployment, which engine format and compression, sizes, sha256, times, the record's id). It
 * is written with the file (renamed into place before the record says SUCCEEDED), uploaded beside its off-site copy,
 * and deleted with it. `npm run backup -- reindex` rebuilds the records from manifests; `audit` reads them to say
 * what an orphan file is. The manifest is JSON text, never an instruction: names in it are tenant data.
 */

/** Suffix of a backup's manifest: `20261122T031500.123Z.sql.gz.json`. */
export const MANIFEST_SUFFIX = MANIFEST_FILE_SUFFIX;
/** The version this code writes; readers refuse versions they do not know. */
export const MANIFEST_VERSION = 1;

const isoInstant = z.iso.datetime({ offset: false, error: 'must be an ISO instant (UTC, with Z)' });
const byteCount = z.string().regex(/^\d{1,20}$/, { error: 'must be a byte count as a decimal string' });

/** The manifest's single schema: what it holds and what reading one accepts. */
export const backupManifestSchema = z
  .object({
    manifestVersion: z.literal(MANIFEST_VERSION).describe('Format version of this manifest.'),
    recordId: z.string().min(1).max(64).describe('Id of the BackupRecord this file belongs to.'),
    workspaceId: z.string().min(1).max(64),
    workspaceSlug: z.string().min(1).max(200),
    deploymentId: z.string().min(1).max(64),
    deploymentName: z.string().min(1).max(63),
    namespace: z.string().min(1).max(253).describe('Kubernetes namespace of the deployment.'),
    recipeSlug: z.string().min(1).max(100).describe('Recipe the export ran, e.g. `postgresql`.'),
    format: z.string().min(1).max(100).describe('What the bytes are, e.g. `postgres-custom`, `mysql-sql`.'),
    fileName: z.string().min(1).max(255),
    extension: z.string().min(1).max(32),
    compression: z
      .enum(['gzip', 'zstd', 'none'])
      .describe('What the store applied on top of the export (`none`: stored as the engine wrote it).'),
    encryptionRecipient: z
      .string()
      .nullable()
      .describe('Fingerprints of the age recipients the file is encrypted to, comma-separated; null: unencrypted.'),
    sizeBytes: byteCount.describe('Size of the stored file.'),
    rawBytes: byteCount.nullable().describe('Bytes the export produced, before the store compressed them.'),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex digits' })
      .describe('sha256 of the stored file.'),
    engineVersion: z.string().max(200).nullable().describe('Version of the database engine, when known.'),
    trigger: z.enum(['SCHEDULE', 'AGENT', 'MANUAL', 'API']),
    startedAt: isoInstant,
    finishedAt: isoInstant,
    suspicious: z.boolean().describe('Far smaller than the recent backups when it was made.'),
    suspiciousReason: z.string().max(1_000).nullable(),
  })
  .strict();

export type BackupManifest = z.infer<typeof backupManifestSchema>;

/** A manifest that cannot be read as one; names the file and the first problem. */
export class InvalidManifestError extends Error {
  override readonly name = 'InvalidManifestError';
  constructor(
    readonly source: string,
    readonly detail: string,
  ) {
    super(`backup manifest ${source}: ${detail}`);
  }
}

/** One line saying what a manifest describes, for `audit`: whose backup, which record, when, how big. */
export function describeManifest(manifest: BackupManifest): string {
  return (
    `backup ${manifest.recordId} of ${manifest.workspaceSlug}/${manifest.deploymentName} ` +
    `(${manifest.format}, ${manifest.sizeBytes} bytes, started ${manifest.startedAt}, sha256 ${manifest.sha256})`
  );
}

/** Path of the manifest of a backup file. */
export function manifestPathFor(backupPath: string): string {
  return `${backupPath}${MANIFEST_SUFFIX}`;
}

/** True for a manifest's name. */
export function isManifestName(fileName: string): boolean {
  return fileName.endsWith(MANIFEST_SUFFIX);
}

/** The manifest as its file holds it (pretty JSON, one trailing newline). */
export function formatManifest(manifest: BackupManifest): string {
  return `${JSON.stringify(backupManifestSchema.parse(manifest), null, 2)}\n`;
}

/** Reads manifest text; throws `InvalidManifestError` naming `source` and the first bad field. */
export function parseManifest(text: string, source: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidManifestError(source, `not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = backupManifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidManifestError(source, `${issue?.path.join('.') || 'manifest'} ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data;
}

/** The manifest beside a backup file; null when it has none. Throws `InvalidManifestError` for one it cannot read. */
export async function readManifest(backupPath: string): Promise<BackupManifest | null> {
  const manifestPath = manifestPathFor(backupPath);
  const text = await readFile(manifestPath, 'utf8').catch(ignoreCode('ENOENT'));
  return text === undefined ? null : parseManifest(text, manifestPath);
}
