import { DNS_LABEL_PATTERN, isRecordId } from '../shared/index.ts';
/**
 * Object keys of off-site copies, as pure functions: `{prefix}/{workspaceId}/{deploymentName}/{fileName}` (without the
 * prefix part when the prefix is empty). Every part is validated before it is joined, so no key can be empty, contain
 * a `.` or `..` segment, or reach outside the configured prefix.
 */

const PREFIX_SEGMENT = /^[A-Za-z0-9._-]+$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export type ObjectKeyField = 'prefix' | 'workspaceId' | 'deploymentName' | 'fileName';

/** A prefix or name that cannot be part of an object key; names the value and what is allowed. */
export class InvalidObjectKeyError extends Error {
  override readonly name = 'InvalidObjectKeyError';
  constructor(
    readonly field: ObjectKeyField,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`object key: invalid ${field} ${JSON.stringify(value)}: must be ${allowed}`);
  }
}

/**
 * Normalises a configured key prefix: leading, trailing and repeated slashes go (`/a//b/` → `a/b`), `''` stays `''`.
 * Throws `InvalidObjectKeyError` for a `.` or `..` segment or characters outside letters, digits, `.`, `_` and `-`.
 */
export function normaliseKeyPrefix(prefix: string): string {
  const segments = prefix.split('/').filter((segment) => segment !== '');
  for (const segment of segments) {
    if (segment === '.' || segment === '..' || !PREFIX_SEGMENT.test(segment)) {
      throw new InvalidObjectKeyError(
        'prefix',
        prefix,
        'segments of letters, digits, ".", "_" and "-" separated by "/" (no "." or ".." segment)',
      );
    }
  }
  return segments.join('/');
}

/** The key of one backup file under an already normalised prefix. */
export function buildObjectKey(
  prefix: string,
  file: { workspaceId: string; deploymentName: string; fileName: string },
): string {
  if (!isRecordId(file.workspaceId)) {
    throw new InvalidObjectKeyError('workspaceId', file.workspaceId, '1-64 lowercase letters or digits (a cuid)');
  }
  if (!DNS_LABEL_PATTERN.test(file.deploymentName)) {
    throw new InvalidObjectKeyError(
      'deploymentName',
      file.deploymentName,
      'a DNS label: 1-63 lowercase letters, digits or "-"',
    );
  }
  if (!FILE_NAME.test(file.fileName) || file.fileName.includes('..')) {
    throw new InvalidObjectKeyError(
      'fileName',
      file.fileName,
      'a backup file name: letters, digits, ".", "_" and "-", starting with a letter or digit, no ".."',
    );
  }
  return joinKey(normaliseKeyPrefix(prefix), `${file.workspaceId}/${file.deploymentName}/${file.fileName}`);
}

/** The prefix every object of the configuration lives under: `{prefix}/`, or `''` for the whole bucket. */
export function rootListingPrefix(prefix: string): string {
  const normalised = normaliseKeyPrefix(prefix);
  return normalised === '' ? '' : `${normalised}/`;
}

/** The prefix of one deployment's objects: `{prefix}/{workspaceId}/{deploymentName}/`. */
export function deploymentListingPrefix(
  prefix: string,
  deployment: { workspaceId: string; deploymentName: string },
): string {
  const key = buildObjectKey(prefix, { ...deployment, fileName: 'x' });
  return key.slice(0, -1);
}

function joinKey(prefix: string, rest: string): string {
  return prefix === '' ? rest : `${prefix}/${rest}`;
}
