import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST the receiver got: its body, the headers that identify the delivery, and the status it answered. */
export interface ReceivedPost {
  path: string;
  contentType: string | undefined;
  deliveryId: string | undefined;
  idempotencyKey: string | undefined;
  body: string;
  status: number;
}

/** A local alert webhook receiver: keeps every POST and answers each with the current status. */
export interface WebhookReceiver {
  url: string;
  /** Every POSTed body, whatever the answer. */
  bodies: string[];
  posts: ReceivedPost[];
  /** The bodies of the POSTs answered 2xx: what arrived. */
  arrived(): string[];
  /** The status later POSTs are answered with (500 plays a receiver that is down). */
  setStatus(status: number): void;
  /** Holds every answer (the POSTs stay in flight) until `resume`. */
  pause(): void;
  resume(): void;
  /** Resolves once `count` POSTs have come in. */
  waitForPosts(count: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port, under `path` (a token in the path plays a secret URL). */
export async function startWebhookReceiver(status = 200, path = '/alerts'): Promise<WebhookReceiver> {
  const posts: ReceivedPost[] = [];
  let currentStatus = status;
  let held: Array<() => void> | null = null;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const answer = currentStatus;
      if (request.method === 'POST') {
        posts.push({
          path: request.url ?? '',
          contentType: request.headers['content-type'],
          deliveryId: header(request, 'x-ops-delivery-id'),
          idempotencyKey: header(request, 'idempotency-key'),
          body,
          status: answer,
        });
        for (const waiter of waiters.filter((w) => posts.length >= w.count)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      const respond = () =>
        response.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'receiver is down');
      if (held) held.push(respond);
      else respond();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    get bodies() {
      return posts.map((post) => post.body);
    },
    posts,
    arrived: () => posts.filter((post) => post.status < 300).map((post) => post.body),
    setStatus(next) {
      currentStatus = next;
    },
    pause() {
      held ??= [];
    },
    resume() {
      const answers = held ?? [];
      held = null;
      for (const respond of answers) respond();
    },
    waitForPosts(count) {
      if (posts.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
