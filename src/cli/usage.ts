import type { z } from 'zod';

/** A mistake in how a CLI was called: the entry point prints its message with the usage text and exits 2. */
export class UsageError extends Error {}

/** `value` parsed by `schema`, or a `UsageError` naming the argument, what it must be and what was given. */
export function parseArgument<T>(schema: z.ZodType<T>, value: string | undefined, name: string): T {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new UsageError(
      `${name} ${result.error.issues[0]?.message ?? 'is invalid'} (got ${JSON.stringify(value ?? '')})`,
    );
  return result.data;
}
