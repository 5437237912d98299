import { TypedFailure } from '../shared/index.ts';

/**
 * The typed failures of a command run through Kubernetes exec: a data export (a backup) or a data import (a restore).
 * The causes both share (`ExecFailed`, `ConnectionLost`, `Timeout`, `Aborted`) are one class each, told apart by their
 * `direction`, which words the message. Messages name the namespace, pod and container and are redacted by whoever
 * builds the error: they are stored and shown as they are.
 */

/** Which way the bytes go: out of the pod (a backup) or into it (a restore). */
export type ExecDirection = 'export' | 'import';

/** Where a command runs; `pod` is null while no pod has been chosen yet. */
export interface ExecLocation {
  namespace: string;
  pod: string | null;
  container: string;
}

/** `pod "db-0" (container "postgres") in namespace "apps"`, for messages. */
export function describeLocation({ namespace, pod, container }: ExecLocation): string {
  const where = pod === null ? `container "${container}"` : `pod "${pod}" (container "${container}")`;
  return `${where} in namespace "${namespace}"`;
}

/** The last non-empty line of a text, for one-line messages. */
export function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1)?.trim() ?? '';
}

/** A failure that happened at a known place in the cluster. */
export abstract class LocatedFailure extends TypedFailure {
  readonly namespace: string;
  readonly pod: string | null;
  readonly container: string;

  constructor(location: ExecLocation, message: string) {
    super(message);
    this.namespace = location.namespace;
    this.pod = location.pod;
    this.container = location.container;
  }
}

/** No pod matches the deployment's selector, none is Running, or the chosen pod vanished before the exec (404). */
export class PodNotFoundError extends LocatedFailure {
  readonly kind = 'PodNotFound' as const;
  override readonly name = 'PodNotFoundError';

  constructor(
    location: ExecLocation,
    /** The selector the pods were listed with; null when a named pod vanished before the exec (404 on upgrade). */
    readonly podSelector: string | null,
    message: string,
  ) {
    super(location, message);
  }
}

/**
 * The pod the selector found does not belong to the deployment's workspace: it lacks the workspace label
 * (`platform.example/workspace-id` = workspace id, the name is configurable) and its namespace is not labelled as the
 * workspace's either. Nothing is run in it.
 */
export class PodNotOwnedError extends LocatedFailure {
  readonly kind = 'PodNotOwned' as const;
  override readonly name = 'PodNotOwnedError';

  constructor(
    location: ExecLocation,
    /** The label that marks a pod or namespace as the workspace's. */
    readonly workspaceLabel: string,
    message: string,
  ) {
    super(location, message);
  }
}

/** The deployment's namespace or pod selector is not valid (checked before any API call). */
export class InvalidTargetError extends LocatedFailure {
  readonly kind = 'InvalidTarget' as const;
  override readonly name = 'InvalidTargetError';

  constructor(
    location: ExecLocation,
    /** One sentence per bad field. */
    readonly problems: string[],
  ) {
    super(location, `the deployment's pod lookup is invalid: ${problems.join('; ')}`);
  }
}

/** The target container is missing from the pod spec or not ready (also: the API refused the exec upgrade with 400). */
export class ContainerNotReadyError extends LocatedFailure {
  readonly kind = 'ContainerNotReady' as const;
  override readonly name = 'ContainerNotReadyError';

  constructor(
    location: ExecLocation,
    /** The containers the pod spec does have (empty when unknown, e.g. after a 400 on the exec upgrade). */
    readonly availableContainers: string[],
    message: string,
  ) {
    super(location, message);
  }
}

/** The command ran and failed: a non-zero exit (`exitCode`), or a runtime failure such as a missing executable (null). */
export class ExecFailedError extends LocatedFailure {
  readonly kind = 'ExecFailed' as const;
  override readonly name = 'ExecFailedError';

  constructor(
    readonly direction: ExecDirection,
    location: ExecLocation,
    readonly exitCode: number | null,
    /** The last lines of the command's stderr, redacted. */
    readonly stderrTail: string,
    /** Why, redacted: the last stderr line, or the API's status message when there is no exit code. */
    detail: string,
  ) {
    const outcome = exitCode === null ? 'failed' : `exited with code ${exitCode}`;
    const command = direction === 'export' ? 'export command' : 'restore command';
    super(location, `${command} in ${describeLocation(location)} ${outcome}${detail ? `: ${detail}` : ''}`);
  }
}

/** The exec connection ended without a clean finish (dropped with 1006, or closed without an exit status). */
export class ConnectionLostError extends LocatedFailure {
  readonly kind = 'ConnectionLost' as const;
  override readonly name = 'ConnectionLostError';

