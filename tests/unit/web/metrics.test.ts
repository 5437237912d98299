import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  buildMetricsRegistry,
  type BackupMetricsSnapshot,
  type DeploymentMetrics,
} from '../../../src/lib/web/metrics.ts';

/** The Prometheus exposition built from plain data: which series exist, their values, and nothing global. */
const FINISHED = new Date('2026-03-01T03:00:04.200Z');
const BACKED_UP: DeploymentMetrics = {
  workspace: 'acme',
  deployment: 'db-main',
  lastSuccess: { finishedAt: FINISHED, durationMs: 4_200, sizeBytes: 123_456n },
  failuresTotal: 2,
  overdue: false,
  running: true,
};
const NEVER_BACKED_UP: DeploymentMetrics = {
  workspace: 'acme',
  deployment: 'db-new',
  lastSuccess: null,
  failuresTotal: 0,
  overdue: true,
  running: false,
};

/** The sample lines only (no HELP/TYPE comments, no blank lines). */
async function samples(snapshot: BackupMetricsSnapshot): Promise<string[]> {
  const text = await buildMetricsRegistry(snapshot).metrics();
  return text.split('\n').filter((line) => line && !line.startsWith('#'));
}

describe('buildMetricsRegistry', () => {
  it('reports every series of a backed-up deployment, the never-backed-up one without last-success series, and the volume', async () => {
    expect(
      await samples({ deployments: [BACKED_UP, NEVER_BACKED_UP], volume: { usedBytes: 1_000n, freeBytes: 9_000n } }),
    ).toEqual([
      'ops_backup_last_success_timestamp_seconds{workspace="acme",deployment="db-main"} 1772334004.2',
      'ops_backup_last_duration_seconds{workspace="acme",deployment="db-main"} 4.2',
      'ops_backup_last_size_bytes{workspace="acme",deployment="db-main"} 123456',
      'ops_backup_failures_total{workspace="acme",deployment="db-main"} 2',
      'ops_backup_failures_total{workspace="acme",deployment="db-new"} 0',
      'ops_backup_overdue{workspace="acme",deployment="db-main"} 0',
      'ops_backup_overdue{workspace="acme",deployment="db-new"} 1',
      'ops_backup_running{workspace="acme",deployment="db-main"} 1',
      'ops_backup_running{workspace="acme",deployment="db-new"} 0',
      'ops_backup_volume_used_bytes 1000',
      'ops_backup_volume_free_bytes 9000',
    ]);
  });

  it('reports each job queue: ready, deferred, running, and how long the oldest ready job has waited', async () => {
    const lines = await samples({
      deployments: [],
      volume: null,
      queues: [
        { queue: 'backup', ready: 3, deferred: 1, running: 2, oldestReadySeconds: 42.5 },
        { queue: 'restore', ready: 0, deferred: 0, running: 0, oldestReadySeconds: null },
      ],
    });
    expect(lines).toEqual([
      'ops_job_queue_ready{queue="backup"} 3',
      'ops_job_queue_ready{queue="restore"} 0',
      'ops_job_queue_deferred{queue="backup"} 1',
      'ops_job_queue_deferred{queue="restore"} 0',
      'ops_job_queue_running{queue="backup"} 2',
      'ops_job_queue_running{queue="restore"} 0',
      // No job waits in the restore queue: no age rather than an age of 0.
      'ops_job_queue_oldest_ready_seconds{queue="backup"} 42.5',
    ]);
  });

  it('documents each metric and types it as a gauge', async () => {
    const text = await buildMetricsRegistry({
      deployments: [BACKED_UP],
      volume: { usedBytes: 1n, freeBytes: 1n },
    }).metrics();
    for (const name of [
      'ops_backup_last_success_timestamp_seconds',
      'ops_backup_last_duration_seconds',
      'ops_backup_last_size_bytes',
      'ops_backup_failures_total',
      'ops_backup_overdue',
      'ops_backup_running',
      'ops_backup_volume_used_bytes',
      'ops_backup_volume_free_bytes',
    ]) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'));
      expect(text).toContain(`# TYPE ${name} gauge\n`);
    }
  });

  it.each<[string, Partial<DeploymentMetrics['lastSuccess'] & object>, string[]]>([
    ['no duration', { durationMs: null }, ['ops_backup_last_success_timestamp_seconds', 'ops_backup_last_size_bytes']],
    ['no size', { sizeBytes: null }, ['ops_backup_last_success_timestamp_seconds', 'ops_backup_last_duration_seconds']],
  ])('a last success with %s leaves only that series out', async (_label, change, expected) => {
    const deployment = { ...BACKED_UP, lastSuccess: { ...BACKED_UP.lastSuccess!, ...change } };
    const names = (await samples({ deployments: [deployment], volume: null })).map((line) =>
      line.slice(0, line.indexOf('{')),
    );
    expect(names.filter((name) => name.startsWith('ops_backup_last_'))).toEqual(expected);
  });

  it('an unreadable volume reports no volume metric rather than 0 bytes', async () => {
    const text = await buildMetricsRegistry({ deployments: [BACKED_UP], volume: null }).metrics();
    expect(text).not.toContain('ops_backup_volume_');
  });

  it('no deployments: only the metric descriptions and the volume', async () => {
    expect(await samples({ deployments: [], volume: { usedBytes: 5n, freeBytes: 6n } })).toEqual([
      'ops_backup_volume_used_bytes 5',
      'ops_backup_volume_free_bytes 6',
    ]);
  });

  it('sizes beyond 2^53 are reported as the nearest float (Prometheus values are float64)', async () => {
    const deployment = { ...BACKED_UP, lastSuccess: { ...BACKED_UP.lastSuccess!, sizeBytes: 2n ** 60n } };
    const line = (await samples({ deployments: [deployment], volume: null })).find((sample) =>
      sample.startsWith('ops_backup_last_size_bytes'),
    );
    expect(Number(line!.split(' ')[1])).toBe(2 ** 60);
  });

  it('escapes label values', async () => {
    const deployment = { ...NEVER_BACKED_UP, workspace: 'we "quote"\\slash' };
    expect(await samples({ deployments: [deployment], volume: null })).toContain(
      'ops_backup_overdue{workspace="we \\"quote\\"\\\\slash",deployment="db-new"} 1',
    );
  });

  it('builds a fresh registry each time and never touches the global default one', async () => {
    const first = buildMetricsRegistry({ deployments: [BACKED_UP], volume: null });
    const second = buildMetricsRegistry({ deployments: [{ ...BACKED_UP, failuresTotal: 7 }], volume: null });
    expect(await first.metrics()).toContain('ops_backup_failures_total{workspace="acme",deployment="db-main"} 2');
    expect(await second.metrics()).toContain('ops_backup_failures_total{workspace="acme",deployment="db-main"} 7');
    expect(await register.metrics()).not.toContain('ops_backup');
  });
});
