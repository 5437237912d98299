import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTestTls, type TestTlsMaterial } from '../../../src/dev/local-cluster/tls.ts';
import { openExecSocket } from '../../../src/lib/kube/exec-socket.ts';

/**
 * The exec WebSocket as the API server receives it: a server that answers the upgrade by hand and keeps the raw bytes
 * of the first client frame, so the masking key and the extensions offered are what went over the wire.
 */
interface Received {
  headers: http.IncomingHttpHeaders;
  maskKey: Buffer;
  payload: Buffer;
}

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const PAYLOAD = Buffer.from('\u0000stdin bytes of a restore');

function acceptUpgrade(request: http.IncomingMessage, socket: Duplex, received: (value: Received) => void): void {
  const accept = createHash('sha1').update(`${request.headers['sec-websocket-key']}${WEBSOCKET_GUID}`).digest('base64');
  socket.write(
    [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${accept}`,
      'Sec-WebSocket-Protocol: v5.channel.k8s.io',
      '',
      '',
    ].join('\r\n'),
  );
  let bytes = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    bytes = Buffer.concat([bytes, chunk]);
    // A short frame: 2 header bytes (FIN + opcode, MASK + length), 4 bytes of masking key, the payload.
    if (bytes.length < 6) return;
    const length = bytes[1]! & 0x7f;
    if (bytes.length < 6 + length) return;
    expect(bytes[1]! & 0x80).toBe(0x80);
    const maskKey = bytes.subarray(2, 6);
    const payload = Buffer.from(bytes.subarray(6, 6 + length).map((byte, index) => byte ^ maskKey[index % 4]!));
    received({ headers: request.headers, maskKey: Buffer.from(maskKey), payload });
    socket.destroy();
  });
}

async function sendOneFrame(secure: boolean): Promise<Received> {
  let resolveReceived: (value: Received) => void = () => {};
  const arrived = new Promise<Received>((resolve) => (resolveReceived = resolve));
  const server = secure ? https.createServer({ cert: tls.certPem, key: tls.keyPem }) : http.createServer();
  server.on('upgrade', (request, socket) => acceptUpgrade(request, socket, resolveReceived));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const socket = openExecSocket(`${secure ? 'wss' : 'ws'}://127.0.0.1:${port}/exec`, ['v5.channel.k8s.io'], {
      ...(secure ? { ca: tls.caPem } : {}),
    });
    socket.on('error', () => {});
    socket.on('open', () => socket.send(PAYLOAD, { binary: true }));
    return await arrived;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

let folder: string;
let tls: TestTlsMaterial;

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'exec-socket-'));
  tls = await generateTestTls(folder);
});
afterAll(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('the WebSocket an exec opens', () => {
  it('over TLS, masks frames with a zero key: the payload goes out as it is, with the mask bit set', async () => {
    const received = await sendOneFrame(true);

    expect([...received.maskKey]).toEqual([0, 0, 0, 0]);
    expect(received.payload).toEqual(PAYLOAD);
  });

  it('over plain HTTP, keeps a random masking key (tenant bytes must not reach a proxy in the clear)', async () => {
    const keys = [await sendOneFrame(false), await sendOneFrame(false)];

    for (const received of keys) {
      expect(received.payload).toEqual(PAYLOAD);
      expect(received.maskKey.readUInt32BE(0)).not.toBe(0);
    }
    expect(keys[0]!.maskKey).not.toEqual(keys[1]!.maskKey);
  });

  it('offers no compression extension, on either kind of connection', async () => {
    for (const secure of [true, false]) {
      const received = await sendOneFrame(secure);

      expect(received.headers['sec-websocket-extensions']).toBeUndefined();
      expect(received.headers['sec-websocket-protocol']).toBe('v5.channel.k8s.io');
    }
  });
});
