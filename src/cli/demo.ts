import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startFakeKubeApi } from '../dev/local-cluster/fake-kube-api.ts';
import { DEFAULT_WORKSPACE_LABEL } from '../lib/kube/index.ts';
import { formatBytes } from '../lib/shared/index.ts';
import { runOnce } from '../lib/worker/index.ts';
import { createLoopDependencies, createServices, openRuntime, readEnvironment, runMain } from '../lib/runtime/index.ts';
import { verifyStoredBackup } from '../lib/storage/index.ts';

/**
 * `npm run demo`: one real backup cycle on this machine, no cluster needed. It seeds a workspace with a PostgreSQL
 * deployment (plus a FAILED one and one without data to show the skips), starts a local stand-in for the Kubernetes
 * API that speaks the real exec protocol (the "pod" runs pg_dump as a local process against the local PostgreSQL
 * server), runs one ops-agent cycle, and prints the BackupRecord and the file it wrote.
 */
const SOURCE_DATABASE = 'ops_demo_shop';
const DEMO_ROWS = 5_000;

runMain(async () => {
  const env = readEnvironment();
  const sourceServer = env.DEMO_SOURCE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const backupRoot = env.BACKUP_ROOT ?? path.resolve('.data/backups');
  await mkdir(backupRoot, { recursive: true });
  // Everything stays on this machine: no model, no off-site copies, no webhook, whatever the environment says.
  const local = {
    BACKUP_ROOT: backupRoot,
    LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
    LLM_BASE_URL: '',
    S3_BUCKET: '',
    ALERT_WEBHOOK_URL: '',
  };
  const runtime = await openRuntime({ ...env, ...local }, 'demo', { logToStderr: true });
  const { database } = runtime;
  const say = (line = '') => process.stdout.write(`${line}\n`);

  const source = await prepareSourceDatabase(sourceServer);
  const prisma = database.prisma;
  const workspace = await prisma.workspace.upsert({
    where: { slug: 'demo' },
    update: {},
    create: { name: 'Demo workspace', slug: 'demo' },
  });
  const cluster = await startFakeKubeApi({
    pods: [
      {
        namespace: 'shop',
        name: 'shop-db-0',
        // The platform labels each pod with its workspace; only such pods are backed up.
        labels: { 'app.kubernetes.io/instance': 'shop-db', [DEFAULT_WORKSPACE_LABEL]: workspace.id },
        phase: 'Running',
        containers: [{ name: 'postgres', ready: true, env: source.podEnvironment }],
      },
    ],
  });
  // The real services, with the stand-in cluster's credentials instead of a kubeconfig file.
  const services = createServices(runtime, { role: 'worker', overrides: { kubeConfig: cluster.kubeConfig() } });
  try {
    say('What is local in this demo:');
    say(
      `  platform database  ${database.kind === 'embedded' ? `embedded PGlite at ${database.location} (DATABASE_URL is not set)` : `PostgreSQL at ${database.location}`}`,
    );
    say(
      `  Kubernetes         a local stand-in API server at ${cluster.url}: real exec protocol, the pod's commands run as local processes`,
    );
    say(`  the pod's database PostgreSQL database "${SOURCE_DATABASE}" on ${source.location} (${DEMO_ROWS} demo rows)`);
    say(`  backup volume      ${backupRoot}`);
    say();

    const deployments = [
      { name: 'shop-db', recipeSlug: 'postgresql', status: 'RUNNING' as const },
      { name: 'legacy-db', recipeSlug: 'postgresql', status: 'FAILED' as const },
      { name: 'website', recipeSlug: 'nginx', status: 'RUNNING' as const },
    ];
    for (const d of deployments) {
      // Each run starts as if nothing was ever backed up, so this cycle's schedule check finds shop-db due.
      const fields = {
        recipeSlug: d.recipeSlug,
        status: d.status,
        namespace: 'shop',
        backupEnabled: true,
        backupSchedule: '0 3 * * *',
        lastBackupAt: null,
      };
      await prisma.deployment.upsert({
        where: { workspaceId_name: { workspaceId: workspace.id, name: d.name } },
        update: fields,
        create: { workspaceId: workspace.id, name: d.name, ...fields },
      });
    }

    const deps = await createLoopDependencies(services);
    say('Running one ops-agent cycle (schedule "0 3 * * *", never backed up, so shop-db is due)...');
    const { cycle, jobs } = await runOnce(deps);
    say(
      `cycle: ${cycle.due} due, ${jobs.backupsRun} run, ${jobs.backupsSucceeded} succeeded, ${jobs.backupsFailed} failed, ` +
        `${cycle.skipped + jobs.backupsSkipped} skipped (${cycle.ms} ms to decide, then the queued backup ran)`,
    );
    say();

    const shop = await prisma.deployment.findFirstOrThrow({ where: { workspaceId: workspace.id, name: 'shop-db' } });
    const record = await prisma.backupRecord.findFirst({
      where: { deploymentId: shop.id },
      orderBy: { startedAt: 'desc' },
    });
    if (!record) throw new Error('demo: the cycle made no backup record for shop-db');
    say('BackupRecord of shop-db:');
    say(JSON.stringify(record, (_key, value) => (typeof value === 'bigint' ? value.toString() : value), 2));
    say();
    if (record.status !== 'SUCCEEDED' || !record.path || !record.sha256) {
      say(`The backup FAILED (${record.errorKind}): ${record.error}`);
      process.exitCode = 1;
      return;
    }
    const verification = await verifyStoredBackup(
      backupRoot,
      { workspaceId: shop.workspaceId, deploymentName: shop.name, path: record.path, extension: record.extension },
      record.sha256,
    );
    say(`File: ${record.path}`);
    say(`      ${formatBytes(record.sizeBytes)}, sha256 ${record.sha256}`);
    say(
      `      re-read and checked against the record and ${path.basename(record.path)}.sha256: ${verification.ok ? 'OK' : `BAD (${verification.reason})`}`,
    );
    say(`      restore with: pg_restore --no-owner --dbname <target> ${record.path}`);
    const alerts = await prisma.alert.findMany({
      where: { workspaceId: workspace.id, resolvedAt: null },
      include: { deployment: { select: { name: true } } },
    });
    for (const alert of alerts) say(`Open ${alert.severity} alert for ${alert.deployment?.name}: ${alert.message}`);
    if (!verification.ok) process.exitCode = 1;
  } finally {
    await cluster.close();
    await services.close();
  }
});

