/**
 * Request bodies with a size limit, whatever the framework does: a declared `Content-Length` over the limit is
 * refused before a byte is read, and a body without one (chunked) is read only up to the limit, then cancelled. The
 * caller gets the bytes or the 413 to send. Every route that reads a body goes through here, so no request can make
 * the server hold more than the limit (a 256 MiB sign-in body used to grow the server by ~760 MiB).
 */
import { problem } from './http.ts';

/** Largest body a JSON or form request of ours may carry by default: far above any real sign-in or confirmation. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Largest body the web server lets through to any route at all (the prune confirmation is the largest route limit). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** What reading a body gave: its bytes, or the answer that ends the request (413, or 400 for a bad length). */
export type BodyRead = { ok: true; bytes: Uint8Array } | { ok: false; response: Response };

/** Reads `request`'s body, at most `limit` bytes (see the module comment). An absent body reads as empty. */
export async function readBoundedBody(request: Request, limit: number = MAX_BODY_BYTES): Promise<BodyRead> {
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    if (!/^\d{1,16}$/.test(declared.trim())) {
      await request.body?.cancel().catch(() => undefined);
      return { ok: false, response: problem(400, 'Content-Length must be a number of bytes') };
    }
    if (Number(declared) > limit) {
      await request.body?.cancel().catch(() => undefined);
      return { ok: false, response: tooLarge(limit) };
    }
  }
  if (!request.body) return { ok: true, bytes: new Uint8Array(0) };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return { ok: false, response: tooLarge(limit) };
    }
    chunks.push(value);
  }
  return { ok: true, bytes: Buffer.concat(chunks, total) };
}

/** The bytes as JSON (UTF-8), or not ok when they are not JSON (the caller says what it expected). */
export function parseJsonBytes(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

/** The 413 for a body over `limit` bytes. */
function tooLarge(limit: number): Response {
  return problem(413, `the request body is larger than ${limit} bytes`);
}
