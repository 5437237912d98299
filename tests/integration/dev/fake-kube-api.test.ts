import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeApi, type ExecRecord, type FakeKubeApi } from '../../support/fake-kube-api.js';

// The fake is proved against two independent clients: kubectl (Go, client-go) and @kubernetes/client-node.

const KUBECTL = '/usr/bin/kubectl';
const NAMESPACE = 'backups';
const CONTAINER = 'postgres';
const BINARY_FILE_BYTES = 5_000_000;
const BACKPRESSURE_STREAM_BYTES = 64 * 1024 * 1024;
const BACKPRESSURE_BOUND_BYTES = 32 * 1024 * 1024;
const DROP_AFTER_BYTES = 256 * 1024;
const STALL_AFTER_BYTES = 64 * 1024;
const STATUS_DELAY_MS = 200;
const QUIET_PERIOD_MS = 150;
const POLL_INTERVAL_MS = 10;
const WAIT_LIMIT_MS = 5_000;

/** The slice of client-node's returned `ws` WebSocket these tests use (the package ships no types for it). */
interface ClientSocket {
  readonly protocol: string;
  pause(): void;
  resume(): void;
  terminate(): void;
  on(event: 'close', listener: (code: number) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** A plain `ws` client (no @types/ws in the project), for what client-node cannot do: choose the subprotocols. */
interface RawSocket {
  readonly protocol: string;
  on(event: 'message', listener: (data: Buffer) => void): unknown;
  on(event: 'close', listener: (code: number) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}
const RawWebSocket = createRequire(import.meta.url)('ws') as new (
  url: string,
  protocols: string[],
  options: { ca: string; headers: Record<string, string> },
) => RawSocket;

interface ClientExecResult {
  stdout: Buffer;
  stderr: string;
  status: V1Status | undefined;
  closeCode: number;
  protocol: string;
}

let fake: FakeKubeApi;
let scratch: string;
let binaryFile: string;
let binarySha256: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'fake-kube-api-test-'));
  binaryFile = path.join(scratch, 'dump.bin');
  const binary = randomBytes(BINARY_FILE_BYTES);
  binarySha256 = sha256(binary);
  await writeFile(binaryFile, binary);

  const container = { name: CONTAINER, ready: true, env: { PGUSER: 'backup' } };
  fake = await startFakeKubeApi({
    pods: [
      {
        namespace: NAMESPACE,
        name: 'postgres-0',
        labels: { app: 'postgres', role: 'primary' },
        phase: 'Running',
        containers: [container],
      },
      {
        namespace: NAMESPACE,
        name: 'postgres-1',
        labels: { app: 'postgres', role: 'replica' },
        phase: 'Running',
        containers: [container],
      },
      {
        namespace: NAMESPACE,
        name: 'redis-0',
        labels: { app: 'redis' },
        phase: 'Running',
        containers: [{ name: 'redis', ready: true }],
      },
      { namespace: NAMESPACE, name: 'starting-0', phase: 'Running', containers: [{ name: CONTAINER, ready: false }] },
      {
        namespace: NAMESPACE,
        name: 'flaky-0',
        phase: 'Running',
        containers: [container],
        faults: { dropAfterBytes: DROP_AFTER_BYTES },
      },
      {
        namespace: NAMESPACE,
        name: 'stuck-0',
        phase: 'Running',
        containers: [container],
        faults: { stallAfterBytes: STALL_AFTER_BYTES },
      },
      {
        namespace: NAMESPACE,
        name: 'quiet-0',
        phase: 'Running',
        containers: [container],
        faults: { omitStatus: true },
      },
      {
        namespace: NAMESPACE,
        name: 'slow-0',
        phase: 'Running',
        containers: [container],
        faults: { delayStatusMs: STATUS_DELAY_MS },
      },
    ],
  });
});

