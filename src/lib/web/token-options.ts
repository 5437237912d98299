/** What `npm run token -- create` accepts for a token's scopes and lifetime (zod: the single source of both). */
import { z } from 'zod';
import { API_SCOPES, type ApiScope } from './principal.ts';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Longest lifetime `--expires` takes: ten years. */
const MAX_LIFETIME_MS = 3_650 * UNIT_MS.d;

/** `read,operate` → the scopes, each once, in the order of API_SCOPES; unknown or empty names are refused. */
export const scopeListSchema = z
  .string({ error: `is required: a comma-separated list of ${API_SCOPES.join(', ')}` })
  .transform((text, context) => {
    const names = text.split(',').map((name) => name.trim());
    const unknown = names.filter((name) => !(API_SCOPES as readonly string[]).includes(name));
    if (unknown.length > 0 || names.length === 0) {
      context.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of ${API_SCOPES.join(', ')} (unknown: ${unknown.map((n) => JSON.stringify(n)).join(', ')})`,
      });
      return z.NEVER;
    }
    return API_SCOPES.filter((scope) => names.includes(scope));
  });

/** `90d`, `12h`, `30m`: a lifetime in milliseconds, from one minute to ten years. */
export const lifetimeSchema = z
  .string()
  .regex(/^[1-9]\d{0,6}[mhd]$/, { error: 'must be a number followed by m, h or d (e.g. 90d, 12h, 30m)' })
  .transform((text) => Number(text.slice(0, -1)) * UNIT_MS[text.at(-1) as keyof typeof UNIT_MS])
  .refine((ms) => ms <= MAX_LIFETIME_MS, { error: 'must be at most 3650d' });

/** When a token made at `now` with `lifetimeMs` expires (null: never). */
export function tokenExpiry(lifetimeMs: number | null, now: Date): Date | null {
  return lifetimeMs === null ? null : new Date(now.getTime() + lifetimeMs);
}
