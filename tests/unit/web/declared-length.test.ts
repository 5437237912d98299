import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECLARED_LENGTH_HEADER, declaredLength, restoreDeclaredLength } from '../../../src/lib/web/declared-length.ts';

/**
 * The web server's `Content-Length` restoration on a plain node:http server, with each response written the way
 * Next.js writes a route's answer: headers through `res.setHeader` (Next passes values as arrays), then the head sent
 * implicitly by the first write or by `end`.
 */
const BODY = Buffer.from('x'.repeat(10_000));

const WRITERS: Record<string, (res: ServerResponse) => void> = {
  declared: (res) => {
    for (const [name, value] of Object.entries(declaredLength(BODY.length))) res.setHeader(name, [value]);
    res.removeHeader('content-length'); // what Next.js does to a route's Content-Length
    res.flushHeaders();
    res.write(BODY.subarray(0, 4_000));
    res.end(BODY.subarray(4_000));
  },
  'declared, HEAD-like end': (res) => {
    res.setHeader(DECLARED_LENGTH_HEADER, [String(BODY.length)]);
    res.end();
  },
  'declared but encoded': (res) => {
    res.setHeader(DECLARED_LENGTH_HEADER, [String(BODY.length)]);
    res.setHeader('content-encoding', 'identity');
    res.write(BODY);
    res.end();
  },
  'declared nonsense': (res) => {
    res.setHeader(DECLARED_LENGTH_HEADER, ['12, 13']);
    res.write(BODY);
    res.end();
  },
  undeclared: (res) => {
    res.write(BODY);
    res.end();
  },
};

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    restoreDeclaredLength(res);
    WRITERS[decodeURIComponent(req.url!.slice(1))]!(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function fetchRaw(name: string, method = 'GET'): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(`${base}/${encodeURIComponent(name)}`, { method }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

describe('restoreDeclaredLength', () => {
  it('sends a declared length as Content-Length, not chunked, and drops the private header', async () => {
    const { headers, body } = await fetchRaw('declared');
    expect(headers['content-length']).toBe(String(BODY.length));
    expect(headers['transfer-encoding']).toBeUndefined();
    expect(headers[DECLARED_LENGTH_HEADER]).toBeUndefined();
    expect(body.equals(BODY)).toBe(true);
  });

  it('also when the head is sent by end() alone (a HEAD answer)', async () => {
    const { headers, body } = await fetchRaw('declared, HEAD-like end', 'HEAD');
    expect(headers['content-length']).toBe(String(BODY.length));
    expect(headers[DECLARED_LENGTH_HEADER]).toBeUndefined();
    expect(body.length).toBe(0);
  });

  it('leaves an encoded response its own framing, and ignores a value that is not one length', async () => {
    for (const name of ['declared but encoded', 'declared nonsense']) {
      const { headers, body } = await fetchRaw(name);
      expect(headers[DECLARED_LENGTH_HEADER]).toBeUndefined();
      expect(headers['transfer-encoding']).toBe('chunked');
      expect(headers['content-length']).toBeUndefined();
      expect(body.equals(BODY)).toBe(true);
    }
  });

  it('changes nothing for a response that declares no length', async () => {
    const { headers, body } = await fetchRaw('undeclared');
    expect(headers['transfer-encoding']).toBe('chunked');
    expect(headers['content-length']).toBeUndefined();
    expect(body.equals(BODY)).toBe(true);
  });
});
