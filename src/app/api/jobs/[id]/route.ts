import {
  findJobForPrincipal,
  getWebContext,
  json,
  problem,
  quoteInput,
  requirePrincipal,
  toBackupRecordJson,
  toJobJson,
  toRestoreRecordJson,
} from '../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * A queued job of the workspace (a backup asked for through the API, a confirmed restore): where it stands, and the
 * backup or restore record it made once a worker has started it. Another workspace's job is a 404.
 */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const context = await getWebContext();
  const db = context.runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date(), 'read');
  if (principal instanceof Response) return principal;
  const job = await findJobForPrincipal({ db, jobs: await context.jobs() }, principal, id);
  if (!job) return problem(404, `job ${quoteInput(id)} not found`);
  const [backup, restore] = await Promise.all([
    db.backupRecord.findFirst({ where: { jobId: job.id }, orderBy: { startedAt: 'desc' } }),
    db.restoreRecord.findFirst({ where: { jobId: job.id } }),
  ]);
  return json({
    job: toJobJson(job),
    backup: backup ? toBackupRecordJson(backup) : null,
    restore: restore ? toRestoreRecordJson(restore) : null,
  });
}
