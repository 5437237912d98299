/** Who a request speaks for, and what it may do (scopes). */
import type { ApiScope } from '../../generated/prisma/client.ts';

export type { ApiScope };

/** Every scope, in the order they are shown. */
export const API_SCOPES: readonly ApiScope[] = ['read', 'operate', 'restore'];

/** What each scope allows, for messages and the CLI's help. */
export const SCOPE_MEANINGS: Record<ApiScope, string> = {
  read: 'read backup and restore history, jobs and retention plans, download backups',
  operate: 'start backups, pin and unpin, prune',
  restore: 'plan, approve and confirm restores over live data',
};

/** Who is asking: a workspace, through one of its API tokens (directly, or a dashboard session signed in with it). */
export interface Principal {
  workspaceId: string;
  tokenId: string;
  /** What the token may do; a session has its token's scopes. */
  scopes: readonly ApiScope[];
  /** The dashboard session the request came with; null for a bearer token. */
  sessionId: string | null;
}

/** True when the principal may do what `scope` covers. */
export function hasScope(principal: Pick<Principal, 'scopes'>, scope: ApiScope): boolean {
  return principal.scopes.includes(scope);
}

/** True while a token works: not revoked, not past its expiry. */
export function isTokenUsable(token: { revokedAt: Date | null; expiresAt: Date | null }, now: Date): boolean {
  return token.revokedAt === null && (token.expiresAt === null || token.expiresAt > now);
}

/**
 * A credential's last use (a token's `lastUsedAt`, a session's `lastSeenAt`) is written at most once a minute: a write
 * per request made concurrent requests with one credential queue on its row (history at 175 req/s, p99 0.7 s), and a
 * page's many requests would make one write each.
 */
export const LAST_USE_STEP_MS = 60_000;

/** True when the recorded last use is missing or at least {@link LAST_USE_STEP_MS} old, so it is worth writing. */
export function lastUseIsStale(lastUse: Date | null, now: Date): boolean {
  return lastUse === null || now.getTime() - lastUse.getTime() >= LAST_USE_STEP_MS;
}
