import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as planRoute from '../../../src/app/api/backups/[id]/restore/route.ts';
import * as pinRoute from '../../../src/app/api/backups/[id]/pin/route.ts';
import * as backupsRoute from '../../../src/app/api/deployments/[id]/backups/route.ts';
import * as pruneRoute from '../../../src/app/api/deployments/[id]/prune/route.ts';
import * as approveRoute from '../../../src/app/api/restores/[id]/approve/route.ts';
import * as confirmRoute from '../../../src/app/api/restores/[id]/confirm/route.ts';
import * as sessionRoute from '../../../src/app/api/session/route.ts';
import type { ApiScope, Prisma, PrismaClient } from '../../../src/generated/prisma/client.ts';
import { generateApiToken, hashToken } from '../../../src/lib/shared/tokens.ts';
import { getWebContext } from '../../../src/lib/web/web-context.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

/**
 * Who may do what, through the route handlers on a real database: dashboard sessions live on the server (the cookie
 * holds a random secret, never the API token) and end on sign-out, idleness, their absolute expiry or their token's
 * end; tokens carry scopes (read, operate, restore) and an optional expiry, and a session has its token's scopes.
 */
const BASE = 'http://ops.test';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const RECORD_ID = 'cnosuchrecord000000000000';

let database: TestDatabase;
let db: PrismaClient;
let root: string;
let workspaceId: string;
let deploymentId: string;
let backupId: string;
let restoreId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'ops-access-'));
  Object.assign(process.env, { DATABASE_URL: database.url, BACKUP_ROOT: root, LOG_LEVEL: 'silent' });
  db = (await getWebContext()).runtime.database.prisma;
  workspaceId = (await createWorkspace(db)).id;
  const deployment = await createDeployment(db, workspaceId, { name: 'pg-access' });
  deploymentId = deployment.id;
  const backup = await db.backupRecord.create({
    data: {
      deploymentId,
      workspaceId,
      trigger: 'MANUAL',
      status: 'SUCCEEDED',
      startedAt: new Date(),
      path: path.join(root, 'x.dump'),
      sizeBytes: 1n,
      sha256: '0'.repeat(64),
    },
  });
  backupId = backup.id;
  restoreId = (
    await db.restoreRecord.create({
      data: {
        workspaceId,
        deploymentId,
        backupRecordId: backupId,
        backupSha256: backup.sha256!,
        backupStartedAt: backup.startedAt,
        kind: 'DESTRUCTIVE',
        status: 'PROPOSED',
        trigger: 'AGENT',
        target: 'app',
        requestedBy: 'agent',
      },
    })
  ).id;
});

afterAll(async () => {
  await (await getWebContext()).close();
  await database.drop();
  await rm(root, { recursive: true, force: true });
});

async function storeToken(overrides: Partial<Prisma.ApiTokenUncheckedCreateInput> = {}): Promise<string> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  await db.apiToken.create({ data: { workspaceId, name: 'test', tokenHash, tokenPrefix, ...overrides } });
  return token;
}

