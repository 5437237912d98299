import { DOWNLOAD_CHUNK_BYTES } from '../../../src/lib/web/backup-download.ts';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as backupRoute from '../../../src/app/api/backups/[id]/route.ts';
import * as downloadRoute from '../../../src/app/api/backups/[id]/download/route.ts';
import * as backupsRoute from '../../../src/app/api/deployments/[id]/backups/route.ts';
import * as jobsRoute from '../../../src/app/api/jobs/[id]/route.ts';
import * as metricsRoute from '../../../src/app/api/metrics/route.ts';
import * as sessionRoute from '../../../src/app/api/session/route.ts';
import { PrismaClient, type BackupRecord, type Deployment, type Prisma } from '../../../src/generated/prisma/client.ts';
import { backupFileName, deploymentFolder, formatSidecar } from '../../../src/lib/storage/backup-path.ts';
import type { BackupRecordJson } from '../../../src/lib/web/backup-history.ts';
import type { JobJson } from '../../../src/lib/web/job-json.ts';
import { gatherMetricsSnapshot } from '../../../src/lib/web/metrics-snapshot.ts';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { getWebContext } from '../../../src/lib/web/web-context.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The HTTP API as Next.js calls it: each route handler gets a real `Request` and answers from the real database of
 * the web context (the harness's cloned PostgreSQL), the real backup volume (a temporary folder) and, for started
 * backups, a real pg_dump run in a "pod" of the fake Kubernetes API. Every endpoint refuses strangers, keeps each
 * workspace to itself and answers bad input with a 400 that names the parameter.
 */
const BASE = 'http://ops.test';
const METRICS_TOKEN = `metrics-${randomBytes(12).toString('hex')}`;
const T0 = new Date('2026-03-01T02:59:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How long the fake pod holds a finished dump's exit status: the backup stays RUNNING at least this long. */
const DUMP_STATUS_DELAY_MS = 1_500;
const BACKUP_DEADLINE_MS = 30_000;
const PAGE_RECORDS = 25;
const LARGE_FILE_BYTES = 3 * 1024 * 1024;
const UNKNOWN_ID = 'nosuchrecord0000000000000';

let harness: BackupHarness;
let db: PrismaClient;
let source: string;
let mine: { id: string; slug: string };
let theirs: { id: string; slug: string };
let myToken: string;
let theirToken: string;
let revokedToken: string;
/** A deployment with 25 records of history and no pod. */
let history: Deployment;
/** Deployments whose pod runs a real pg_dump. */
let dumped: Deployment;
let dumpedTwice: Deployment;
/** A finished backup with a 3 MiB file of known bytes. */
let large: { record: BackupRecord; bytes: Buffer };

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_web_src'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(
    `CREATE TABLE orders AS SELECT g AS id, 'order ' || g || ' ' || md5(g::text) AS label FROM generate_series(1, 5000) g`,
  );
  await client.end();
  const dumpsSource = { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source };
  const slow = { faults: { delayStatusMs: DUMP_STATUS_DELAY_MS } };
  harness = await startBackupHarness({
    pods: [podFor('pg-web', 'postgres', dumpsSource, slow), podFor('pg-twice', 'postgres', dumpsSource, slow)],
  });

  // The web context reads its configuration from the environment on first use: point it at the harness.
  Object.assign(process.env, {
    DATABASE_URL: harness.db.url,
    BACKUP_ROOT: harness.root,
    KUBECONFIG: harness.kube.kubeconfigPath,
    METRICS_TOKEN,
    LOG_LEVEL: 'silent',
  });
  db = (await getWebContext()).runtime.database.prisma;
  // A worker beside the web process: it runs the backups the API queues.
  await harness.runJobs();

  mine = await createWorkspace(db, { slug: `mine-${randomBytes(3).toString('hex')}` });
  theirs = await createWorkspace(db, { slug: `theirs-${randomBytes(3).toString('hex')}` });
  myToken = await storeToken(mine.id);
  theirToken = await storeToken(theirs.id);
  revokedToken = await storeToken(mine.id, { revokedAt: T0 });
  history = await createDeployment(db, mine.id, { name: 'history-db' });
  dumped = await createDeployment(db, mine.id, {
    name: 'pg-web',
    backupEnabled: true,
    backupSchedule: '0 3 * * *',
    createdAt: new Date(),
  });
  dumpedTwice = await createDeployment(db, mine.id, { name: 'pg-twice' });
  const bytes = randomBytes(LARGE_FILE_BYTES);
  large = { record: await storeBackupFile(history, T0, bytes), bytes };
});

afterAll(async () => {
  await (await getWebContext()).close();
  await harness.close();
  await dropDatabase(source);
});

async function storeToken(
  workspaceId: string,
  overrides: Partial<Prisma.ApiTokenUncheckedCreateInput> = {},
): Promise<string> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  await db.apiToken.create({ data: { workspaceId, name: 'test', tokenHash, tokenPrefix, ...overrides } });
  return token;
}

/** A SUCCEEDED backup of `deployment` whose file (and sidecar) holds `bytes`, as the store would have written it. */
async function storeBackupFile(deployment: Deployment, startedAt: Date, bytes: Buffer): Promise<BackupRecord> {
  const folder = deploymentFolder(harness.root, deployment.workspaceId, deployment.name);
  await mkdir(folder, { recursive: true });
  const filePath = path.join(folder, backupFileName(startedAt, 'dump'));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(filePath, bytes);
  await writeFile(`${filePath}.sha256`, formatSidecar(sha256, path.basename(filePath)));
  return db.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId: deployment.workspaceId,
      trigger: 'MANUAL',
      status: 'SUCCEEDED',
      startedAt,
      finishedAt: new Date(startedAt.getTime() + MINUTE),
      durationMs: MINUTE,
      path: filePath,
      sizeBytes: BigInt(bytes.length),
      sha256,
      format: 'postgres-custom',
      extension: 'dump',
    },
  });
}

