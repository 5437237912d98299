/**
 * Server-side dashboard sessions. Signing in with an API token makes a `Session` row; the cookie carries only a
 * random secret, stored as its sha256. A session has its token's scopes and ends at the first of: sign-out (revoked),
 * its absolute expiry, an hour without a request (idle), its token revoked or expired.
 */
import { randomBytes } from 'node:crypto';
import type { PrismaClient, Session } from '../../generated/prisma/client.ts';
import { hashToken } from '../shared/index.ts';
import type { SessionCache } from './credential-cache.ts';
import { isTokenUsable, lastUseIsStale, type Principal } from './principal.ts';

/** How long a session lasts at most, whatever the activity. */
export const SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60;
/** A session unused this long has ended. */
export const SESSION_IDLE_SECONDS = 60 * 60;
/** Ended sessions are kept this long (when and how they ended is information), then deleted at the next sign-in. */
const ENDED_SESSION_KEEP_MS = 7 * 24 * 60 * 60 * 1000;

const SECRET_PREFIX = 'opss_';
const SECRET_SHAPE = /^opss_[A-Za-z0-9_-]{43}$/;

/** Why a session no longer works, or null while it does (pure). */
export function sessionEnded(
  session: Pick<Session, 'expiresAt' | 'lastSeenAt' | 'revokedAt'>,
  token: { revokedAt: Date | null; expiresAt: Date | null },
  now: Date,
): 'revoked' | 'expired' | 'idle' | 'token' | null {
  if (session.revokedAt) return 'revoked';
  if (session.expiresAt <= now) return 'expired';
  if (session.lastSeenAt.getTime() + SESSION_IDLE_SECONDS * 1000 <= now.getTime()) return 'idle';
  if (!isTokenUsable(token, now)) return 'token';
  return null;
}

/**
 * Opens a session for `principal` (authenticated by its token): returns the secret for the cookie (shown only here)
 * and when the session ends at the latest (never after its token expires).
 */
export async function createSession(
  db: PrismaClient,
  principal: Principal,
  tokenExpiresAt: Date | null,
  now: Date,
): Promise<{ secret: string; expiresAt: Date }> {
  const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
  const absolute = new Date(now.getTime() + SESSION_ABSOLUTE_SECONDS * 1000);
  const expiresAt = tokenExpiresAt && tokenExpiresAt < absolute ? tokenExpiresAt : absolute;
  // The token's sessions that ended long ago go, so the table holds what is live or recent.
  await db.session.deleteMany({
    where: { apiTokenId: principal.tokenId, expiresAt: { lt: new Date(now.getTime() - ENDED_SESSION_KEEP_MS) } },
  });
  await db.session.create({
    data: {
      secretHash: hashToken(secret),
      workspaceId: principal.workspaceId,
      apiTokenId: principal.tokenId,
      lastSeenAt: now,
      expiresAt,
      createdAt: now,
    },
  });
  return { secret, expiresAt };
}

/**
 * The principal of a session secret while the session works (see the module comment), else null. With `sessions`
 * (read-only requests), a working session's row read shortly before, with its token's, is taken from that cache
 * instead: a sign-out in another web process, or its token revoked, is seen once the row is read again (see
 * `CREDENTIAL_CACHE_MS`); expiry and idleness are checked against `now` either way.
 */
export async function findSession(
  db: PrismaClient,
  secret: string,
  now: Date,
  sessions?: SessionCache,
): Promise<Principal | null> {
  if (!SECRET_SHAPE.test(secret)) return null;
  const secretHash = hashToken(secret);
  const cached = sessions?.get(secretHash, now) ?? null;
  const session =
    cached ??
    (await db.session.findUnique({
      where: { secretHash },
      select: {
        id: true,
        workspaceId: true,
        apiTokenId: true,
        lastSeenAt: true,
        expiresAt: true,
        revokedAt: true,
        apiToken: { select: { scopes: true, revokedAt: true, expiresAt: true } },
      },
    }));
  if (!session || sessionEnded(session, session.apiToken, now) !== null) return null;
  // Kept from when it was read, not from its last use: under steady use it is still read again every lifetime.
  if (!cached) sessions?.set(secretHash, session, now);
  if (lastUseIsStale(session.lastSeenAt, now)) {
    session.lastSeenAt = now;
    // Best effort: a missed update shortens the idle window by a minute at most.
    await db.session.update({ where: { id: session.id }, data: { lastSeenAt: now } }).catch(() => undefined);
  }
  return {
    workspaceId: session.workspaceId,
    tokenId: session.apiTokenId,
    scopes: session.apiToken.scopes,
    sessionId: session.id,
  };
}

/**
 * Signs a session out: it stops working at once in this process (its row leaves `sessions`), and in other web
 * processes once their cached row is `CREDENTIAL_CACHE_MS` old. True when a working session was revoked.
 */
export async function revokeSession(
  db: PrismaClient,
  secret: string,
  now: Date,
  sessions?: SessionCache,
): Promise<boolean> {
  if (!SECRET_SHAPE.test(secret)) return false;
  const secretHash = hashToken(secret);
  sessions?.forget(secretHash);
  const { count } = await db.session.updateMany({
    where: { secretHash, revokedAt: null },
    data: { revokedAt: now },
  });
  return count > 0;
}