const params = (id: string) => ({ params: Promise.resolve({ id }) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function call(method: string, url: string, headers: Record<string, string>, body?: unknown): Request {
  return new Request(`${BASE}${url}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const listBackups = (headers: Record<string, string>) =>
  backupsRoute.GET(call('GET', `/api/deployments/${deploymentId}/backups`, headers), params(deploymentId));
const startBackup = (headers: Record<string, string>) =>
  backupsRoute.POST(call('POST', `/api/deployments/${deploymentId}/backups`, headers), params(deploymentId));

/** Signs in with `token` (JSON): the response and the `name=value` part of its cookie. */
async function signIn(token: string): Promise<{ response: Response; cookie: string }> {
  const response = await sessionRoute.POST(call('POST', '/api/session', {}, { token }));
  return { response, cookie: response.headers.get('set-cookie')?.split(';')[0] ?? '' };
}

describe('dashboard sessions', () => {
  it('the cookie carries a random session secret, stored only as its sha256, never the API token', async () => {
    const token = await storeToken();
    const { response, cookie } = await signIn(token);
    expect(response.status).toBe(200);
    expect(response.headers.get('set-cookie')).toMatch(
      /^ops_session=opss_[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=43200$/,
    );
    expect(cookie).not.toContain(token);
    const secret = cookie.slice('ops_session='.length);
    const session = await db.session.findUniqueOrThrow({ where: { secretHash: hashToken(secret) } });
    expect(JSON.stringify(session)).not.toContain(secret);
    expect((await listBackups({ cookie })).status).toBe(200);
  });

  it('a signed-out session is refused, even though its token still works', async () => {
    const token = await storeToken();
    const { cookie } = await signIn(token);
    expect((await listBackups({ cookie })).status).toBe(200);
    const signOut = await sessionRoute.DELETE(call('DELETE', '/api/session', { cookie }));
    expect([signOut.status, signOut.headers.get('set-cookie')]).toEqual([
      204,
      'ops_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
    ]);
    const refused = await listBackups({ cookie });
    expect(refused.status).toBe(401);
    expect((await listBackups(bearer(token))).status).toBe(200);
  });

  it('another site cannot sign a browser out; sessions that ended a week ago are deleted at the next sign-in', async () => {
    const token = await storeToken();
    const { cookie } = await signIn(token);
    const crossSite = await sessionRoute.DELETE(
      call('DELETE', '/api/session', { cookie, origin: 'https://evil.example' }),
    );
    expect(crossSite.status).toBe(403);
    expect((await listBackups({ cookie })).status).toBe(200);
    const secretHash = hashToken(cookie.slice('ops_session='.length));
    await db.session.update({ where: { secretHash }, data: { expiresAt: new Date(Date.now() - 8 * 24 * HOUR) } });
    await signIn(token);
    expect(await db.session.count({ where: { secretHash } })).toBe(0);
  });

  it('ends after an hour without a request, after 12 hours whatever the activity, and with its token', async () => {
    const token = await storeToken();
    const sessions = await Promise.all([signIn(token), signIn(token), signIn(token)]);
    const secretOf = (cookie: string) => hashToken(cookie.slice('ops_session='.length));
    const [idle, old, revoked] = sessions.map((session) => session.cookie) as [string, string, string];
    for (const cookie of [idle, old, revoked]) expect((await listBackups({ cookie })).status).toBe(200);
    // The rows change here without time passing; a read-only request reuses a row read in the last
    // CREDENTIAL_CACHE_MS (credential-cache.test.ts), so the web process is made to read them again, as it would then.
    const { sessions: cachedSessions } = (await getWebContext()).credentials;
    const readAgain = (cookie: string) => cachedSessions.forget(secretOf(cookie));

    await db.session.update({
      where: { secretHash: secretOf(idle) },
      data: { lastSeenAt: new Date(Date.now() - HOUR - MINUTE) },
    });
    await db.session.update({ where: { secretHash: secretOf(old) }, data: { expiresAt: new Date(Date.now() - 1) } });
    [idle, old].forEach(readAgain);
    expect((await listBackups({ cookie: idle })).status).toBe(401);
    expect((await listBackups({ cookie: old })).status).toBe(401);

    expect((await listBackups({ cookie: revoked })).status).toBe(200);
    await db.apiToken.update({ where: { tokenHash: hashToken(token) }, data: { revokedAt: new Date() } });
    readAgain(revoked);
    expect((await listBackups({ cookie: revoked })).status).toBe(401);
  });

  it('never outlives its token: the cookie and the session end when the token expires', async () => {
    const token = await storeToken({ expiresAt: new Date(Date.now() + 2 * HOUR) });
    const { response, cookie } = await signIn(token);
    const maxAge = Number(/Max-Age=(\d+)/.exec(response.headers.get('set-cookie') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(2 * 3600 - 60);
    expect(maxAge).toBeLessThanOrEqual(2 * 3600);
    const session = await db.session.findUniqueOrThrow({
      where: { secretHash: hashToken(cookie.slice('ops_session='.length)) },
    });
    expect(session.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 2 * HOUR);
  });

  it('refuses cookies that are not ours: an API token as the cookie, a made-up secret, %zz', async () => {
    const token = await storeToken();
    for (const cookie of [`ops_session=${token}`, `ops_session=opss_${'A'.repeat(43)}`, 'ops_session=%zz']) {
      expect((await listBackups({ cookie })).status, cookie).toBe(401);
    }
  });
});

describe('token scopes', () => {
  const scoped = (scopes: ApiScope[]) => storeToken({ scopes });

  it('a read token reads, and cannot back up, pin, prune or restore: 403 naming the missing scope', async () => {
    const token = await scoped(['read']);
    expect((await listBackups(bearer(token))).status).toBe(200);
    const refusals: Array<[string, Promise<Response>, ApiScope]> = [
      ['POST backup', startBackup(bearer(token)), 'operate'],
      [
        'POST pin',
        pinRoute.POST(call('POST', `/api/backups/${backupId}/pin`, bearer(token)), params(backupId)),
        'operate',
      ],
      [
        'POST prune',
        pruneRoute.POST(
          call('POST', `/api/deployments/${deploymentId}/prune`, bearer(token), { expectDelete: [] }),
          params(deploymentId),
        ),
        'operate',
      ],
      [
        'POST restore plan',
        planRoute.POST(call('POST', `/api/backups/${backupId}/restore`, bearer(token)), params(backupId)),
        'restore',
      ],
      [
        'POST approve',
        approveRoute.POST(call('POST', `/api/restores/${restoreId}/approve`, bearer(token)), params(restoreId)),
        'restore',
      ],
      [
        'POST confirm',
        confirmRoute.POST(
          call('POST', `/api/restores/${restoreId}/confirm`, bearer(token), { token: 'opsr_x' }),
          params(restoreId),
        ),
        'restore',
      ],
    ];
    for (const [name, answer, scope] of refusals) {
      const response = await answer;
      const body = (await response.json()) as { error: string; missingScope: string };
      expect([name, response.status, body.missingScope]).toEqual([name, 403, scope]);
      expect(body.error).toContain(`"${scope}" scope`);
    }
    // Nothing happened: no backup queued or made, the pin unchanged, the proposal untouched.
    expect(await db.backupRecord.count({ where: { deploymentId } })).toBe(1);
    expect((await db.backupRecord.findUniqueOrThrow({ where: { id: backupId } })).pinned).toBe(false);
    const restores = await db.restoreRecord.findMany({ where: { deploymentId } });
    expect(restores).toEqual([expect.objectContaining({ id: restoreId, status: 'PROPOSED', confirmTokenHash: null })]);
  });

  it('an operate token may pin but not read the history, nor restore', async () => {
    const token = await scoped(['operate']);
    const pinned = await pinRoute.POST(call('POST', `/api/backups/${backupId}/pin`, bearer(token)), params(backupId));
    expect(pinned.status).toBe(200);
    await pinRoute.DELETE(call('DELETE', `/api/backups/${backupId}/pin`, bearer(token)), params(backupId));
    expect(((await (await listBackups(bearer(token))).json()) as { missingScope: string }).missingScope).toBe('read');
    const plan = await planRoute.POST(
      call('POST', `/api/backups/${backupId}/restore`, bearer(token)),
      params(backupId),
    );
    expect(plan.status).toBe(403);
  });

  it('a session has the scopes of the token it signed in with', async () => {
    const { cookie } = await signIn(await scoped(['read']));
    expect((await listBackups({ cookie })).status).toBe(200);
    const refused = await startBackup({ cookie, origin: BASE });
    expect([refused.status, ((await refused.json()) as { missingScope: string }).missingScope]).toEqual([
      403,
      'operate',
    ]);
    const signedIn = await sessionRoute.POST(call('POST', '/api/session', {}, { token: await scoped(['read']) }));
    expect(((await signedIn.json()) as { scopes: string[] }).scopes).toEqual(['read']);
  });

  it('tokens made before scopes existed (the column default) may do everything', async () => {
    const { tokenHash } = generateApiToken();
    const stored = await db.apiToken.create({ data: { workspaceId, name: 'old', tokenHash, tokenPrefix: 'opsb_x' } });
    expect(stored.scopes).toEqual(['read', 'operate', 'restore']);
  });
});

describe('token expiry', () => {
  it('an expired token is refused like an unknown one, by bearer and at sign-in', async () => {
    const expired = await storeToken({ expiresAt: new Date(Date.now() - MINUTE) });
    const refused = await listBackups(bearer(expired));
    expect([refused.status, refused.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="ops"']);
    const { response, cookie } = await signIn(expired);
    expect([response.status, cookie]).toEqual([401, '']);
    const valid = await storeToken({ expiresAt: new Date(Date.now() + HOUR) });
    expect((await listBackups(bearer(valid))).status).toBe(200);
  });
});

describe('every API answer is per-user data', () => {
  it('403 and 401 answers are not cached either', async () => {
    const token = await storeToken({ scopes: ['read'] });
    expect((await startBackup(bearer(token))).headers.get('cache-control')).toBe('no-store');
    expect((await startBackup(bearer(RECORD_ID))).headers.get('cache-control')).toBe('no-store');
  });
});
