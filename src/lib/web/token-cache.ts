import type { ApiToken } from '../../generated/prisma/client.ts';

/**
 * How long a token's row, once read, answers read-only requests without reading it again: a token revoked meanwhile
 * (`npm run token -- revoke`, from another process) keeps reading for at most this long in each web process, and can
 * change nothing (writes always read the row). Expiry is exact: it is checked against each request's time.
 */
export const TOKEN_CACHE_MS = 2_000;
/** Rows kept at most (the oldest is dropped first): a process serves a handful of tokens. */
export const TOKEN_CACHE_ENTRIES = 1_000;

/** What the cache keeps of a token: its row as read (the usable ones only: an unknown token is read every time). */
export type CachedToken = Pick<
  ApiToken,
  'id' | 'workspaceId' | 'tokenHash' | 'scopes' | 'revokedAt' | 'expiresAt' | 'lastUsedAt'
>;

/**
 * API token rows by their hash, each for {@link TOKEN_CACHE_MS} after it was read: under load a workspace's history
 * requests cost one statement instead of two. Time is an argument; one cache per web process (the web context).
 */
export interface TokenCache {
  /** The row read for `tokenHash` less than the cache's lifetime before `now`, else null. */
  get(tokenHash: string, now: Date): CachedToken | null;
  /** Keeps `token` as read at `now`. */
  set(token: CachedToken, now: Date): void;
}

export function createTokenCache(options: { lifetimeMs?: number; maxEntries?: number } = {}): TokenCache {
  const lifetimeMs = options.lifetimeMs ?? TOKEN_CACHE_MS;
  const maxEntries = options.maxEntries ?? TOKEN_CACHE_ENTRIES;
  const entries = new Map<string, { token: CachedToken; readAt: number }>();
  return {
    get(tokenHash, now) {
      const entry = entries.get(tokenHash);
      if (!entry) return null;
      const age = now.getTime() - entry.readAt;
      if (age >= 0 && age < lifetimeMs) return entry.token;
      entries.delete(tokenHash);
      return null;
    },
    set(token, now) {
      entries.delete(token.tokenHash);
      entries.set(token.tokenHash, { token, readAt: now.getTime() });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
  };
}
