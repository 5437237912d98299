/** Errors of off-site destinations: small, typed, with messages already free of secrets. */

/** A request to a destination failed (network, authentication, missing bucket, …). */
export class OffsiteRequestError extends Error {
  override readonly name = 'OffsiteRequestError';
  constructor(
    readonly destination: string,
    readonly operation: 'upload' | 'download' | 'list' | 'delete' | 'head',
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${destination}: ${operation} of "${key}" failed: ${message}`, options);
  }
}

/** What was checked after an upload. */
export type VerifiedField = 'size' | 'sha256' | 'etag' | 'local-size' | 'local-sha256';

/**
 * The stored object (or the local file read for it) is not the backup: a size, sha256 or ETag differs. The object
 * is removed when it was written, so a bad copy never stays under the backup's key.
 */
export class OffsiteVerificationError extends Error {
  override readonly name = 'OffsiteVerificationError';
  constructor(
    readonly destination: string,
    readonly key: string,
    readonly field: VerifiedField,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${destination}: "${key}" failed verification after upload: ${field} is ${actual}, expected ${expected}`);
  }
}
