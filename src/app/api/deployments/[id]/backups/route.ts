import {
  answerHistoryRequest,
  deploymentNotFound,
  findDeploymentForPrincipal,
  getWebContext,
  json,
  limitRequest,
  requestBackup,
  requestClientAddress,
  requirePrincipal,
  toBackupRecordJson,
  toJobJson,
  toResponse,
} from '../../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

type Context = { params: Promise<{ id: string }> };

/** A deployment's backup history, newest first: `?limit=1-100&cursor=<nextCursor of the previous page>`. */
export async function GET(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  const { runtime, credentials } = await getWebContext();
  const deps = { db: runtime.database.prisma, query: runtime.database.query, credentials };
  return toResponse(await answerHistoryRequest(deps, request, id, new Date()));
}

/**
 * Asks for a backup now (trigger API): a worker runs it, the web process only queues it. 202 with the queued job
 * (follow it at /api/jobs/{id}), or with the backup already running or already queued (`started: false`), never a
 * second one; a deployment that may not be backed up is 409 with the reason.
 */
export async function POST(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  const context = await getWebContext();
  const db = context.runtime.database.prisma;
  const now = new Date();
  const principal = await requirePrincipal(db, request, now, 'operate');
  if (principal instanceof Response) return principal;
  const limited = limitRequest(
    { byToken: context.limits.backupRequestsByToken, byAddress: context.limits.backupRequestsByAddress },
    { tokenId: principal.tokenId, address: requestClientAddress(request) },
    now,
    'backup requests',
  );
  if (limited) return limited;
  const deployment = await findDeploymentForPrincipal(db, principal, id);
  if (!deployment) return deploymentNotFound(id);
  const result = await requestBackup({ db, jobs: await context.jobs() }, deployment, `api:${principal.tokenId}`);
  if (result.kind === 'refused') {
    if (result.code === 'NOT_FOUND') return deploymentNotFound(id);
    return json({ error: `backup not started: ${result.reason}`, code: result.code }, { status: 409 });
  }
  if (result.kind === 'running') {
    return json(
      { backup: toBackupRecordJson(result.record), started: false },
      { status: 202, headers: { location: `/api/backups/${result.record.id}` } },
    );
  }
  return json(
    { job: toJobJson(result.job), started: result.started },
    { status: 202, headers: { location: `/api/jobs/${result.job.id}` } },
  );
}
