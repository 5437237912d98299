import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** Faults a test can inject into an exec session, per pod or for the whole fake server. */
export interface ExecFaults {
  /** After this many stdout bytes, destroy the TCP socket: no close frame, no status (the client sees 1006). Wins over `stallAfterBytes`. */
  dropAfterBytes?: number;
  /** After this many stdout bytes, send nothing more but keep the socket open (for client timeout tests). */
  stallAfterBytes?: number;
  /** After the process exits, close the socket normally (1000) without sending a status on channel 3. */
  omitStatus?: boolean;
  /** Wait this long after the process exits before sending the status. */
  delayStatusMs?: number;
  /**
   * From this many stdout bytes on, send each stdout frame as a fragmented message (RFC 6455, 5.4): the channel byte and
   * the first half of the payload without FIN, the rest in a continuation frame. The protocol allows it; the API server
   * does not do it.
   */
  fragmentStdoutFromBytes?: number;
}

/** How an exec'd process ended. `spawnError` is set when it never started (no exit code then). */
export interface ExecExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: string;
}

/** What the fake needs to run one exec: the argv (never a shell line), the process environment and which streams exist. */
export interface ExecSessionSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  faults: ExecFaults;
}

/** Live byte counters and the end of one session; the fake server exposes these to tests. */
export interface ExecSession {
  readonly transferred: { stdin: number; stdout: number; stderr: number };
  readonly exited: Promise<ExecExit>;
}

/** The part of a `ws` server-side WebSocket this fake uses (the project has no `@types/ws`). */
export interface ExecWebSocket {
  readonly protocol: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  /** `fin: false` starts (or continues) a fragmented message; the next send with `fin` true ends it. */
  send(data: Buffer, options: { binary: boolean; fin?: boolean }, callback?: (error?: Error) => void): void;
  close(code?: number): void;
  pause(): void;
  resume(): void;
  on(event: 'message', listener: (data: Buffer) => void): this;
  on(event: 'close', listener: (code: number) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
}

export interface ExecWebSocketServer {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: ExecWebSocket) => void): void;
  close(): void;
}

interface WebSocketServerOptions {
  noServer: true;
  perMessageDeflate: false;
  handleProtocols: (offered: Set<string>) => string | false;
}

const require = createRequire(import.meta.url);
const { WebSocketServer } = require('ws') as {
  WebSocketServer: new (options: WebSocketServerOptions) => ExecWebSocketServer;
};

/** Subprotocols the fake accepts, best first. v5 adds the client's "close stdin" frame. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

const OPEN = 1;
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const CLOSE_STREAM = 255;
/** The kubelet and the API server copy streams through 32 KiB buffers: no stdout frame carries more. */
const FRAME_BYTES = 32 * 1024;
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;
const BASE_LOCALE = 'C.UTF-8';

/** Picks the best protocol the client offered, or undefined when none is acceptable. */
export function chooseExecProtocol(offered: Iterable<string>): string | undefined {
  const offeredSet = new Set(offered);
  return EXEC_PROTOCOLS.find((protocol) => offeredSet.has(protocol));
}

export function createExecWebSocketServer(): ExecWebSocketServer {
  return new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered) => chooseExecProtocol(offered) ?? false,
  });
}

/** Environment of an exec'd process: a small base (like a container image's) plus the container's own variables. */
export function buildExecEnv(home: string, containerEnv: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, LANG: BASE_LOCALE, ...containerEnv };
}

/**
 * Runs `spec.argv` as a local process behind an upgraded exec WebSocket, framing stdout as `[1, ...]`, stderr as
 * `[2, ...]` and the final V1Status as `[3, json]`, the way the kubelet does. Stdout is copied like the kubelet's (and
 * the API server's) copy loop with a {@link FRAME_BYTES} buffer: a chunk goes out at once when no stdout frame is being
 * written; what the pipe yields meanwhile is sent next, in frames of at most that size (a fast producer thus gives
 * 32 KiB frames, a trickle one frame per write); byte counts, backpressure and the faults' cut points do not depend on
 * it. It never sends channel-255 frames (client-node throws `Unknown stream: 255` on them). `socket` is the raw
 * connection, destroyed for `dropAfterBytes`.
 */
