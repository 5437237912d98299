/** Errors of fetching a backup's off-site copy back to the backup volume. */

/** Why a fetch was not started (nothing was downloaded or written). */
export type FetchRefusalCode =
  /** No such backup. */
  | 'NOT_FOUND'
  /** The backup is not SUCCEEDED (or has no recorded file, size and sha256): there is no copy of it to trust. */
  | 'NOT_SUCCEEDED'
  /** The local file is there and matches its record and sidecar: nothing to fetch. */
  | 'LOCAL_FILE_INTACT'
  /** The backup has no UPLOADED copy (on the asked destination). */
  | 'NO_UPLOADED_COPY'
  /** Its copies are on destinations that are not configured here. */
  | 'DESTINATION_NOT_CONFIGURED'
  /** The record's path does not name a file directly inside the deployment's folder under the backup root. */
  | 'PATH_NOT_IN_STORE'
  /** The backup was pruned while its copy was downloaded; the fetched file was removed again. */
  | 'PRUNED';

/** A fetch that was not done, and why; the message says what to do instead where there is something. */
export class FetchRefusedError extends Error {
  override readonly name = 'FetchRefusedError';
  constructor(
    readonly code: FetchRefusalCode,
    readonly backupId: string,
    message: string,
  ) {
    super(`fetch refused (${code}): ${message}`);
  }
}

/**
 * The downloaded bytes are not the backup: their size or sha256 differs from the record. The temporary file was
 * removed; nothing at the backup's path changed.
 */
export class FetchedCopyMismatchError extends Error {
  override readonly name = 'FetchedCopyMismatchError';
  constructor(
    readonly backupId: string,
    readonly destination: string,
    readonly key: string,
    readonly field: 'size' | 'sha256',
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${destination}: the copy "${key}" of backup ${backupId} is not the backup: its ${field} is ${actual}, the record says ${expected}; nothing was written`,
    );
  }
}