  constructor(
    readonly direction: ExecDirection,
    location: ExecLocation,
    /** The WebSocket close code (1006: dropped without a close frame). */
    readonly closeCode: number,
    /** True when a Success status arrived but the connection still closed abnormally. */
    readonly statusReceived: boolean,
    /** Bytes received (export) or sent (import) before the connection ended. */
    readonly bytes: number,
    readonly stderrTail: string,
    /** What the socket reported, if anything (`read ECONNRESET`), redacted. */
    detail: string,
  ) {
    const how = statusReceived
      ? `closed abnormally (code ${closeCode}) after the exit status`
      : `closed (code ${closeCode}) without an exit status`;
    const reported = detail ? ` (${detail})` : '';
    const outcome =
      direction === 'export'
        ? `after ${bytes} bytes: the export is incomplete`
        : `after ${bytes} bytes were sent: the restore did not complete`;
    super(location, `exec connection to ${describeLocation(location)} ${how}${reported} ${outcome}`);
  }
}

/** The export or restore did not finish within its time limit; the exec was terminated. */
export class TimeoutError extends LocatedFailure {
  readonly kind = 'Timeout' as const;
  override readonly name = 'TimeoutError';

  constructor(
    readonly direction: ExecDirection,
    location: ExecLocation,
    readonly timeoutMs: number,
    /** Bytes received (export) or sent (import) so far. */
    readonly bytes: number,
  ) {
    const what =
      direction === 'export'
        ? `export from ${describeLocation(location)}`
        : `restore into ${describeLocation(location)}`;
    const moved = direction === 'export' ? `${bytes} bytes received` : `${bytes} bytes sent`;
    super(location, `${what} did not finish within ${timeoutMs} ms (${moved}); it was stopped`);
  }
}

/**
 * No byte moved for the stall limit: the export received nothing from the pod, or the restore's command took no more
 * input. Stopped long before the overall time limit; the exec was terminated.
 */
export class StalledError extends LocatedFailure {
  readonly kind = 'Stalled' as const;
  override readonly name = 'StalledError';

  constructor(
    readonly direction: ExecDirection,
    location: ExecLocation,
    readonly stallMs: number,
    /** Bytes received (export) or sent (import) before the silence. */
    readonly bytes: number,
  ) {
    const what =
      direction === 'export'
        ? `export from ${describeLocation(location)} received no data`
        : `restore into ${describeLocation(location)} took no input`;
    const moved = direction === 'export' ? `${bytes} bytes received` : `${bytes} bytes sent`;
    super(location, `${what} for ${formatStall(stallMs)} (${moved}); it was stopped as stalled`);
  }
}

function formatStall(stallMs: number): string {
  return stallMs % 60_000 === 0 ? `${stallMs / 60_000} min` : `${stallMs} ms`;
}

/** The caller's AbortSignal fired; the exec was terminated. */
export class AbortedError extends LocatedFailure {
  readonly kind = 'Aborted' as const;
  override readonly name = 'AbortedError';

  constructor(
    readonly direction: ExecDirection,
    location: ExecLocation,
    /** Bytes received (export) or sent (import) so far. */
    readonly bytes: number,
  ) {
    const what =
      direction === 'export'
        ? `export from ${describeLocation(location)}`
        : `restore into ${describeLocation(location)}`;
    super(location, `${what} was aborted after ${bytes} bytes`);
  }
}

/** The command exited 0 but wrote nothing to stdout: never a valid backup. */
export class EmptyOutputError extends LocatedFailure {
  readonly kind = 'EmptyOutput' as const;
  override readonly name = 'EmptyOutputError';

  constructor(
    location: ExecLocation,
    readonly stderrTail: string,
  ) {
    const detail = lastLine(stderrTail);
    super(
      location,
      `export command in ${describeLocation(location)} exited 0 but wrote no data${detail ? `: ${detail}` : ''}`,
    );
  }
}

/** The Kubernetes API could not be reached or refused us (network, TLS, 401/403, an unexpected status). */
export class ClusterUnreachableError extends TypedFailure {
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

/** The command exited 0 before its whole stdin had been sent: a restore cannot have applied all of the backup. */
export class IncompleteInputError extends LocatedFailure {
  readonly kind = 'IncompleteInput' as const;
  override readonly name = 'IncompleteInputError';
  constructor(
    location: ExecLocation,
    readonly bytesSent: number,
    readonly stderrTail: string,
  ) {
    const detail = lastLine(stderrTail);
    super(
      location,
      `restore command in ${describeLocation(location)} exited 0 after reading only ${bytesSent} bytes of the backup${detail ? `: ${detail}` : ''}`,
    );
  }
}

/**
 * The API server speaks an exec protocol older than v5.channel.k8s.io (Kubernetes < 1.30), which cannot close stdin
 * without closing the whole connection: the command would never see the end of its input nor report its exit.
 */
export class StdinUnsupportedError extends LocatedFailure {
  readonly kind = 'StdinUnsupported' as const;
  override readonly name = 'StdinUnsupportedError';
  constructor(
    location: ExecLocation,
    readonly protocol: string,
  ) {
    super(
      location,
      `the Kubernetes API answered the exec into ${describeLocation(location)} with protocol "${protocol || 'none'}": restores need v5.channel.k8s.io (Kubernetes 1.30 or later) to end stdin`,
    );
  }
}
