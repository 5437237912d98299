import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Exec, V1Status } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';
import { CLEAN_CLOSE_CODES, createExecOutputs, toExecFailedError } from './exec-channels.ts';
import {
  AbortedError,
  ConnectionLostError,
  IncompleteInputError,
  StalledError,
  StdinUnsupportedError,
  TimeoutError,
  type ExecLocation,
} from './exec-errors.ts';
import { createStderrTail } from '../shared/index.ts';
import { toUpgradeFailure } from './exec-upgrade-failure.ts';
import { DEFAULT_STALL_MS, startStallWatchdog } from './stall-watchdog.ts';

export interface ExecWithInputOptions {
  namespace: string;
  pod: string;
  container: string;
  /** The argv, sent as is (no shell added). */
  command: string[];
  /**
   * Bytes for the command's stdin, read with backpressure; absent: the command gets no stdin. When it has been read to
   * its end (and `beforeEndOfInput` agreed), stdin is closed. An error from it stops the exec without closing stdin.
   */
  input?: Readable;
  /** Runs after the last input byte was sent, before stdin is closed; throwing stops the exec instead. */
  beforeEndOfInput?: () => void | Promise<void>;
  /** From the start of the call to the exit status; the exec is terminated when it runs out. */
  timeoutMs: number;
  /**
   * While input remains to be sent, the exec is terminated as `Stalled` when the command takes none of it for this
   * long (default 10 min). Once all input is sent the command may work silently (building indexes) until `timeoutMs`.
   */
  stallMs?: number;
  signal?: AbortSignal;
  /** Applied to every text taken from the command or the API (stderr, stdout, status messages) before it is kept. */
  redact: (text: string) => string;
  /** Stdout beyond this many bytes is dropped (`stdoutTruncated`). */
  maxStdoutBytes?: number;
  /** Called with the bytes sent so far after each chunk of input. Must not throw. */
  onProgress?: (bytesSent: number) => void;
}

export interface ExecWithInputResult {
  /** Bytes handed to the WebSocket as stdin. */
  bytesSent: number;
  /** Stdout as text (UTF-8), redacted; the count lines of count commands. */
  stdout: string;
  stdoutTruncated: boolean;
  stderrTail: string;
}

/** The only exec protocol that can end stdin and still receive the exit status (Kubernetes >= 1.30). */
export const STDIN_CLOSE_PROTOCOL = 'v5.channel.k8s.io';
/** Stdin is held back while more than this is queued in the WebSocket (client-node's `ws.send` has no backpressure). */
export const STDIN_HIGH_WATER_BYTES = 4 * 1024 * 1024;
const STDIN_POLL_MS = 5;
const DEFAULT_MAX_STDOUT_BYTES = 4 * 1024 * 1024;

/**
 * Runs `command` in the container through Kubernetes exec, streaming `input` into its stdin and collecting its stdout
 * (bounded) and the end of its stderr. Memory stays flat for any input size: client-node sends every stdin chunk
 * straight to `ws.send` and ignores backpressure, so the next chunk is written only while the socket's
 * `bufferedAmount` is below `STDIN_HIGH_WATER_BYTES`.
 *
 * Resolves only when the whole input was sent and stdin closed, an exit status of Success arrived and the socket then
 * closed cleanly. Otherwise rejects with `ExecFailedError` (Failure status), `ConnectionLostError`
 * (dropped, or closed without a status), `IncompleteInputError` (exit 0 before the end of the input), `StalledError` (no input taken for `stallMs`),
 * `StdinUnsupportedError` (protocol older than v5), `TimeoutError`, `AbortedError`,
 * `PodNotFoundError` / `ContainerNotReadyError` / `ClusterUnreachableError` (the upgrade was refused), or the
 * input's own error (the exec is terminated without closing stdin).
 */
