import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { createWebhookNotifier, type AlertNotification } from '../../../src/lib/alerts/notifier.ts';

const NOTIFICATION: AlertNotification = {
  alertId: 'alert1',
  severity: 'CRITICAL',
  kind: 'backup_failed',
  message: 'Backup of demo/shop-db failed (ExecFailed): pg_dump exited 1',
  workspaceId: 'ws1',
  deploymentId: 'dep1',
  deploymentName: 'shop-db',
  backupRecordId: 'rec1',
  occurredAt: '2026-03-01T03:00:00.000Z',
};
const SECRET_PATH = '/hooks/T0KEN-s3cret-path';
const NO_DELAY = async () => undefined;

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** A local webhook receiver answering each POST with the next status of `statuses` (the last one repeats). */
async function startReceiver(statuses: number[]) {
  const bodies: unknown[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      bodies.push({
        method: request.method,
        path: request.url,
        contentType: request.headers['content-type'],
        body: JSON.parse(body),
      });
      response.statusCode = statuses[Math.min(bodies.length - 1, statuses.length - 1)] ?? 200;
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  close = () => new Promise((resolve) => server.close(() => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${SECRET_PATH}`, bodies };
}

function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), output: () => lines.join('') };
}

describe('webhook notifier', () => {
  it('POSTs the alert as JSON', async () => {
    const receiver = await startReceiver([200]);
    const { logger } = capturingLogger();
    const notifier = createWebhookNotifier({ url: receiver.url, logger, sleep: NO_DELAY });
    notifier.notify(NOTIFICATION);
    await notifier.flush(5_000);
    expect(receiver.bodies).toEqual([
      {
        method: 'POST',
        path: SECRET_PATH,
        contentType: 'application/json',
        body: { type: 'backup.alert', ...NOTIFICATION },
      },
    ]);
  });

  it('retries 5xx and 429 with exponential backoff until delivered', async () => {
    const receiver = await startReceiver([500, 429, 503, 200]);
    const delays: number[] = [];
    const { logger } = capturingLogger();
    const notifier = createWebhookNotifier({
      url: receiver.url,
      logger,
      baseDelayMs: 100,
      sleep: async (ms) => void delays.push(ms),
    });
    notifier.notify(NOTIFICATION);
    await notifier.flush(5_000);
    expect(receiver.bodies).toHaveLength(4);
    expect(delays).toEqual([100, 200, 400]);
  });

  it('gives up after maxAttempts and logs it, without the URL', async () => {
    const receiver = await startReceiver([500]);
    const { logger, output } = capturingLogger();
    const notifier = createWebhookNotifier({ url: receiver.url, logger, maxAttempts: 3, sleep: NO_DELAY });
    notifier.notify(NOTIFICATION);
    await notifier.flush(5_000);
    expect(receiver.bodies).toHaveLength(3);
    expect(output()).toContain('could not deliver the alert to the webhook; giving up');
    expect(output()).not.toContain('s3cret');
  });

  it('does not retry a 4xx refusal', async () => {
    const receiver = await startReceiver([400]);
    const { logger, output } = capturingLogger();
    const notifier = createWebhookNotifier({ url: receiver.url, logger, sleep: NO_DELAY });
    notifier.notify(NOTIFICATION);
    await notifier.flush(5_000);
    expect(receiver.bodies).toHaveLength(1);
    expect(output()).toContain('the webhook refused the alert; not retrying');
  });

  it('never throws or blocks the caller, even when nothing listens', async () => {
    const { logger, output } = capturingLogger();
    const notifier = createWebhookNotifier({
      url: 'http://127.0.0.1:9/closed',
      logger,
      maxAttempts: 2,
      sleep: NO_DELAY,
      timeoutMs: 1_000,
    });
    expect(notifier.notify(NOTIFICATION)).toBeUndefined();
    await notifier.flush(5_000);
    expect(output()).toContain('giving up');
  });
});
