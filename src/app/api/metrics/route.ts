import {
  buildMetricsRegistry,
  gatherMetricsSnapshot,
  getWebContext,
  isMetricsRequestAuthorized,
  problem,
} from '../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** Prometheus metrics of every backup-enabled deployment and the backup volume; needs `Bearer <METRICS_TOKEN>`. */
export async function GET(request: Request): Promise<Response> {
  const context = await getWebContext();
  const { config, database } = context.runtime;
  if (!isMetricsRequestAuthorized(request.headers, config.METRICS_TOKEN)) {
    return problem(
      401,
      'metrics require "Authorization: Bearer <METRICS_TOKEN>" (workspace API tokens are not accepted here)',
      {
        'www-authenticate': 'Bearer realm="ops-metrics"',
      },
    );
  }
  const snapshot = await gatherMetricsSnapshot(database.prisma, {
    now: new Date(),
    overdueGraceMs: config.BACKUP_OVERDUE_GRACE_MINUTES * 60_000,
    retryDelayMs: config.BACKUP_RETRY_MINUTES * 60_000,
    backupRoot: config.BACKUP_ROOT,
    query: database.query,
  });
  // The queues' depth too; a queue that cannot be read leaves its series out rather than failing the scrape.
  const queues = await context
    .jobs()
    .then((jobs) => jobs.stats())
    .catch(() => null);
  const registry = buildMetricsRegistry({
    ...snapshot,
    ...(queues
      ? {
          queues: queues.map((queue) => ({
            queue: queue.name,
            ready: queue.ready,
            deferred: queue.deferred,
            running: queue.running,
            oldestReadySeconds: queue.oldestReadySeconds,
          })),
        }
      : {}),
  });
  return new Response(await registry.metrics(), {
    headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' },
  });
}
