/**
 * Where a backup file lives and what it is called, as pure functions of plain data (no filesystem, no clock):
 * `{root}/{workspaceId}/{deploymentName}/{timestamp}[_{n}].{storedExtension}`, e.g.
 * `/backups/clx0abc/db-main/20261122T031500.123Z.sql.gz`, with the sidecar `….sql.gz.sha256` next to it.
 *
 * Every name is validated before it is joined, so no segment can be empty, `..`, contain `/` or leave the root
 * lexically. (Symbolic links are checked by the shell, against the real paths.)
 */
import path from 'node:path';
import { DNS_LABEL_PATTERN, isRecordId } from '../shared/index.ts';
import { encodingSuffixes, type StoredEncoding } from './backup-encoding.ts';

/** Suffix of temporary files: `.{final name}.partial`, hidden so no listing or person mistakes one for a backup. */
export const TEMP_FILE_SUFFIX = '.partial';
/** Suffix of the checksum sidecar written next to each backup (`sha256sum -c` format). */
export const SIDECAR_SUFFIX = '.sha256';
/** Second and later files of one deployment started in the same millisecond get `_2` … `_9`; more is a failure. */
export const MAX_FILES_PER_MILLISECOND = 9;

const EXTENSION = /^[a-z0-9]+(\.[a-z0-9]+)*$/;
const MAX_EXTENSION_LENGTH = 32;
const FIRST_YEAR = 0;
const LAST_YEAR = 9999;

/** What a validated value is. */
export type BackupPathField =
  'root' | 'workspaceId' | 'deploymentName' | 'extension' | 'timestamp' | 'sequence' | 'fileName';

/** A root, name, extension or time that cannot be part of a backup path; names the value and what is allowed. */
export class InvalidBackupPathError extends Error {
  override readonly name = 'InvalidBackupPathError';
  constructor(
    readonly field: BackupPathField,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`backup path: invalid ${field} ${JSON.stringify(value)}: must be ${allowed}`);
  }
}

/**
 * UTC timestamp of `now` with milliseconds, `20261122T031500.123Z`: fixed width, so lexicographic order is
 * chronological order (years 0000-9999).
 */
export function backupTimestamp(now: Date): string {
  const time = now.getTime();
  const year = Number.isNaN(time) ? Number.NaN : now.getUTCFullYear();
  if (!(year >= FIRST_YEAR && year <= LAST_YEAR)) {
    throw new InvalidBackupPathError(
      'timestamp',
      Number.isNaN(time) ? 'Invalid Date' : now.toISOString(),
      'a valid date in the years 0000-9999',
    );
  }
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return (
    `${pad(year, 4)}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}` +
    `T${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}.${pad(now.getUTCMilliseconds(), 3)}Z`
  );
}

/**
 * The extension the stored file gets, without a dot. Output that is not compressed is compressed by the store, so its
 * extension gains `.gz` or `.zst` (`sql` → `sql.gz`, `rdb` → `rdb.zst`; none: `sql`); compressed output is stored as
 * is (`dump`, `archive.gz`). An encrypted file gains `.age` last (`sql.zst.age`, `dump.age`).
 */
export function storedExtension(
  extension: string,
  compressed: boolean,
  encoding: StoredEncoding = { compression: 'gzip', encrypted: false },
): string {
  assertExtension(extension);
  const suffixes = encodingSuffixes({ ...encoding, compression: compressed ? 'none' : encoding.compression });
  return [extension, ...suffixes].join('.');
}

function assertExtension(extension: string): void {
  if (extension.length > MAX_EXTENSION_LENGTH || !EXTENSION.test(extension)) {
    throw new InvalidBackupPathError(
      'extension',
      extension,
      `dot-separated parts of lowercase letters and digits, at most ${MAX_EXTENSION_LENGTH} characters (e.g. "sql", "archive.gz")`,
    );
  }
}

