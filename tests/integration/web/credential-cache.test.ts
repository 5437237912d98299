import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { requirePrincipal } from '../../../src/lib/web/api-auth.ts';
import type { ApiScope } from '../../../src/lib/web/principal.ts';
import {
  type CachedSession,
  type CachedToken,
  createCredentialCache,
  CREDENTIAL_CACHE_MS,
  type SessionCache,
  type TokenCache,
} from '../../../src/lib/web/credential-cache.ts';
import { createSession, revokeSession, SESSION_IDLE_SECONDS } from '../../../src/lib/web/sessions.ts';
import { createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

/**
 * The web process keeps a token's or a session's row for CREDENTIAL_CACHE_MS after reading it, for read-only
 * requests: a revoked token, or a session signed out elsewhere, reads for at most that long (however often it is used
 * meanwhile), never writes, and an expired one is refused at once. Against the real database: a revocation is an
 * UPDATE of the row, as `npm run token -- revoke` or a sign-out in another web process makes it.
 */
const T0 = new Date('2026-03-01T02:59:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

const createTokenCache = (options?: { maxEntries: number }) => createCredentialCache<CachedToken>(options);

let database: TestDatabase;
let workspaceId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  workspaceId = (await createWorkspace(database.prisma)).id;
});
afterAll(async () => {
  await database.drop();
});

async function storeToken(expiresAt: Date | null = null): Promise<{ token: string; id: string }> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  const { id } = await database.prisma.apiToken.create({
    data: { workspaceId, name: 'cache test', tokenHash, tokenPrefix, expiresAt },
  });
  return { token, id };
}

/** Whether a request with `token` at `now` gets through `requirePrincipal` for `scope` (false: the 401). */
async function accepted(token: string, now: Date, tokens: TokenCache, scope: ApiScope = 'read'): Promise<boolean> {
  const request = {
    method: scope === 'read' ? 'GET' : 'POST',
    url: 'http://ops.test/api/anything',
    headers: new Headers({ authorization: `Bearer ${token}` }),
  };
  const answer = await requirePrincipal(database.prisma, request, now, scope, { tokens });
  if (answer instanceof Response && answer.status !== 401) throw new Error(`unexpected ${answer.status}`);
  return !(answer instanceof Response);
}

describe('the token cache of read-only requests', () => {
  it('reads a revoked token until its row, read at the first request, is CREDENTIAL_CACHE_MS old, however often it is used', async () => {
    const tokens = createTokenCache();
    const { token, id } = await storeToken();
    expect(await accepted(token, T0, tokens)).toBe(true);
    await database.prisma.apiToken.update({ where: { id }, data: { revokedAt: at(1) } });
    const steps = [0.25, 0.5, 0.75, 0.99].map((fraction) => at(fraction * CREDENTIAL_CACHE_MS));
    for (const now of steps) expect(await accepted(token, now, tokens)).toBe(true);
    expect(await accepted(token, at(CREDENTIAL_CACHE_MS), tokens)).toBe(false);
    expect(await accepted(token, at(CREDENTIAL_CACHE_MS + 1), tokens)).toBe(false);
  });

  it('never serves a request that may change something: a revoked token is refused at once', async () => {
    const tokens = createTokenCache();
    const { token, id } = await storeToken();
    expect(await accepted(token, T0, tokens, 'operate')).toBe(true);
    expect(await accepted(token, T0, tokens, 'read')).toBe(true);
    await database.prisma.apiToken.update({ where: { id }, data: { revokedAt: at(1) } });
    expect(await accepted(token, at(1), tokens, 'operate')).toBe(false);
    expect(await accepted(token, at(1), tokens, 'restore')).toBe(false);
  });

  it('refuses a token from the moment it expires, its row cached or not', async () => {
    const tokens = createTokenCache();
    const { token } = await storeToken(at(CREDENTIAL_CACHE_MS / 2));
    expect(await accepted(token, T0, tokens)).toBe(true);
    expect(await accepted(token, at(CREDENTIAL_CACHE_MS / 2 - 1), tokens)).toBe(true);
    expect(await accepted(token, at(CREDENTIAL_CACHE_MS / 2), tokens)).toBe(false);
  });

  it('does not keep an unknown token: one created afterwards works at once', async () => {
    const tokens = createTokenCache();
    const { token, tokenHash, tokenPrefix } = generateApiToken();
    expect(await accepted(token, T0, tokens)).toBe(false);
    await database.prisma.apiToken.create({ data: { workspaceId, name: 'late', tokenHash, tokenPrefix } });
    expect(await accepted(token, at(1), tokens)).toBe(true);
  });

  it('keeps at most maxEntries rows, dropping the oldest read', async () => {
    const tokens = createTokenCache({ maxEntries: 2 });
    const [first, second, third] = [await storeToken(), await storeToken(), await storeToken()];
    for (const { token } of [first!, second!, third!]) expect(await accepted(token, T0, tokens)).toBe(true);
    for (const { id } of [first!, second!, third!]) {
      await database.prisma.apiToken.update({ where: { id }, data: { revokedAt: T0 } });
    }
    // The first row was dropped when the third was kept: read again, it is revoked; the other two are still kept.
    expect(await accepted(first!.token, at(1), tokens)).toBe(false);
    expect(await accepted(second!.token, at(1), tokens)).toBe(true);
    expect(await accepted(third!.token, at(1), tokens)).toBe(true);
  });
});