async function storeRecord(
  deployment: Deployment,
  data: Partial<Prisma.BackupRecordUncheckedCreateInput>,
): Promise<BackupRecord> {
  return db.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId: deployment.workspaceId,
      trigger: 'SCHEDULE',
      status: 'FAILED',
      startedAt: T0,
      ...data,
    },
  });
}

interface Call {
  token?: string | null;
  headers?: Record<string, string>;
}

function request(url: string, { token, headers }: Call = {}, init: RequestInit = {}): Request {
  const all = new Headers(headers);
  if (token) all.set('authorization', `Bearer ${token}`);
  return new Request(new URL(url, BASE), { ...init, headers: all });
}

const params = (id: string) => ({ params: Promise.resolve({ id }) });
const listBackups = (id: string, call: Call = {}, query = '') =>
  backupsRoute.GET(request(`/api/deployments/${id}/backups${query}`, call), params(id));
const startBackup = (id: string, call: Call = {}) =>
  backupsRoute.POST(request(`/api/deployments/${id}/backups`, call, { method: 'POST' }), params(id));
const showBackup = (id: string, call: Call = {}) => backupRoute.GET(request(`/api/backups/${id}`, call), params(id));
const download = (id: string, call: Call = {}) =>
  downloadRoute.GET(request(`/api/backups/${id}/download`, call), params(id));
const metrics = (call: Call = {}) => metricsRoute.GET(request('/api/metrics', call));

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const bodyBytes = async (response: Response) => Buffer.from(await response.arrayBuffer());

