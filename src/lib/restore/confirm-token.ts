import { randomBytes } from 'node:crypto';
import { hashToken, secretsEqual } from '../shared/index.ts';

/** Confirmation tokens look like `opsr_<40 characters>`: recognisable, and never mistaken for an API token (`opsb_`). */
const CONFIRM_TOKEN_PREFIX = 'opsr_';
/** How long a dry-run's token may be used. */
export const CONFIRM_TOKEN_TTL_MS = 15 * 60 * 1000;

/** A new confirmation token (shown once, to the person who asked for the plan) and the sha256 that is stored. */
export function generateConfirmToken(): { token: string; tokenHash: string } {
  const token = `${CONFIRM_TOKEN_PREFIX}${randomBytes(30).toString('base64url')}`;
  return { token, tokenHash: hashToken(token) };
}

/** True when `token` hashes to `storedHash` (compared in constant time). */
export function confirmTokenMatches(token: string, storedHash: string | null): boolean {
  return storedHash !== null && secretsEqual(hashToken(token), storedHash);
}

export { hashToken as hashConfirmToken };
