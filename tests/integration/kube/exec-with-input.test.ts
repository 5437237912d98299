import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openExecSocket } from '../../../src/lib/kube/exec-socket.ts';
import { execWithInput, STDIN_HIGH_WATER_BYTES } from '../../../src/lib/kube/exec-with-input.ts';
import { createKubeClients } from '../../../src/lib/kube/kube-clients.ts';
import { DEFAULT_WORKSPACE_LABEL } from '../../../src/lib/kube/pod-resolver.ts';
import { runDataImport } from '../../../src/lib/restore/data-import.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { formatSidecar } from '../../../src/lib/storage/backup-path.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../support/fake-kube-api.ts';

/**
 * The end of a restore's stdin stream against the fake API server, through the real client. When a stdin frame fills
 * the pod's pipe the fake pauses its socket until the pipe drains; if the close-stdin frame was already read, the pipe
 * is ended first, and an ended pipe never emits 'drain'. The fake must read its socket again once the command has
 * exited, or the client's answer to its close frame is never read and the exec hangs for ws's 30 s close timeout
 * (restores took 30 s longer; `npm run bench:restore` showed 100 MB in 31 s instead of 1.5 s).
 */
const FILE_BYTES = 64 * 1024 * 1024;
/** Far below ws's 30 s close timeout, far above what the import needs (about a second). */
const TIME_LIMIT_MS = 15_000;

let fake: FakeKubeApi;
let folder: string;
let file: string;
let sha256: string;

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'exec-stdin-end-'));
  file = path.join(folder, 'dump.rdb');
  const contents = randomBytes(FILE_BYTES);
  sha256 = createHash('sha256').update(contents).digest('hex');
  await writeFile(file, contents);
  await writeFile(`${file}.sha256`, formatSidecar(sha256, 'dump.rdb'));
  fake = await startFakeKubeApi({
    pods: [
      {
        namespace: 'apps',
        name: 'db-0',
        labels: { 'app.kubernetes.io/instance': 'db', [DEFAULT_WORKSPACE_LABEL]: 'wsimport' },
        phase: 'Running',
        containers: [{ name: 'db', ready: true, env: {} }],
      },
    ],
  });
});
afterAll(async () => {
  await fake?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('a restore whose input ends while the pod pipe is full', () => {
  it.each([1, 2, 3])(
    'finishes with the exit status and a clean close, well within the time limit (run %i)',
    async () => {
      const result = await runDataImport(
        createKubeClients(fake.kubeConfig()),
        {
          workspaceId: 'wsimport',
          namespace: 'apps',
          podSelector: null,
          deploymentName: 'db',
          container: 'db',
          command: ['sh', '-c', 'cat > /dev/null; echo read-all'],
          source: { path: file, sha256, encoding: { compression: 'none', encrypted: false } },
          timeoutMs: TIME_LIMIT_MS,
        },
        createLogger({ level: 'silent' }),
      );
      expect(result).toMatchObject({ bytesSent: FILE_BYTES });
    },
  );
});

describe('the stdin stream of a restore', () => {
  function importInto(command: string[], options: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {}) {
    return runDataImport(
      createKubeClients(fake.kubeConfig()),
      {
        workspaceId: 'wsimport',
        namespace: 'apps',
        podSelector: null,
        deploymentName: 'db',
        container: 'db',
        command,
        source: { path: file, sha256, encoding: { compression: 'none', encrypted: false } },
        timeoutMs: TIME_LIMIT_MS,
        ...options,
      },
      createLogger({ level: 'silent' }),
    );
  }

  it('delivers exactly the bytes of the file, in order, to the command', async () => {
    const result = await importInto(['sha256sum']);

    expect(result).toMatchObject({ bytesSent: FILE_BYTES, stdout: `${sha256}  -\n` });
  });

  it('fails as IncompleteInput, without waiting for the time limit, when the command exits before reading it all', async () => {
    const error = await importInto(['head', '-c', '1048576']).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ kind: 'IncompleteInput' });
    expect((error as { bytesSent: number }).bytesSent).toBeLessThan(FILE_BYTES);
  });

  it('stops as Aborted while it holds the input back for a command that reads nothing', async () => {
    const controller = new AbortController();
    // Once the send queue is past its high-water mark the stream waits for the socket; the abort comes during that.
    const onProgress = (bytes: number) => {
      if (bytes > STDIN_HIGH_WATER_BYTES) setImmediate(() => controller.abort());
    };
    const error = await importInto(['sleep', '60'], { signal: controller.signal, onProgress }).catch(
      (caught: unknown) => caught,
    );

    expect(error).toMatchObject({ kind: 'Aborted', direction: 'import' });
  });
});