afterAll(async () => {
  await fake?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('kubectl exec against the fake', () => {
  it('passes stdout, stderr and the exit code through', async () => {
    const result = await runKubectl([
      'exec',
      'postgres-0',
      '-c',
      CONTAINER,
      '--',
      'sh',
      '-c',
      'printf hello; printf err >&2; exit 3',
    ]);

    expect(result.stdout.toString()).toBe('hello');
    expect(result.stderr).toContain('err');
    expect(result.exitCode).toBe(3);
  });

  it('streams 5 MB of binary stdout byte-identical', async () => {
    const result = await runKubectl(['exec', 'postgres-0', '-c', CONTAINER, '--', 'cat', binaryFile]);

    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBe(BINARY_FILE_BYTES);
    expect(sha256(result.stdout)).toBe(binarySha256);
  });

  it('delivers stdin and closes it with the v5 close frame', async () => {
    const result = await runKubectl(['exec', '-i', 'postgres-0', '-c', CONTAINER, '--', 'sha256sum'], binaryFile);

    expect(result.exitCode).toBe(0);
    expect(result.stdout.toString()).toContain(binarySha256);
    expect(latestExec().protocol).toBe('v5.channel.k8s.io');
  });

  it('reports the real API messages for an unknown pod and an unknown container', async () => {
    const unknownPod = await runKubectl(['exec', 'nope-0', '--', 'true']);
    const unknownContainer = await runKubectl(['exec', 'postgres-0', '-c', 'sidecar', '--', 'true']);

    expect(unknownPod.stderr).toContain('pods "nope-0" not found');
    expect(unknownContainer.stderr).toContain('container sidecar is not valid for pod postgres-0');
  });
});

describe('@kubernetes/client-node against the fake', () => {
  it('negotiates v5 and receives stdout identical to the source with a Success status', async () => {
    const result = await execWithClient('postgres-0', ['cat', binaryFile]);

    expect(result.protocol).toBe('v5.channel.k8s.io');
    expect(sha256(result.stdout)).toBe(binarySha256);
    expect(result.status).toEqual({ metadata: {}, status: 'Success' });
    expect(result.closeCode).toBe(1000);
  });

  it('reports a non-zero exit as NonZeroExitCode with an ExitCode cause', async () => {
    const result = await execWithClient('postgres-0', ['sh', '-c', 'printf "%s" "$PGUSER"; echo oops >&2; exit 7']);

    expect(result.stdout.toString()).toBe('backup');
    expect(result.stderr).toBe('oops\n');
    expect(result.status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '7' }] },
    });
  });

  it('reports a missing executable as InternalError without an exit code', async () => {
    const result = await execWithClient('postgres-0', ['no-such-binary']);

    expect(result.status).toMatchObject({ status: 'Failure', reason: 'InternalError' });
    expect(result.status?.message).toContain('exec: "no-such-binary": executable file not found in $PATH');
    expect(result.status?.details?.causes?.some((cause) => cause.reason === 'ExitCode')).toBe(false);
  });

  it('writes stdin to the process and closes it when the client stream ends', async () => {
    const input = randomBytes(300_000);

    const result = await execWithClient('postgres-0', ['cat'], input);

    expect(result.stdout.equals(input)).toBe(true);
    expect(result.status?.status).toBe('Success');
  });

  it('rejects exec into an unknown pod with 404 and into a not-ready container with 400', async () => {
    const exec = new Exec(fake.kubeConfig());
    const run = (pod: string) => exec.exec(NAMESPACE, pod, CONTAINER, ['true'], null, null, null, false);

    // The rejection is a ws ErrorEvent, not an Error: only its message says what happened.
    await expect(run('nope-0')).rejects.toMatchObject({ message: 'Unexpected server response: 404' });
    await expect(run('starting-0')).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
  });

  it('lists pods by label selector and rejects a malformed selector with 400', async () => {
    const core = fake.kubeConfig().makeApiClient(CoreV1Api);
    const names = async (labelSelector: string) =>
      (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector })).items.map((pod) => pod.metadata?.name);

    expect(await names('app=postgres,role!=replica')).toEqual(['postgres-0']);
    expect(await names('app==postgres')).toEqual(['postgres-0', 'postgres-1']);
    expect(await names('role')).toEqual(['postgres-0', 'postgres-1']);
    expect(await names('!role,app in (redis)')).toEqual(['redis-0']);
    const list = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: 'app=redis' });
    expect(list.items[0]?.status?.phase).toBe('Running');
    expect(list.items[0]?.status?.containerStatuses?.[0]).toMatchObject({ name: 'redis', ready: true });
    await expect(names('app=postgres=primary')).rejects.toMatchObject({ code: 400 });
  });

  it('answers 401 without a bearer token and never records the token', async () => {
    const anonymous = new KubeConfig();
    anonymous.loadFromOptions({
      clusters: [
        { name: 'fake', server: fake.url, caData: Buffer.from(fake.caPem).toString('base64'), skipTLSVerify: false },
      ],
      users: [{ name: 'anonymous' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'anonymous' }],
      currentContext: 'fake',
    });

    const failure = await anonymous
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: NAMESPACE })
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ApiException);
    expect(failure).toMatchObject({ code: 401 });
    expect(fake.requests.at(-1)?.headers.authorization).toBeUndefined();
    expect(JSON.stringify(fake.requests)).not.toContain(fake.token);
  });

  it('pauses the process while the client does not read, then delivers everything', async () => {
    const exec = new Exec(fake.kubeConfig());
    let received = 0;
    const stdout = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        received += chunk.length;
        done();
      },
    });
    let status: V1Status | undefined;
    const socket: ClientSocket = await exec.exec(
      NAMESPACE,
      'postgres-0',
      CONTAINER,
      ['head', '-c', String(BACKPRESSURE_STREAM_BYTES), '/dev/zero'],
      stdout,
      null,
      null,
      false,
      (value) => {
        status = value;
      },
    );
    socket.pause();
    const session = latestExec();

    const sentWhilePaused = await waitUntilStable(() => session.transferred.stdout);

    expect(sentWhilePaused).toBeLessThan(BACKPRESSURE_BOUND_BYTES);
    socket.resume();
    expect(await closeCodeOf(socket)).toBe(1000);
    expect(received).toBe(BACKPRESSURE_STREAM_BYTES);
    expect(status?.status).toBe('Success');
  });
});