/**
 * `{root}/{workspaceId}/{deploymentName}`, after checking each part: root absolute, workspaceId a cuid-like id
 * (`[a-z0-9]`, 1-64 characters), deploymentName a DNS label. Throws `InvalidBackupPathError` naming the bad value.
 */
export function deploymentFolder(root: string, workspaceId: string, deploymentName: string): string {
  if (root.length === 0 || !path.isAbsolute(root) || root.includes('\0')) {
    throw new InvalidBackupPathError('root', root, 'an absolute path');
  }
  if (!isRecordId(workspaceId)) {
    throw new InvalidBackupPathError('workspaceId', workspaceId, '1-64 lowercase letters or digits (a cuid)');
  }
  if (!DNS_LABEL_PATTERN.test(deploymentName)) {
    throw new InvalidBackupPathError(
      'deploymentName',
      deploymentName,
      'a DNS label: 1-63 lowercase letters, digits or "-", starting and ending with a letter or digit',
    );
  }
  return path.join(path.resolve(root), workspaceId, deploymentName);
}

/**
 * File name of a backup started at `startedAt`: `{timestamp}.{ext}`, or `{timestamp}_{sequence}.{ext}` for the
 * `sequence`-th file of the same millisecond (2 … MAX_FILES_PER_MILLISECOND). `_` sorts after `.`, so a later file of
 * the same millisecond also sorts after the first one.
 */
export function backupFileName(startedAt: Date, extension: string, sequence = 1): string {
  if (!Number.isInteger(sequence) || sequence < 1 || sequence > MAX_FILES_PER_MILLISECOND) {
    throw new InvalidBackupPathError(
      'sequence',
      String(sequence),
      `a whole number from 1 to ${MAX_FILES_PER_MILLISECOND}`,
    );
  }
  assertExtension(extension);
  return `${backupTimestamp(startedAt)}${sequence === 1 ? '' : `_${sequence}`}.${extension}`;
}

/** Full path of a backup file: {@link deploymentFolder} joined with {@link backupFileName}. */
export function backupFilePath(
  root: string,
  workspaceId: string,
  deploymentName: string,
  startedAt: Date,
  extension: string,
  sequence = 1,
): string {
  return path.join(deploymentFolder(root, workspaceId, deploymentName), backupFileName(startedAt, extension, sequence));
}

/** Path of the temporary file a backup is written to before it is renamed to `finalPath` (same folder). */
export function tempPathFor(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}${TEMP_FILE_SUFFIX}`);
}

/** Path of the checksum sidecar of a backup file. */
export function sidecarPathFor(backupPath: string): string {
  return `${backupPath}${SIDECAR_SUFFIX}`;
}

/** True for names the store writes while a backup is in progress (`.….partial`). */
export function isTempFileName(fileName: string): boolean {
  return fileName.startsWith('.') && fileName.endsWith(TEMP_FILE_SUFFIX);
}

/** Suffix of the manifest written next to each backup (see backup-manifest.ts). */
export const MANIFEST_FILE_SUFFIX = '.json';

/** True for a finished backup's name: not hidden (no temp file), not a checksum sidecar, not a manifest. */
export function isBackupFileName(fileName: string): boolean {
  return (
    fileName.length > 0 &&
    !fileName.startsWith('.') &&
    !fileName.endsWith(SIDECAR_SUFFIX) &&
    !fileName.endsWith(MANIFEST_FILE_SUFFIX)
  );
}

/** One line of `sha256sum` output, which `sha256sum -c` checks: `<hex>  <file name>\n`. */
export function formatSidecar(sha256: string, fileName: string): string {
  return `${sha256}  ${fileName}\n`;
}

/** Reads a one-file sidecar written by {@link formatSidecar} (or `sha256sum`, text or `*`binary mode); null if it is not one. */
export function parseSidecar(text: string): { sha256: string; fileName: string } | null {
  const match = /^([0-9a-f]{64}) [ *]([^\n]+)\n?$/.exec(text);
  return match ? { sha256: match[1] ?? '', fileName: match[2] ?? '' } : null;
}
