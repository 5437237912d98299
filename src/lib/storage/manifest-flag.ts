import { rename } from 'node:fs/promises';
import path from 'node:path';
import { formatManifest, manifestPathFor, readManifest } from './backup-manifest.ts';
import { tempPathFor } from './backup-path.ts';
import { syncDirectory, writeFileDurably } from './file-system.ts';

/** The longest reason a manifest holds (its schema's limit); a longer one is cut at its end. */
const MAX_REASON_CHARS = 1_000;

/** What flagging a backup's manifest did. */
export type ManifestFlagOutcome = 'flagged' | 'already-flagged' | 'no-manifest';

/**
 * Marks the manifest beside a stored backup suspicious with `reason`, as its record now is (a finding made after the
 * file was committed, such as a format check counting fewer tables than the database had), so that a reindex from the
 * volume brings the flag back with the record. The manifest is rewritten whole: written to a temporary file, flushed,
 * renamed over the old one, the folder flushed; a crash leaves the old manifest or the new one, never a torn one.
 * A backup stored without a manifest is left as it is ('no-manifest'); a manifest that does not parse is an error.
 */
export async function flagManifestSuspicious(backupPath: string, reason: string): Promise<ManifestFlagOutcome> {
  const manifest = await readManifest(backupPath);
  if (!manifest) return 'no-manifest';
  const suspiciousReason = reason.slice(0, MAX_REASON_CHARS);
  if (manifest.suspicious && manifest.suspiciousReason === suspiciousReason) return 'already-flagged';
  const manifestPath = manifestPathFor(backupPath);
  const temporary = tempPathFor(manifestPath);
  await writeFileDurably(temporary, formatManifest({ ...manifest, suspicious: true, suspiciousReason }));
  await rename(temporary, manifestPath);
  await syncDirectory(path.dirname(manifestPath));
  return 'flagged';
}
