import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { type Logger, nodeHttp, redactSecrets } from '../shared/index.ts';
import { judgeLiveness } from './loop-liveness.ts';
import type { ReadinessCheck } from './readiness-checks.ts';

export interface HealthServerOptions {
  /** 0: any free port (tests); the chosen one is in `url`. */
  port: number;
  host: string;
  /** When the last cycle ended (null before the first). */
  lastCycleAt: () => Date | null;
  /** When the running cycle started (null between cycles). */
  cycleRunningSince: () => Date | null;
  intervalMs: number;
  /** How long one cycle may legitimately run; see `judgeLiveness`. */
  cycleTimeoutMs: number;
  /** What `/readyz` checks, all at once. */
  checks: readonly ReadinessCheck[];
  /** What `/metrics` serves. */
  registry: Registry;
  clock: () => Date;
  logger: Logger;
  /** A check that has not answered after this long fails. */
  checkTimeoutMs?: number;
}

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

const DEFAULT_CHECK_TIMEOUT_MS = 5_000;

/**
 * The worker's small HTTP server for Kubernetes and Prometheus (no framework: three GET routes).
 * - `/healthz` (liveness): 503 when the loop is stuck (`judgeLiveness`), so Kubernetes restarts the worker instead of
 *   letting schedules silently stop.
 * - `/readyz` (readiness): 503 unless every check passes within its timeout (database, backup volume writable).
 * - `/metrics`: the worker's Prometheus registry.
 * Answers are small JSON documents saying why; the server never throws into the process.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const log = options.logger.child({ module: 'ops-agent/health' });
  const startedAt = options.clock();
  const checkTimeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;

  const liveness = (response: ServerResponse) => {
    const lastCycleAt = options.lastCycleAt();
    const cycleRunningSince = options.cycleRunningSince();
    const verdict = judgeLiveness({
      now: options.clock(),
      startedAt,
      lastCycleAt,
      cycleRunningSince,
      intervalMs: options.intervalMs,
      cycleTimeoutMs: options.cycleTimeoutMs,
    });
    const times = {
      lastCycleAt: lastCycleAt?.toISOString() ?? null,
      cycleRunningSince: cycleRunningSince?.toISOString() ?? null,
    };
    if (verdict.alive) return sendJson(response, 200, { status: 'ok', ...times });
    log.error({ reason: verdict.reason }, `liveness check failed: ${verdict.reason}`);
    return sendJson(response, 503, { status: 'stuck', reason: verdict.reason, ...times });
  };

  const readiness = async (response: ServerResponse) => {
    const results = await Promise.all(
      options.checks.map(async (check) => {
        try {
          await withTimeout(check.run(), checkTimeoutMs, `no answer within ${checkTimeoutMs} ms`);
          return [check.name, 'ok'] as const;
        } catch (error) {
          return [check.name, redactSecrets(error instanceof Error ? error.message : String(error))] as const;
        }
      }),
    );
    const failed = results.filter(([, result]) => result !== 'ok');
    if (failed.length > 0) log.warn({ checks: Object.fromEntries(failed) }, 'readiness check failed');
    sendJson(response, failed.length === 0 ? 200 : 503, {
      status: failed.length === 0 ? 'ready' : 'not ready',
      checks: Object.fromEntries(results),
    });
  };

  const metrics = async (response: ServerResponse) => {
    const body = await options.registry.metrics();
    response.writeHead(200, { 'Content-Type': options.registry.contentType }).end(body);
  };

  const server = nodeHttp.createServer((request: IncomingMessage, response: ServerResponse) => {
    const pathname = new URL(request.url ?? '/', 'http://health').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return sendJson(response, 405, { status: 'method not allowed' });
    const route =
      pathname === '/healthz'
        ? liveness
        : pathname === '/readyz'
          ? readiness
          : pathname === '/metrics'
            ? metrics
            : null;
    if (!route) return sendJson(response, 404, { status: 'not found', paths: ['/healthz', '/readyz', '/metrics'] });
    Promise.resolve(route(response)).catch((error: unknown) => {
      log.error({ err: error, path: pathname }, 'health server request failed');
      if (!response.headersSent) sendJson(response, 500, { status: 'error' });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.info({ url }, 'health server listening (/healthz, /readyz, /metrics)');
  return {
    url,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  response.end(`${JSON.stringify(body)}\n`);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
