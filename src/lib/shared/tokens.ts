import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Tokens look like `opsb_<40 base62-ish chars>`: the prefix makes a leaked one easy to recognise and search for. */
const TOKEN_PREFIX = 'opsb_';
const TOKEN_SHAPE = /^opsb_[A-Za-z0-9_-]{40}$/;

/** A new random API token (shown once) with what is stored of it: its sha256 and its first characters. */
export function generateApiToken(): { token: string; tokenHash: string; tokenPrefix: string } {
  const token = `${TOKEN_PREFIX}${randomBytes(30).toString('base64url')}`;
  return { token, tokenHash: hashToken(token), tokenPrefix: token.slice(0, TOKEN_PREFIX.length + 6) };
}

/** sha256 of a token, hex: the only form in which tokens are stored or compared. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** True when `token` has the shape of our API tokens (cheap check before any database lookup). */
export function looksLikeApiToken(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

/** Compares two secrets in constant time (by their sha256, so lengths never leak either). */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}
