import { describeLocation, lastLine, type ExportLocation } from '../kube/exec-errors.ts';

/**
 * The typed failures of a restore (a data import through Kubernetes exec, and the checks before it). Kinds reuse the
 * export's names where the cause is the same (`ExecFailed`, `ConnectionLost`, `Timeout`, `Aborted`); pod lookup
 * failures are the export's own classes (`PodNotFound`, `ContainerNotReady`, `ClusterUnreachable`). Messages are
 * redacted by whoever builds the error: they are stored and shown as they are.
 */
export const IMPORT_FAILURE_KINDS = [
  'ExecFailed',
  'ConnectionLost',
  'Timeout',
  'Aborted',
  'IncompleteInput',
  'StdinUnsupported',
  'ChecksumMismatch',
  'BackupFileMissing',
  'CorruptFile',
  'BadCountOutput',
] as const;

export type ImportFailureKind = (typeof IMPORT_FAILURE_KINDS)[number];

/** Base class of the import failures. */
export abstract class ImportFailure extends Error {
  abstract readonly kind: ImportFailureKind;
}

abstract class LocatedImportFailure extends ImportFailure {
  readonly namespace: string;
  readonly pod: string | null;
  readonly container: string;
  constructor(location: ExportLocation, message: string) {
    super(message);
    this.namespace = location.namespace;
    this.pod = location.pod;
    this.container = location.container;
  }
}

/** The command ran and failed: a non-zero exit (`exitCode`), or a runtime failure such as a missing executable (null). */
export class ImportExecFailedError extends LocatedImportFailure {
  readonly kind = 'ExecFailed' as const;
  override readonly name = 'ImportExecFailedError';
  constructor(
    location: ExportLocation,
    readonly exitCode: number | null,
    readonly stderrTail: string,
    detail: string,
  ) {
    const outcome = exitCode === null ? 'failed' : `exited with code ${exitCode}`;
    super(location, `restore command in ${describeLocation(location)} ${outcome}${detail ? `: ${detail}` : ''}`);
  }
}

/** The exec connection ended without a clean finish: the restore did not complete (it may have been applied in part). */
export class ImportConnectionLostError extends LocatedImportFailure {
  readonly kind = 'ConnectionLost' as const;
  override readonly name = 'ImportConnectionLostError';
  constructor(
    location: ExportLocation,
    readonly closeCode: number,
    readonly statusReceived: boolean,
    readonly bytesSent: number,
    readonly stderrTail: string,
    detail: string,
  ) {
    const how = statusReceived ? `closed abnormally (code ${closeCode}) after the exit status` : `closed (code ${closeCode}) without an exit status`;
    super(location, `exec connection to ${describeLocation(location)} ${how}${detail ? ` (${detail})` : ''} after ${bytesSent} bytes were sent: the restore did not complete`);
  }
}

/** The restore did not finish within its time limit; the exec was terminated. */
export class ImportTimeoutError extends LocatedImportFailure {
  readonly kind = 'Timeout' as const;
  override readonly name = 'ImportTimeoutError';
  constructor(
    location: ExportLocation,
    readonly timeoutMs: number,
    readonly bytesSent: number,
  ) {
    super(location, `restore into ${describeLocation(location)} did not finish within ${timeoutMs} ms (${bytesSent} bytes sent); it was stopped`);
  }
}

/** The caller's AbortSignal fired; the exec was terminated. */
export class ImportAbortedError extends LocatedImportFailure {
  readonly kind = 'Aborted' as const;
  override readonly name = 'ImportAbortedError';
  constructor(
    location: ExportLocation,
    readonly bytesSent: number,
  ) {
    super(location, `restore into ${describeLocation(location)} was aborted after ${bytesSent} bytes`);
  }
}

/** The command exited 0 before the whole backup had been sent: it cannot have restored all of it. */
export class IncompleteInputError extends LocatedImportFailure {
  readonly kind = 'IncompleteInput' as const;
  override readonly name = 'IncompleteInputError';
  constructor(
    location: ExportLocation,
    readonly bytesSent: number,
    readonly stderrTail: string,
  ) {
    const detail = lastLine(stderrTail);
    super(location, `restore command in ${describeLocation(location)} exited 0 after reading only ${bytesSent} bytes of the backup${detail ? `: ${detail}` : ''}`);
  }
}

/**
 * The API server speaks an exec protocol older than v5.channel.k8s.io (Kubernetes < 1.30), which cannot close stdin
 * without closing the whole connection: the command would never see the end of the backup nor report its exit.
 */
export class StdinUnsupportedError extends LocatedImportFailure {
  readonly kind = 'StdinUnsupported' as const;
  override readonly name = 'StdinUnsupportedError';
  constructor(
    location: ExportLocation,
    readonly protocol: string,
  ) {
    super(location, `the Kubernetes API answered the exec into ${describeLocation(location)} with protocol "${protocol || 'none'}": restores need v5.channel.k8s.io (Kubernetes 1.30 or later) to end stdin`);
  }
}

/** The backup file does not match its recorded sha256 (or its sidecar): nothing was sent. */
export class ChecksumMismatchError extends ImportFailure {
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
export class BackupFileMissingError extends ImportFailure {
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
export class CorruptFileError extends ImportFailure {
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
export class BadCountOutputError extends ImportFailure {
  readonly kind = 'BadCountOutput' as const;
  override readonly name = 'BadCountOutputError';
  constructor(
    readonly line: string,
    detail: string,
  ) {
    super(`count output not understood (${detail}): ${JSON.stringify(line.slice(0, 120))}`);
  }
}
