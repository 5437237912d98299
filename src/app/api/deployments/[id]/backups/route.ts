import {
  deploymentNotFound,
  getWebContext,
  historyQuerySchema,
  json,
  listBackupHistory,
  parseSearchParams,
  problem,
  quoteInput,
  requireDeployment,
  startBackup,
  toBackupRecordJson,
} from '../../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

type Context = { params: Promise<{ id: string }> };

/** A deployment's backup history, newest first: `?limit=1-100&cursor=<nextCursor of the previous page>`. */
export async function GET(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  const db = (await getWebContext()).runtime.database.prisma;
  const deployment = await requireDeployment(db, request, id, new Date());
  if (deployment instanceof Response) return deployment;
  const query = parseSearchParams(historyQuerySchema, new URL(request.url).searchParams);
  if (!query.ok) return problem(400, query.message);
  const { cursor } = query.value;
  // A cursor must be a backup of this deployment: an unknown one would silently give an empty page.
  if (cursor && (await db.backupRecord.count({ where: { id: cursor, deploymentId: deployment.id } })) === 0) {
    return problem(
      400,
      `cursor must be the nextCursor of a previous page of this deployment's history (got ${quoteInput(cursor)})`,
    );
  }
  return json(await listBackupHistory(db, deployment.id, query.value));
}

/**
 * Starts a backup now (trigger API) and answers 202 as soon as its RUNNING record exists. While a backup of the
 * deployment runs, the answer is that backup (`started: false`), never a second one; a refusal is 409 with its reason.
 */
export async function POST(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  const { runtime, backup } = await getWebContext();
  const db = runtime.database.prisma;
  const deployment = await requireDeployment(db, request, id, new Date());
  if (deployment instanceof Response) return deployment;
  const result = await startBackup(backup, deployment.id, 'API');
  if (result.kind === 'refused') {
    if (result.code === 'NOT_FOUND') return deploymentNotFound(id);
    return json({ error: `backup not started: ${result.reason}`, code: result.code }, { status: 409 });
  }
  return json(
    { backup: toBackupRecordJson(result.record), started: result.kind === 'started' },
    { status: 202, headers: { location: `/api/backups/${result.record.id}` } },
  );
}
