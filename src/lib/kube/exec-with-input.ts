import { PassThrough } from 'node:stream';
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
import { stdoutTapOf } from './exec-socket.ts';
import { createFramePool } from './frame-pool.ts';
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
   * Each chunk is copied into its frame before the next is asked for, so a source may reuse its buffer; the iteration
   * is stopped (`return()`, which destroys a Readable) when the exec ends early.
   */
  input?: AsyncIterable<Buffer>;
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
/** Stdin is held back while more than this is queued in the WebSocket (`ws.send` has no backpressure of its own). */
export const STDIN_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** The first byte of every stdin message (channel 0 of the exec protocol). */
const STDIN_CHANNEL = 0;
const DEFAULT_MAX_STDOUT_BYTES = 4 * 1024 * 1024;

/**
 * Runs `command` in the container through Kubernetes exec, streaming `input` into its stdin and collecting its stdout
 * (bounded) and the end of its stderr. Memory stays flat for any input size: the next chunk is sent only while the
 * socket's `bufferedAmount` is at most `STDIN_HIGH_WATER_BYTES`, and the wait for it ends with the socket's report that
 * a frame was written, not with a timer.
 *
 * The stdin frames are sent here, not by client-node: it would copy every chunk into a new zero-filled buffer of its
 * own (`copyChunkForWebSocket`) behind a PassThrough. Here each chunk is copied once, behind its channel byte, into a
 * frame buffer that comes back for reuse when the socket has written it (`createFramePool`), and over TLS ws sends it
 * without masking it into a copy (`openExecSocket`): a restore makes no garbage per frame, so V8 runs no mark-compact
 * while it streams (it ran about 50 per GiB with a new frame and a new masked copy per 256 KiB). client-node still gets
 * a stdin stream, which only asks for stdin in the exec URL and, when ended, sends the v5 "close stdin" frame.
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
    /** Carries no bytes: ending it makes client-node send the v5 "close stdin" frame after the last stdin frame. */
    const stdin = input ? new PassThrough() : null;
    const chunks = input?.[Symbol.asyncIterator]();
    /** Wakes the pump held back by a full send queue: called by each frame's write callback, and on settling. */
    let wakePump: (() => void) | null = null;
    let framesInFlight = 0;
    const frames = createFramePool();
    function wakeUpPump(): void {
      const wake = wakePump;
      wakePump = null;
      wake?.();
    }

    const onAbort = () => fail(new AbortedError('import', location, bytesSent));
    const timer = setTimeout(() => fail(new TimeoutError('import', location, timeoutMs, bytesSent)), timeoutMs);
    const watchdog = startStallWatchdog(stallMs, () => fail(new StalledError('import', location, stallMs, bytesSent)));
    // Without input there is nothing to watch: the command's own work is bounded by `timeoutMs` only.
    if (!input) watchdog.hold();

    function cleanUp(): void {
      clearTimeout(timer);
      watchdog.stop();
      signal?.removeEventListener('abort', onAbort);
      // Closes the source: at once when it waits at a chunk, else once the read under way has finished.
      chunks?.return?.().catch(() => {});
      wakeUpPump();
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

    /** Sends the input as stdin frames, waiting while the socket's send queue is above the high-water mark. */
    async function pump(opened: WebSocket, source: AsyncIterator<Buffer>, stdinEnd: PassThrough): Promise<void> {
      for (let next = await source.next(); !next.done; next = await source.next()) {
        const chunk = next.value;
        // Every frame queued has a write callback to come, so the wait always ends (or settling ends it).
        while (!settled && framesInFlight > 0 && opened.bufferedAmount > STDIN_HIGH_WATER_BYTES)
          await new Promise<void>((resolve) => (wakePump = resolve));
        if (settled) return;
        if (chunk.length === 0) continue;
        // One copy, to put the channel byte in front, into a reused buffer: every byte after it is overwritten.
        const frame = frames.take(1 + chunk.length);
        frame[0] = STDIN_CHANNEL;
        chunk.copy(frame, 1);
        bytesSent += chunk.length;
        watchdog.touch();
        framesInFlight += 1;
        opened.send(frame, { binary: true }, () => {
          framesInFlight -= 1;
          frames.give(frame);
          wakeUpPump();
        });
        options.onProgress?.(bytesSent);
      }
      if (settled) return;
      watchdog.hold();
      await options.beforeEndOfInput?.();
      if (settled) return;
      inputEnded = true;
      // client-node turns the end of its stdin stream into the v5 "close stdin" frame [255, 0], sent after ours.
      stdinEnd.end();
    }

    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) return onAbort();

    const keepStdout = (chunk: Buffer) => {
      if (stdoutBytes + chunk.length <= maxStdoutBytes) stdoutChunks.push(chunk);
      else stdoutTruncated = true;
      stdoutBytes += chunk.length;
    };
    const { stdout, stderr } = createExecOutputs(keepStdout, stderrTail);
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
        // With a tap on the connection, stdout comes from it rather than through client-node.
        stdoutTapOf(opened)?.attach(keepStdout);
        if (!chunks || !stdin) return;
        if (opened.protocol !== STDIN_CLOSE_PROTOCOL) return fail(new StdinUnsupportedError(location, opened.protocol));
        pump(opened, chunks, stdin).catch((error: unknown) => fail(error));
      },
      (error: unknown) => fail(toUpgradeFailure(location, error, redact)),
    );
  });
}
