import type { ApiToken, Session } from '../../generated/prisma/client.ts';

/**
 * How long a credential's row, once read, answers read-only requests without reading it again: a token revoked
 * meanwhile (`npm run token -- revoke`, from another process), or a session signed out in another web process, keeps
 * reading for at most this long in each web process, and can change nothing (writes always read the row). Expiry is
 * exact: it is checked against each request's time.
 */
export const CREDENTIAL_CACHE_MS = 2_000;
/** Rows kept at most per cache (the oldest is dropped first): a process serves a handful of tokens and sessions. */
export const CREDENTIAL_CACHE_ENTRIES = 1_000;

/** What the cache keeps of a token: its row as read (the usable ones only: an unknown token is read every time). */
export type CachedToken = Pick<
  ApiToken,
  'id' | 'workspaceId' | 'tokenHash' | 'scopes' | 'revokedAt' | 'expiresAt' | 'lastUsedAt'
>;

/** What the cache keeps of a session: its row and its token's, as read (working sessions only). */
export type CachedSession = Pick<
  Session,
  'id' | 'workspaceId' | 'apiTokenId' | 'lastSeenAt' | 'expiresAt' | 'revokedAt'
> & { apiToken: Pick<ApiToken, 'scopes' | 'revokedAt' | 'expiresAt'> };

/**
 * Credential rows by the hash of their secret, each for {@link CREDENTIAL_CACHE_MS} after it was read: under load a
 * workspace's history requests and dashboard pages cost no statement for their credential. Time is an argument; one
 * cache of each kind per web process (the web context).
 */
export interface CredentialCache<Row> {
  /** The row read for `hash` less than the cache's lifetime before `now`, else null. */
  get(hash: string, now: Date): Row | null;
  /** Keeps `row` as read at `now`. */
  set(hash: string, row: Row, now: Date): void;
  /** Drops the row of `hash` (a session signed out in this process ends here at once). */
  forget(hash: string): void;
}

export type TokenCache = CredentialCache<CachedToken>;
export type SessionCache = CredentialCache<CachedSession>;

/** The caches a read-only request may take its credential from. */
export interface CredentialCaches {
  tokens?: TokenCache;
  sessions?: SessionCache;
}

export function createCredentialCache<Row>(
  options: { lifetimeMs?: number; maxEntries?: number } = {},
): CredentialCache<Row> {
  const lifetimeMs = options.lifetimeMs ?? CREDENTIAL_CACHE_MS;
  const maxEntries = options.maxEntries ?? CREDENTIAL_CACHE_ENTRIES;
  const entries = new Map<string, { row: Row; readAt: number }>();
  return {
    get(hash, now) {
      const entry = entries.get(hash);
      if (!entry) return null;
      const age = now.getTime() - entry.readAt;
      if (age >= 0 && age < lifetimeMs) return entry.row;
      entries.delete(hash);
      return null;
    },
    set(hash, row, now) {
      entries.delete(hash);
      entries.set(hash, { row, readAt: now.getTime() });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
    forget(hash) {
      entries.delete(hash);
    },
  };
}
