import { headers } from 'next/headers.js';
import { redirect } from 'next/navigation.js';
import {
  authenticate,
  bearerToken,
  getWebContext,
  hasScope,
  LOGIN_PATH,
  type Principal,
  sessionToken,
  type WebContext,
} from '../../lib/web/index.ts';

/**
 * The workspace a page request acts for, from its bearer token or its session cookie, with the web context. Anyone
 * else, and a session whose token lacks the `read` scope, is redirected to the login page, which sends them back to
 * `returnTo` afterwards: a page never renders data without a valid token that may read it. A request carrying no
 * token at all is redirected without touching the database.
 */
export async function requirePagePrincipal(returnTo: string): Promise<{ principal: Principal; context: WebContext }> {
  const requestHeaders = new Headers(await headers());
  if (!bearerToken(requestHeaders) && !sessionToken(requestHeaders)) redirect(loginPath(returnTo));
  const context = await getWebContext();
  // A page only reads (its actions are API requests, which check their credential themselves): it may take its
  // credential's row from the web context's caches.
  const principal = await authenticate(
    context.runtime.database.prisma,
    requestHeaders,
    new Date(),
    context.credentials,
  );
  if (!principal) redirect(loginPath(returnTo, 'invalid'));
  if (!hasScope(principal, 'read')) redirect(loginPath(returnTo, 'scope'));
  return { principal, context };
}

/** The login page's address, remembering where to go afterwards (and that a token was refused, when it was). */
export function loginPath(returnTo: string, reason?: 'invalid' | 'scope'): string {
  return `${LOGIN_PATH}?${new URLSearchParams({ next: returnTo, ...(reason ? { reason } : {}) }).toString()}`;
}
