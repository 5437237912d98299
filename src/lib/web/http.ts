import type { z } from 'zod';

/** Longest piece of a bad input echoed back in an error message. */
const ECHO_LIMIT = 40;

/** Every API answer is per-user data: never stored by a shared cache. */
const NO_STORE = { 'cache-control': 'no-store' };

/**
 * JSON.stringify that writes BigInt values (backup sizes) as exact decimal strings instead of throwing. The replacer
 * runs only for a value that holds a BigInt (JSON.stringify throws a TypeError on it): called on every key, it tripled
 * the cost of writing a page of history, whose sizes are strings already.
 */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
  }
}

/** A JSON response (BigInt-safe), not cacheable. */
export function json(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return jsonText(stringifyJson(body), init);
}

/**
 * An answer whose JSON text is written already, as plain data: what our production server sends over node:http
 * without building a `Response` (node-answers.ts), and what {@link jsonText} makes one of.
 */
export interface JsonTextAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** The {@link JsonTextAnswer} of `text` (e.g. written by PostgreSQL), not cacheable. */
export function jsonTextAnswer(
  text: string,
  init: { status?: number; headers?: Record<string, string> } = {},
): JsonTextAnswer {
  return {
    status: init.status ?? 200,
    headers: { 'content-type': 'application/json; charset=utf-8', ...NO_STORE, ...init.headers },
    text,
  };
}

/** A JSON response whose text is written already (e.g. by PostgreSQL), not cacheable. */
export function jsonText(text: string, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return toResponse(jsonTextAnswer(text, init));
}

/** `answer` as a `Response` (a route handler's answer). */
export function toResponse(answer: Response | JsonTextAnswer): Response {
  return answer instanceof Response ? answer : new Response(answer.text, answer);
}

/** An error response: `{ "error": message }` with the status; the message says what was wrong and what is allowed. */
export function problem(status: number, message: string, headers: Record<string, string> = {}): Response {
  return json({ error: message }, { status, headers });
}

/** A value as it is quoted in an error message: JSON-quoted and cut to a readable length. */
export function quoteInput(value: string): string {
  return JSON.stringify(value.length > ECHO_LIMIT ? `${value.slice(0, ECHO_LIMIT)}…` : value);
}

/**
 * Validates query parameters with a zod object schema. Empty parameters (`?cursor=`) count as absent; a repeated
 * parameter counts once (its first value). The failure is one sentence per bad parameter, naming it and the value:
 * `limit must be a whole number from 1 to 100 (got "0")`.
 */
export function parseSearchParams<Schema extends z.ZodType>(
  schema: Schema,
  params: URLSearchParams,
): { ok: true; value: z.infer<Schema> } | { ok: false; message: string } {
  const input: Record<string, string> = {};
  for (const key of new Set(params.keys())) {
    const value = params.get(key);
    if (value) input[key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  const message = result.error.issues
    .map((issue) => {
      const name = issue.path.map(String).join('.') || 'query';
      const given = input[name];
      return `${name} ${issue.message}${given === undefined ? '' : ` (got ${quoteInput(given)})`}`;
    })
    .join('; ');
  return { ok: false, message };
}