describe('stdin frames made from reused buffers', () => {
  /** Chunks of varied sizes, all views of one buffer the source overwrites for each (as a file reader does). */
  async function* chunksOfOneBuffer(sizes: number[], rounds: number, hash: ReturnType<typeof createHash>) {
    const buffer = Buffer.allocUnsafe(Math.max(...sizes));
    let fill = 0;
    for (let round = 0; round < rounds; round += 1)
      for (const size of sizes) {
        const chunk = buffer.subarray(0, size);
        for (let index = 0; index < size; index += 1) chunk[index] = (fill + index * 7) & 0xff;
        fill += 1;
        hash.update(chunk);
        yield chunk;
      }
  }

  it('deliver every chunk exactly, whatever the sizes before and after it', async () => {
    const clients = createKubeClients(fake.kubeConfig());
    // Large and small frames in turn: a frame that reuses a larger buffer must not send its stale tail.
    const sizes = [300 * 1024, 1, 65_536, 7, 1024 * 1024, 256 * 1024 + 1, 13];
    const hash = createHash('sha256');
    const result = await execWithInput(clients.exec, {
      namespace: 'apps',
      pod: 'db-0',
      container: 'db',
      command: ['sha256sum'],
      input: chunksOfOneBuffer(sizes, 12, hash),
      timeoutMs: TIME_LIMIT_MS,
      redact: (text) => text,
    });

    const expectedBytes = 12 * sizes.reduce((sum, size) => sum + size, 0);
    expect(result).toMatchObject({ bytesSent: expectedBytes, stdout: `${hash.digest('hex')}  -\n` });
  });

  it('go out on the WebSocket the exec client opens with our options', () => {
    const { exec } = createKubeClients(fake.kubeConfig());

    expect((exec.handler as { socketFactory?: unknown }).socketFactory).toBe(openExecSocket);
  });
});

/** The stall limit of the tests below: far below their time limit, which must not be what ends them. */
const STALL_MS = 500;
const SILENT_WORK_SECONDS = 1.5;

describe('the stall watchdog of a restore', () => {
  function importWith(command: string[]) {
    return runDataImport(
      createKubeClients(fake.kubeConfig()),
      {
        workspaceId: 'wsimport',
        namespace: 'apps',
        podSelector: null,
        deploymentName: 'db',
        container: 'db',
        command,
        source: { path: file, sha256, encoding: { compression: 'none', encrypted: false } },
        timeoutMs: TIME_LIMIT_MS,
        stallMs: STALL_MS,
      },
      createLogger({ level: 'silent' }),
    );
  }

  it('stops a command that takes no more input as Stalled, long before the time limit', async () => {
    const started = Date.now();
    // Reads 1 MiB, then hangs without reading: the pipe, the socket and the send queue fill up and nothing moves.
    const error = await importWith(['sh', '-c', 'head -c 1048576 > /dev/null; sleep 60']).catch((caught) => caught);

    expect(error).toMatchObject({ kind: 'Stalled', direction: 'import', stallMs: STALL_MS });
    expect((error as Error).message).toContain(`took no input for ${STALL_MS} ms`);
    // Held back by the send queue's high-water mark: what was sent is what the command, the pipe, the fake and the
    // sockets took, plus that queue, far from the whole file.
    expect((error as { bytes: number }).bytes).toBeLessThan(FILE_BYTES / 2);
    expect(Date.now() - started).toBeLessThan(TIME_LIMIT_MS / 2);
  });

  it('lets a command work silently once it has read all its input', async () => {
    const result = await importWith(['sh', '-c', `cat > /dev/null; sleep ${SILENT_WORK_SECONDS}; echo done`]);

    expect(result).toMatchObject({ bytesSent: FILE_BYTES, stdout: 'done\n' });
  });
});
