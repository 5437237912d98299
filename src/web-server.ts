/**
 * The dashboard's production server (`npm run start:web`, after `npm run build && npm run build:web`): the built
 * Next.js app behind a node:http server of ours. Every answer gets the security headers and the request its client
 * address here; the two hot routes, a deployment's history and a backup's download, are answered here without
 * Next.js's request pipeline (src/lib/web/direct-routes.ts), and every other request goes, untouched, to Next's
 * request handler.
 *
 * The direct routes run the same endpoint code as the Next.js routes, in the app's own copy of src/lib (its
 * instrumentation hook publishes them): this process also holds our compiled copy, and two copies must not share the
 * web context (an error class of one copy fails `instanceof` in the other). Answered here, the history costs a
 * fraction of the CPU, and a download is sent from the file with its `Content-Length` (Next 16 drops it from route
 * responses and pipes the body through web streams). `npm run dev:web` stays `next dev`: the same endpoints through
 * the Next.js routes, a download sent chunked.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, readEnvironment } from './lib/runtime/index.ts';
import {
  CLIENT_ADDRESS_HEADER,
  clientAddress,
  contentSecurityPolicy,
  directRoutesPublished,
  generateNonce,
  isSecureTransport,
  MAX_REQUEST_BYTES,
  securityHeaders,
} from './lib/web/index.ts';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');
/** How long the server waits at start-up for the built app to publish its direct routes. */
const PUBLISH_WAIT_MS = 20_000;
/** How long a stop (SIGTERM, SIGINT) waits for requests in flight, such as downloads, before closing them. */
const STOP_GRACE_MS = 10_000;
/** How long a client may go on sending a body that was refused as too large before its connection is closed. */
const OVERSIZED_LINGER_MS = 5_000;

async function main(): Promise<void> {
  const { port, hostname } = readOptions();
  // As `next start` does: production unless told otherwise, set before Next is loaded.
  if (!process.env.NODE_ENV) Object.assign(process.env, { NODE_ENV: 'production' });
  const imported = await import('next');
  // Next's types describe an ES module; its code is CommonJS (`module.exports = createServer`), so from here the
  // function is the default export itself.
  const next = imported.default as unknown as typeof imported.default.default;
  const app = next({ dev: false, dir: PROJECT_ROOT, ...(hostname ? { hostname } : {}), port });
  await app.prepare();
  const handle = app.getRequestHandler();
  // The hot routes, answered without Next.js's request pipeline by the app's own code (src/lib/web/direct-routes.ts),
  // which its instrumentation hook publishes while Next prepares the app.
  const serveDirectRoute = await withDeadline(
    directRoutesPublished(),
    PUBLISH_WAIT_MS,
    'web-server: the built app published no direct routes (src/instrumentation.ts): is .next/ from an older build? run npm run build:web',
  );
  const config = loadConfig(readEnvironment());
  const transport = { production: process.env.NODE_ENV === 'production', allowPlainHttp: config.WEB_ALLOW_PLAIN_HTTP };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const forwardedProto = req.headers['x-forwarded-proto'];
    const secure = isSecureTransport(
      transport,
      new Headers(typeof forwardedProto === 'string' ? { 'x-forwarded-proto': forwardedProto } : {}),
      'http://localhost/',
    );
    const nonce = generateNonce();
    for (const [name, value] of Object.entries(securityHeaders({ nonce, secure }))) res.setHeader(name, value);
    // Next.js puts the nonce of the request's CSP on the inline scripts it renders; a client's own value never counts.
    req.headers['content-security-policy'] = contentSecurityPolicy(nonce);
    // The address rate limits count, set here only: a client's own header is replaced.
    req.headers[CLIENT_ADDRESS_HEADER] = clientAddress(
      req.socket.remoteAddress,
      config.WEB_TRUST_PROXY ? req.headers['x-forwarded-for'] : undefined,
    );
    // No route takes a body this large: refused before Next.js reads a byte (routes have tighter limits of their own).
    if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) {
      res.writeHead(413, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: `the request body is larger than ${MAX_REQUEST_BYTES} bytes` }));
      // Node discards what the client still sends (flat memory) rather than closing at once, which would reset the
      // connection and lose the answer; a client that keeps sending is cut off after a while.
      setTimeout(() => {
        if (!req.complete) req.socket.destroy();
      }, OVERSIZED_LINGER_MS).unref();
      return;
    }
    (serveDirectRoute(req, res) ?? handle(req, res)).catch((error: unknown) => {
      process.stderr.write(
        `web-server: ${req.method} ${req.url} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      if (!res.headersSent)
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal server error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostname, resolve);
  });
  const address = server.address();
  const shown =
    typeof address === 'object' && address
      ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
      : String(address);
  process.stdout.write(`web-server: the dashboard listens on http://${shown}\n`);

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** `promise`'s value, or an Error with `message` when it takes longer than `ms`. */
async function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `--port`/`-p` (else `PORT`, else 3000) and `--hostname`/`-H` (else every interface), as `next start` takes them. */
function readOptions(): { port: number; hostname: string | undefined } {
  const { values } = parseArgs({
    options: { port: { type: 'string', short: 'p' }, hostname: { type: 'string', short: 'H' } },
    strict: true,
  });
  const portText = values.port ?? process.env.PORT ?? '3000';
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65_535)
    throw new Error(`web-server: --port must be a TCP port from 0 to 65535 (got ${JSON.stringify(portText)})`);
  return { port, hostname: values.hostname };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
