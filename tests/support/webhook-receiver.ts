import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local alert webhook receiver: keeps every POSTed body and answers each with `status`. */
export interface WebhookReceiver {
  url: string;
  bodies: string[];
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port. `status` 500 plays a receiver that is down. */
export async function startWebhookReceiver(status = 200): Promise<WebhookReceiver> {
  const bodies: string[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.method === 'POST') bodies.push(body);
      response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'receiver is down');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
