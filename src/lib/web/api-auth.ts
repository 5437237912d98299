import type { BackupRecord, Deployment, PrismaClient } from '../../generated/prisma/client.ts';
import { authenticate, bearerToken } from './auth.ts';
import { json, problem, quoteInput } from './http.ts';
import { type ApiScope, hasScope, type Principal, SCOPE_MEANINGS } from './principal.ts';
import type { CredentialCaches } from './credential-cache.ts';
import { isRecordId } from '../shared/index.ts';

/**
 * What the access checks read of a request: a route's `Request`, or the few fields our production server gives the
 * routes it answers without Next.js (src/lib/web/direct-routes.ts), which builds no `Request` for them.
 */
export type RequestHead = Pick<Request, 'method' | 'url' | 'headers'>;

/**
 * The workspace a request speaks for, or the answer to send: 401 for no token, a malformed, unknown, revoked or
 * expired token or session (all the same answer, which holds no data); 403 for a cross-site cookie write, or a
 * principal without `scope` (naming it). `caches` (the web context's credential rows read shortly before) serve only
 * `read` requests: a request that may change something always reads its token's or session's row.
 */
export async function requirePrincipal(
  db: PrismaClient,
  request: RequestHead,
  now: Date,
  scope: ApiScope,
  caches: CredentialCaches = {},
): Promise<Principal | Response> {
  const principal = await authenticate(db, request.headers, now, scope === 'read' ? caches : {});
  if (!principal) {
    return problem(401, 'authentication required: send "Authorization: Bearer <workspace API token>" or sign in', {
      'www-authenticate': 'Bearer realm="ops"',
    });
  }
  if (isCrossSiteCookieWrite(request))
    return problem(403, 'cross-site request refused: a signed-in browser may change things only from this dashboard');
  if (!hasScope(principal, scope)) return missingScope(scope);
  return principal;
}

/** The 403 for a principal without `scope`: names the scope and what it allows. */
export function missingScope(scope: ApiScope): Response {
  return json(
    {
      error: `this token lacks the "${scope}" scope (${SCOPE_MEANINGS[scope]}): use a token created with --scope ${scope}`,
      missingScope: scope,
    },
    { status: 403 },
  );
}

/**
 * The deployment `id` if it belongs to the principal's workspace, else null. A deployment of another workspace is
 * treated exactly like one that does not exist (same single query, same answer), so ids of others cannot be probed.
 */
export async function findDeploymentForPrincipal(
  db: PrismaClient,
  principal: Pick<Principal, 'workspaceId'>,
  id: string,
): Promise<Deployment | null> {
  if (!isRecordId(id)) return null;
  return db.deployment.findFirst({ where: { id, workspaceId: principal.workspaceId } });
}

/** The backup record `id` with its deployment if it belongs to the principal's workspace, else null (as above). */
export async function findBackupForPrincipal(
  db: PrismaClient,
  principal: Pick<Principal, 'workspaceId'>,
  id: string,
): Promise<(BackupRecord & { deployment: Deployment }) | null> {
  if (!isRecordId(id)) return null;
  return db.backupRecord.findFirst({
    where: { id, workspaceId: principal.workspaceId },
    include: { deployment: true },
  });
}

/** The 404 for a deployment that is missing or not the principal's (indistinguishable on purpose). */
export function deploymentNotFound(id: string): Response {
  return problem(404, `deployment ${quoteInput(id)} not found`);
}

/** The 404 for a backup that is missing or not the principal's (indistinguishable on purpose). */
export function backupNotFound(id: string): Response {
  return problem(404, `backup ${quoteInput(id)} not found`);
}

/**
 * True for a state-changing request authenticated by the session cookie (not a bearer token) that is not known to
 * come from this site: the cookie would otherwise let any page a signed-in operator visits start backups (CSRF).
 */
export function isCrossSiteCookieWrite(request: RequestHead): boolean {
  if (request.method === 'GET' || request.method === 'HEAD' || bearerToken(request.headers)) return false;
  return requestSite(request) !== 'same-origin';
}

/**
 * True for a sign-in a browser sent from another site (login CSRF: a cross-site form would sign the operator's
 * browser into the attacker's workspace). Browsers send `Sec-Fetch-Site` or at least `Origin` with every cross-site
 * POST; a request with neither comes from a program (curl, a script), which no other site can make a browser send.
 */
export function isCrossSiteSignIn(request: RequestHead): boolean {
  return requestSite(request) === 'cross-site';
}

/** Where a request comes from, by `Sec-Fetch-Site`, else by `Origin` compared with the host it was sent to. */
function requestSite(request: RequestHead): 'same-origin' | 'cross-site' | 'unknown' {
  const fetchSite = request.headers.get('sec-fetch-site');
  if (fetchSite) return fetchSite === 'same-origin' ? 'same-origin' : 'cross-site';
  const origin = request.headers.get('origin');
  if (!origin) return 'unknown';
  const host = request.headers.get('x-forwarded-host') ?? request.headers.get('host') ?? new URL(request.url).host;
  try {
    return new URL(origin).host === host ? 'same-origin' : 'cross-site';
  } catch {
    return 'cross-site';
  }
}

/**
 * What a deployment's routes start with: the request's principal and the deployment `id` of its workspace, or the
 * answer that ends the request (401/403 from `requirePrincipal`, 404 for a deployment that is missing or not its own).
 */
export async function requireDeployment(
  db: PrismaClient,
  request: RequestHead,
  id: string,
  now: Date,
  scope: ApiScope,
): Promise<Deployment | Response> {
  const principal = await requirePrincipal(db, request, now, scope);
  if (principal instanceof Response) return principal;
  return (await findDeploymentForPrincipal(db, principal, id)) ?? deploymentNotFound(id);
}
