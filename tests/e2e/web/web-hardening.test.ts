import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { startWebServer, type WebServer } from '../../support/web-server.ts';

/**
 * The production web server (`npm run start:web`) against what an attacker sends: bodies far larger than any request
 * of ours, cookies that are not percent-encoding, requests from other sites. And the headers every answer carries.
 */
const MIB = 1024 * 1024;
const HUGE_BODY_BYTES = 256 * MIB;
const CHUNK_BYTES = MIB;
/** What the server may grow by while refusing a 256 MiB body (it used to grow by ~760 MiB). */
const RSS_GROWTH_LIMIT_BYTES = 48 * MIB;

let database: TestDatabase;
let web: WebServer;
let token: string;
let deploymentId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const workspace = await createWorkspace(database.prisma);
  deploymentId = (await createDeployment(database.prisma, workspace.id, { name: 'pg-hardening' })).id;
  const generated = generateApiToken();
  token = generated.token;
  await database.prisma.apiToken.create({
    data: {
      workspaceId: workspace.id,
      name: 'hardening',
      tokenHash: generated.tokenHash,
      tokenPrefix: generated.tokenPrefix,
    },
  });
  web = await startWebServer({ DATABASE_URL: database.url, BACKUP_ROOT: '/nonexistent-backups', LOG_LEVEL: 'warn' });
}, 120_000);

afterAll(async () => {
  await web?.stop();
  await database?.drop();
});

/** The server process's resident set size, from /proc. */
async function serverRss(): Promise<number> {
  const status = await readFile(`/proc/${web.process.pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!kib) throw new Error(`no VmRSS in /proc/${web.process.pid}/status`);
  return Number(kib) * 1024;
}

/**
 * POSTs `total` bytes of filler to `path` over a raw connection, chunked unless `declare` (then with that
 * Content-Length), writing only as fast as the server reads and stopping once an answer starts to arrive. A server
 * that answers early may close the connection under the writes: the answer read before that is what counts.
 * Resolves with the answer's status and how many bytes were sent.
 */
function postHugeBody(path: string, total: number, declare: boolean): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(web.url);
    const socket = connect(Number(port), hostname);
    const chunk = Buffer.alloc(CHUNK_BYTES, 0x20);
    let sent = 0;
    let answer = '';
    const framing = declare ? `content-length: ${total}` : 'transfer-encoding: chunked';
    const settle = () => {
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1];
      if (status) resolve({ status: Number(status), sent });
      else reject(new Error(`no answer after ${sent} bytes: ${JSON.stringify(answer.slice(0, 200))}`));
      socket.destroy();
    };
    socket.on('data', (data: Buffer) => {
      answer += data.toString('latin1');
      if (answer.includes('\r\n\r\n')) settle();
    });
    socket.on('error', settle);
    socket.on('close', settle);
    const write = () => {
      while (answer === '' && sent < total && !socket.destroyed) {
        sent += chunk.length;
        const frame = declare
          ? chunk
          : Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
        if (!socket.write(frame)) {
          socket.once('drain', write);
          return;
        }
      }
      if (answer === '' && !declare && !socket.destroyed) socket.write('0\r\n\r\n');
    };
    socket.once('connect', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\ncontent-type: application/json\r\n${framing}\r\n\r\n`,
      );
      write();
    });
  });
}

describe('bounded request bodies', () => {
  it('a 256 MiB sign-in body, chunked, gets 413 and the server does not grow', { timeout: 120_000 }, async () => {
    // Warm up: the first sign-in loads the route and opens the database.
    const warm = await fetch(`${web.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(warm.status).toBe(200);
    const before = await serverRss();
    const { status, sent } = await postHugeBody('/api/session', HUGE_BODY_BYTES, false);
    expect(status).toBe(413);
    expect(sent).toBeLessThan(HUGE_BODY_BYTES);
    expect((await serverRss()) - before).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
  });

  it('a declared 256 MiB body gets 413 before it is sent, on any route', { timeout: 60_000 }, async () => {
    for (const path of ['/api/session', `/api/deployments/${deploymentId}/prune`, '/login']) {
      const before = await serverRss();
      const { status, sent } = await postHugeBody(path, HUGE_BODY_BYTES, true);
      expect([path, status]).toEqual([path, 413]);
      expect(sent).toBeLessThan(HUGE_BODY_BYTES);
      expect((await serverRss()) - before).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
    }
  });
});

describe('malformed session cookies', () => {
  it('answer 401 on every API route, not 500', async () => {
    const routes: Array<[string, string]> = [
      ['GET', `/api/deployments/${deploymentId}/backups`],
      ['POST', `/api/deployments/${deploymentId}/backups`],
      ['GET', `/api/deployments/${deploymentId}/prune`],
      ['GET', `/api/deployments/${deploymentId}/restores`],
      ['GET', '/api/backups/cnosuchbackup000000000000'],
      ['GET', '/api/backups/cnosuchbackup000000000000/download'],
      ['POST', '/api/backups/cnosuchbackup000000000000/pin'],
      ['POST', '/api/backups/cnosuchbackup000000000000/restore'],
      ['GET', '/api/restores/cnosuchrestore00000000000'],
      ['GET', '/api/jobs/00000000-0000-4000-8000-000000000000'],
    ];
    for (const cookie of ['ops_session=%zz', 'ops_session=%', 'ops_session=%E0%A4%A']) {
      for (const [method, path] of routes) {
        const response = await fetch(`${web.url}${path}`, { method, headers: { cookie, origin: web.url } });
        expect([cookie, method, path, response.status]).toEqual([cookie, method, path, 401]);
      }
    }
  });

  it('send a page to the login page, not to an error', async () => {
    const response = await fetch(`${web.url}/backups`, {
      headers: { cookie: 'ops_session=%zz' },
      redirect: 'manual',
    });
    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toMatch(/^\/login\?next=/);
  });
});

describe('login CSRF', () => {
  it('a cross-site form sign-in gets 403 and no cookie', async () => {
    const response = await fetch(`${web.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ token, next: '/' }).toString(),
      redirect: 'manual',
    });
    expect([response.status, response.headers.get('set-cookie')]).toEqual([403, null]);
  });
});

describe('security headers', () => {
  it('are on every answer: pages, the API, errors', async () => {
    for (const path of ['/login', '/', '/api/session', `/api/deployments/${deploymentId}/backups`, '/no-such-page']) {
      const response = await fetch(`${web.url}${path}`, { redirect: 'manual' });
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/]+=*'/);
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), path).toBe('same-origin');
      // Served as production over http without WEB_ALLOW_PLAIN_HTTP: the dashboard counts as https.
      expect(response.headers.get('strict-transport-security') ?? '', path).toMatch(/^max-age=\d+/);
    }
  });

  it('the inline scripts of a page carry the nonce of its CSP', async () => {
    const response = await fetch(`${web.url}/login`);
    const nonce = /'nonce-([^']+)'/.exec(response.headers.get('content-security-policy') ?? '')?.[1];
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map(([tag]) => tag);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
  });
});
