import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOWNLOAD_CHUNK_BYTES } from '../../../src/lib/web/backup-download.ts';
import { jsonTextAnswer } from '../../../src/lib/web/http.ts';
import {
  DOWNLOAD_BUFFERS,
  GZIP_MIN_BYTES,
  sendAnswer,
  sendBackupFile,
  sendResponse,
} from '../../../src/lib/web/node-answers.ts';

/**
 * How the production server sends the answers of the routes it serves itself, over real loopback HTTP: a download
 * from the file through the reused buffers (more bytes than the buffers hold, ranges across their edges, a client
 * that leaves, a file that shrinks), and JSON, as a `Response` or as text with its head, as Next.js would have sent it
 * (gzip when accepted).
 */
const FILE_BYTES = DOWNLOAD_BUFFERS * DOWNLOAD_CHUNK_BYTES + 1_500_123;

let folder: string;
let filePath: string;
let bytes: Buffer;
let server: Server;
let baseUrl: string;
let handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
let handled: Promise<void>;

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'node-answers-'));
  filePath = path.join(folder, 'backup.dump');
  bytes = randomBytes(FILE_BYTES);
  await writeFile(filePath, bytes);
  server = createServer((req, res) => {
    handled = handle(req, res);
    handled.catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await rm(folder, { recursive: true, force: true });
});

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(init: { method?: string; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(baseUrl, { method: init.method ?? 'GET', headers: init.headers ?? {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** Serves bytes `start`..`end` of `file` (null: none, as for HEAD), and remembers the handle to check it closed. */
async function serveFile(file: string, range: { start: number; end: number } | null, status: 200 | 206 = 200) {
  const opened = await open(file);
  const length = range ? range.end - range.start + 1 : 0;
  handle = (_req, res) =>
    sendBackupFile(res, {
      status,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
      file: opened,
      bytes: range,
    });
  return opened;
}

describe('sendBackupFile', () => {
  it('sends every byte of a file larger than its buffers, then closes the file', async () => {
    const file = await serveFile(filePath, { start: 0, end: FILE_BYTES - 1 });
    const answer = await get();
    await handled;
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe(String(FILE_BYTES));
    expect(answer.body.equals(bytes)).toBe(true);
    expect(file.fd).toBe(-1);
  });

  it('sends a range across the edges of its buffers', async () => {
    const [start, end] = [DOWNLOAD_CHUNK_BYTES - 10, 2 * DOWNLOAD_CHUNK_BYTES + 10];
    await serveFile(filePath, { start, end }, 206);
    const answer = await get();
    expect(answer.status).toBe(206);
    expect(answer.body.equals(bytes.subarray(start, end + 1))).toBe(true);
  });

  it('sends an empty file, and a HEAD answer, with no body', async () => {
    const empty = path.join(folder, 'empty.dump');
    await writeFile(empty, '');
    const emptyFile = await serveFile(empty, { start: 0, end: -1 });
    const answer = await get();
    await handled;
    expect([answer.status, answer.headers['content-length'], answer.body.length, emptyFile.fd]).toEqual([
      200,
      '0',
      0,
      -1,
    ]);

    await serveFile(filePath, null);
    const head = await get({ method: 'HEAD' });
    expect([head.status, head.body.length]).toEqual([200, 0]);
  });

  it('closes the file when the client goes away mid-download, without failing', async () => {
    const file = await serveFile(filePath, { start: 0, end: FILE_BYTES - 1 });
    await new Promise<void>((resolve, reject) => {
      const outgoing = request(baseUrl, (response) => {
        response.once('data', () => {
          outgoing.destroy();
          resolve();
        });
      });
      outgoing.on('error', (error) => (outgoing.destroyed ? undefined : reject(error)));
      outgoing.end();
    });
    await expect(handled).resolves.toBeUndefined();
    expect(file.fd).toBe(-1);
  });

  it('fails, cutting the answer short, when the file ends before its bytes do', async () => {
    const shrinking = path.join(folder, 'shrinking.dump');
    await writeFile(shrinking, bytes);
    const file = await serveFile(shrinking, { start: 0, end: FILE_BYTES - 1 });
    await truncate(shrinking, DOWNLOAD_CHUNK_BYTES);
    await expect(get()).rejects.toThrow();
    await expect(handled).rejects.toThrow(/ended at byte/);
    expect(file.fd).toBe(-1);
  });
});

describe('sendResponse', () => {
  const big = { items: Array.from({ length: 40 }, (_, index) => ({ id: `r${index}`, note: 'x'.repeat(40) })) };
  const serveJson = (body: unknown, headers: Record<string, string> = {}) => {
    handle = (req, res) =>
      sendResponse(
        req,
        res,
        Response.json(body, { status: 200, headers: { 'cache-control': 'no-store', ...headers } }),
      );
  };

  it('gzips JSON for a client that accepts it, and says it varies by Accept-Encoding', async () => {
    serveJson(big);
    const answer = await get({ headers: { 'accept-encoding': 'gzip, br' } });
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(answer.headers.vary).toBe('Accept-Encoding');
    expect(answer.headers['content-length']).toBe(String(answer.body.length));
    expect(JSON.parse(gunzipSync(answer.body).toString('utf8'))).toEqual(big);
  });

  it('sends JSON as it is otherwise: no gzip accepted, or a body under the threshold', async () => {
    serveJson(big);
    const plain = await get();
    expect([plain.headers['content-encoding'], plain.headers['content-length']]).toEqual([
      undefined,
      String(plain.body.length),
    ]);
    expect(JSON.parse(plain.body.toString('utf8'))).toEqual(big);
    expect(plain.headers['cache-control']).toBe('no-store');

    serveJson({ error: 'small' });
    const small = await get({ headers: { 'accept-encoding': 'gzip' } });
    expect(small.body.length).toBeLessThan(GZIP_MIN_BYTES);
    expect([small.headers['content-encoding'], small.body.toString('utf8')]).toEqual([undefined, '{"error":"small"}']);
  });

  it('keeps every cookie, and sends a HEAD answer its length without the body', async () => {
    handle = (req, res) => {
      const headers = new Headers({ 'content-type': 'text/plain' });
      headers.append('set-cookie', 'a=1; Path=/');
      headers.append('set-cookie', 'b=2; Path=/');
      return sendResponse(req, res, new Response('hello', { status: 201, headers }));
    };
    const answer = await get();
    expect([answer.status, answer.headers['set-cookie'], answer.body.toString('utf8')]).toEqual([
      201,
      ['a=1; Path=/', 'b=2; Path=/'],
      'hello',
    ]);
    const head = await get({ method: 'HEAD' });
    expect([head.headers['content-length'], head.body.length]).toEqual(['5', 0]);
  });
});

describe('sendAnswer of JSON text', () => {
  const text = JSON.stringify({ items: Array.from({ length: 200 }, (_, index) => ({ id: `r${index}` })) });

  it('sends the text with its status and head as its Response would have been sent, gzip and HEAD alike', async () => {
    // The same answer as plain data and as the Response a route handler makes of it (a new one per request).
    const answers = [() => jsonTextAnswer(text), () => new Response(text, jsonTextAnswer(text))];
    const received = [];
    for (const answer of answers) {
      handle = (req, res) => sendAnswer(req, res, answer());
      const plain = await get();
      const zipped = await get({ headers: { 'accept-encoding': 'gzip' } });
      const head = await get({ method: 'HEAD' });
      expect(plain.body.toString('utf8')).toBe(text);
      expect(gunzipSync(zipped.body).toString('utf8')).toBe(text);
      expect(head.body.length).toBe(0);
      const { date: _plainDate, ...plainHead } = plain.headers;
      const { date: _zippedDate, ...zippedHead } = zipped.headers;
      received.push({ status: plain.status, plainHead, zippedHead, headLength: head.headers['content-length'] });
    }
    expect(received[0]).toEqual(received[1]);
    expect(received[0]?.plainHead).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      vary: 'Accept-Encoding',
      'content-length': String(Buffer.byteLength(text)),
    });
    expect(received[0]?.zippedHead['content-encoding']).toBe('gzip');
  });
});
