import { z } from 'zod';

/**
 * The `limit` query parameter of a list endpoint: a whole number from 1 to `max` (query text coerced), `fallback`
 * when absent. Every way of getting it wrong gets the same sentence, which says what is allowed.
 */
export function pageLimitSchema(max: number, fallback: number) {
  const error = `must be a whole number from 1 to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(1, { error }).max(max, { error }).default(fallback);
}
