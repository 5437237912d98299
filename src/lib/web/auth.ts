import type { PrismaClient } from '../../generated/prisma/client.ts';
import { hashToken, looksLikeApiToken, secretsEqual } from '../shared/index.ts';

/** Name of the session cookie the dashboard's login sets (it carries the API token; httpOnly). */
export const SESSION_COOKIE = 'ops_session';

/** Who is asking: a workspace, through one of its API tokens. */
export interface Principal {
  workspaceId: string;
  tokenId: string;
}

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
 * Authenticates a request by its bearer token, else its session cookie. Tokens are looked up by their sha256 (only
 * hashes are stored) and compared in constant time; revoked tokens fail. Returns null for anything else.
 */
export async function authenticate(db: PrismaClient, headers: Headers, now: Date): Promise<Principal | null> {
  const token = bearerToken(headers) ?? sessionToken(headers);
  if (!token || !looksLikeApiToken(token)) return null;
  const tokenHash = hashToken(token);
  const stored = await db.apiToken.findUnique({ where: { tokenHash } });
  if (!stored || stored.revokedAt || !secretsEqual(tokenHash, stored.tokenHash)) return null;
  // Best effort: last use is information, not a reason to fail the request.
  await db.apiToken.update({ where: { id: stored.id }, data: { lastUsedAt: now } }).catch(() => undefined);
  return { workspaceId: stored.workspaceId, tokenId: stored.id };
}

/** True when the request carries the metrics token (compared in constant time). Never true when none is configured. */
export function isMetricsRequestAuthorized(headers: Headers, metricsToken: string | undefined): boolean {
  const given = bearerToken(headers);
  return Boolean(metricsToken && given && secretsEqual(given, metricsToken));
}
