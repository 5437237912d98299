/**
 * Sending an endpoint's answer over node:http, for the routes our production server answers without Next.js
 * (direct-routes.ts): a `Response` with a small body (JSON), or a backup file straight from its file handle. What
 * Next.js adds to such answers and a client can tell is kept: JSON is gzipped for a client that accepts it (and says
 * `Vary: Accept-Encoding`), a HEAD gets no body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { type BackupFileAnswer, DOWNLOAD_CHUNK_BYTES } from './backup-download.ts';
import type { JsonTextAnswer } from './http.ts';

const gzipAsync = promisify(gzip);

/** Bodies shorter than this go uncompressed: gzip would save next to nothing (the `compression` middleware's 1 KiB). */
export const GZIP_MIN_BYTES = 1024;

/**
 * True when an `Accept-Encoding` header accepts gzip: `gzip` (or `*`, unless gzip itself is refused) with a non-zero
 * q-value (RFC 9110 §12.5.3). Pure.
 */
export function acceptsGzip(header: string | undefined): boolean {
  let wildcard = false;
  for (const entry of (header ?? '').split(',')) {
    const [coding = '', ...parameters] = entry.split(';').map((part) => part.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    const accepted = q === undefined || Number(q.slice(2)) > 0;
    if (coding === 'gzip' || coding === 'x-gzip') return accepted;
    if (coding === '*') wildcard = accepted;
  }
  return wildcard;
}

/**
 * Writes `answer` to `req`: a `Response` (see {@link sendResponse}), or JSON text with its status and headers as
 * plain data, sent without building a `Response` (constructing one and reading its body back was about a fifth of
 * the server's own CPU per history request).
 */
export async function sendAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  answer: Response | JsonTextAnswer,
): Promise<void> {
  if (answer instanceof Response) return sendResponse(req, res, answer);
  res.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  await sendBody(req, res, Buffer.from(answer.text), answer.headers['content-type']);
}

/** Writes `response` (status, headers, its body read whole) as the answer to `req`. */
export async function sendResponse(req: IncomingMessage, res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  for (const [name, value] of response.headers) if (name !== 'set-cookie') res.setHeader(name, value);
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  const body = Buffer.from(await response.arrayBuffer());
  await sendBody(req, res, body, response.headers.get('content-type') ?? undefined);
}

/** The body of an answer whose status and headers are set: JSON gzipped for a client that takes it; none for HEAD. */
async function sendBody(
  req: IncomingMessage,
  res: ServerResponse,
  bytes: Buffer,
  contentType: string | undefined,
): Promise<void> {
  let body = bytes;
  if (contentType?.startsWith('application/json')) {
    res.setHeader('vary', 'Accept-Encoding');
    const encoding = req.headers['accept-encoding'];
    if (body.length >= GZIP_MIN_BYTES && acceptsGzip(Array.isArray(encoding) ? encoding.join(',') : encoding)) {
      body = await gzipAsync(body);
      res.setHeader('content-encoding', 'gzip');
    }
  }
  res.setHeader('content-length', body.length);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Buffers a download cycles through: one is filled from the file while the other is written to the socket. */
export const DOWNLOAD_BUFFERS = 2;

/**
 * Sends a download: its head, then the file's bytes, read into a few buffers that are reused once the socket has
 * taken them. A read stream allocates a new buffer per chunk instead, and that 1 GiB of garbage per GiB sent made V8
 * run a full mark-compact of this process's heap (hundreds of MiB: Next.js, Prisma) every 64 MiB: 18 per GiB, about a
 * third of the time of a download. The file is closed when its bytes are read, or when the client goes away (not a
 * failure); a read that fails rejects, and the client sees the connection cut short of the `Content-Length`.
 */
export async function sendBackupFile(res: ServerResponse, answer: BackupFileAnswer): Promise<void> {
  res.writeHead(answer.status, answer.headers);
  const { file, bytes } = answer;
  if (!bytes) {
    res.end();
    return;
  }
  const buffers = Array.from({ length: DOWNLOAD_BUFFERS }, () => Buffer.allocUnsafeSlow(DOWNLOAD_CHUNK_BYTES));
  // Per buffer: its last write, settled once the socket took it (with the error if the connection was gone).
  const written: Array<Promise<Error | null | undefined>> = [];
  const closed = new Promise<Error>((resolve) => res.once('close', () => resolve(new Error('connection closed'))));
  try {
    let position = bytes.start;
    for (let turn = 0; position <= bytes.end; turn = (turn + 1) % DOWNLOAD_BUFFERS) {
      if ((await Promise.race([written[turn], closed])) || res.destroyed) return;
      const buffer = buffers[turn]!;
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, bytes.end - position + 1), position);
      if (bytesRead === 0) throw new Error(`the file ended at byte ${position}, before byte ${bytes.end}`);
      position += bytesRead;
      const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      written[turn] = new Promise((resolve) => res.write(chunk, resolve));
    }
    res.end();
  } finally {
    await file.close();
  }
}
