import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeApi, type FakeKubeApi } from '../../support/fake-kube-api.js';

// How the fake cuts stdout into frames: like the kubelet's copy loop, whatever arrives while a frame is being written
// goes into the next one, and no frame carries more than 32 KiB.

const NAMESPACE = 'framing';
const CONTAINER = 'db';
const FRAME_PAYLOAD_LIMIT_BYTES = 32 * 1024;
const FILE_BYTES = 8 * 1024 * 1024;
const DROP_AFTER_BYTES = 100_000;
/** Long enough for the pipe and the socket buffers to fill while the client does not read. */
const PAUSE_MS = 300;

interface RawSocket {
  pause(): void;
  resume(): void;
  on(event: 'message', listener: (data: Buffer) => void): unknown;
  on(event: 'close', listener: (code: number) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}
const RawWebSocket = createRequire(import.meta.url)('ws') as new (
  url: string,
  protocols: string[],
  options: { ca: string; headers: Record<string, string> },
) => RawSocket;

let fake: FakeKubeApi;
let scratch: string;
let file: string;
let fileSha256: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'fake-kube-framing-'));
  file = path.join(scratch, 'dump.bin');
  const contents = randomBytes(FILE_BYTES);
  fileSha256 = createHash('sha256').update(contents).digest('hex');
  await writeFile(file, contents);
  const container = { name: CONTAINER, ready: true };
  fake = await startFakeKubeApi({
    pods: [
      { namespace: NAMESPACE, name: 'db-0', phase: 'Running', containers: [container] },
      {
        namespace: NAMESPACE,
        name: 'flaky-0',
        phase: 'Running',
        containers: [container],
        faults: { dropAfterBytes: DROP_AFTER_BYTES },
      },
    ],
  });
});

afterAll(async () => {
  await fake?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Runs `command` with a plain ws client that reads nothing for `pauseMs` at first; returns every frame. */
function execFrames(pod: string, command: string[], pauseMs: number): Promise<{ frames: Buffer[]; closeCode: number }> {
  const query = new URLSearchParams({ container: CONTAINER, stdout: 'true', stderr: 'true' });
  for (const part of command) query.append('command', part);
  const url = `${fake.url.replace('https:', 'wss:')}/api/v1/namespaces/${NAMESPACE}/pods/${pod}/exec?${query}`;
  const socket = new RawWebSocket(url, ['v5.channel.k8s.io'], {
    ca: fake.caPem,
    headers: { Authorization: `Bearer ${fake.token}` },
  });
  const frames: Buffer[] = [];
  socket.on('message', (data) => frames.push(data));
  socket.pause();
  void sleep(pauseMs).then(() => socket.resume());
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', (closeCode) => resolve({ frames, closeCode }));
  });
}

const stdoutOf = (frames: Buffer[]) =>
  Buffer.concat(frames.filter((frame) => frame[0] === 1).map((frame) => frame.subarray(1)));

describe('stdout framing', () => {
  it('coalesces what arrived meanwhile into frames of at most 32 KiB, in order, before the status', async () => {
    const { frames, closeCode } = await execFrames('db-0', ['cat', file], PAUSE_MS);

    const stdoutFrames = frames.filter((frame) => frame[0] === 1);
    const payloadSizes = stdoutFrames.map((frame) => frame.length - 1);
    expect(Math.max(...payloadSizes)).toBe(FRAME_PAYLOAD_LIMIT_BYTES);
    expect(payloadSizes.every((size) => size > 0)).toBe(true);
    expect(createHash('sha256').update(stdoutOf(frames)).digest('hex')).toBe(fileSha256);
    expect(frames.at(-1)?.[0]).toBe(3);
    expect(JSON.parse(frames.at(-1)!.subarray(1).toString())).toEqual({ metadata: {}, status: 'Success' });
    expect(closeCode).toBe(1000);
  });

  it('sends a small output at once, without waiting for more', async () => {
    const { frames } = await execFrames('db-0', ['sh', '-c', 'printf first; sleep 0.2; printf second'], 0);

    expect(frames.map((frame) => [frame[0], frame.subarray(1).toString()])).toEqual([
      [1, 'first'],
      [1, 'second'],
      [3, '{"metadata":{},"status":"Success"}'],
    ]);
  });

  it('dropAfterBytes still cuts after exactly that many bytes of stdout', async () => {
    const { frames, closeCode } = await execFrames('flaky-0', ['cat', file], PAUSE_MS);

    expect(closeCode).toBe(1006);
    expect(frames.every((frame) => frame[0] === 1)).toBe(true);
    expect(fake.execs.at(-1)?.transferred.stdout).toBe(DROP_AFTER_BYTES);
    expect(stdoutOf(frames).length).toBeLessThanOrEqual(DROP_AFTER_BYTES);
  });
});