describe('a raw ws client against the fake', () => {
  it('negotiates v4 when v5 is not offered and frames each stream with its channel byte', async () => {
    const result = await execWithRawSocket(
      ['v4.channel.k8s.io', 'v3.channel.k8s.io'],
      ['sh', '-c', 'printf out; printf err >&2'],
    );

    expect(result.protocol).toBe('v4.channel.k8s.io');
    expect(result.frames).toEqual([
      [1, 'out'],
      [2, 'err'],
      [3, '{"metadata":{},"status":"Success"}'],
    ]);
    expect(result.closeCode).toBe(1000);
  });

  it('refuses a client that offers neither v5 nor v4 with 400', async () => {
    await expect(execWithRawSocket(['v3.channel.k8s.io'], ['true'])).rejects.toThrow('Unexpected server response: 400');
  });
});

describe('fault injection', () => {
  it('dropAfterBytes cuts the connection with 1006 and no status', async () => {
    const result = await execWithClient('flaky-0', ['cat', binaryFile]);

    expect(result.closeCode).toBe(1006);
    expect(result.status).toBeUndefined();
    expect(result.stdout.length).toBeGreaterThan(0);
    expect(result.stdout.length).toBeLessThanOrEqual(DROP_AFTER_BYTES);
    await expect(latestExec().exited).resolves.toMatchObject({ signal: 'SIGKILL' });
  });

  it('stallAfterBytes keeps the socket open and silent; disconnecting kills the whole process group', async () => {
    const exec = new Exec(fake.kubeConfig());
    let received = 0;
    const stdout = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        received += chunk.length;
        done();
      },
    });
    const pidFile = path.join(scratch, 'producer.pid');
    // The background sleep writes nothing, so only a process-group kill (not SIGPIPE) can end it.
    const pipeline = ['sh', '-c', 'sleep 30 & echo $! > "$0"; cat /dev/zero', pidFile];
    const socket: ClientSocket = await exec.exec(NAMESPACE, 'stuck-0', CONTAINER, pipeline, stdout, null, null, false);
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    const session = latestExec();

    await waitFor(() => received === STALL_AFTER_BYTES, 'the bytes before the stall');
    await sleep(QUIET_PERIOD_MS);

    expect(received).toBe(STALL_AFTER_BYTES);
    expect(closed).toBe(false);
    socket.terminate();
    await expect(session.exited).resolves.toMatchObject({ signal: 'SIGKILL' });
    const grandchild = Number(await readFile(pidFile, 'utf8'));
    await waitFor(() => !isRunning(grandchild), `background process ${grandchild} to be killed`);
  });

  it('omitStatus closes normally without a status', async () => {
    const result = await execWithClient('quiet-0', ['printf', 'done']);

    expect(result.stdout.toString()).toBe('done');
    expect(result.closeCode).toBe(1000);
    expect(result.status).toBeUndefined();
  });

  it('delayStatusMs holds the status back after the output', async () => {
    const startedAt = Date.now();

    const result = await execWithClient('slow-0', ['printf', 'done']);

    expect(result.stdout.toString()).toBe('done');
    expect(result.status?.status).toBe('Success');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(STATUS_DELAY_MS);
  });
});