export function execWithInput(exec: Exec, options: ExecWithInputOptions): Promise<ExecWithInputResult> {
  const { namespace, pod, container, command, input, timeoutMs, signal, redact } = options;
  const maxStdoutBytes = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES;
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  const location: ExecLocation = { namespace, pod, container };

  return new Promise((resolve, reject) => {
    const stderrTail = createStderrTail();
    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stdoutTruncated = false;
    let socket: WebSocket | undefined;
    let socketError = '';
    let status: V1Status | undefined;
    let settled = false;
    let bytesSent = 0;
    let inputEnded = input === undefined;
    const stdin = input ? new PassThrough() : null;

    const onAbort = () => fail(new AbortedError('import', location, bytesSent));
    const timer = setTimeout(() => fail(new TimeoutError('import', location, timeoutMs, bytesSent)), timeoutMs);
    const watchdog = startStallWatchdog(stallMs, () => fail(new StalledError('import', location, stallMs, bytesSent)));
    // Without input there is nothing to watch: the command's own work is bounded by `timeoutMs` only.
    if (!input) watchdog.hold();

    function cleanUp(): void {
      clearTimeout(timer);
      watchdog.stop();
      signal?.removeEventListener('abort', onAbort);
      input?.destroy();
    }
    function fail(error: unknown): void {
      if (settled) return;
      settled = true;
      cleanUp();
      // Never a clean end of stdin after a failure: the connection is cut, so the command is stopped.
      socket?.terminate();
      reject(error);
    }

    function onSocketClose(code: number): void {
      if (settled) return;
      const tail = stderrTail.read(redact);
      if (status === undefined)
        return fail(new ConnectionLostError('import', location, code, false, bytesSent, tail, socketError));
      if (status.status !== 'Success') return fail(toExecFailedError('import', location, status, tail, redact));
      if (!CLEAN_CLOSE_CODES.has(code))
        return fail(new ConnectionLostError('import', location, code, true, bytesSent, tail, socketError));
      if (!inputEnded) return fail(new IncompleteInputError(location, bytesSent, tail));
      settled = true;
      cleanUp();
      resolve({
        bytesSent,
        stdout: redact(Buffer.concat(stdoutChunks).toString('utf8')),
        stdoutTruncated,
        stderrTail: tail,
      });
    }

    /** Copies the input into stdin, waiting while the socket's send queue is above the high-water mark. */
    async function pump(opened: WebSocket, source: Readable, sink: PassThrough): Promise<void> {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        while (!settled && opened.bufferedAmount + sink.readableLength > STDIN_HIGH_WATER_BYTES)
          await sleep(STDIN_POLL_MS);
        if (settled) return;
        bytesSent += chunk.length;
        watchdog.touch();
        sink.write(chunk);
        options.onProgress?.(bytesSent);
      }
      if (settled) return;
      watchdog.hold();
      await options.beforeEndOfInput?.();
      if (settled) return;
      inputEnded = true;
      // client-node turns the end of its stdin stream into the v5 "close stdin" frame [255, 0].
      sink.end();
    }

    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) return onAbort();

    const { stdout, stderr } = createExecOutputs((chunk) => {
      if (stdoutBytes + chunk.length <= maxStdoutBytes) stdoutChunks.push(chunk);
      else stdoutTruncated = true;
      stdoutBytes += chunk.length;
    }, stderrTail);
    const keepStatus = (value: V1Status) => {
      status = value;
    };

    exec.exec(namespace, pod, container, command, stdout, stderr, stdin, false, keepStatus).then(
      (opened) => {
        opened.on('error', (error) => {
          socketError ||= redact(error.message);
        });
        if (settled) return opened.terminate();
        socket = opened;
        opened.on('close', onSocketClose);
        if (!input || !stdin) return;
        if (opened.protocol !== STDIN_CLOSE_PROTOCOL) return fail(new StdinUnsupportedError(location, opened.protocol));
        pump(opened, input, stdin).catch((error: unknown) => fail(error));
      },
      (error: unknown) => fail(toUpgradeFailure(location, error, redact)),
    );
  });
}
