/**
 * Checking a stored backup against its record: the file's bytes are hashed again (streamed, so memory stays flat)
 * and its `.sha256` sidecar must name the same checksum and file. The outcome is data, for the agent and reports.
 */
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseSidecar, sidecarPathFor } from './backup-path.ts';
import { readFileChunks } from './file-chunks.ts';
import { READ_NO_FOLLOW } from './file-system.ts';
import { type BackupFileReference, locateBackupFile } from './locate-backup-file.ts';
import { errorCode } from './storage-errors.ts';

/** Why a backup did not verify. */
export type VerifyFailureReason =
  | 'file-missing'
  | 'file-unreadable'
  | 'file-refused'
  | 'checksum-mismatch'
  | 'sidecar-missing'
  | 'sidecar-invalid'
  | 'sidecar-mismatch';

/** Outcome of {@link verifyBackupFile}; `detail` is a sentence for a person. */
export type BackupVerification =
  { ok: true; sizeBytes: bigint } | { ok: false; reason: VerifyFailureReason; detail: string };

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Verifies a record's file: {@link locateBackupFile} first (a path outside the deployment's folder, a link or a bad
 * name is `file-refused`, and nothing is read), then {@link verifyBackupFile}. What every consumer that checks a
 * record's file calls (the CLI's verify, the agent's tool, restores).
 */
export async function verifyStoredBackup(
  root: string,
  reference: BackupFileReference,
  expectedSha256: string,
): Promise<BackupVerification> {
  const location = await locateBackupFile(root, reference);
  if (!location.ok) {
    const reason =
      location.reason === 'missing'
        ? 'file-missing'
        : location.reason === 'outside-folder'
          ? 'file-refused'
          : 'file-unreadable';
    return { ok: false, reason, detail: location.detail };
  }
  return verifyBackupFile(location.path, expectedSha256);
}

/**
 * Re-computes the sha256 of the file at `filePath` and compares it with `expectedSha256` (the record's) and with its
 * sidecar. Never throws for a missing or unreadable file: that is an outcome too.
 */
export async function verifyBackupFile(filePath: string, expectedSha256: string): Promise<BackupVerification> {
  const expected = expectedSha256.toLowerCase();
  if (!SHA256_HEX.test(expected))
    throw new RangeError(`verify: expected sha256 must be 64 hex digits (got ${JSON.stringify(expectedSha256)})`);
  let actual: { sha256: string; sizeBytes: bigint };
  try {
    actual = await hashFile(filePath);
  } catch (error) {
    const missing = errorCode(error) === 'ENOENT';
    return {
      ok: false,
      reason: missing ? 'file-missing' : 'file-unreadable',
      detail: `${filePath}: ${describe(error)}`,
    };
  }
  if (actual.sha256 !== expected) {
    return {
      ok: false,
      reason: 'checksum-mismatch',
      detail: `${filePath} has sha256 ${actual.sha256}, the record says ${expected}`,
    };
  }
  const sidecarPath = sidecarPathFor(filePath);
  let sidecarText: string;
  try {
    sidecarText = await readFile(sidecarPath, { encoding: 'utf8', flag: READ_NO_FOLLOW });
  } catch (error) {
    const missing = errorCode(error) === 'ENOENT';
    return {
      ok: false,
      reason: missing ? 'sidecar-missing' : 'sidecar-invalid',
      detail: `${sidecarPath}: ${describe(error)}`,
    };
  }
  const sidecar = parseSidecar(sidecarText);
  if (!sidecar)
    return { ok: false, reason: 'sidecar-invalid', detail: `${sidecarPath} is not one "<sha256>  <file name>" line` };
  const fileName = path.basename(filePath);
  if (sidecar.sha256 !== expected || sidecar.fileName !== fileName) {
    return {
      ok: false,
      reason: 'sidecar-mismatch',
      detail: `${sidecarPath} says ${sidecar.sha256} for ${JSON.stringify(sidecar.fileName)}, expected ${expected} for ${JSON.stringify(fileName)}`,
    };
  }
  return { ok: true, sizeBytes: actual.sizeBytes };
}

/** sha256 (hex) and size of a file, read as a stream. */
export async function hashFile(filePath: string): Promise<{ sha256: string; sizeBytes: bigint }> {
  const hash = createHash('sha256');
  let sizeBytes = 0n;
  // Never through a symbolic link: a link planted after the file was located fails with ELOOP.
  const file = await open(filePath, READ_NO_FOLLOW);
  try {
    for await (const chunk of readFileChunks(file)) {
      hash.update(chunk);
      sizeBytes += BigInt(chunk.length);
    }
  } finally {
    await file.close();
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
