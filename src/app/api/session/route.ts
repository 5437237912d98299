import {
  authenticateToken,
  createSession,
  getWebContext,
  isCrossSiteSignIn,
  isSecureTransport,
  json,
  problem,
  readSignIn,
  requestClientAddress,
  revokeSession,
  sessionCookie,
  sessionToken,
  signInRedirect,
  tooManyRequests,
} from '../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * Signs in with a workspace API token (`{ "token": … }` as JSON, or a form with `token` and an optional `next`):
 * opens a server-side session and sets its httpOnly cookie (the session's secret, never the token). JSON gets 200 or
 * 401; a form gets a 303 redirect to `next` (default `/`), or back to `/login?next=…&reason=invalid` with no cookie.
 * A sign-in from another site is 403 (login CSRF).
 */
export async function POST(request: Request): Promise<Response> {
  if (isCrossSiteSignIn(request)) {
    await request.body?.cancel().catch(() => undefined);
    return problem(403, 'cross-site sign-in refused: sign in from this dashboard’s own login page');
  }
  const signIn = await readSignIn(request);
  if (!signIn.ok) return signIn.response;
  const context = await getWebContext();
  const db = context.runtime.database.prisma;
  const now = new Date();
  // Guessing tokens: failed sign-ins are limited per client address (successful ones cost nothing).
  const address = requestClientAddress(request);
  const allowed = context.limits.failedSignIns.check(address, now);
  if (!allowed.ok) return tooManyRequests(allowed, 'failed sign-ins from this address');
  const principal = await authenticateToken(db, signIn.token, now);
  if (!principal) context.limits.failedSignIns.take(address, now);
  let cookie: string | null = null;
  if (principal) {
    const token = await db.apiToken.findUniqueOrThrow({ where: { id: principal.tokenId } });
    const session = await createSession(db, principal, token.expiresAt, now);
    cookie = sessionCookie(session, isSecureTransport(context.transport, request.headers, request.url), now);
  }
  if (signIn.form) return signInRedirect(signIn.next, cookie);
  if (!principal || !cookie)
    return problem(401, 'token is not a valid workspace API token (unknown, revoked, expired or malformed)');
  return json(
    { signedIn: true, workspaceId: principal.workspaceId, scopes: principal.scopes },
    { headers: { 'set-cookie': cookie } },
  );
}

/**
 * Signs out: the session is revoked (its cookie no longer works: at once in this process, within
 * `CREDENTIAL_CACHE_MS` in other web processes) and the cookie cleared. Another site cannot
 * sign a browser out (403), as it cannot sign one in.
 */
export async function DELETE(request: Request): Promise<Response> {
  if (isCrossSiteSignIn(request)) return problem(403, 'cross-site sign-out refused');
  const context = await getWebContext();
  const secret = sessionToken(request.headers);
  const now = new Date();
  if (secret) await revokeSession(context.runtime.database.prisma, secret, now, context.credentials.sessions);
  return new Response(null, {
    status: 204,
    headers: {
      'set-cookie': sessionCookie(null, isSecureTransport(context.transport, request.headers, request.url), now),
      'cache-control': 'no-store',
    },
  });
}
