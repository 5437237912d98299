import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Exec } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClientNode } from '../../../src/lib/kube/client-node.ts';
import { openExecSocket, stdoutTapOf } from '../../../src/lib/kube/exec-socket.ts';
import { execToStream } from '../../../src/lib/kube/exec-stream.ts';
import { execWithInput } from '../../../src/lib/kube/exec-with-input.ts';
import { loadKubeConfig } from '../../../src/lib/kube/kube-clients.ts';
import { sha256, slowDestination } from '../../support/export-fixtures.ts';
import { startFakeKubeApi, type FakeKubeApi, type FakePod } from '../../support/fake-kube-api.ts';

// Exports read stdout off the connection through the tap (exec-stdout-tap.ts), not through ws and client-node: the
// real client library against the fake API server, whose frames ws itself writes. These tests hold the tap to
// delivering every byte in order, with backpressure, and to standing aside (stdout then comes through client-node)
// when the server fragments its messages or a proxy's agent makes the connection.

const NAMESPACE = 'tap';
const BYTES = 24 * 1024 * 1024;
const FRAGMENT_FROM_BYTES = 4 * 1024 * 1024;
const TIMEOUT_MS = 60_000;
/** The slow destination's buffer and its delay per write: about 10 MB/s, far slower than the server. */
const SLOW_HIGH_WATER_MARK = 64 * 1024;
const SLOW_DELAY_MS = 2;
/** The server's send queue (4 MiB) plus the socket buffers on both sides: what may be in flight when paused. */
const MAX_LAG_BYTES = 16 * 1024 * 1024;

let fake: FakeKubeApi;
let payload: Buffer;
let payloadFile: string;

function pod(name: string, faults: FakePod['faults'] = undefined): FakePod {
  return {
    namespace: NAMESPACE,
    name,
    labels: { 'app.kubernetes.io/instance': name.replace(/-\d+$/, '') },
    phase: 'Running',
    containers: [{ name: 'main', ready: true }],
    ...(faults ? { faults } : {}),
  };
}

/** An Exec as `createKubeClients` makes it, with the sockets it opens recorded (`agent` replaces client-node's). */
function recordingExec(agent?: (options: https.AgentOptions) => https.Agent): { exec: Exec; sockets: WebSocket[] } {
  const { Exec: ExecClass, WebSocketHandler } = loadClientNode();
  const kubeConfig = loadKubeConfig({ kubeconfigPath: fake.kubeconfigPath });
  const sockets: WebSocket[] = [];
  const handler = new WebSocketHandler(kubeConfig, (uri, protocols, options) => {
    const socket = openExecSocket(
      uri,
      protocols,
      agent ? { ...options, agent: agent(options as https.AgentOptions) } : options,
    );
    sockets.push(socket);
    return socket;
  });
  return { exec: new ExecClass(kubeConfig, handler), sockets };
}

/** Streams the payload file out of `podName` into a slow destination; the lag the server ran ahead by, at most. */
async function exportPayload(exec: Exec, podName: string): Promise<{ sha256: string; bytes: number; maxLag: number }> {
  let maxLag = 0;
  const destination = slowDestination({
    highWaterMark: SLOW_HIGH_WATER_MARK,
    delayMs: SLOW_DELAY_MS,
    beforeWrite: (accepted) => {
      maxLag = Math.max(maxLag, (fake.execs.at(-1)?.transferred.stdout ?? 0) - accepted);
    },
  });
  const result = await execToStream(exec, {
    namespace: NAMESPACE,
    pod: podName,
    container: 'main',
    command: ['cat', payloadFile],
    destination: destination.stream,
    timeoutMs: TIMEOUT_MS,
    redact: (text) => text,
  });
  destination.stream.end();
  await finished(destination.stream);
  expect(destination.accepted()).toBe(result.bytes);
  return { sha256: destination.sha256(), bytes: result.bytes, maxLag };
}

beforeAll(async () => {
  payload = randomBytes(BYTES);
  fake = await startFakeKubeApi({
    pods: [pod('plain-db-0'), pod('fragmenting-db-0', { fragmentStdoutFromBytes: FRAGMENT_FROM_BYTES })],
  });
  payloadFile = `${fake.kubeconfigPath}.payload`;
  await writeFile(payloadFile, payload);
});

afterAll(async () => {
  await fake?.close();
});

describe('the stdout tap of an export', { timeout: TIMEOUT_MS }, () => {
  it('carries every stdout byte, in order, with backpressure from a slow destination', async () => {
    const { exec, sockets } = recordingExec();

    const result = await exportPayload(exec, 'plain-db-0');

    expect(result.bytes).toBe(BYTES);
    expect(result.sha256).toBe(sha256(payload));
    expect(sockets).toHaveLength(1);
    const tap = stdoutTapOf(sockets[0]!);
    expect(tap).toBeDefined();
    expect(tap!.standingAside).toBe(false);
    expect(tap!.stdoutBytes).toBe(BYTES);
    expect(result.maxLag).toBeGreaterThan(0);
    expect(result.maxLag).toBeLessThan(MAX_LAG_BYTES);
  });

  it('stands aside when the server fragments a stdout message: the rest comes through client-node, still whole and in order, still with backpressure', async () => {
    const { exec, sockets } = recordingExec();

    const result = await exportPayload(exec, 'fragmenting-db-0');

    expect(result.bytes).toBe(BYTES);
    expect(result.sha256).toBe(sha256(payload));
    const tap = stdoutTapOf(sockets[0]!)!;
    expect(tap.standingAside).toBe(true);
    // Whole frames up to the first fragmented one; the server frames what it has, at most 32 KiB at a time.
    expect(tap.stdoutBytes).toBeGreaterThanOrEqual(FRAGMENT_FROM_BYTES);
    expect(tap.stdoutBytes).toBeLessThan(FRAGMENT_FROM_BYTES + 32 * 1024);
    expect(result.maxLag).toBeLessThan(MAX_LAG_BYTES);
  });

  it('is not put on a connection a proxy agent makes: stdout then comes through client-node, whole', async () => {
    class TunnellingAgent extends https.Agent {}
    const { exec, sockets } = recordingExec((options) => new TunnellingAgent(options));

    const result = await exportPayload(exec, 'plain-db-0');

    expect(result.bytes).toBe(BYTES);
    expect(result.sha256).toBe(sha256(payload));
    expect(stdoutTapOf(sockets[0]!)).toBeUndefined();
  });

  it('hands a restore command its stdout too (a count command)', async () => {
    const { exec, sockets } = recordingExec();
    const input = randomBytes(3 * 1024 * 1024);

    const result = await execWithInput(exec, {
      namespace: NAMESPACE,
      pod: 'plain-db-0',
      container: 'main',
      command: ['wc', '-c'],
      input: Readable.from([input.subarray(0, 1024 * 1024), input.subarray(1024 * 1024)]),
      timeoutMs: TIMEOUT_MS,
      redact: (text) => text,
    });

    expect(result.stdout.trim()).toBe(String(input.length));
    expect(stdoutTapOf(sockets[0]!)!.stdoutBytes).toBe(result.stdout.length);
  });
});