/** A session signed in at T0 with a new token of `scopes` (expiring at `tokenExpiresAt`): its secret and ids. */
async function storeSession(
  scopes: Array<'read' | 'operate'> = ['read'],
  tokenExpiresAt: Date | null = null,
): Promise<{ secret: string; sessionId: string; tokenId: string }> {
  const { tokenHash, tokenPrefix } = generateApiToken();
  const { id: tokenId } = await database.prisma.apiToken.create({
    data: { workspaceId, name: 'session cache test', tokenHash, tokenPrefix, scopes, expiresAt: tokenExpiresAt },
  });
  const { secret } = await createSession(
    database.prisma,
    { workspaceId, tokenId, scopes, sessionId: null },
    tokenExpiresAt,
    T0,
  );
  const { id: sessionId } = await database.prisma.session.findFirstOrThrow({ where: { apiTokenId: tokenId } });
  return { secret, sessionId, tokenId };
}

/** Whether a same-site request with the session cookie `secret` gets through `requirePrincipal` for `scope`. */
async function sessionAccepted(
  secret: string,
  now: Date,
  sessions: SessionCache,
  scope: ApiScope = 'read',
): Promise<boolean> {
  const request = {
    method: scope === 'read' ? 'GET' : 'POST',
    url: 'http://ops.test/api/anything',
    headers: new Headers({ cookie: `ops_session=${secret}`, 'sec-fetch-site': 'same-origin' }),
  };
  const answer = await requirePrincipal(database.prisma, request, now, scope, { sessions });
  if (answer instanceof Response && answer.status !== 401) throw new Error(`unexpected ${answer.status}`);
  return !(answer instanceof Response);
}

describe('the session cache of read-only requests', () => {
  const createSessionCache = () => createCredentialCache<CachedSession>();

  it('reads a session signed out in another process until its row is CREDENTIAL_CACHE_MS old', async () => {
    const sessions = createSessionCache();
    const { secret, sessionId } = await storeSession();
    expect(await sessionAccepted(secret, T0, sessions)).toBe(true);
    await database.prisma.session.update({ where: { id: sessionId }, data: { revokedAt: at(1) } });
    for (const fraction of [0.25, 0.5, 0.99]) {
      expect(await sessionAccepted(secret, at(fraction * CREDENTIAL_CACHE_MS), sessions)).toBe(true);
    }
    expect(await sessionAccepted(secret, at(CREDENTIAL_CACHE_MS), sessions)).toBe(false);
  });

  it('ends a session signed out in this process at once', async () => {
    const sessions = createSessionCache();
    const { secret } = await storeSession();
    expect(await sessionAccepted(secret, T0, sessions)).toBe(true);
    expect(await revokeSession(database.prisma, secret, at(1), sessions)).toBe(true);
    expect(await sessionAccepted(secret, at(2), sessions)).toBe(false);
  });

  it('ends a session when its token is revoked, once the row is read again', async () => {
    const sessions = createSessionCache();
    const { secret, tokenId } = await storeSession();
    expect(await sessionAccepted(secret, T0, sessions)).toBe(true);
    await database.prisma.apiToken.update({ where: { id: tokenId }, data: { revokedAt: at(1) } });
    expect(await sessionAccepted(secret, at(CREDENTIAL_CACHE_MS - 1), sessions)).toBe(true);
    expect(await sessionAccepted(secret, at(CREDENTIAL_CACHE_MS), sessions)).toBe(false);
  });

  it('never serves a request that may change something: a signed-out session is refused at once', async () => {
    const sessions = createSessionCache();
    const { secret, sessionId } = await storeSession(['read', 'operate']);
    expect(await sessionAccepted(secret, T0, sessions, 'operate')).toBe(true);
    expect(await sessionAccepted(secret, T0, sessions, 'read')).toBe(true);
    await database.prisma.session.update({ where: { id: sessionId }, data: { revokedAt: at(1) } });
    expect(await sessionAccepted(secret, at(1), sessions, 'operate')).toBe(false);
  });

  it('refuses a session from the moment it expires (here with its token), its row cached or not', async () => {
    const sessions = createSessionCache();
    const { secret } = await storeSession(['read'], at(CREDENTIAL_CACHE_MS / 2));
    expect(await sessionAccepted(secret, T0, sessions)).toBe(true);
    expect(await sessionAccepted(secret, at(CREDENTIAL_CACHE_MS / 2 - 1), sessions)).toBe(true);
    expect(await sessionAccepted(secret, at(CREDENTIAL_CACHE_MS / 2), sessions)).toBe(false);
  });

  it('counts idleness from the last use it wrote, cached or not', async () => {
    const sessions = createSessionCache();
    const { secret, sessionId } = await storeSession();
    const idleMs = SESSION_IDLE_SECONDS * 1000;
    // Used just before it would go idle: the use is written (and kept in the cached row), so it lives on.
    const lastUse = at(idleMs - 1);
    expect(await sessionAccepted(secret, lastUse, sessions)).toBe(true);
    const stored = await database.prisma.session.findUniqueOrThrow({ where: { id: sessionId } });
    expect(stored.lastSeenAt).toEqual(lastUse);
    expect(await sessionAccepted(secret, at(idleMs + 1), sessions)).toBe(true);
  });
});
