import { TypedFailure } from '../shared/index.ts';

/**
 * The typed failures of a restore that happen on our side of the exec: the checks of the backup file before and while
 * it is sent, and reading the counts a command printed. Failures of the exec itself are kube/exec-errors.ts's (with
 * direction `import`). Messages are redacted by whoever builds the error: they are stored and shown as they are.
 */

/** The backup file does not match its recorded sha256 (or its sidecar): nothing was sent. */
export class ChecksumMismatchError extends TypedFailure {
  readonly kind = 'ChecksumMismatch' as const;
  override readonly name = 'ChecksumMismatchError';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`backup file refused, it does not match its record: ${detail}`);
  }
}

/** The backup file is gone or cannot be read: nothing was sent. */
export class BackupFileMissingError extends TypedFailure {
  readonly kind = 'BackupFileMissing' as const;
  override readonly name = 'BackupFileMissingError';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`backup file cannot be read: ${detail}`);
  }
}

/** The stored file could not be decompressed while it was streamed (the exec was stopped before the end of input). */
export class CorruptFileError extends TypedFailure {
  readonly kind = 'CorruptFile' as const;
  override readonly name = 'CorruptFileError';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`backup file ${path} could not be decompressed: ${detail}`);
  }
}

/** A count command printed something that is not count lines. */
export class BadCountOutputError extends TypedFailure {
  readonly kind = 'BadCountOutput' as const;
  override readonly name = 'BadCountOutputError';
  constructor(
    readonly line: string,
    detail: string,
  ) {
    super(`count output not understood (${detail}): ${JSON.stringify(line.slice(0, 120))}`);
  }
}
