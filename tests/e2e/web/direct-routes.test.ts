import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as downloadRoute from '../../../src/app/api/backups/[id]/download/route.ts';
import * as backupsRoute from '../../../src/app/api/deployments/[id]/backups/route.ts';
import type { ApiScope, BackupRecord, Deployment, Prisma } from '../../../src/generated/prisma/client.ts';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { backupFileName, deploymentFolder } from '../../../src/lib/storage/backup-path.ts';
import { DOWNLOAD_CHUNK_BYTES } from '../../../src/lib/web/backup-download.ts';
import { getWebContext } from '../../../src/lib/web/web-context.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { startWebServer, type WebServer } from '../../support/web-server.ts';

/**
 * The production server (`npm run start:web`) answers a deployment's history and a backup's download itself, without
 * Next.js's request pipeline (src/lib/web/direct-routes.ts). For every kind of request those routes get (pages and
 * cursors, bad input, strangers, sessions, ranges, HEAD, refused files), its answer over HTTP is the answer of the
 * Next.js route handler, called in this process on the same database and volume: the same status, the same headers
 * and the same body. Beyond them the server adds only the security headers, the framing (a `Content-Length`, never
 * chunked) and `Vary: Accept-Encoding` on JSON, which it gzips for a client that accepts it, as Next.js did.
 */
const T0 = new Date('2026-11-01T03:00:00Z');
const HOUR = 3_600_000;
const HISTORY_RECORDS = 25;
/** Larger than the buffers a download goes through, so they are reused. */
const FILE_BYTES = 2 * DOWNLOAD_CHUNK_BYTES + 654_321;
/** What our server adds to any answer of a route: security headers and the connection's own. */
const SERVER_HEADERS = new Set([
  'content-security-policy',
  'x-content-type-options',
  'referrer-policy',
  'x-frame-options',
  'strict-transport-security',
  'date',
  'connection',
  'keep-alive',
  'content-length',
  'vary',
]);

