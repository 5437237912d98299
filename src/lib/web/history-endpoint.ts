import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { SqlQuery } from '../db/index.ts';
import { isRecordId } from '../shared/index.ts';
import { deploymentNotFound, findDeploymentForPrincipal, type RequestHead, requirePrincipal } from './api-auth.ts';
import { historyQuerySchema, readBackupHistoryJson } from './backup-history.ts';
import { type JsonTextAnswer, jsonTextAnswer, parseSearchParams, problem, quoteInput } from './http.ts';
import type { CredentialCaches } from './credential-cache.ts';

/** What the history endpoint reads with: Prisma, the statements run without it, the web context's credential rows. */
export interface HistoryEndpointDependencies {
  db: PrismaClient;
  query: SqlQuery;
  credentials: CredentialCaches;
}

/**
 * `GET /api/deployments/{id}/backups`: a deployment's backup history, newest first
 * (`?limit=1-100&cursor=<nextCursor of the previous page>`). The one implementation of the endpoint: the Next.js route
 * calls it, and so does our production server, which answers this hot endpoint without Next.js's request pipeline
 * (src/lib/web/direct-routes.ts). At most two statements, the credential (a row read in the last
 * `CREDENTIAL_CACHE_MS` is reused) and the page with its checks, whose JSON text PostgreSQL writes and the answer
 * carries: a page is answered as plain data (a `JsonTextAnswer`, which our server sends without building a
 * `Response`), a refusal as a `Response`.
 */
export async function answerHistoryRequest(
  deps: HistoryEndpointDependencies,
  request: RequestHead,
  id: string,
  now: Date,
): Promise<Response | JsonTextAnswer> {
  const principal = await requirePrincipal(deps.db, request, now, 'read', deps.credentials);
  if (principal instanceof Response) return principal;
  if (!isRecordId(id)) return deploymentNotFound(id);
  const query = parseSearchParams(historyQuerySchema, new URL(request.url).searchParams);
  if (!query.ok) {
    // Someone else's deployment is a 404 whatever the query says, as before the query is read.
    const deployment = await findDeploymentForPrincipal(deps.db, principal, id);
    return deployment ? problem(400, query.message) : deploymentNotFound(id);
  }
  const history = await readBackupHistoryJson(
    deps.query,
    { workspaceId: principal.workspaceId, deploymentId: id },
    query.value,
  );
  if (history.kind === 'no-deployment') return deploymentNotFound(id);
  if (history.kind === 'unknown-cursor') {
    // A cursor must be a backup of this deployment: an unknown one would silently give an empty page.
    return problem(
      400,
      `cursor must be the nextCursor of a previous page of this deployment's history (got ${quoteInput(query.value.cursor ?? '')})`,
    );
  }
  return jsonTextAnswer(history.json);
}