/** GET /api/jobs/{id} until the job has made its backup record (a worker took it); that record. */
async function waitForJobRecord(jobId: string): Promise<BackupRecordJson> {
  const deadline = Date.now() + BACKUP_DEADLINE_MS;
  for (;;) {
    const response = await jobsRoute.GET(request(`/api/jobs/${jobId}`, { token: myToken }), params(jobId));
    expect(response.status).toBe(200);
    const { job, backup } = (await response.json()) as { job: JobJson; backup: BackupRecordJson | null };
    if (backup) return backup;
    if (['failed', 'cancelled', 'succeeded'].includes(job.state))
      throw new Error(`job ${jobId} ended ${job.state} without a record`);
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.state} after ${BACKUP_DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitForBackupToEnd(id: string): Promise<BackupRecordJson> {
  const deadline = Date.now() + BACKUP_DEADLINE_MS;
  for (;;) {
    const { backup } = (await (await showBackup(id, { token: myToken })).json()) as { backup: BackupRecordJson };
    if (backup.status !== 'RUNNING') return backup;
    if (Date.now() > deadline) throw new Error(`backup ${id} still RUNNING after ${BACKUP_DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('authentication: no valid workspace token, no data', () => {
  const endpoints = [
    { name: 'GET history', call: (call: Call) => listBackups(history.id, call) },
    { name: 'POST backup', call: (call: Call) => startBackup(history.id, call) },
    { name: 'GET backup', call: (call: Call) => showBackup(large.record.id, call) },
    { name: 'GET download', call: (call: Call) => download(large.record.id, call) },
  ];
  const credentials: Array<[string, () => Call]> = [
    ['no token', () => ({})],
    ['a malformed token', () => ({ token: 'not-a-token' })],
    ['an unknown token', () => ({ token: generateApiToken().token })],
    ['a revoked token', () => ({ token: revokedToken })],
    [
      'a Basic header',
      () => ({ headers: { authorization: `Basic ${Buffer.from(`x:${myToken}`).toString('base64')}` } }),
    ],
    ['an unknown session cookie', () => ({ headers: { cookie: `ops_session=${generateApiToken().token}` } })],
    ['a session cookie that is not percent-encoding', () => ({ headers: { cookie: 'ops_session=%zz' } })],
    ['the metrics token', () => ({ token: METRICS_TOKEN })],
  ];

  for (const endpoint of endpoints) {
    it.each(credentials)(`${endpoint.name} with %s → 401 and only an error message`, async (_label, credential) => {
      const response = await endpoint.call(credential());
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="ops"');
      const text = await response.text();
      expect(Object.keys(JSON.parse(text))).toEqual(['error']);
      expect(text).toMatch(/authentication required/);
      for (const secret of [history.id, large.record.id, large.record.sha256!, mine.id])
        expect(text).not.toContain(secret);
    });
  }

  it('starts no backup for a request without a valid token', async () => {
    await startBackup(dumped.id, { token: revokedToken });
    expect(await db.backupRecord.count({ where: { deploymentId: dumped.id } })).toBe(0);
  });

  it('records when a token was last used', async () => {
    const before = await db.apiToken.findFirstOrThrow({ where: { workspaceId: theirs.id } });
    expect((await listBackups(history.id, { token: theirToken })).status).toBe(404);
    const after = await db.apiToken.findFirstOrThrow({ where: { id: before.id } });
    expect(after.lastUsedAt!.getTime()).toBeGreaterThan(before.lastUsedAt?.getTime() ?? 0);
  });

  it('writes the last use at most once a minute: requests with one token do not queue on its row', async () => {
    const token = await db.apiToken.findFirstOrThrow({ where: { workspaceId: theirs.id } });
    await listBackups(history.id, { token: theirToken });
    const first = await db.apiToken.findUniqueOrThrow({ where: { id: token.id } });
    await listBackups(history.id, { token: theirToken });
    await listBackups(history.id, { token: theirToken });
    const later = await db.apiToken.findUniqueOrThrow({ where: { id: token.id } });
    expect(first.lastUsedAt).not.toBeNull();
    expect(later.lastUsedAt!.getTime()).toBe(first.lastUsedAt!.getTime());
  });
});

describe('workspaces: another workspace’s ids are indistinguishable from missing ones', () => {
  const cases = [
    { name: 'GET history', kind: 'deployment', call: listBackups, id: () => history.id },
    { name: 'POST backup', kind: 'deployment', call: startBackup, id: () => dumped.id },
    { name: 'GET backup', kind: 'backup', call: showBackup, id: () => large.record.id },
    { name: 'GET download', kind: 'backup', call: download, id: () => large.record.id },
  ];

  it.each(cases)(
    '$name: 404 for their token on my id, as for an id that does not exist',
    async ({ kind, call, id }) => {
      const foreign = await call(id(), { token: theirToken });
      const missing = await call(UNKNOWN_ID, { token: theirToken });
      expect([foreign.status, missing.status]).toEqual([404, 404]);
      expect([...foreign.headers.keys()]).toEqual([...missing.headers.keys()]);
      expect(await foreign.json()).toEqual({ error: `${kind} "${id()}" not found` });
      expect(await missing.json()).toEqual({ error: `${kind} "${UNKNOWN_ID}" not found` });
    },
  );

  it('404 for ids that cannot be ids at all (and the echo is cut short)', async () => {
    const response = await listBackups('../../etc', { token: myToken });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'deployment "../../etc" not found' });
    expect((await (await download('x'.repeat(300), { token: myToken })).json()).error).toBe(
      `backup "${'x'.repeat(40)}…" not found`,
    );
  });

  it('their POST started nothing in my workspace', async () => {
    expect(await db.backupRecord.count({ where: { deploymentId: dumped.id } })).toBe(0);
  });
});

describe('GET /api/deployments/{id}/backups: history pages', () => {
  let expectedOrder: string[];

  beforeAll(async () => {
    const created: BackupRecord[] = [];
    for (let index = 0; index < PAGE_RECORDS - 1; index += 1) {
      // The 10th and 11th newest share a start time: the page boundary falls between them (ties go by id).
      const minutesBack = index <= 9 ? index : index - 1;
      created.push(
        await storeRecord(history, {
          startedAt: new Date(T0.getTime() + DAY - minutesBack * MINUTE),
          status: index % 3 ? 'SUCCEEDED' : 'FAILED',
        }),
      );
    }
    expectedOrder = [...created, large.record]
      .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || (a.id < b.id ? 1 : -1))
      .map((record) => record.id);
  });

  it('pages 25 records by 10: 10, 10, 5, newest first, no overlap, no gap', async () => {
    const pages: Array<{ items: BackupRecordJson[]; nextCursor: string | null }> = [];
    let cursor: string | null = null;
    do {
      const response = await listBackups(
        history.id,
        { token: myToken },
        `?limit=10${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-store');
      const page = (await response.json()) as { items: BackupRecordJson[]; nextCursor: string | null };
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 5);
    expect(pages.map((page) => page.items.length)).toEqual([10, 10, 5]);
    expect(pages.map((page) => page.nextCursor)).toEqual([pages[0]!.items[9]!.id, pages[1]!.items[9]!.id, null]);
    expect(pages.flatMap((page) => page.items.map((item) => item.id))).toEqual(expectedOrder);
  });

  it('defaults to 20 per page and serialises a record as JSON-safe values', async () => {
    const { items } = (await (await listBackups(history.id, { token: myToken })).json()) as {
      items: BackupRecordJson[];
    };
    expect(items).toHaveLength(20);
    const oldest = (await (
      await listBackups(history.id, { token: myToken }, '?limit=1&cursor=' + expectedOrder[23])
    ).json()) as { items: BackupRecordJson[] };
    expect(oldest.items[0]).toEqual({
      id: large.record.id,
      deploymentId: history.id,
      status: 'SUCCEEDED',
      trigger: 'MANUAL',
      startedAt: T0.toISOString(),
      finishedAt: new Date(T0.getTime() + MINUTE).toISOString(),
      durationMs: MINUTE,
      sizeBytes: String(LARGE_FILE_BYTES),
      sha256: large.record.sha256,
      format: 'postgres-custom',
      extension: 'dump',
      fileName: path.basename(large.record.path!),
      errorKind: null,
      error: null,
      verifiedAt: null,
      verifyMethod: null,
      verifyError: null,
      pinned: false,
      suspicious: false,
      suspiciousReason: null,
      liveTableCount: null,
      dumpTableCount: null,
      progressBytes: null,
      progressAt: null,
      jobId: null,
      encryptedTo: [],
      uploads: [],
    });
  });

  it('writes a 2^60-byte size as its exact decimal string', async () => {
    const huge = await createDeployment(db, mine.id, { name: 'huge-db' });
    await storeRecord(huge, { status: 'SUCCEEDED', sizeBytes: 2n ** 60n });
    const text = await (await listBackups(huge.id, { token: myToken })).text();
    expect(text).toContain('"sizeBytes":"1152921504606846976"');
  });

  it('writes every field of a history item, exactly these keys in this order, for a record with every field set', async () => {
    const full = await createDeployment(db, mine.id, { name: 'every-field-db' });
    // Milliseconds that PostgreSQL writes shortened (.5) or not at all (.000), and text JSON must escape.
    const startedAt = new Date('2026-03-01T02:59:00.500Z');
    const finishedAt = new Date('2026-03-01T03:01:02.000Z');
    const verifiedAt = new Date('2026-03-01T03:02:03.456Z');
    const progressAt = new Date('2026-03-01T03:00:59.010Z');
    const error = 'pg_dump: "quoted" back\\slash\nnew line\ttab \u0001 ünïcödé ✓ </script>';
    const record = await storeRecord(full, {
      status: 'SUCCEEDED',
      trigger: 'MANUAL',
      path: `${harness.root}/${mine.id}/every-field-db/20260301T025900.500Z.dump.gz.age`,
      sizeBytes: 9_007_199_254_740_993n,
      sha256: 'a'.repeat(64),
      format: 'postgres-custom',
      extension: 'dump.gz.age',
      startedAt,
      finishedAt,
      durationMs: 122_500,
      exitCode: 0,
      errorKind: 'ExecFailed',
      error,
      stderrTail: 'not part of the item',
      claimToken: 'not part of the item',
      verifiedAt,
      verifyMethod: 'pg_restore --list',
      verifyError: 'an earlier check failed',
      pinned: true,
      progressBytes: 4_096n,
      progressAt,
      jobId: 'job-0001',
      encryptedTo: 'x25519:0123456789abcdef,x25519:fedcba9876543210',
      suspicious: true,
      suspiciousReason: '12 of 13 tables',
      liveTableCount: 13,
      dumpTableCount: 12,
    });
    const nextAttemptAt = new Date('2026-03-01T04:00:00.250Z');
    const uploadedAt = new Date('2026-03-01T03:10:00.000Z');
    await db.backupUpload.createMany({
      data: [
        {
          backupRecordId: record.id,
          destination: 'b-s3',
          objectKey: 'k1',
          status: 'UPLOADED',
          attempts: 1,
          nextAttemptAt,
          uploadedAt,
        },
        {
          backupRecordId: record.id,
          destination: 'a-minio',
          objectKey: 'k2',
          status: 'PENDING',
          attempts: 2,
          nextAttemptAt,
          lastError: 'HTTP 503 "slow down"',
        },
        {
          backupRecordId: record.id,
          destination: 'c-b2',
          objectKey: 'k3',
          status: 'FAILED',
          attempts: 5,
          nextAttemptAt,
          lastError: 'gave up',
        },
      ],
    });
    const expected = {
      items: [
        {
          id: record.id,
          deploymentId: full.id,
          status: 'SUCCEEDED',
          trigger: 'MANUAL',
          startedAt: '2026-03-01T02:59:00.500Z',
          finishedAt: '2026-03-01T03:01:02.000Z',
          durationMs: 122_500,
          sizeBytes: '9007199254740993',
          sha256: 'a'.repeat(64),
          format: 'postgres-custom',
          extension: 'dump.gz.age',
          fileName: '20260301T025900.500Z.dump.gz.age',
          errorKind: 'ExecFailed',
          error,
          verifiedAt: '2026-03-01T03:02:03.456Z',
          verifyMethod: 'pg_restore --list',
          verifyError: 'an earlier check failed',
          pinned: true,
          suspicious: true,
          suspiciousReason: '12 of 13 tables',
          liveTableCount: 13,
          dumpTableCount: 12,
          progressBytes: '4096',
          progressAt: '2026-03-01T03:00:59.010Z',
          jobId: 'job-0001',
          encryptedTo: ['x25519:0123456789abcdef', 'x25519:fedcba9876543210'],
          uploads: [
            {
              destination: 'a-minio',
              status: 'PENDING',
              attempts: 2,
              lastError: 'HTTP 503 "slow down"',
              uploadedAt: null,
              nextAttemptAt: '2026-03-01T04:00:00.250Z',
            },
            {
              destination: 'b-s3',
              status: 'UPLOADED',
              attempts: 1,
              lastError: null,
              uploadedAt: '2026-03-01T03:10:00.000Z',
              nextAttemptAt: null,
            },
            {
              destination: 'c-b2',
              status: 'FAILED',
              attempts: 5,
              lastError: 'gave up',
              uploadedAt: null,
              nextAttemptAt: null,
            },
          ],
        },
      ],
      nextCursor: null,
    };
    // The exact text: every key, in this order, each value written as here (escapes included).
    expect(await (await listBackups(full.id, { token: myToken })).text()).toBe(JSON.stringify(expected));
  });

  it('flags a suspicious backup with the reason', async () => {
    const shrunk = await createDeployment(db, mine.id, { name: 'shrunk-db' });
    const reason = '1.0 KiB is 0.1% of the median size (1.0 MiB) of the last 5 successful backups';
    await storeRecord(shrunk, { status: 'SUCCEEDED', sizeBytes: 1024n, suspicious: true, suspiciousReason: reason });
    const { items } = (await (await listBackups(shrunk.id, { token: myToken })).json()) as {
      items: BackupRecordJson[];
    };
    expect(items[0]).toMatchObject({ suspicious: true, suspiciousReason: reason });
  });

  it.each([
    ['?limit=0', 'limit must be a whole number from 1 to 100 (got "0")'],
    ['?limit=abc', 'limit must be a whole number from 1 to 100 (got "abc")'],
    ['?limit=101', 'limit must be a whole number from 1 to 100 (got "101")'],
    ['?limit=2.5', 'limit must be a whole number from 1 to 100 (got "2.5")'],
    ['?cursor=NOT-AN-ID', 'cursor must be a backup id from nextCursor (got "NOT-AN-ID")'],
    [
      '?limit=0&cursor=x!',
      'cursor must be a backup id from nextCursor (got "x!"); limit must be a whole number from 1 to 100 (got "0")',
    ],
  ])('%s → 400 naming the parameter', async (query, message) => {
    const response = await listBackups(history.id, { token: myToken }, query);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: message });
  });

  it('400 for a well-formed cursor that is not a backup of this deployment (unknown, or another deployment’s)', async () => {
    for (const cursor of [UNKNOWN_ID, large.record.id]) {
      const other = cursor === UNKNOWN_ID ? history.id : dumpedTwice.id;
      const response = await listBackups(other, { token: myToken }, `?cursor=${cursor}`);
      expect(response.status).toBe(400);
      expect((await response.json()).error).toBe(
        `cursor must be the nextCursor of a previous page of this deployment's history (got "${cursor}")`,
      );
    }
  });

  it('empty parameters count as absent; authentication comes before validation', async () => {
    expect((await listBackups(history.id, { token: myToken }, '?cursor=&limit=')).status).toBe(200);
    expect((await listBackups(history.id, {}, '?limit=0')).status).toBe(401);
  });
});