let database: TestDatabase;
let root: string;
let web: WebServer;
let deployment: Deployment;
let strangers: Deployment;
let stored: BackupRecord;
let fileBytes: Buffer;
let failed: BackupRecord;
let running: BackupRecord;
let gone: BackupRecord;
let theirBackup: BackupRecord;
const tokens: Record<'mine' | 'theirs' | 'operateOnly' | 'revoked', string> = {
  mine: '',
  theirs: '',
  operateOnly: '',
  revoked: '',
};
let cookie: string;
let nextCursor: string;

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'direct-routes-'));
  const db = database.prisma;
  const mine = await createWorkspace(db);
  const theirs = await createWorkspace(db);
  tokens.mine = await storeToken(mine.id);
  tokens.theirs = await storeToken(theirs.id);
  tokens.operateOnly = await storeToken(mine.id, { scopes: ['operate'] satisfies ApiScope[] });
  tokens.revoked = await storeToken(mine.id, { revokedAt: T0 });
  deployment = await createDeployment(db, mine.id, { name: 'orders-db' });
  strangers = await createDeployment(db, theirs.id, { name: 'their-db' });

  // 25 records of every kind, an off-site copy on some, one of them the file below.
  for (let index = 0; index < HISTORY_RECORDS; index += 1) {
    const record = await storeRecord(deployment, {
      status: index % 7 === 3 ? 'FAILED' : 'SUCCEEDED',
      startedAt: new Date(T0.getTime() - index * HOUR),
      finishedAt: new Date(T0.getTime() - index * HOUR + 60_000),
      durationMs: 60_000 + index,
      sizeBytes: index === 5 ? 2n ** 60n : BigInt(1_000_000 + index),
      sha256: createHash('sha256').update(String(index)).digest('hex'),
      errorKind: index % 7 === 3 ? 'ExecFailed' : null,
      error: index % 7 === 3 ? 'pg_dump exited with code 1: "connection refused" ✗' : null,
      verifiedAt: index % 2 === 0 ? new Date(T0.getTime() - index * HOUR + 120_000) : null,
      verifyMethod: index % 2 === 0 ? 'pg_restore' : null,
      pinned: index === 2,
      suspicious: index === 4,
      suspiciousReason: index === 4 ? 'far smaller than the last 5' : null,
      encryptedTo: index === 6 ? 'x25519:aaaa,x25519:bbbb' : null,
    });
    if (index % 3 === 0) {
      await db.backupUpload.create({
        data: {
          backupRecordId: record.id,
          destination: 's3',
          objectKey: `k/${index}`,
          status: 'UPLOADED',
          uploadedAt: T0,
        },
      });
      await db.backupUpload.create({
        data: {
          backupRecordId: record.id,
          destination: 'b2',
          objectKey: `k/${index}`,
          status: 'PENDING',
          attempts: 2,
          lastError: 'timeout',
          nextAttemptAt: new Date(T0.getTime() + HOUR),
        },
      });
    }
  }
  fileBytes = randomBytes(FILE_BYTES);
  stored = await storeBackupFile(deployment, new Date(T0.getTime() + HOUR), fileBytes);
  gone = await storeBackupFile(deployment, new Date(T0.getTime() + 2 * HOUR), randomBytes(10));
  await rm(gone.path!);
  failed = await storeRecord(deployment, { status: 'FAILED', startedAt: new Date(T0.getTime() - 100 * HOUR) });
  running = await storeRecord(deployment, { status: 'RUNNING', startedAt: new Date(T0.getTime() - 101 * HOUR) });
  theirBackup = await storeRecord(strangers, {});

  const env = { DATABASE_URL: database.url, BACKUP_ROOT: root, LOG_LEVEL: 'silent' };
  // The route handlers, called in this process, read their web context from the environment.
  Object.assign(process.env, env);
  web = await startWebServer({ ...env, LOG_LEVEL: 'warn' });
  const signIn = await fetch(`${web.url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: tokens.mine }),
  });
  cookie = signIn.headers.get('set-cookie')?.split(';')[0] ?? '';
  expect(cookie).toMatch(/^ops_session=/);
  const firstPage = await fetch(`${web.url}/api/deployments/${deployment.id}/backups?limit=10`, {
    headers: { authorization: `Bearer ${tokens.mine}` },
  });
  nextCursor = ((await firstPage.json()) as { nextCursor: string }).nextCursor;
}, 120_000);

afterAll(async () => {
  await web?.stop();
  await (await getWebContext()).close();
  await database?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function storeToken(
  workspaceId: string,
  overrides: Partial<Prisma.ApiTokenUncheckedCreateInput> = {},
): Promise<string> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  await database.prisma.apiToken.create({
    data: { workspaceId, name: 'direct routes', tokenHash, tokenPrefix, ...overrides },
  });
  return token;
}

function storeRecord(target: Deployment, data: Partial<Prisma.BackupRecordUncheckedCreateInput>) {
  return database.prisma.backupRecord.create({
    data: {
      deploymentId: target.id,
      workspaceId: target.workspaceId,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt: T0,
      format: 'postgres-custom',
      extension: 'dump',
      ...data,
    },
  });
}

async function storeBackupFile(target: Deployment, startedAt: Date, bytes: Buffer): Promise<BackupRecord> {
  const folder = deploymentFolder(root, target.workspaceId, target.name);
  await mkdir(folder, { recursive: true });
  const filePath = path.join(folder, backupFileName(startedAt, 'dump'));
  await writeFile(filePath, bytes);
  return storeRecord(target, {
    trigger: 'MANUAL',
    startedAt,
    finishedAt: startedAt,
    path: filePath,
    sizeBytes: BigInt(bytes.length),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  });
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The production server's answer over HTTP, as sent (headers lowercased, the body's bytes). */
function serverAnswer(target: string, method: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${web.url}${target}`, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: flat(response.headers), body: Buffer.concat(chunks) }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)]),
  );
}