/** Creates (once) the demo database on the local PostgreSQL server and returns how the pod reaches it. */
async function prepareSourceDatabase(
  serverUrl: string,
): Promise<{ location: string; podEnvironment: Record<string, string> }> {
  const admin = new pg.Client({ connectionString: serverUrl });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `demo: the demo backs up a real PostgreSQL database and could not reach ${new URL(serverUrl).host} ` +
        `(${error instanceof Error ? error.message : String(error)}). Start PostgreSQL locally or set DEMO_SOURCE_URL.`,
    );
  }
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [SOURCE_DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${SOURCE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${SOURCE_DATABASE}`;
  const shop = new pg.Client({ connectionString: url.toString() });
  await shop.connect();
  try {
    await shop.query(
      'CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, customer text NOT NULL, total_cents int NOT NULL)',
    );
    await shop.query(
      `INSERT INTO orders SELECT g, 'customer ' || g, (g * 37) % 10000 FROM generate_series(1, ${DEMO_ROWS}) g ON CONFLICT (id) DO NOTHING`,
    );
  } finally {
    await shop.end();
  }
  return {
    location: `${url.hostname}:${url.port || '5432'}`,
    podEnvironment: {
      PGHOST: url.hostname,
      PGPORT: url.port || '5432',
      POSTGRES_USER: decodeURIComponent(url.username) || 'postgres',
      POSTGRES_DB: SOURCE_DATABASE,
      ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}),
    },
  };
}
