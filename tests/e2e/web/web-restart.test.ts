import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';
import { startWebServer, type WebServer } from '../../support/web-server.ts';

/**
 * The web process only queues long work: a backup asked for over HTTP is a job in PostgreSQL the moment the 202
 * answers, so stopping the web server right then (SIGTERM, as a rolling update does) loses nothing; a worker started
 * afterwards makes that backup. The web server is the production one (`npm run start:web`), the worker `src/worker.ts`.
 */
const WORKER_RUN_MS = 60_000;

let harness: BackupHarness;
let source: string;
let web: WebServer | undefined;

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_web_restart'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(`CREATE TABLE items AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 1000) g`);
  await client.end();
  harness = await startBackupHarness({
    pods: [podFor('pg-web', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source })],
  });
});
afterAll(async () => {
  await web?.stop();
  await harness?.close();
  if (source) await dropDatabase(source);
});

describe('stopping the web server right after it answered 202', () => {
  it('loses no backup: the worker makes it afterwards', { timeout: 3 * 60_000 }, async () => {
    const workspace = await createWorkspace(harness.db.prisma);
    const deployment = await createDeployment(harness.db.prisma, workspace.id, { name: 'pg-web' });
    const { token, tokenHash, tokenPrefix } = generateApiToken();
    await harness.db.prisma.apiToken.create({
      data: { workspaceId: workspace.id, name: 'restart test', tokenHash, tokenPrefix },
    });
    const environment = { DATABASE_URL: harness.db.url, BACKUP_ROOT: harness.root, LOG_LEVEL: 'warn' };
    // No KUBECONFIG for the web: it must not need the cluster to ask for a backup.
    web = await startWebServer(environment);

    const answer = await fetch(`${web.url}/api/deployments/${deployment.id}/backups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(answer.status).toBe(202);
    const { job } = (await answer.json()) as { job: { id: string; state: string } };
    expect(job.state).toBe('queued');
    expect(await web.stop()).toBeDefined();
    web = undefined;
    expect(await harness.db.prisma.backupRecord.count()).toBe(0);

    const worker = startEntryPoint(
      'src/worker.ts',
      ['--once'],
      childEnvironment({ ...environment, KUBECONFIG: harness.kube.kubeconfigPath, LOG_LEVEL: 'info' }),
    );
    const timer = setTimeout(() => worker.child.kill('SIGKILL'), WORKER_RUN_MS);
    const code = await worker.exited;
    clearTimeout(timer);
    expect(code, worker.output()).toBe(0);
    const records = await harness.db.prisma.backupRecord.findMany({ where: { deploymentId: deployment.id } });
    expect(records).toEqual([expect.objectContaining({ status: 'SUCCEEDED', trigger: 'API', jobId: job.id })]);
  });
});