/** The Next.js route handler's answer to the same request, in this process. */
async function routeAnswer(target: string, method: string, headers: Record<string, string>): Promise<Answer> {
  const url = new URL(target, 'http://ops.test');
  const id = url.pathname.split('/')[3]!;
  const handler = url.pathname.endsWith('/download') ? downloadRoute[method as 'GET' | 'HEAD'] : backupsRoute.GET;
  const response = await handler(new Request(url, { method, headers }), { params: Promise.resolve({ id }) });
  const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: Object.fromEntries(response.headers), body };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const historyOf =
  (id: () => string, query = '') =>
  () =>
    `/api/deployments/${id()}/backups${query}`;
const downloadOf = (record: () => BackupRecord) => () => `/api/backups/${record().id}/download`;

const cases: Array<[string, () => string, string, () => Record<string, string>]> = [
  ['history, first page', historyOf(() => deployment.id), 'GET', () => bearer(tokens.mine)],
  ['history, 10 a page', historyOf(() => deployment.id, '?limit=10'), 'GET', () => bearer(tokens.mine)],
  [
    'history, the next page',
    () => `/api/deployments/${deployment.id}/backups?limit=10&cursor=${nextCursor}`,
    'GET',
    () => bearer(tokens.mine),
  ],
  [
    'history, gzip accepted',
    historyOf(() => deployment.id),
    'GET',
    () => ({ ...bearer(tokens.mine), 'accept-encoding': 'gzip, deflate, br' }),
  ],
  ['history, signed in', historyOf(() => deployment.id), 'GET', () => ({ cookie })],
  [
    'history, an unknown cursor',
    historyOf(() => deployment.id, '?cursor=cnosuchbackup000000000000'),
    'GET',
    () => bearer(tokens.mine),
  ],
  [
    'history, a cursor of their deployment',
    () => `/api/deployments/${deployment.id}/backups?cursor=${theirBackup.id}`,
    'GET',
    () => bearer(tokens.mine),
  ],
  ['history, a bad limit', historyOf(() => deployment.id, '?limit=0&cursor='), 'GET', () => bearer(tokens.mine)],
  [
    'history, a bad limit on their deployment',
    historyOf(() => strangers.id, '?limit=0'),
    'GET',
    () => bearer(tokens.mine),
  ],
  ['history, their deployment', historyOf(() => strangers.id), 'GET', () => bearer(tokens.mine)],
  ['history, their token', historyOf(() => deployment.id), 'GET', () => bearer(tokens.theirs)],
  ['history, no credential', historyOf(() => deployment.id), 'GET', () => ({})],
  ['history, a revoked token', historyOf(() => deployment.id), 'GET', () => bearer(tokens.revoked)],
  ['history, a token without read', historyOf(() => deployment.id), 'GET', () => bearer(tokens.operateOnly)],
  [
    'history, a cookie that is not percent-encoding',
    historyOf(() => deployment.id),
    'GET',
    () => ({ cookie: 'ops_session=%zz' }),
  ],
  ['history, an id that cannot be one', historyOf(() => 'no_such-deployment'), 'GET', () => bearer(tokens.mine)],
  ['download, whole', downloadOf(() => stored), 'GET', () => bearer(tokens.mine)],
  [
    'download, signed in, gzip accepted',
    downloadOf(() => stored),
    'GET',
    () => ({ cookie, 'accept-encoding': 'gzip' }),
  ],
  [
    'download, a range across chunks',
    downloadOf(() => stored),
    'GET',
    () => ({ ...bearer(tokens.mine), range: `bytes=1000-${DOWNLOAD_CHUNK_BYTES + 999}` }),
  ],
  [
    'download, the last bytes',
    downloadOf(() => stored),
    'GET',
    () => ({ ...bearer(tokens.mine), range: 'bytes=-777' }),
  ],
  [
    'download, a range past the end',
    downloadOf(() => stored),
    'GET',
    () => ({ ...bearer(tokens.mine), range: `bytes=${FILE_BYTES}-` }),
  ],
  ['download, HEAD', downloadOf(() => stored), 'HEAD', () => bearer(tokens.mine)],
  ['download, a FAILED backup', downloadOf(() => failed), 'GET', () => bearer(tokens.mine)],
  ['download, a RUNNING backup', downloadOf(() => running), 'GET', () => bearer(tokens.mine)],
  ['download, a file that is gone', downloadOf(() => gone), 'GET', () => bearer(tokens.mine)],
  ['download, their token', downloadOf(() => stored), 'GET', () => bearer(tokens.theirs)],
  ['download, their backup', downloadOf(() => theirBackup), 'GET', () => bearer(tokens.mine)],
  ['download, no credential', downloadOf(() => stored), 'HEAD', () => ({})],
  ['download, a token without read', downloadOf(() => stored), 'GET', () => bearer(tokens.operateOnly)],
];

