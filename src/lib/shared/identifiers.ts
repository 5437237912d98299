import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * The shapes of the identifiers that name things on disk, in object keys, in URLs and in commands. Anything that does
 * not match cannot name a record or a deployment, so it is refused (or "not found") before any query or path join.
 */

/** Our record ids (cuid: lowercase letters and digits). Workspace ids are record ids and name the workspace's folder. */
export const RECORD_ID_PATTERN = /^[a-z0-9]{1,64}$/;

/** A Kubernetes DNS label (RFC 1123): deployment names, container names, namespaces. */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * A new record id for rows written by hand-written SQL (Prisma makes its own cuids for the rows it creates): `c` and
 * 24 random lowercase hex digits, the length and alphabet of a cuid, so it passes every record-id check.
 */
export function newRecordId(): string {
  return `c${randomBytes(12).toString('hex')}`;
}

/** True when `value` has the shape of a record id. */
export function isRecordId(value: string): boolean {
  return RECORD_ID_PATTERN.test(value);
}

/** The zod schema of a record id, with the message a caller should see when the value is not one. */
export function recordIdSchema(message = 'must be a record id (lowercase letters and digits)') {
  return z.string().regex(RECORD_ID_PATTERN, { error: message });
}

/** The zod schema of a DNS label. */
export const dnsLabelSchema = z.string().regex(DNS_LABEL_PATTERN, {
  error: 'must be a DNS label: 1-63 lowercase letters, digits or "-", starting and ending with a letter or digit',
});
