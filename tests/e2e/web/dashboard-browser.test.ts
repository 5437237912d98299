import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { SESSION_COOKIE } from '../../../src/lib/web/auth.ts';
import type { ApiScope } from '../../../src/generated/prisma/client.ts';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { PROJECT_ROOT } from '../../support/processes.ts';
import { startWebServer, type WebServer } from '../../support/web-server.ts';

/**
 * The dashboard as a person uses it: the built Next.js app (`npm run build:web`) served the way production serves it
 * (`npm run start:web`: our compiled src/web-server.ts in front of Next), driven by Debian's Chromium through
 * playwright-core, and its download endpoint over real HTTP. The deployment's pod runs a real pg_dump through the fake
 * Kubernetes API, in the test's process; the web server is a separate process that reaches it through a kubeconfig.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOT = path.join(PROJECT_ROOT, 'test-results', 'dashboard.png');
const SCHEDULE = '0 3 * * *';
const SCHEDULE_WORDS = 'every day at 03:00 (UTC)';
/** Rows the scratch database starts with; each seeded backup adds as many again, so sizes grow visibly. */
const ROWS_PER_STEP = 3_000;
const EXISTING_BACKUPS = 3;
/** The fake API holds back the exit status of "Back up now"'s dump this long, so its RUNNING row can be seen. */
const HELD_STATUS_MS = 2_500;
const UI_TIMEOUT_MS = 15_000;

let harness: BackupHarness;
let scratchDatabase: string;
let server: WebServer | undefined;
let baseUrl: string;
let browser: Browser;
let signedIn: BrowserContext;
let page: Page;
let deployment: Deployment;
let failing: Deployment;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
  harness = await startBackupHarness();
  const db = harness.db.prisma;
  const workspaceA = await createWorkspace(db, { name: 'Acme' });
  const workspaceB = await createWorkspace(db, { name: 'Other' });
  tokenA = await createApiToken(harness, workspaceA.id);
  tokenB = await createApiToken(harness, workspaceB.id);

  scratchDatabase = await createDatabase(uniqueDatabaseName('ops_test_dash'));
  const scratch = new pg.Client({ connectionString: databaseUrl(scratchDatabase) });
  await scratch.connect();
  await scratch.query('CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric NOT NULL)');
  deployment = await createDeployment(db, workspaceA.id, {
    name: 'orders-db',
    backupEnabled: true,
    backupSchedule: SCHEDULE,
    backupRetention: 7,
  });
  harness.kube.pods.push(
    podFor('orders-db', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: scratchDatabase }),
  );
  for (let step = 0; step < EXISTING_BACKUPS; step += 1) {
    await scratch.query(
      `INSERT INTO orders (customer, total) SELECT md5(g::text), g * 1.5 FROM generate_series(1, ${ROWS_PER_STEP}) g`,
    );
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: step === 0 ? 'MANUAL' : 'SCHEDULE' });
    expect(outcome.status).toBe('SUCCEEDED');
  }
  await scratch.end();

  // A second deployment whose dump really fails (its database does not exist): a FAILED record and an open alert.
  failing = await createDeployment(db, workspaceA.id, {
    name: 'billing-db',
    backupEnabled: true,
    backupSchedule: SCHEDULE,
  });
  harness.kube.pods.push(
    podFor('billing-db', 'postgres', {
      PGHOST: '127.0.0.1',
      POSTGRES_USER: 'postgres',
      POSTGRES_DB: `${scratchDatabase}_missing`,
    }),
  );
  expect((await executeBackup(harness.deps, failing.id, { trigger: 'MANUAL' })).status).toBe('FAILED');

  server = await startWebServer({
    DATABASE_URL: harness.db.url,
    BACKUP_ROOT: harness.root,
    KUBECONFIG: harness.kube.kubeconfigPath,
    LOG_LEVEL: 'warn',
    // Served over plain http on loopback: the explicit setting for that (else its cookies would be Secure).
    WEB_ALLOW_PLAIN_HTTP: 'true',
  });
  baseUrl = server.url;
  // A worker beside the web process: it runs the backups the dashboard queues.
  await harness.runJobs();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  signedIn = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await signedIn.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await harness?.close();
  if (scratchDatabase) await dropDatabase(scratchDatabase);
});