describe('the routes the production server answers itself', () => {
  it.each(cases)('%s: the answer of the Next.js route', async (_name, target, method, headers) => {
    const served = await serverAnswer(target(), method, headers());
    const routed = await routeAnswer(target(), method, headers());
    expect(served.status).toBe(routed.status);
    // Every header of the route's answer, with its value; the server adds only its own.
    for (const [name, value] of Object.entries(routed.headers))
      expect([name, served.headers[name]]).toEqual([name, value]);
    const added = Object.keys(served.headers).filter((name) => !(name in routed.headers));
    expect(added.filter((name) => !SERVER_HEADERS.has(name) && name !== 'content-encoding')).toEqual([]);
    expect(served.headers['transfer-encoding']).toBeUndefined();
    const isJson = routed.headers['content-type']?.startsWith('application/json') ?? false;
    if (isJson) expect(served.headers.vary).toBe('Accept-Encoding');
    if (method === 'HEAD') {
      expect(served.body.length).toBe(0);
      return;
    }
    expect(served.headers['content-length']).toBe(String(served.body.length));
    const body = served.headers['content-encoding'] === 'gzip' ? gunzipSync(served.body) : served.body;
    if (isJson) expect(JSON.parse(body.toString('utf8'))).toEqual(JSON.parse(routed.body.toString('utf8')));
    else expect(body.equals(routed.body)).toBe(true);
  });

  it('gzips a history page for a client that accepts it, as Next.js did', async () => {
    const served = await serverAnswer(`/api/deployments/${deployment.id}/backups`, 'GET', {
      ...bearer(tokens.mine),
      'accept-encoding': 'gzip',
    });
    expect(served.headers['content-encoding']).toBe('gzip');
    expect((JSON.parse(gunzipSync(served.body).toString('utf8')) as { items: unknown[] }).items).toHaveLength(20);
  });

  it('sends the whole file, byte for byte, and keeps no file open after a download the client abandons', async () => {
    const whole = await serverAnswer(`/api/backups/${stored.id}/download`, 'GET', bearer(tokens.mine));
    expect(whole.body.equals(fileBytes)).toBe(true);
    const fdsBefore = await openBackupFiles();
    await new Promise<void>((resolve, reject) => {
      const outgoing = httpRequest(`${web.url}/api/backups/${stored.id}/download`, { headers: bearer(tokens.mine) });
      outgoing.on('response', (response) => response.once('data', () => (outgoing.destroy(), resolve())));
      outgoing.on('error', (error) => (outgoing.destroyed ? undefined : reject(error)));
      outgoing.end();
    });
    await expect.poll(openBackupFiles, { timeout: 10_000 }).toEqual(fdsBefore);
  });
});

/** The server process's open descriptors on files under the backup volume. */
async function openBackupFiles(): Promise<string[]> {
  const folder = `/proc/${web.process.pid}/fd`;
  const targets = await Promise.all(
    (await readdir(folder)).map((fd) => readlink(path.join(folder, fd)).catch(() => '')),
  );
  return targets.filter((target) => target.startsWith(root)).sort();
}
