import type { Writable } from 'node:stream';
import type { Exec, V1Status } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';
import {
  AbortedError,
  ConnectionLostError,
  EmptyOutputError,
  ExecFailedError,
  StalledError,
  TimeoutError,
  describeLocation,
  type ExecLocation,
} from './exec-errors.ts';
import { CLEAN_CLOSE_CODES, createExecOutputs, toExecFailedError } from './exec-channels.ts';
import { createStderrTail } from '../shared/index.ts';
import { stdoutTapOf } from './exec-socket.ts';
import { toUpgradeFailure } from './exec-upgrade-failure.ts';
import { DEFAULT_STALL_MS, startStallWatchdog } from './stall-watchdog.ts';

export interface ExecToStreamOptions {
  namespace: string;
  pod: string;
  container: string;
  /** The argv, sent as is (no shell added). */
  command: string[];
  /** Receives stdout in order. Never ended here: the storage layer ends and commits it. */
  destination: Writable;
  /** From the start of the call to the exit status; the exec is terminated when it runs out. */
  timeoutMs: number;
  /**
   * The exec is terminated as `Stalled` when no stdout byte arrives for this long (default 10 min); time spent waiting
   * for the destination to drain does not count.
   */
  stallMs?: number;
  signal?: AbortSignal;
  /** Called each time another `PROGRESS_STEP_BYTES` have been handed to the destination. Must not throw. */
  onProgress?: (bytes: number) => void;
  /** Applied to every text taken from the command or the API (stderr, status messages) before it is kept. */
  redact: (text: string) => string;
}

export interface ExecToStreamResult {
  /** Bytes of stdout handed to `destination.write`. */
  bytes: number;
  /** The last lines of stderr, redacted (warnings of a successful dump, too). */
  stderrTail: string;
}

export const PROGRESS_STEP_BYTES = 8 * 1024 * 1024;
/** How client-node reports an HTTP answer instead of a WebSocket upgrade (a ws ErrorEvent, not an Error). */

/**
 * Runs `command` in the container through Kubernetes exec and streams its stdout into `destination` with backpressure
 * (the client library has none: it ignores `write()`'s return value, so the WebSocket itself is paused until the
 * destination drains).
 *
 * Resolves only when an exit status of Success arrived, the socket then closed cleanly, and at least one byte was
 * written. Otherwise rejects with `ExecFailedError` (Failure status), `ConnectionLostError` (closed without a status,
 * or abnormally), `EmptyOutputError`, `TimeoutError`, `StalledError` (no stdout for `stallMs`), `AbortedError`, `PodNotFoundError` / `ContainerNotReadyError` /
 * `ClusterUnreachableError` (the upgrade was refused with 404 / 400 / anything else), or with the destination's own
 * error, unchanged (the storage failed; the exec is terminated at once).
 */
export function execToStream(exec: Exec, options: ExecToStreamOptions): Promise<ExecToStreamResult> {
  const { namespace, pod, container, command, destination, timeoutMs, signal, onProgress, redact } = options;
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  const location: ExecLocation = { namespace, pod, container };

  return new Promise((resolve, reject) => {
    const stderrTail = createStderrTail();
    let socket: WebSocket | undefined;
    /** What stops and restarts reading stdout: the tap on the connection, or the WebSocket when there is none. */
    let reader: { pause(): void; resume(): void } | undefined;
    let socketError = '';
    let status: V1Status | undefined;
    let settled = false;
    let bytes = 0;
    let nextProgressAt = PROGRESS_STEP_BYTES;
    let waitingForDrain = false;

    const onDrain = () => {
      waitingForDrain = false;
      watchdog.release();
      if (!settled) reader?.resume();
    };
    const onDestinationError = (error: Error) => fail(error);
    const onDestinationClose = () =>
      fail(
        new Error(`the destination of the export from ${describeLocation(location)} closed before the export finished`),
      );
    const onAbort = () => fail(new AbortedError('export', location, bytes));
    const timer = setTimeout(() => fail(new TimeoutError('export', location, timeoutMs, bytes)), timeoutMs);
    const watchdog = startStallWatchdog(stallMs, () => fail(new StalledError('export', location, stallMs, bytes)));

    function cleanUp(): void {
      clearTimeout(timer);
      watchdog.stop();
      signal?.removeEventListener('abort', onAbort);
      destination.off('error', onDestinationError);
      destination.off('close', onDestinationClose);
      destination.off('drain', onDrain);
    }
    function fail(error: unknown): void {
      if (settled) return;
      settled = true;
      cleanUp();
      // A paused or silent socket would otherwise stay open; the API server stops the process when we disconnect.
      socket?.terminate();
      reject(error);
    }

    /**
     * Called synchronously for each piece of stdout, in order: from the tap on the connection (views of its reads), or,
     * without one, from client-node for each frame, possibly before `exec()` has resolved (then `socket` is unset).
     */
    function forward(chunk: Buffer): void {
      if (settled) return;
      try {
        bytes += chunk.length;
        watchdog.touch();
        if (!destination.write(chunk) && !waitingForDrain) {
          waitingForDrain = true;
          watchdog.hold();
          reader?.pause();
          destination.once('drain', onDrain);
        }
        if (onProgress && bytes >= nextProgressAt) {
          nextProgressAt = (Math.floor(bytes / PROGRESS_STEP_BYTES) + 1) * PROGRESS_STEP_BYTES;
          onProgress(bytes);
        }
      } catch (error) {
        fail(error);
      }
    }

    function onSocketClose(code: number): void {
      if (settled) return;
      const tail = stderrTail.read(redact);
      if (status === undefined)
        return fail(new ConnectionLostError('export', location, code, false, bytes, tail, socketError));
      if (status.status !== 'Success') return fail(toExecFailedError('export', location, status, tail, redact));
      if (!CLEAN_CLOSE_CODES.has(code))
        return fail(new ConnectionLostError('export', location, code, true, bytes, tail, socketError));
      if (bytes === 0) return fail(new EmptyOutputError(location, tail));
      settled = true;
      cleanUp();
      resolve({ bytes, stderrTail: tail });
    }

    if (destination.errored) return fail(destination.errored);
    if (destination.destroyed || destination.writableEnded) return onDestinationClose();
    destination.on('error', onDestinationError);
    destination.on('close', onDestinationClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) return onAbort();

    const { stdout, stderr } = createExecOutputs(forward, stderrTail);
    const keepStatus = (value: V1Status) => {
      status = value;
    };

    exec.exec(namespace, pod, container, command, stdout, stderr, null, false, keepStatus).then(
      (opened) => {
        // client-node ignores errors once the socket is open; each one is followed by 'close' (code 1006).
        opened.on('error', (error) => {
          socketError ||= redact(error.message);
        });
        if (settled) return opened.terminate();
        socket = opened;
        // 'close' cannot have fired yet: it needs further socket I/O, and we run in the microtasks after 'open'.
        opened.on('close', onSocketClose);
        const tap = stdoutTapOf(opened);
        reader = tap ? { pause: () => tap.hold(), resume: () => tap.release() } : opened;
        // Hands over the stdout that came with the upgrade's answer, if any, then each piece as it arrives.
        tap?.attach(forward);
        if (waitingForDrain) reader.pause();
      },
      (error: unknown) => fail(toUpgradeFailure(location, error, redact)),
    );
  });
}
