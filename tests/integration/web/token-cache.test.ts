import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { requirePrincipal } from '../../../src/lib/web/api-auth.ts';
import type { ApiScope } from '../../../src/lib/web/principal.ts';
import { createTokenCache, TOKEN_CACHE_MS, type TokenCache } from '../../../src/lib/web/token-cache.ts';
import { createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

/**
 * The web process keeps a token's row for TOKEN_CACHE_MS after reading it, for read-only requests: a revoked token
 * reads for at most that long (however often it is used meanwhile), never writes, and an expired one is refused at
 * once. Against the real database: the revocation is an UPDATE of the row, as `npm run token -- revoke` makes it.
 */
const T0 = new Date('2026-03-01T02:59:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

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
  const answer = await requirePrincipal(database.prisma, request, now, scope, tokens);
  if (answer instanceof Response && answer.status !== 401) throw new Error(`unexpected ${answer.status}`);
  return !(answer instanceof Response);
}

describe('the token cache of read-only requests', () => {
  it('reads a revoked token until its row, read at the first request, is TOKEN_CACHE_MS old, however often it is used', async () => {
    const tokens = createTokenCache();
    const { token, id } = await storeToken();
    expect(await accepted(token, T0, tokens)).toBe(true);
    await database.prisma.apiToken.update({ where: { id }, data: { revokedAt: at(1) } });
    const steps = [0.25, 0.5, 0.75, 0.99].map((fraction) => at(fraction * TOKEN_CACHE_MS));
    for (const now of steps) expect(await accepted(token, now, tokens)).toBe(true);
    expect(await accepted(token, at(TOKEN_CACHE_MS), tokens)).toBe(false);
    expect(await accepted(token, at(TOKEN_CACHE_MS + 1), tokens)).toBe(false);
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
    const { token } = await storeToken(at(TOKEN_CACHE_MS / 2));
    expect(await accepted(token, T0, tokens)).toBe(true);
    expect(await accepted(token, at(TOKEN_CACHE_MS / 2 - 1), tokens)).toBe(true);
    expect(await accepted(token, at(TOKEN_CACHE_MS / 2), tokens)).toBe(false);
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
