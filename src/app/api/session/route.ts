import {
  authenticate,
  getWebContext,
  isCrossSiteSignIn,
  json,
  problem,
  readSignIn,
  sessionCookie,
  signInRedirect,
} from '../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * Signs in with a workspace API token (`{ "token": … }` as JSON, or a form with `token` and an optional `next`):
 * sets the httpOnly session cookie. JSON gets 200 or 401; a form gets a 303 redirect to `next` (default `/`), or back
 * to `/login?next=…&reason=invalid` with no cookie.
 */
export async function POST(request: Request): Promise<Response> {
  if (isCrossSiteSignIn(request)) {
    await request.body?.cancel().catch(() => undefined);
    return problem(403, 'cross-site sign-in refused: sign in from this dashboard’s own login page');
  }
  const signIn = await readSignIn(request);
  if (!signIn.ok) return signIn.response;
  const db = (await getWebContext()).runtime.database.prisma;
  const principal = await authenticate(db, new Headers({ authorization: `Bearer ${signIn.token}` }), new Date());
  if (signIn.form) return signInRedirect(signIn.next, principal ? sessionCookie(request, signIn.token) : null);
  if (!principal) return problem(401, 'token is not a valid workspace API token (unknown, revoked or malformed)');
  return json(
    { signedIn: true, workspaceId: principal.workspaceId },
    { headers: { 'set-cookie': sessionCookie(request, signIn.token) } },
  );
}

/** Signs out: clears the session cookie. */
export async function DELETE(request: Request): Promise<Response> {
  return new Response(null, {
    status: 204,
    headers: { 'set-cookie': sessionCookie(request, null), 'cache-control': 'no-store' },
  });
}
