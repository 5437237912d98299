/**
 * `Content-Length` through Next.js. Next 16 drops the `Content-Length` (and `Content-Encoding`, `Transfer-Encoding`)
 * of every route-handler response (`FORBIDDEN_HEADERS` in next/dist/server/send-response.js) and streams the body
 * chunked. A route that knows its exact length (a file download) therefore also declares it in
 * `X-Ops-Content-Length`, which Next passes through like any other header, and our web server (src/web-server.ts)
 * turns it back into `Content-Length` when the head is written.
 */
import type { OutgoingHttpHeader, ServerResponse } from 'node:http';

/** The private header carrying a route's exact body length past Next.js; never sent to a client by our server. */
export const DECLARED_LENGTH_HEADER = 'x-ops-content-length';

/** The headers that state a body of `length` bytes: `Content-Length`, and its copy for our server. */
export function declaredLength(length: number): Record<string, string> {
  return { 'content-length': String(length), [DECLARED_LENGTH_HEADER]: String(length) };
}

/**
 * Makes `res` send a declared length as `Content-Length`. Next copies a route's headers onto `res` with
 * `res.setHeader` (never `appendHeader`) and sends the head implicitly: its first `res.write`, `res.flushHeaders` or
 * `res.end` makes Node call `res.writeHead(status)` with no headers argument, so the declared length is read from the
 * headers already set, at that moment. A response Next (or its compression) encodes or frames itself keeps its own
 * framing; the private header is removed either way.
 */
export function restoreDeclaredLength(res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const declared = singleValue(this.getHeader(DECLARED_LENGTH_HEADER));
    if (declared !== undefined) {
      this.removeHeader(DECLARED_LENGTH_HEADER);
      const framed =
        this.hasHeader('content-length') || this.hasHeader('content-encoding') || this.hasHeader('transfer-encoding');
      if (!framed && /^\d{1,16}$/.test(declared)) this.setHeader('content-length', declared);
    }
    return (writeHead as (...all: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/** A header's value as one string; undefined when it is missing or repeated with different values. */
function singleValue(value: OutgoingHttpHeader | undefined): string | undefined {
  if (value === undefined) return undefined;
  const values = (Array.isArray(value) ? value : [value]).map(String);
  return values.every((item) => item === values[0]) ? values[0] : undefined;
}
