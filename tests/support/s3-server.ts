import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { S3DestinationSettings } from '../../src/lib/offsite/s3-destination.ts';

/** s3rver's built-in account (it checks that the access key exists; it does not check SigV4 signatures). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * A real S3-protocol server (s3rver) in a child process on a free loopback port, storing objects in a temporary
 * folder, with one bucket. `settings()` gives destination settings that reach it (path-style, s3rver's account).
 */
export interface S3Server {
  endpoint: string;
  port: number;
  bucket: string;
  /** Where s3rver keeps the objects. */
  directory: string;
  settings(overrides?: Partial<S3DestinationSettings>): S3DestinationSettings;
  close(): Promise<void>;
}

const S3RVER_BIN = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');

export async function startS3Server(options: { bucket?: string } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'ops-backups';
  const directory = await mkdtemp(path.join(os.tmpdir(), 's3rver-'));
  // Its ListObjectsV2 continuation tokens use DES, which OpenSSL 3 (Node 24's too) only has in the legacy provider.
  const child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      S3RVER_BIN,
      '--silent',
      '-d',
      directory,
      '-a',
      '127.0.0.1',
      '-p',
      '0',
      '--configure-bucket',
      bucket,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = once(child, 'exit');
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /listening on [\d.]+:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}: ${output}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    bucket,
    directory,
    settings: (overrides = {}) => ({
      name: 's3',
      bucket,
      prefix: 'ops',
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { ...S3RVER_CREDENTIALS },
      maxAttempts: 1,
      ...overrides,
    }),
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP proxy in front of a server that can fail the way networks do: `cutAfter(n)` lets `n` more request bytes
 * through, then destroys every connection and refuses new ones (each is accepted and destroyed at once) until
 * `recover()`. Counts the request bytes it forwarded.
 */
export interface FaultyProxy {
  endpoint: string;
  port: number;
  forwardedBytes(): number;
  /** Request lines seen so far, e.g. `PUT /bucket/key?partNumber=2&uploadId=… HTTP/1.1`. */
  requests(): string[];
  cutAfter(bytes: number): void;
  /** Lets `n` more request bytes through, then holds every connection open without forwarding (a stalled upload). */
  holdAfter(bytes: number): void;
  recover(): void;
  /** Resolves once the connections have been cut. */
  cut: () => Promise<void>;
  close(): Promise<void>;
}

const REQUEST_LINE = /(?:GET|PUT|POST|HEAD|DELETE) \/\S* HTTP\/1\.1/g;

export async function startFaultyProxy(targetPort: number): Promise<FaultyProxy> {
  const sockets = new Set<net.Socket>();
  let forwarded = 0;
  const requestLines: string[] = [];
  let budget = Number.POSITIVE_INFINITY;
  let down = false;
  let holdBudget = Number.POSITIVE_INFINITY;
  const held: Array<{ upstream: net.Socket; chunk: Buffer }> = [];
  let onCut: (() => void) | null = null;
  let cutPromise = new Promise<void>((resolve) => (onCut = resolve));

  const goDown = () => {
    down = true;
    for (const socket of sockets) socket.destroy();
    onCut?.();
  };
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const forget = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', forget).on('error', forget);
    upstream.on('close', forget).on('error', forget);
    client.on('data', (chunk: Buffer) => {
      if (down) return;
      if (holdBudget <= 0) return void held.push({ upstream, chunk });
      if (chunk.length > holdBudget) {
        held.push({ upstream, chunk: chunk.subarray(holdBudget) });
        chunk = chunk.subarray(0, holdBudget);
      }
      holdBudget -= chunk.length;
      const allowed = Math.min(chunk.length, budget);
      if (allowed > 0) upstream.write(chunk.subarray(0, allowed));
      // Request bodies here are random bytes or XML: a request line cannot appear in them by chance.
      for (const match of chunk.subarray(0, allowed).toString('latin1').matchAll(REQUEST_LINE))
        requestLines.push(match[0]);
      forwarded += allowed;
      budget -= allowed;
      if (budget <= 0) goDown();
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    forwardedBytes: () => forwarded,
    requests: () => [...requestLines],
    holdAfter(bytes) {
      holdBudget = bytes;
    },
    cutAfter(bytes) {
      budget = bytes;
    },
    recover() {
      down = false;
      budget = Number.POSITIVE_INFINITY;
      // Held bytes of connections still open go on; those of closed ones are dropped with them.
      holdBudget = Number.POSITIVE_INFINITY;
      for (const { upstream, chunk } of held.splice(0)) if (!upstream.destroyed) upstream.write(chunk);
      cutPromise = new Promise<void>((resolve) => (onCut = resolve));
    },
    cut: () => cutPromise,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
