import { BackupFailure } from '../shared/failures.ts';

/**
 * The typed failures of a data export through Kubernetes exec. Messages name the namespace, pod and container and
 * are redacted by whoever builds the error: they are stored and shown as they are.
 */

/** Where an export runs; `pod` is null while no pod has been chosen yet. */
export interface ExportLocation {
  namespace: string;
  pod: string | null;
  container: string;
}

/** `pod "db-0" (container "postgres") in namespace "apps"`, for messages. */
export function describeLocation({ namespace, pod, container }: ExportLocation): string {
  const where = pod === null ? `container "${container}"` : `pod "${pod}" (container "${container}")`;
  return `${where} in namespace "${namespace}"`;
}

/** The last non-empty line of a text, for one-line messages. */
export function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1)?.trim() ?? '';
}

/** A failure that happened at a known place in the cluster. */
abstract class ExportFailure extends BackupFailure {
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

/** No pod matches the deployment's selector, none is Running, or the chosen pod vanished before the exec (404). */
export class PodNotFoundError extends ExportFailure {
  readonly kind = 'PodNotFound' as const;
  override readonly name = 'PodNotFoundError';

  constructor(
    location: ExportLocation,
    /** The selector the pods were listed with; null when a named pod vanished before the exec (404 on upgrade). */
    readonly podSelector: string | null,
    message: string,
  ) {
    super(location, message);
  }
}

/** The target container is missing from the pod spec or not ready (also: the API refused the exec upgrade with 400). */
export class ContainerNotReadyError extends ExportFailure {
  readonly kind = 'ContainerNotReady' as const;
  override readonly name = 'ContainerNotReadyError';

  constructor(
    location: ExportLocation,
    /** The containers the pod spec does have (empty when unknown, e.g. after a 400 on the exec upgrade). */
    readonly availableContainers: string[],
    message: string,
  ) {
    super(location, message);
  }
}

/** The command ran and failed: a non-zero exit (`exitCode`), or a runtime failure such as a missing executable (null). */
export class ExecFailedError extends ExportFailure {
  readonly kind = 'ExecFailed' as const;
  override readonly name = 'ExecFailedError';

  constructor(
    location: ExportLocation,
    readonly exitCode: number | null,
    /** The last lines of the command's stderr, redacted. */
    readonly stderrTail: string,
    /** Why, redacted: the last stderr line, or the API's status message when there is no exit code. */
    detail: string,
  ) {
    const outcome = exitCode === null ? 'failed' : `exited with code ${exitCode}`;
    super(location, `export command in ${describeLocation(location)} ${outcome}${detail ? `: ${detail}` : ''}`);
  }
}

/** The exec connection ended without a clean finish (dropped with 1006, or closed without an exit status). */
export class ConnectionLostError extends ExportFailure {
  readonly kind = 'ConnectionLost' as const;
  override readonly name = 'ConnectionLostError';

  constructor(
    location: ExportLocation,
    /** The WebSocket close code (1006: dropped without a close frame). */
    readonly closeCode: number,
    /** True when a Success status arrived but the connection still closed abnormally. */
    readonly statusReceived: boolean,
    readonly bytes: number,
    readonly stderrTail: string,
    /** What the socket reported, if anything (`read ECONNRESET`), redacted. */
    detail: string,
  ) {
    const how = statusReceived ? `closed abnormally (code ${closeCode}) after the exit status` : `closed (code ${closeCode}) without an exit status`;
    const reported = detail ? ` (${detail})` : '';
    super(location, `exec connection to ${describeLocation(location)} ${how}${reported} after ${bytes} bytes: the export is incomplete`);
  }
}

/** The export did not finish within its time limit; the exec was terminated. */
export class TimeoutError extends ExportFailure {
  readonly kind = 'Timeout' as const;
  override readonly name = 'TimeoutError';

  constructor(
    location: ExportLocation,
    readonly timeoutMs: number,
    readonly bytes: number,
  ) {
    super(location, `export from ${describeLocation(location)} did not finish within ${timeoutMs} ms (${bytes} bytes received); it was stopped`);
  }
}

/** The caller's AbortSignal fired; the exec was terminated. */
export class AbortedError extends ExportFailure {
  readonly kind = 'Aborted' as const;
  override readonly name = 'AbortedError';

  constructor(
    location: ExportLocation,
    readonly bytes: number,
  ) {
    super(location, `export from ${describeLocation(location)} was aborted after ${bytes} bytes`);
  }
}

/** The command exited 0 but wrote nothing to stdout: never a valid backup. */
export class EmptyOutputError extends ExportFailure {
  readonly kind = 'EmptyOutput' as const;
  override readonly name = 'EmptyOutputError';

  constructor(
    location: ExportLocation,
    readonly stderrTail: string,
  ) {
    const detail = lastLine(stderrTail);
    super(location, `export command in ${describeLocation(location)} exited 0 but wrote no data${detail ? `: ${detail}` : ''}`);
  }
}

/** The Kubernetes API could not be reached or refused us (network, TLS, 401/403, an unexpected status). */
export class ClusterUnreachableError extends BackupFailure {
  readonly kind = 'ClusterUnreachable' as const;
  override readonly name = 'ClusterUnreachableError';

  constructor(
    /** The HTTP status the API answered with; null when there was no answer (refused, TLS, DNS). */
    readonly statusCode: number | null,
    message: string,
  ) {
    super(message);
  }
}