export function runExecSession(ws: ExecWebSocket, socket: Duplex, spec: ExecSessionSpec): ExecSession {
  const transferred = { stdin: 0, stdout: 0, stderr: 0 };
  const { faults } = spec;
  const cutAfterBytes = faults.dropAfterBytes ?? faults.stallAfterBytes;
  let cut = false;
  let pausedForBackpressure = false;
  let finished = false;

  // Its own process group, so that killing it also kills pipelines such as `sh -c 'pg_dump | gzip'`.
  const child = spawn(spec.argv[0]!, spec.argv.slice(1), {
    cwd: spec.cwd,
    env: spec.env as NodeJS.ProcessEnv,
    detached: true,
    stdio: [spec.stdin ? 'pipe' : 'ignore', spec.stdout ? 'pipe' : 'ignore', spec.stderr ? 'pipe' : 'ignore'],
  });
  const outputs = [child.stdout, child.stderr].filter((stream): stream is Readable => stream !== null);

  const exited = new Promise<ExecExit>((resolve) => {
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError ??= error;
    });
    child.on('close', (exitCode, signal) => {
      finished = true;
      if (child.pid === undefined && spawnError)
        resolve({ exitCode: null, signal: null, spawnError: describeSpawnError(spec.argv[0]!, spawnError) });
      else resolve({ exitCode, signal });
    });
  });

  /** Stdout read while a stdout frame was still being written: it goes out with the next frame(s). */
  const pendingStdout: Buffer[] = [];
  let pendingStdoutBytes = 0;
  let stdoutFramesInFlight = 0;
  let stdoutBytesFramed = 0;

  const applyBackpressure = () => {
    if (!pausedForBackpressure && ws.bufferedAmount > HIGH_WATER_BYTES) {
      pausedForBackpressure = true;
      for (const output of outputs) output.pause();
    }
  };
  const afterSend = () => {
    if (pausedForBackpressure && !cut && ws.bufferedAmount < LOW_WATER_BYTES) {
      pausedForBackpressure = false;
      for (const output of outputs) output.resume();
    }
  };
  const sendFrame = (channel: number, payload: Buffer, callback: (error?: Error) => void = afterSend) => {
    ws.send(Buffer.concat([Buffer.of(channel), payload]), { binary: true }, callback);
    applyBackpressure();
  };
  /** Sends the pending stdout as frames of at most FRAME_BYTES; the last one calls `callback` once written. */
  const flushStdout = (callback?: (error?: Error) => void) => {
    while (pendingStdoutBytes > 0) {
      const frameBytes = Math.min(pendingStdoutBytes, FRAME_BYTES);
      const frame = Buffer.allocUnsafe(1 + frameBytes);
      frame[0] = STDOUT;
      let filled = 0;
      while (filled < frameBytes) {
        const chunk = pendingStdout[0]!;
        const take = Math.min(chunk.length, frameBytes - filled);
        chunk.copy(frame, 1 + filled, 0, take);
        filled += take;
        if (take === chunk.length) pendingStdout.shift();
        else pendingStdout[0] = chunk.subarray(take);
      }
      pendingStdoutBytes -= frameBytes;
      stdoutFramesInFlight += 1;
      const last = pendingStdoutBytes === 0;
      const fragment =
        faults.fragmentStdoutFromBytes !== undefined && stdoutBytesFramed >= faults.fragmentStdoutFromBytes;
      stdoutBytesFramed += frameBytes;
      const split = 1 + Math.floor(frameBytes / 2);
      if (fragment) ws.send(frame.subarray(0, split), { binary: true, fin: false });
      ws.send(fragment ? frame.subarray(split) : frame, { binary: true }, (error) => {
        stdoutFramesInFlight -= 1;
        afterSend();
        if (last && callback) callback(error);
        else if (stdoutFramesInFlight === 0 && !cut) flushStdout();
      });
    }
    applyBackpressure();
  };
  /** Sends at once when the previous frames are written; otherwise waits for them, or for a full frame. */
  const queueStdout = (chunk: Buffer) => {
    pendingStdout.push(chunk);
    pendingStdoutBytes += chunk.length;
    if (stdoutFramesInFlight === 0 || pendingStdoutBytes >= FRAME_BYTES) flushStdout();
  };
  const killProcessGroup = () => {
    if (finished || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  };
  const dropConnection = () => {
    killProcessGroup();
    socket.destroy();
  };
  /** Sends the last bytes before the cut, then drops the connection or goes silent. */
  const cutStdout = (head: Buffer) => {
    cut = true;
    for (const output of outputs) output.pause();
    const drop = faults.dropAfterBytes !== undefined;
    if (head.length > 0) {
      pendingStdout.push(head);
      pendingStdoutBytes += head.length;
    }
    if (pendingStdoutBytes > 0) flushStdout(drop ? dropConnection : undefined);
    else if (drop) dropConnection();
  };

  child.stdout?.on('data', (chunk: Buffer) => {
    if (cut) return;
    if (cutAfterBytes === undefined || transferred.stdout + chunk.length < cutAfterBytes) {
      transferred.stdout += chunk.length;
      queueStdout(chunk);
      return;
    }
    const head = chunk.subarray(0, cutAfterBytes - transferred.stdout);
    transferred.stdout += head.length;
    cutStdout(head);
  });
  // Before the exit status, which follows the end of the process's streams.
  child.stdout?.on('end', () => {
    if (!cut) flushStdout();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (cut) return;
    transferred.stderr += chunk.length;
    // In the order the bytes arrived.
    flushStdout();
    sendFrame(STDERR, chunk);
  });
  child.stdin?.on('error', () => {
    // EPIPE when the process exits before reading all of stdin: the real kubelet drops that input too.
  });

  ws.on('message', (data) => {
    const channel = data[0];
    if (channel === STDIN && data.length > 1 && child.stdin && child.stdin.writable) {
      transferred.stdin += data.length - 1;
      if (!child.stdin.write(data.subarray(1))) {
        ws.pause();
        child.stdin.once('drain', () => ws.resume());
      }
    } else if (channel === CLOSE_STREAM && data[1] === STDIN) {
      child.stdin?.end();
    }
    // Resize frames (channel 4) and anything else are ignored: the fake has no TTY.
  });
  ws.on('error', () => {
    // A broken connection also emits 'close', which is where the process is killed.
  });
  ws.on('close', () => {
    killProcessGroup();
    // A paused stream never ends by itself, and the child's 'close' event waits for its streams.
    for (const output of outputs) output.destroy();
  });

  void exited.then(async (exit) => {
    if (cut || ws.readyState !== OPEN) return;
    // Paused for a full stdin pipe whose 'drain' never comes (a pipe that was ended emits none): reading again lets the
    // client's answer to our close frame arrive, else the close handshake waits out ws's 30 s timeout.
    ws.resume();
    if (!faults.omitStatus) {
      if (faults.delayStatusMs) await sleep(faults.delayStatusMs);
      if (ws.readyState !== OPEN) return;
      sendFrame(STATUS, Buffer.from(JSON.stringify(buildExecStatus(spec.argv, exit))));
    }
    ws.close(1000);
  });

  return { transferred, exited };
}

/** The V1Status the API server sends on channel 3 when an exec'd command ends. */
export function buildExecStatus(argv: string[], exit: ExecExit): Record<string, unknown> {
  if (exit.spawnError !== undefined) {
    const cause = `error executing command in container: failed to exec in container: ${exit.spawnError}`;
    return {
      metadata: {},
      status: 'Failure',
      message: `Internal error occurred: ${cause}`,
      reason: 'InternalError',
      details: { causes: [{ message: cause }] },
      code: 500,
    };
  }
  const exitCode = exit.exitCode ?? 128 + (exit.signal ? osConstants.signals[exit.signal] : 0);
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

function describeSpawnError(file: string, error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  const problem =
    code === 'ENOENT' ? 'executable file not found in $PATH' : code === 'EACCES' ? 'permission denied' : error.message;
  return `OCI runtime exec failed: exec failed: unable to start container process: exec: "${file}": ${problem}: unknown`;
}