describe('POST /api/deployments/{id}/backups: one backup at a time, run by a worker', () => {
  it('answers 202 with the queued job, then with the RUNNING record while it runs, and the backup succeeds', async () => {
    const first = await startBackup(dumped.id, { token: myToken });
    expect(first.status).toBe(202);
    const queued = (await first.json()) as { job: JobJson; started: boolean };
    // Queued, or already taken by the idle worker beside the web process.
    expect(queued).toMatchObject({ started: true, job: { kind: 'backup' } });
    expect(['queued', 'running']).toContain(queued.job.state);
    expect(first.headers.get('location')).toBe(`/api/jobs/${queued.job.id}`);

    // The job makes its record once a worker takes it; meanwhile (and while it runs) a repeat is no second backup.
    const running = await waitForJobRecord(queued.job.id);
    expect(running).toMatchObject({ deploymentId: dumped.id, trigger: 'API', jobId: queued.job.id });
    const second = await startBackup(dumped.id, { token: myToken });
    expect(second.status).toBe(202);
    const repeat = (await second.json()) as { started: boolean; backup?: BackupRecordJson; job?: JobJson };
    expect(repeat.started).toBe(false);
    expect(repeat.backup?.id ?? repeat.job?.id).toBe(repeat.backup ? running.id : queued.job.id);
    expect(await db.backupRecord.count({ where: { deploymentId: dumped.id } })).toBe(1);
    const started = { backup: running };

    const finished = await waitForBackupToEnd(started.backup.id);
    expect(finished).toMatchObject({
      status: 'SUCCEEDED',
      trigger: 'API',
      format: 'postgres-custom',
      extension: 'dump',
      error: null,
    });
    expect(BigInt(finished.sizeBytes!)).toBeGreaterThan(0n);
    expect(await db.backupRecord.count({ where: { deploymentId: dumped.id } })).toBe(1);

    // The file it wrote downloads byte for byte.
    const record = await db.backupRecord.findUniqueOrThrow({ where: { id: started.backup.id } });
    const response = await download(record.id, { token: myToken });
    expect(response.status).toBe(200);
    const body = await bodyBytes(response);
    expect(body.subarray(0, 5).toString('latin1')).toBe('PGDMP');
    expect(body.equals(await readFile(record.path!))).toBe(true);
    expect(sha256Of(body)).toBe(record.sha256);
    expect(response.headers.get('x-backup-sha256')).toBe(record.sha256);
    expect(response.headers.get('content-length')).toBe(String(record.sizeBytes));
  });

  it('two POSTs at the same moment queue one backup: one says started, both answer with the same job', async () => {
    const answers = await Promise.all([
      startBackup(dumpedTwice.id, { token: myToken }),
      startBackup(dumpedTwice.id, { token: myToken }),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([202, 202]);
    const bodies = (await Promise.all(answers.map((answer) => answer.json()))) as Array<{
      job?: JobJson;
      backup?: BackupRecordJson;
      started: boolean;
    }>;
    expect(bodies.map((body) => body.started).sort()).toEqual([false, true]);
    const jobId = bodies.find((body) => body.started)!.job!.id;
    const other = bodies.find((body) => !body.started)!;
    expect(other.job?.id ?? other.backup?.jobId).toBe(jobId);
    const record = await waitForJobRecord(jobId);
    expect((await waitForBackupToEnd(record.id)).status).toBe('SUCCEEDED');
    expect(await db.backupRecord.count({ where: { deploymentId: dumpedTwice.id } })).toBe(1);
  });

  it('409 with the reason for a deployment that may not be backed up', async () => {
    const failedDeployment = await createDeployment(db, mine.id, { status: 'FAILED' });
    const nginx = await createDeployment(db, mine.id, { recipeSlug: 'nginx' });
    for (const [deployment, code] of [
      [failedDeployment, 'DEPLOYMENT_NOT_RUNNING'],
      [nginx, 'NO_DATA_EXPORT'],
    ] as const) {
      const response = await startBackup(deployment.id, { token: myToken });
      expect(response.status).toBe(409);
      const body = (await response.json()) as { error: string; code: string };
      expect(body.code).toBe(code);
      expect(body.error).toMatch(/^backup not started: .+/);
      expect(await db.backupRecord.count({ where: { deploymentId: deployment.id } })).toBe(0);
    }
  });
});

describe('GET /api/backups/{id}/download', () => {
  it('streams the whole file in chunks: exact bytes, length, sha256 headers', async () => {
    const response = await download(large.record.id, { token: myToken });
    expect(response.status).toBe(200);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-length': String(LARGE_FILE_BYTES),
      'content-disposition': `attachment; filename="${path.basename(large.record.path!)}"`,
      'x-backup-sha256': large.record.sha256,
      'repr-digest': `sha-256=:${Buffer.from(large.record.sha256!, 'hex').toString('base64')}:`,
      'accept-ranges': 'bytes',
      'cache-control': 'no-store',
    });
    const reader = response.body!.getReader();
    const chunks: Uint8Array[] = [];
    for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value);
    // Streamed in reads of at most DOWNLOAD_CHUNK_BYTES, never as one buffer of the whole file.
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(LARGE_FILE_BYTES / DOWNLOAD_CHUNK_BYTES));
    expect(Math.max(...chunks.map((chunk) => chunk.length))).toBeLessThanOrEqual(DOWNLOAD_CHUNK_BYTES);
    const body = Buffer.concat(chunks);
    expect(body.equals(large.bytes)).toBe(true);
    expect(sha256Of(body)).toBe(large.record.sha256);
  });

  const size = LARGE_FILE_BYTES;
  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=1000-1999', 1000, 1999],
    [`bytes=${size - 10}-`, size - 10, size - 1],
    ['bytes=-256', size - 256, size - 1],
    [`bytes=${size - 5}-${size + 1000}`, size - 5, size - 1],
  ])('Range %s → 206 with exactly that slice', async (range, start, end) => {
    const response = await download(large.record.id, { token: myToken, headers: { range } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`);
    expect(response.headers.get('content-length')).toBe(String(end - start + 1));
    expect(response.headers.get('x-backup-sha256')).toBe(large.record.sha256);
    expect((await bodyBytes(response)).equals(large.bytes.subarray(start, end + 1))).toBe(true);
  });

  it.each([`bytes=${size}-`, `bytes=${size + 1}-${size + 9}`, 'bytes=-0'])(
    'Range %s → 416 with the size',
    async (range) => {
      const response = await download(large.record.id, { token: myToken, headers: { range } });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe(`bytes */${size}`);
      expect((await response.json()).error).toMatch(/holds no byte of this 3145728-byte file/);
    },
  );

  it.each(['bytes=0-1,5-6', 'items=0-1', 'bytes=9-3', 'nonsense'])(
    'Range %s is ignored: 200 with the whole file',
    async (range) => {
      const response = await download(large.record.id, { token: myToken, headers: { range } });
      expect(response.status).toBe(200);
      expect(sha256Of(await bodyBytes(response))).toBe(large.record.sha256);
    },
  );

  it('leaves no file open: after HEAD, a 416, a cancelled download and a finished one', async () => {
    const head = await downloadRoute.HEAD(
      request(`/api/backups/${large.record.id}/download`, { token: myToken }, { method: 'HEAD' }),
      params(large.record.id),
    );
    expect([head.status, head.body, head.headers.get('content-length'), head.headers.get('x-backup-sha256')]).toEqual([
      200,
      null,
      String(size),
      large.record.sha256,
    ]);
    await download(large.record.id, { token: myToken, headers: { range: `bytes=${size}-` } });
    expect(await openFilesUnder(harness.root)).toEqual([]);
    const cancelled = await download(large.record.id, { token: myToken });
    const reader = cancelled.body!.getReader();
    await reader.read();
    await reader.cancel();
    await bodyBytes(await download(large.record.id, { token: myToken }));
    await expect.poll(() => openFilesUnder(harness.root), { timeout: 2_000 }).toEqual([]);
  });

  it('409 for a FAILED or RUNNING backup', async () => {
    const failed = await storeRecord(history, { status: 'FAILED', errorKind: 'ExecFailed', error: 'pg_dump: boom' });
    const running = await storeRecord(history, { status: 'RUNNING' });
    expect(await (await download(failed.id, { token: myToken })).json()).toEqual({
      error: `backup "${failed.id}" is FAILED: only a SUCCEEDED backup has a file to download`,
    });
    expect((await download(failed.id, { token: myToken })).status).toBe(409);
    const answer = await download(running.id, { token: myToken });
    expect(answer.status).toBe(409);
    expect((await answer.json()).error).toMatch(/is still running/);
  });

  it('410 when the file is gone', async () => {
    const record = await storeBackupFile(history, new Date(T0.getTime() + 1), randomBytes(100));
    await rm(record.path!);
    const response = await download(record.id, { token: myToken });
    expect(response.status).toBe(410);
    expect((await response.json()).error).toBe(
      `backup "${record.id}": its file ${path.basename(record.path!)} is gone (pruned or deleted)`,
    );
  });

  it('never serves a file outside the deployment’s folder under BACKUP_ROOT', async () => {
    const secret = path.join(harness.root, 'not-a-backup.txt');
    await writeFile(secret, 'secret');
    const outside = await storeRecord(history, {
      status: 'SUCCEEDED',
      path: '/etc/passwd',
      sizeBytes: 10n,
      sha256: 'a'.repeat(64),
    });
    const sideways = await storeRecord(history, {
      status: 'SUCCEEDED',
      path: secret,
      sizeBytes: 6n,
      sha256: 'a'.repeat(64),
    });
    const linked = await storeBackupFile(history, new Date(T0.getTime() + 2), Buffer.from('secret'));
    await rm(linked.path!);
    await symlink(secret, linked.path!);
    for (const record of [outside, sideways, linked]) {
      const response = await download(record.id, { token: myToken });
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(text).toMatch(/refusing to serve/);
      expect(text).not.toContain('secret');
      expect(text).not.toContain('root:');
    }
  });

  it('503 while the backup volume is not there (not "gone": the file may well be on the unmounted volume)', async () => {
    const moved = `${harness.root}-unmounted`;
    await rename(harness.root, moved);
    try {
      const response = await download(large.record.id, { token: myToken });
      expect(response.status).toBe(503);
      expect((await response.json()).error).toBe(
        `backup "${large.record.id}": the backup volume (BACKUP_ROOT) is not available: ENOENT`,
      );
    } finally {
      await rename(moved, harness.root);
    }
  });

  it('refuses a file whose size no longer matches its record', async () => {
    const record = await storeBackupFile(history, new Date(T0.getTime() + 3), randomBytes(100));
    await writeFile(record.path!, randomBytes(90));
    const response = await download(record.id, { token: myToken });
    expect(response.status).toBe(500);
    expect((await response.json()).error).toMatch(/has 90 bytes, the record says 100/);
  });
});

describe('GET /api/metrics', () => {
  let flaky: Deployment;
  let late: Deployment;
  const lastFinished = new Date(T0.getTime() + 4_200);

  beforeAll(async () => {
    flaky = await createDeployment(db, mine.id, {
      name: 'flaky-db',
      backupEnabled: true,
      backupSchedule: '*/5 * * * *',
      lastBackupAt: T0,
    });
    await storeRecord(flaky, {
      status: 'SUCCEEDED',
      startedAt: new Date(T0.getTime() - DAY),
      finishedAt: new Date(T0.getTime() - DAY + 1_000),
      durationMs: 1_000,
      sizeBytes: 1n,
    });
    await storeRecord(flaky, {
      status: 'SUCCEEDED',
      startedAt: T0,
      finishedAt: lastFinished,
      durationMs: 4_200,
      sizeBytes: 123_456n,
    });
    await storeRecord(flaky, { status: 'FAILED', startedAt: new Date(T0.getTime() + HOUR) });
    await storeRecord(flaky, { status: 'FAILED', startedAt: new Date(T0.getTime() + 2 * HOUR) });
    // Its daily fire time was about 12 hours ago, and it has never been backed up: overdue.
    const hour = (new Date().getUTCHours() + 12) % 24;
    late = await createDeployment(db, theirs.id, {
      name: 'late-db',
      backupEnabled: true,
      backupSchedule: `0 ${hour} * * *`,
      createdAt: new Date(Date.now() - 3 * DAY),
    });
  });

  it.each([
    ['no token', () => ({})],
    ['a wrong token', () => ({ token: `${METRICS_TOKEN}x` })],
    ['a workspace API token', () => ({ token: myToken })],
    ['a session cookie', () => ({ headers: { cookie: `ops_session=${myToken}` } })],
  ])('401 with %s', async (_label, credential: () => Call) => {
    const response = await metrics(credential());
    expect(response.status).toBe(401);
    const text = await response.text();
    expect(Object.keys(JSON.parse(text))).toEqual(['error']);
    expect(text).not.toContain('ops_backup');
  });

  it('200 with the metrics token: per-deployment series and the volume', async () => {
    const response = await metrics({ token: METRICS_TOKEN });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const samples = parseExposition(await response.text());
    const flakyLabels = `{workspace="${mine.slug}",deployment="flaky-db"}`;
    expect(samples.get(`ops_backup_last_success_timestamp_seconds${flakyLabels}`)).toBe(lastFinished.getTime() / 1_000);
    expect(samples.get(`ops_backup_last_duration_seconds${flakyLabels}`)).toBe(4.2);
    expect(samples.get(`ops_backup_last_size_bytes${flakyLabels}`)).toBe(123_456);
    expect(samples.get(`ops_backup_failures_total${flakyLabels}`)).toBe(2);
    expect(samples.get(`ops_backup_running${flakyLabels}`)).toBe(0);

    const lateLabels = `{workspace="${theirs.slug}",deployment="late-db"}`;
    expect(samples.get(`ops_backup_overdue${lateLabels}`)).toBe(1);
    expect(samples.get(`ops_backup_failures_total${lateLabels}`)).toBe(0);
    expect(samples.has(`ops_backup_last_success_timestamp_seconds${lateLabels}`)).toBe(false);
    expect(samples.get(`ops_backup_overdue${flakyLabels}`)).toBe(0);

    // The backup made through the API (an enabled deployment) is there too.
    const webRecord = await db.backupRecord.findFirstOrThrow({ where: { deploymentId: dumped.id } });
    expect(samples.get(`ops_backup_last_size_bytes{workspace="${mine.slug}",deployment="pg-web"}`)).toBe(
      Number(webRecord.sizeBytes),
    );
    // Deployments with backups off are not reported.
    expect([...samples.keys()].some((key) => key.includes('history-db'))).toBe(false);

    expect(samples.get('ops_backup_volume_used_bytes')).toBeGreaterThan(0);
    expect(samples.get('ops_backup_volume_free_bytes')).toBeGreaterThan(0);
  });

  it('counts a running backup', async () => {
    const running = await storeRecord(late, { status: 'RUNNING', startedAt: new Date() });
    const samples = parseExposition(await (await metrics({ token: METRICS_TOKEN })).text());
    expect(samples.get(`ops_backup_running{workspace="${theirs.slug}",deployment="late-db"}`)).toBe(1);
    await db.backupRecord.update({ where: { id: running.id }, data: { status: 'FAILED', finishedAt: new Date() } });
  });

  it('costs the same three queries for 3 enabled deployments as for 23', async () => {
    const counted = new PrismaClient({
      adapter: new PrismaPg({ connectionString: harness.db.url }),
      log: [{ emit: 'event', level: 'query' }],
    });
    let queries = 0;
    counted.$on('query', () => {
      queries += 1;
    });
    const countQueries = async () => {
      queries = 0;
      const snapshot = await gatherMetricsSnapshot(counted, {
        now: new Date(),
        overdueGraceMs: HOUR,
        retryDelayMs: HOUR,
        backupRoot: harness.root,
      });
      return { queries, deployments: snapshot.deployments.length };
    };
    try {
      expect(await countQueries()).toEqual({ queries: 3, deployments: 3 });
      for (let index = 0; index < 20; index += 1) {
        const extra = await createDeployment(db, theirs.id, { name: `extra-${index}`, backupEnabled: true });
        await storeRecord(extra, { status: 'SUCCEEDED', finishedAt: T0, sizeBytes: 5n });
      }
      expect(await countQueries()).toEqual({ queries: 3, deployments: 23 });
    } finally {
      await counted.$disconnect();
    }
  });
});

describe('POST/DELETE /api/session: the dashboard’s cookie', () => {
  const signIn = (body: BodyInit, contentType: string, url = `${BASE}/api/session`) =>
    sessionRoute.POST(new Request(url, { method: 'POST', headers: { 'content-type': contentType }, body }));

  it('a good token sets an httpOnly cookie that then authenticates the API', async () => {
    const response = await signIn(JSON.stringify({ token: myToken }), 'application/json');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      signedIn: true,
      workspaceId: mine.id,
      scopes: ['read', 'operate', 'restore'],
    });
    const cookie = response.headers.get('set-cookie')!;
    // A session of the server's, not the token (tests/integration/web/access-control.test.ts has the rest).
    expect(cookie).toMatch(/^ops_session=opss_[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=43200$/);

    const withCookie = await listBackups(history.id, { headers: { cookie: cookie.split(';')[0]! } }, '?limit=1');
    expect(withCookie.status).toBe(200);
    expect((await withCookie.json()).items).toHaveLength(1);
  });

  it('the cookie is Secure over https (directly or behind a proxy)', async () => {
    const direct = await signIn(JSON.stringify({ token: myToken }), 'application/json', 'https://ops.test/api/session');
    expect(direct.headers.get('set-cookie')).toMatch(/; Secure$/);
    const proxied = await sessionRoute.POST(
      new Request(`${BASE}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
        body: JSON.stringify({ token: myToken }),
      }),
    );
    expect(proxied.headers.get('set-cookie')).toMatch(/; Secure$/);
  });

  it.each([
    ['unknown', () => generateApiToken().token],
    ['revoked', () => revokedToken],
    ['malformed', () => 'opsb_short'],
  ])('an %s token → 401 and no cookie', async (_label, token) => {
    const response = await signIn(JSON.stringify({ token: token() }), 'application/json');
    expect(response.status).toBe(401);
    expect(response.headers.get('set-cookie')).toBeNull();
    expect(Object.keys(await response.json())).toEqual(['error']);
  });

  it('a login form is redirected: to `next` with the cookie, or back to the login page without one', async () => {
    const form = (fields: Record<string, string>) =>
      signIn(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded');
    const good = await form({ token: myToken, next: '/deployments/abc' });
    expect([good.status, good.headers.get('location')]).toEqual([303, '/deployments/abc']);
    expect(good.headers.get('set-cookie')).toMatch(/^ops_session=opss_/);
    const bad = await form({ token: 'wrong', next: '/deployments/abc' });
    expect([bad.status, bad.headers.get('location'), bad.headers.get('set-cookie')]).toEqual([
      303,
      '/login?next=%2Fdeployments%2Fabc&reason=invalid',
      null,
    ]);
    for (const next of ['//evil.example/x', '/\\evil.example', 'https://evil.example/']) {
      expect((await form({ token: myToken, next })).headers.get('location')).toBe('/');
    }
  });

  it('400 without a token, 415 for other bodies', async () => {
    const missing = await signIn('{}', 'application/json');
    expect([missing.status, await missing.json()]).toEqual([400, { error: 'token is required' }]);
    expect((await signIn('{not json', 'application/json')).status).toBe(400);
    expect((await signIn(myToken, 'text/plain')).status).toBe(415);
  });

  it('refuses a sign-in from another site (login CSRF): 403, no cookie', async () => {
    const crossSite = (headers: Record<string, string>) =>
      sessionRoute.POST(
        new Request(`${BASE}/api/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          body: new URLSearchParams({ token: myToken, next: '/' }).toString(),
        }),
      );
    for (const headers of <Array<Record<string, string>>>[
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'null' },
    ]) {
      const response = await crossSite(headers);
      expect([response.status, response.headers.get('set-cookie')], JSON.stringify(headers)).toEqual([403, null]);
      expect((await response.json()).error).toMatch(/cross-site sign-in refused/);
    }
    const sameOrigin = await crossSite({ origin: BASE, 'sec-fetch-site': 'same-origin' });
    expect([sameOrigin.status, sameOrigin.headers.get('set-cookie')]).toEqual([
      303,
      expect.stringMatching(/^ops_session=/),
    ]);
  });

  it('413 for a body over 64 KiB, declared or not, read no further than the limit', async () => {
    const declared = await sessionRoute.POST(
      new Request(`${BASE}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(256 * 1024 * 1024) },
      }),
    );
    expect([declared.status, (await declared.json()).error]).toEqual([
      413,
      'the request body is larger than 65536 bytes',
    ]);
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 16 * 1024;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
      },
    });
    const streamed = await sessionRoute.POST(
      new Request(`${BASE}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: endless,
        duplex: 'half',
      } as RequestInit),
    );
    expect(streamed.status).toBe(413);
    expect(pulled).toBeLessThan(1024 * 1024);
  });

  it('DELETE clears the cookie (and revokes the session: access-control.test.ts)', async () => {
    const response = await sessionRoute.DELETE(new Request(`${BASE}/api/session`, { method: 'DELETE' }));
    expect(response.status).toBe(204);
    expect(response.headers.get('set-cookie')).toBe('ops_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
  });
});

/** Files under `folder` this process holds open (from /proc/self/fd). */
async function openFilesUnder(folder: string): Promise<string[]> {
  const targets = await Promise.all(
    (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
  );
  return targets.filter((target) => target.startsWith(`${folder}/`));
}

/** `name{labels} value` lines of a Prometheus exposition, by series. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const split = line.lastIndexOf(' ');
    samples.set(line.slice(0, split), Number(line.slice(split + 1)));
  }
  return samples;
}
