/**
 * The dashboard's sign-in: what a sign-in request carries (JSON or a login form) and the session cookie that holds
 * the session's secret afterwards (sessions.ts; httpOnly, so page scripts never see it; SameSite=Lax, so other sites
 * cannot post with it; Secure whenever the dashboard is served over https, see transport-security.ts).
 */
import { z } from 'zod';
import { SESSION_COOKIE } from './auth.ts';
import { problem } from './http.ts';
import { parseJsonBytes, readBoundedBody } from './request-body.ts';

/** Where a failed form sign-in is sent back to (the dashboard's login page). */
export const LOGIN_PATH = '/login';

const signInSchema = z.object({
  token: z
    .string({ error: 'is required' })
    .trim()
    .min(1, { error: 'is required' })
    .max(200, { error: 'is too long to be an API token' }),
  next: z.string().optional(),
});

export type SignIn = { ok: true; token: string; form: boolean; next: string } | { ok: false; response: Response };

/** Reads `{ token, next? }` from a JSON body or a form (urlencoded or multipart), at most `MAX_BODY_BYTES` of it. */
export async function readSignIn(request: Request): Promise<SignIn> {
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
  const form = type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data';
  if (!form && type !== 'application/json') {
    await request.body?.cancel().catch(() => undefined);
    return refused(
      415,
      `send {"token": "<API token>"} as application/json or a form (got content-type ${JSON.stringify(type)})`,
    );
  }
  const read = await readBoundedBody(request);
  if (!read.ok) return read;
  const body = form ? await parseForm(read.bytes, request.headers) : parseJsonBytes(read.bytes);
  if (!body.ok)
    return refused(400, form ? 'the form could not be read' : 'body must be JSON: {"token": "<API token>"}');
  const parsed = signInSchema.safeParse(body.value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refused(400, `${issue?.path.join('.') || 'body'} ${issue?.message ?? 'is invalid'}`);
  }
  return { ok: true, token: parsed.data.token, form, next: safeNextPath(parsed.data.next) };
}

function refused(status: number, message: string): SignIn {
  return { ok: false, response: problem(status, message) };
}

/** A form's string fields, from bytes already read (urlencoded or multipart, per the request's content type). */
async function parseForm(bytes: Uint8Array, headers: Headers): Promise<{ ok: true; value: unknown } | { ok: false }> {
  try {
    const contentType = headers.get('content-type') ?? '';
    const fields = await new Response(new Uint8Array(bytes), { headers: { 'content-type': contentType } }).formData();
    return {
      ok: true,
      value: Object.fromEntries([...fields.entries()].filter(([, value]) => typeof value === 'string')),
    };
  } catch {
    return { ok: false };
  }
}

/** `next` if it is a path on this site (`/…`, not `//host` or `/\host`), else `/`: no open redirect. */
export function safeNextPath(next: string | undefined): string {
  return next && /^\/(?![/\\])[^\s\\]*$/.test(next) ? next : '/';
}

/**
 * The `Set-Cookie` value that stores a session's secret until the session's absolute expiry, or clears the cookie
 * (null). `secure`: served over https (isSecureTransport).
 */
export function sessionCookie(session: { secret: string; expiresAt: Date } | null, secure: boolean, now: Date): string {
  const maxAge = session === null ? 0 : Math.max(0, Math.floor((session.expiresAt.getTime() - now.getTime()) / 1000));
  const attributes = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAge}`];
  if (secure) attributes.push('Secure');
  return [`${SESSION_COOKIE}=${session === null ? '' : session.secret}`, ...attributes].join('; ');
}

/** After a form sign-in: 303 to `next` with the cookie, or back to the login page (`?next=…&reason=invalid`). */
export function signInRedirect(next: string, cookie: string | null): Response {
  const failed = `${LOGIN_PATH}?${new URLSearchParams({ next, reason: 'invalid' })}`;
  return new Response(null, {
    status: 303,
    headers: {
      location: cookie ? next : failed,
      'cache-control': 'no-store',
      ...(cookie ? { 'set-cookie': cookie } : {}),
    },
  });
}
