import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createWorkerMetrics, WORKER_METRIC_NAMES } from '../../../src/lib/health/index.ts';
import { buildMetricsRegistry } from '../../../src/lib/web/metrics.ts';
import { PROJECT_ROOT } from '../../support/processes.ts';

/**
 * Monitoring as code (deploy/monitoring), tested: Prometheus' own promtool checks the alert rules and runs their unit
 * tests (series fixtures, ops-agent.rules.test.yml), and every metric name the rules and the Grafana dashboard query
 * is one that our registries really export (the worker's health server and the dashboard's /api/metrics).
 */
const execFileAsync = promisify(execFile);
const MONITORING = path.join(PROJECT_ROOT, 'deploy', 'monitoring');
const RULE_FILES = ['ops-agent.rules.yml', 'backup-age-thresholds.rules.yml'];
const T0 = new Date('2026-03-01T03:00:00Z');

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}
interface Dashboard {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
}

let scratch: string;
let exported: Set<string>;

/** Every series name a registry exposes: histograms and summaries as their `_bucket`, `_sum`, `_count` series. */
async function seriesNames(registry: Registry): Promise<string[]> {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.flatMap((metric) => {
    // prom-client's types declare a numeric enum; at run time `type` is the exposition's word ("histogram", …).
    const type = metric.type as unknown as string;
    if (type === 'histogram') return [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`];
    if (type === 'summary') return [metric.name, `${metric.name}_sum`, `${metric.name}_count`];
    return [metric.name];
  });
}

/** The metric names a PromQL expression reads: identifiers outside strings that name our series (or `up`). */
function metricNamesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...withoutStrings.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .map((match) => match[0])
    .filter((name) => /^(ops_|process_|nodejs_)/.test(name) || name === 'up');
}

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('promtool', args, { cwd: MONITORING });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number | string; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT')
      throw new Error('promtool is not installed: apt-get install prometheus (.ci/run does)');
    return { code: Number(failed.code), output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'monitoring-'));
  const worker = createWorkerMetrics({
    intervalSeconds: 60,
    backupRoot: scratch,
    queueDepth: async () => [{ queue: 'backup', ready: 1, running: 0 }],
  });
  worker.cycleStarted(T0);
  worker.cycleFinished(T0, null);
  const web = buildMetricsRegistry({
    deployments: [
      {
        workspace: 'acme',
        deployment: 'orders-db',
        lastSuccess: { finishedAt: T0, durationMs: 1_000, sizeBytes: 1_024n },
        failuresTotal: 0,
        overdue: false,
        running: false,
      },
    ],
    volume: { usedBytes: 1n, freeBytes: 1n },
  });
  exported = new Set([...(await seriesNames(worker.registry)), ...(await seriesNames(web)), 'up']);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const readYaml = async <T>(name: string) => parse(await readFile(path.join(MONITORING, name), 'utf8')) as T;

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const result = await promtool('check', 'rules', ...RULE_FILES);
    expect(result.output).not.toContain('FAILED');
    expect(result.code).toBe(0);
  });

  it('pass their unit tests: promtool test rules with series fixtures', async () => {
    const result = await promtool('test', 'rules', 'ops-agent.rules.test.yml');
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('cover each failure the issue names, and every alert has a unit test', async () => {
    const rules = await readYaml<RuleFile>('ops-agent.rules.yml');
    const alerts = rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert)).filter(Boolean);
    expect(alerts.sort()).toEqual(
      [
        'OpsBackupTooOld',
        'OpsBackupFailed',
        'OpsBackupUnverified',
        'OpsTestRestoreFailed',
        'OpsWorkerNotCycling',
        'OpsBackupVolumeFilling',
        'OpsMetricsEndpointDown',
        'OpsMetricsEndpointMissing',
      ].sort(),
    );
    const tests = await readYaml<{
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    }>('ops-agent.rules.test.yml');
    const firing = new Set(
      tests.tests.flatMap((test) =>
        test.alert_rule_test.filter((t) => t.exp_alerts.length > 0).map((t) => t.alertname),
      ),
    );
    expect([...firing].sort()).toEqual([...alerts].sort());
  });
});

describe('metric names', () => {
  it("the worker's registry exports every name of WORKER_METRIC_NAMES", () => {
    for (const name of Object.values(WORKER_METRIC_NAMES)) {
      expect(
        [...exported].some((series) => series === name || series.startsWith(`${name}_`)),
        name,
      ).toBe(true);
    }
  });

  it('the alert rules query only metrics our registries export (or that the rules record themselves)', async () => {
    const recorded = new Set<string>();
    const used = new Set<string>();
    for (const file of RULE_FILES) {
      for (const group of (await readYaml<RuleFile>(file)).groups) {
        for (const rule of group.rules) {
          if (rule.record) recorded.add(rule.record);
          for (const name of metricNamesIn(rule.expr)) used.add(name);
        }
      }
    }
    const unknown = [...used].filter((name) => !exported.has(name) && !recorded.has(name));
    expect(unknown).toEqual([]);
    expect(used.size).toBeGreaterThanOrEqual(8);
  });

  it('the Grafana dashboard queries only metrics our registries export', async () => {
    const dashboard = JSON.parse(await readFile(path.join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as Dashboard;
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    const used = new Set(exprs.flatMap(metricNamesIn));
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    // Every worker metric is on the dashboard somewhere.
    for (const name of Object.values(WORKER_METRIC_NAMES)) {
      expect(
        [...used].some((series) => series === name || series.startsWith(`${name}_`)),
        name,
      ).toBe(true);
    }
  });

  it('the jobs the rules and the dashboard select are the ones prometheus.yml scrapes', async () => {
    const config = await readYaml<{
      scrape_configs: Array<{ job_name: string; metrics_path?: string }>;
      rule_files: string[];
    }>('prometheus.yml');
    expect(config.scrape_configs.map((job) => job.job_name).sort()).toEqual(['ops-agent-web', 'ops-agent-worker']);
    expect(config.scrape_configs.find((job) => job.job_name === 'ops-agent-web')?.metrics_path).toBe('/api/metrics');
    expect(config.rule_files.sort()).toEqual([...RULE_FILES].sort());
    const texts = [
      await readFile(path.join(MONITORING, 'ops-agent.rules.yml'), 'utf8'),
      await readFile(path.join(MONITORING, 'grafana-dashboard.json'), 'utf8'),
    ].join('\n');
    const jobs = new Set([...texts.matchAll(/job=~?\\?"([^"\\]+)\\?"/g)].flatMap((match) => match[1]!.split('|')));
    expect([...jobs].sort()).toEqual(['ops-agent-web', 'ops-agent-worker']);
  });
});