/** Signs in with `token` over the API: the session secret its cookie carries. */
async function sessionSecret(token: string): Promise<string> {
  const response = await fetch(`${baseUrl}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  expect(response.status).toBe(200);
  const secret = /^ops_session=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
  if (!secret) throw new Error('the sign-in set no session cookie');
  return secret;
}

async function createApiToken(
  backupHarness: BackupHarness,
  workspaceId: string,
  scopes: ApiScope[] = ['read', 'operate', 'restore'],
): Promise<string> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  await backupHarness.db.prisma.apiToken.create({
    data: { workspaceId, name: 'browser test', tokenHash, tokenPrefix, scopes },
  });
  return token;
}

/** What a raw HTTP answer looks like on the wire: status, headers as sent (chunked or not) and the body's bytes. */
interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request over node:http, so that `Transfer-Encoding` and `Content-Length` are seen exactly as sent. */
function rawRequest(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers ?? {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

const deploymentPath = () => `/deployments/${deployment.id}/backups`;
const historyRows = () => page.locator('tbody tr[data-backup-id]');

describe('dashboard in a browser', () => {
  it('sends a visitor without a session to the login page, showing no data', async () => {
    const anonymous = await browser.newContext();
    try {
      const visitor = await anonymous.newPage();
      await visitor.goto(`${baseUrl}${deploymentPath()}`);
      expect(new URL(visitor.url()).pathname).toBe('/login');
      expect(new URL(visitor.url()).searchParams.get('next')).toBe(deploymentPath());
      await expect(visitor.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
      expect(await visitor.content()).not.toContain('orders-db');
    } finally {
      await anonymous.close();
    }
  });

  it('signs in with the workspace token and shows the schedule in words and the three backups, newest first', async () => {
    await page.goto(`${baseUrl}/login?next=${encodeURIComponent(deploymentPath())}`);
    await page.getByLabel('API token').fill(tokenA);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${baseUrl}${deploymentPath()}`);
    await page.getByRole('heading', { name: 'orders-db' }).waitFor();
    expect(await page.getByText(SCHEDULE_WORDS).count()).toBe(1);
    expect(await page.getByText('keep-last 7').count()).toBe(1);
    expect(await historyRows().count()).toBe(EXISTING_BACKUPS);
    const records = await harness.db.prisma.backupRecord.findMany({
      where: { deploymentId: deployment.id },
      orderBy: { startedAt: 'desc' },
    });
    expect(await historyRows().evaluateAll((rows) => rows.map((row) => row.getAttribute('data-backup-id')))).toEqual(
      records.map((r) => r.id),
    );
    expect(await historyRows().evaluateAll((rows) => rows.map((row) => row.getAttribute('data-status')))).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
    expect(await page.locator('figure.chart rect.bar').count()).toBe(2 * EXISTING_BACKUPS);
    // Recoverability: no off-site destination is configured, so each backup is "local only"; no restore has run yet.
    expect(await historyRows().locator('[data-offsite]').allTextContents()).toEqual(
      Array(EXISTING_BACKUPS).fill('local only'),
    );
    expect(
      await page
        .getByRole('region', { name: 'Restores' })
        .getByText(/^No restores yet\. Scheduled test-restores are off/)
        .count(),
    ).toBe(1);
  });

  it('"Back up now" adds a RUNNING row that turns SUCCEEDED, without reloading the page', async () => {
    harness.kube.pods[0]!.faults = { delayStatusMs: HELD_STATUS_MS };
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    await page.getByRole('button', { name: 'Back up now' }).click();

    const newest = historyRows().first();
    await page.locator('tbody tr[data-status="RUNNING"]').waitFor();
    expect(await historyRows().count()).toBe(EXISTING_BACKUPS + 1);
    expect(await newest.getAttribute('data-status')).toBe('RUNNING');
    expect(await page.getByRole('button', { name: 'Backup running…' }).isDisabled()).toBe(true);

    await page
      .locator(`tbody tr[data-backup-id="${await newest.getAttribute('data-backup-id')}"][data-status="SUCCEEDED"]`)
      .waitFor();
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    const record = await harness.db.prisma.backupRecord.findUniqueOrThrow({
      where: { id: (await newest.getAttribute('data-backup-id'))! },
    });
    expect(record).toMatchObject({ status: 'SUCCEEDED', trigger: 'API' });
    await page.getByRole('button', { name: 'Back up now' }).waitFor();
    expect(await page.locator('figure.chart rect.bar').count()).toBe(2 * (EXISTING_BACKUPS + 1));
  });

  it('downloads the newest backup: the file has the sha256 its record holds', async () => {
    const newest = historyRows().first();
    const record = await harness.db.prisma.backupRecord.findUniqueOrThrow({
      where: { id: (await newest.getAttribute('data-backup-id'))! },
    });
    expect(await newest.locator('code').textContent()).toBe(record.sha256!.slice(0, 12));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      newest.getByRole('link', { name: /Download/ }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(path.basename(record.path!));
    const bytes = await readFile(await download.path());
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('PGDMP');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(record.sha256);

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('the overview lists the failing deployment first with its reason, then this one, and the open alert', async () => {
    await page.goto(`${baseUrl}/backups`);
    const rows = page.locator('tbody tr[data-deployment-id]');
    await rows.first().waitFor();
    expect(await rows.evaluateAll((all) => all.map((row) => row.getAttribute('data-deployment-id')))).toEqual([
      failing.id,
      deployment.id,
    ]);
    expect(await rows.nth(0).locator('.badge').textContent()).toBe('FAILED');
    expect(await rows.nth(1).locator('.badge').textContent()).toBe('SUCCEEDED');
    expect(await rows.nth(1).textContent()).toContain(`${EXISTING_BACKUPS + 1} backups`);
    const alerts = page.getByRole('region', { name: 'Open alerts' });
    expect(await alerts.getByText('billing-db').count()).toBe(1);
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-overview.png'), fullPage: true });
  });

  it('shows why a backup failed, and what happens next where there is no backup yet', async () => {
    await page.getByRole('link', { name: 'billing-db' }).first().click();
    await page.getByRole('heading', { name: 'billing-db' }).waitFor();
    const failed = historyRows().first();
    expect(await failed.getAttribute('data-status')).toBe('FAILED');
    expect(await failed.textContent()).toContain('ExecFailed');
    expect(await failed.textContent()).toContain('does not exist');

    const fresh = await createDeployment(harness.db.prisma, deployment.workspaceId, {
      name: 'fresh-db',
      backupEnabled: true,
      backupSchedule: SCHEDULE,
    });
    await page.goto(`${baseUrl}/deployments/${fresh.id}/backups`);
    await page.getByText('No backups yet. The first scheduled backup runs in').waitFor();
  });

  it('shows a read-only session no "Back up now", and sign-out revokes the session on the server', async () => {
    const readOnly = await browser.newContext();
    try {
      const token = await createApiToken(harness, deployment.workspaceId, ['read']);
      const secret = await sessionSecret(token);
      await readOnly.addCookies([{ name: SESSION_COOKIE, value: secret, url: baseUrl }]);
      const reader = await readOnly.newPage();
      await reader.goto(`${baseUrl}${deploymentPath()}`);
      await reader.getByText('Starting backups needs a token with the operate scope.').waitFor();
      expect(await reader.getByRole('button', { name: 'Back up now' }).count()).toBe(0);
      await reader.getByRole('button', { name: 'Sign out' }).click();
      await reader.waitForURL(/\/login/);
      // The browser dropped the cookie; the server revoked the session too: the same secret no longer opens a page.
      await readOnly.addCookies([{ name: SESSION_COOKIE, value: secret, url: baseUrl }]);
      await reader.goto(`${baseUrl}${deploymentPath()}`);
      await reader.waitForURL(/\/login\?/);
      expect(await reader.content()).not.toContain('orders-db');
    } finally {
      await readOnly.close();
    }
  });

  it("answers 404 to workspace B's token for workspace A's deployment", async () => {
    const other = await browser.newContext();
    try {
      await other.addCookies([{ name: SESSION_COOKIE, value: await sessionSecret(tokenB), url: baseUrl }]);
      const stranger = await other.newPage();
      const response = await stranger.goto(`${baseUrl}${deploymentPath()}`);
      expect(response?.status()).toBe(404);
      await stranger.getByRole('heading', { name: 'Not found' }).waitFor();
      expect(await stranger.content()).not.toContain('orders-db');
    } finally {
      await other.close();
    }
  });
});

describe('GET|HEAD /api/backups/{id}/download over HTTP from the production server', () => {
  const downloadUrl = (id: string) => `${baseUrl}/api/backups/${id}/download`;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  let record: { id: string; sha256: string; size: number; bytes: Buffer };

  beforeAll(async () => {
    const found = await harness.db.prisma.backupRecord.findFirstOrThrow({
      where: { deploymentId: deployment.id, status: 'SUCCEEDED' },
      orderBy: { startedAt: 'asc' },
    });
    const bytes = await readFile(found.path!);
    record = { id: found.id, sha256: found.sha256!, size: bytes.length, bytes };
    expect(BigInt(record.size)).toBe(found.sizeBytes);
    expect(record.size).toBeGreaterThan(64 * 1024);
  });

  /** The framing every download answer must show. */
  function expectLengthFraming(answer: RawAnswer, length: number): void {
    expect(answer.headers['content-length']).toBe(String(length));
    expect(answer.headers['transfer-encoding']).toBeUndefined();
  }

  it('sends the whole file with Content-Length, not chunked, and its sha256', async () => {
    const answer = await rawRequest(downloadUrl(record.id), {
      headers: { ...bearer(tokenA), 'accept-encoding': 'gzip, br' },
    });
    expect(answer.status).toBe(200);
    expectLengthFraming(answer, record.size);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.headers['x-backup-sha256']).toBe(record.sha256);
    expect(answer.body.length).toBe(record.size);
    expect(createHash('sha256').update(answer.body).digest('hex')).toBe(record.sha256);
  });

  it('signed in by the session cookie, the same', async () => {
    const cookie = `${SESSION_COOKIE}=${await sessionSecret(tokenA)}`;
    const answer = await rawRequest(downloadUrl(record.id), { headers: { cookie } });
    expect(answer.status).toBe(200);
    expectLengthFraming(answer, record.size);
    expect(createHash('sha256').update(answer.body).digest('hex')).toBe(record.sha256);
  });

  it('answers a Range with 206, that slice and its length', async () => {
    const [start, end] = [1_000, 41_999];
    const answer = await rawRequest(downloadUrl(record.id), {
      headers: { ...bearer(tokenA), range: `bytes=${start}-${end}` },
    });
    expect(answer.status).toBe(206);
    expectLengthFraming(answer, end - start + 1);
    expect(answer.headers['content-range']).toBe(`bytes ${start}-${end}/${record.size}`);
    expect(answer.body.equals(record.bytes.subarray(start, end + 1))).toBe(true);

    const tail = await rawRequest(downloadUrl(record.id), { headers: { ...bearer(tokenA), range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expectLengthFraming(tail, 100);
    expect(tail.headers['content-range']).toBe(`bytes ${record.size - 100}-${record.size - 1}/${record.size}`);
    expect(tail.body.equals(record.bytes.subarray(record.size - 100))).toBe(true);
  });

  it('answers HEAD with the headers of the download and no body', async () => {
    const answer = await rawRequest(downloadUrl(record.id), { method: 'HEAD', headers: bearer(tokenA) });
    expect(answer.status).toBe(200);
    expectLengthFraming(answer, record.size);
    expect(answer.headers['x-backup-sha256']).toBe(record.sha256);
    expect(answer.body.length).toBe(0);
  });

  it("answers 401 without a credential and 404 to another workspace's token, sending no byte of the file", async () => {
    const anonymous = await rawRequest(downloadUrl(record.id));
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="ops"');
    const stranger = await rawRequest(downloadUrl(record.id), { headers: bearer(tokenB) });
    expect(stranger.status).toBe(404);
    expect(JSON.parse(stranger.body.toString('utf8'))).toEqual({ error: `backup "${record.id}" not found` });
    for (const answer of [anonymous, stranger]) expect(answer.headers['x-backup-sha256']).toBeUndefined();
  });
});
