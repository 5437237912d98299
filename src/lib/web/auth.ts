import type { PrismaClient } from '../../generated/prisma/client.ts';
import { hashToken, looksLikeApiToken, secretsEqual } from '../shared/index.ts';
import { isTokenUsable, lastUseIsStale, type Principal } from './principal.ts';
import { findSession } from './sessions.ts';
import type { CredentialCaches, TokenCache } from './credential-cache.ts';

/** Name of the session cookie the dashboard's sign-in sets (it carries a session secret, never the API token). */
export const SESSION_COOKIE = 'ops_session';

/** The bearer token of an `Authorization` header, or null. */
export function bearerToken(headers: Headers): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.get('authorization') ?? '');
  return match?.[1] ?? null;
}

/** The session cookie's value from a `Cookie` header, or null. */
export function sessionToken(headers: Headers): string | null {
  for (const part of (headers.get('cookie') ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name !== SESSION_COOKIE) continue;
    try {
      return decodeURIComponent(value.join('='));
    } catch {
      return null; // not percent-encoding (`%zz`): no session, the same 401 as any other bad cookie
    }
  }
  return null;
}

/**
 * Authenticates a request by its bearer token, else its session cookie (see `findSession`). Returns null for anything
 * else: no credential, an unknown, revoked or expired token or session. `caches`: rows read shortly before, for
 * read-only requests only (see `authenticateToken`, `findSession`).
 */
export async function authenticate(
  db: PrismaClient,
  headers: Headers,
  now: Date,
  caches: CredentialCaches = {},
): Promise<Principal | null> {
  const token = bearerToken(headers);
  if (token) return authenticateToken(db, token, now, caches.tokens);
  const secret = sessionToken(headers);
  return secret ? findSession(db, secret, now, caches.sessions) : null;
}

/**
 * The principal of an API token. Tokens are looked up by their sha256 (only hashes are stored) and compared in
 * constant time; revoked and expired tokens fail. With `tokens`, a usable token's row read shortly before is taken
 * from that cache instead (a revocation is seen once the row is read again; see `CREDENTIAL_CACHE_MS`).
 */
export async function authenticateToken(
  db: PrismaClient,
  token: string,
  now: Date,
  tokens?: TokenCache,
): Promise<Principal | null> {
  if (!looksLikeApiToken(token)) return null;
  const tokenHash = hashToken(token);
  const cached = tokens?.get(tokenHash, now) ?? null;
  const stored = cached ?? (await db.apiToken.findUnique({ where: { tokenHash } }));
  if (!stored || !isTokenUsable(stored, now) || !secretsEqual(tokenHash, stored.tokenHash)) return null;
  // Kept from when it was read, not from its last use: under steady use it is still read again every lifetime.
  if (!cached) tokens?.set(tokenHash, stored, now);
  // Best effort: last use is information, not a reason to fail the request.
  if (lastUseIsStale(stored.lastUsedAt, now)) {
    stored.lastUsedAt = now;
    await db.apiToken.update({ where: { id: stored.id }, data: { lastUsedAt: now } }).catch(() => undefined);
  }
  return { workspaceId: stored.workspaceId, tokenId: stored.id, scopes: stored.scopes, sessionId: null };
}

/** True when the request carries the metrics token (compared in constant time). Never true when none is configured. */
export function isMetricsRequestAuthorized(headers: Headers, metricsToken: string | undefined): boolean {
  const given = bearerToken(headers);
  return Boolean(metricsToken && given && secretsEqual(given, metricsToken));
}