async function execWithClient(pod: string, command: string[], stdinBytes?: Buffer): Promise<ClientExecResult> {
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  const collect = (chunks: Buffer[]) =>
    new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        chunks.push(chunk);
        done();
      },
    });
  let status: V1Status | undefined;
  const stdin = stdinBytes ? Readable.from([stdinBytes]) : null;
  const socket: ClientSocket = await new Exec(fake.kubeConfig()).exec(
    NAMESPACE,
    pod,
    CONTAINER,
    command,
    collect(stdoutChunks),
    collect(stderrChunks),
    stdin,
    false,
    (value) => {
      status = value;
    },
  );
  const closeCode = await closeCodeOf(socket);
  return {
    stdout: Buffer.concat(stdoutChunks),
    stderr: Buffer.concat(stderrChunks).toString(),
    status,
    closeCode,
    protocol: socket.protocol,
  };
}

function closeCodeOf(socket: ClientSocket): Promise<number> {
  socket.on('error', () => {
    // A dropped connection also reports 'close' with 1006, which is what the tests look at.
  });
  return new Promise((resolve) => socket.on('close', resolve));
}

/** Opens the exec WebSocket with exactly the given subprotocols and collects every frame as [channel, text]. */
function execWithRawSocket(
  protocols: string[],
  command: string[],
): Promise<{ protocol: string; frames: [number, string][]; closeCode: number }> {
  const query = new URLSearchParams({ container: CONTAINER, stdout: 'true', stderr: 'true' });
  for (const part of command) query.append('command', part);
  const url = `${fake.url.replace('https:', 'wss:')}/api/v1/namespaces/${NAMESPACE}/pods/postgres-0/exec?${query}`;
  const socket = new RawWebSocket(url, protocols, {
    ca: fake.caPem,
    headers: { Authorization: `Bearer ${fake.token}` },
  });
  const frames: [number, string][] = [];
  socket.on('message', (data) => frames.push([data[0]!, data.subarray(1).toString()]));
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', (closeCode) => resolve({ protocol: socket.protocol, frames, closeCode }));
  });
}

interface KubectlResult {
  exitCode: number | null;
  stdout: Buffer;
  stderr: string;
}

function runKubectl(args: string[], stdinFile?: string): Promise<KubectlResult> {
  const child = spawn(
    KUBECTL,
    ['--kubeconfig', fake.kubeconfigPath, '--cache-dir', path.join(scratch, 'kube-cache'), '-n', NAMESPACE, ...args],
    {
      stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    },
  );
  if (stdinFile && child.stdin) createReadStream(stdinFile).pipe(child.stdin);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) =>
      resolve({ exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() }),
    );
  });
}

function latestExec(): ExecRecord {
  const exec = fake.execs.at(-1);
  if (!exec) throw new Error('fake-kube-api: no exec was recorded');
  return exec;
}

/** Polls `read` until it stops changing for QUIET_PERIOD_MS, and returns the settled value. */
async function waitUntilStable(read: () => number): Promise<number> {
  let previous = -1;
  let current = read();
  while (current !== previous) {
    previous = current;
    await sleep(QUIET_PERIOD_MS);
    current = read();
  }
  return current;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`fake-kube-api test: gave up waiting for ${what} after ${WAIT_LIMIT_MS} ms`);
    await sleep(POLL_INTERVAL_MS);
  }
}

/** True while `pid` exists and is not a zombie waiting for a reaper (containers' PID 1 may never reap). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
