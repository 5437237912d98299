import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Exec, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runDataExport, type DataExportRequest } from '../../../src/lib/backups/data-export.ts';
import { createKubeClients, type KubeClients } from '../../../src/lib/kube/kube-clients.ts';
import { execToStream, type ExecToStreamOptions } from '../../../src/lib/kube/exec-stream.ts';
import { DEFAULT_WORKSPACE_LABEL } from '../../../src/lib/kube/pod-resolver.ts';
import {
  AbortedError,
  ClusterUnreachableError,
  ConnectionLostError,
  ContainerNotReadyError,
  EmptyOutputError,
  ExecFailedError,
  PodNotFoundError,
  TimeoutError,
} from '../../../src/lib/kube/exec-errors.ts';
import { loadKubeConfig } from '../../../src/lib/kube/kube-clients.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import type { DataExport } from '../../../src/lib/recipes/recipe.ts';
import { findRecipe } from '../../../src/lib/recipes/registry.ts';
import { collectingDestination, failingDestination, sha256, slowDestination } from '../../support/export-fixtures.ts';
import {
  startFakeKubeApi,
  type ExecRecord,
  type FakeContainer,
  type FakeKubeApi,
  type FakePod,
} from '../../support/fake-kube-api.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

// A deployment's data leaves its pod through Kubernetes exec: the real client library against the fake API server,
// which runs each command as a local process (pg_dump against the local PostgreSQL, too).

const execFileAsync = promisify(execFile);

const NAMESPACE = 'shop';
const SECRET = 'Tr0ub4dor-3-horse';
const LARGE_FILE_BYTES = 50_000_000;
const DROP_AFTER_BYTES = 256 * 1024;
const STALL_AFTER_BYTES = 64 * 1024;
const FAILING_DESTINATION_LIMIT_BYTES = 1024 * 1024;
const SLOW_DESTINATION_HIGH_WATER_MARK = 64 * 1024;
const SLOW_DESTINATION_DELAY_MS = 2;
const MAX_LAG_BYTES = 32 * 1024 * 1024;
const PROGRESS_STEP_BYTES = 8 * 1024 * 1024;
const SHORT_TIMEOUT_MS = 300;
const TIMEOUT_MS = 20_000;
const ROWS = [
  { id: 1, name: 'espresso', price: '2.50' },
  { id: 2, name: 'café crème', price: '3.80' },
  { id: 3, name: 'tea; DROP TABLE items', price: '1.90' },
];

const postgresRecipe = findRecipe('postgresql')!.dataExport!;

let fake: FakeKubeApi;
let clients: KubeClients;
let scratch: string;
let largeFile: string;
let largeFileSha256: string;
let database: string;
const logLines: string[] = [];
const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logLines.push(line) } });

/** The workspace of every pod here (the deployments are not records in this file). */
const WORKSPACE_ID = 'wsexport';

function databasePod(name: string, overrides: Partial<FakePod> = {}, container: Partial<FakeContainer> = {}): FakePod {
  const deployment = name.replace(/-\d+$/, '');
  return {
    namespace: NAMESPACE,
    name,
    labels: { 'app.kubernetes.io/instance': deployment, [DEFAULT_WORKSPACE_LABEL]: WORKSPACE_ID },
    phase: 'Running',
    containers: [
      {
        name: 'postgres',
        ready: true,
        env: { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: database, PGPASSWORD: SECRET },
        ...container,
      },
      { name: 'metrics', ready: true },
    ],
    ...overrides,
  };
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'data-export-test-'));
  largeFile = path.join(scratch, 'large.bin');
  const large = randomBytes(LARGE_FILE_BYTES);
  largeFileSha256 = sha256(large);
  await writeFile(largeFile, large);

  database = await createDatabase(uniqueDatabaseName('export_source'));
  await withDatabase(database, async (client) => {
    await client.query('CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(6,2) NOT NULL)');
    for (const row of ROWS) await client.query('INSERT INTO items VALUES ($1, $2, $3)', [row.id, row.name, row.price]);
  });

  fake = await startFakeKubeApi({
    pods: [
      databasePod('shop-db-1', { phase: 'Pending' }),
      databasePod('shop-db-0'),
      databasePod('starting-db-0', {}, { ready: false }),
      databasePod('sidecar-only-0', {
        containers: [
          { name: 'app', ready: true },
          { name: 'metrics', ready: true },
        ],
      }),
      databasePod('flaky-db-0', { faults: { dropAfterBytes: DROP_AFTER_BYTES } }),
      databasePod('quiet-db-0', { faults: { omitStatus: true } }),
      databasePod('stuck-db-0', { faults: { stallAfterBytes: STALL_AFTER_BYTES } }),
    ],
  });
  clients = createKubeClients(loadKubeConfig({ kubeconfigPath: fake.kubeconfigPath }));
});

afterAll(async () => {
  await fake?.close();
  if (database) await dropDatabase(database);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('a successful export', () => {
  it('streams a real pg_dump from the Running pod, restorable with pg_restore to the same rows', async () => {
    const dumpFile = path.join(scratch, 'shop.dump');
    const destination = createWriteStream(dumpFile);

    const result = await runDataExport(clients, request({ destination }), logger);
    destination.end();
    await finished(destination);

    expect(result).toMatchObject({ pod: 'shop-db-0', container: 'postgres', stderrTail: '' });
    expect(latestExec()).toMatchObject({ pod: 'shop-db-0', container: 'postgres', argv: postgresRecipe.command });
    expect(result.bytes).toBe(latestExec().transferred.stdout);
    const { stdout: listing } = await execFileAsync('pg_restore', ['--list', dumpFile]);
    expect(listing).toContain('TABLE public items');
    const restored = await createDatabase(uniqueDatabaseName('export_restore'));
    try {
      await execFileAsync('pg_restore', ['--no-owner', `--dbname=${databaseUrl(restored)}`, dumpFile]);
      const rows = await withDatabase(restored, (client) =>
        client.query('SELECT id, name, price FROM items ORDER BY id'),
      );
      expect(rows.rows).toEqual(ROWS);
    } finally {
      await dropDatabase(restored);
    }
  });

  it('keeps up with a slow destination by pausing the exec: 50 MB arrive in order, the sender never runs far ahead', async () => {
    let maxLagBytes = 0;
    const destination = slowDestination({
      highWaterMark: SLOW_DESTINATION_HIGH_WATER_MARK,
      delayMs: SLOW_DESTINATION_DELAY_MS,
      beforeWrite: (accepted) => {
        maxLagBytes = Math.max(maxLagBytes, latestExec().transferred.stdout - accepted);
      },
    });
    const progress: number[] = [];

    const result = await runDataExport(
      clients,
      request({
        command: ['sh', '-c', 'exec cat "$0"', largeFile],
        destination: destination.stream,
        onProgress: (bytes) => progress.push(bytes),
      }),
      logger,
    );
    destination.stream.end();
    await finished(destination.stream);

    expect(result.bytes).toBe(LARGE_FILE_BYTES);
    expect(destination.accepted()).toBe(LARGE_FILE_BYTES);
    expect(destination.sha256()).toBe(largeFileSha256);
    expect(maxLagBytes).toBeGreaterThan(0);
    expect(maxLagBytes).toBeLessThan(MAX_LAG_BYTES);
    expect(progress).toHaveLength(Math.floor(LARGE_FILE_BYTES / PROGRESS_STEP_BYTES));
    progress.forEach((bytes, index) => expect(bytes).toBeGreaterThanOrEqual((index + 1) * PROGRESS_STEP_BYTES));
  });

  it('does not end the destination: the storage layer commits it', async () => {
    const destination = collectingDestination();

    await runDataExport(clients, request({ command: ['printf', 'data'], destination: destination.stream }), logger);

    expect(destination.stream.writableEnded).toBe(false);
    expect(destination.data().toString()).toBe('data');
  });
});

describe('a failing command', () => {
  it('rejects a non-zero exit with ExecFailedError carrying the exit code and the stderr tail', async () => {
    const command = ['sh', '-c', 'printf partial; echo "pg_dump: error: connection to server failed" >&2; exit 2'];

    const failure = await exportFailure(request({ command }));

    expect(failure).toBeInstanceOf(ExecFailedError);
    expect(failure).toMatchObject({
      kind: 'ExecFailed',
      exitCode: 2,
      pod: 'shop-db-0',
      container: 'postgres',
      namespace: NAMESPACE,
    });
    expect((failure as ExecFailedError).stderrTail).toBe('pg_dump: error: connection to server failed');
    expect(failure.message).toBe(
      'export command in pod "shop-db-0" (container "postgres") in namespace "shop" exited with code 2: pg_dump: error: connection to server failed',
    );
  });

  it('rejects a command that cannot start with ExecFailedError without an exit code', async () => {
    const failure = await exportFailure(request({ command: ['pg_dump_not_installed'] }));

    expect(failure).toBeInstanceOf(ExecFailedError);
    expect(failure).toMatchObject({ exitCode: null });
    expect(failure.message).toContain('"pg_dump_not_installed": executable file not found in $PATH');
  });

  it('keeps only the last 20 lines of a noisy stderr', async () => {
    const command = ['sh', '-c', 'for i in $(seq 1 5000); do echo "warning $i: something odd" >&2; done; exit 1'];

    const failure = (await exportFailure(request({ command }))) as ExecFailedError;

    const lines = failure.stderrTail.split('\n');
    expect(lines).toHaveLength(20);
    expect(lines.at(-1)).toBe('warning 5000: something odd');
    expect(failure.stderrTail.length).toBeLessThanOrEqual(4096);
  });

  it("never shows the container's secret, not in the message, the stderr tail, the logs or the request sent", async () => {
    logLines.length = 0;
    const command = ['sh', '-c', 'echo "auth failed for $PGPASSWORD" >&2; exit 2'];

    const failure = (await exportFailure(request({ command }))) as ExecFailedError;

    expect(failure.stderrTail).toBe('auth failed for [REDACTED]');
    expect(failure.message).toContain('auth failed for [REDACTED]');
    expect(failure.message).not.toContain(SECRET);
    expect(logLines.join('')).toContain('data export failed');
    expect(logLines.join('')).not.toContain(SECRET);
    expect(JSON.stringify(fake.requests)).not.toContain(SECRET);
  });

  it('rejects an exit 0 without output with EmptyOutputError', async () => {
    const failure = await exportFailure(request({ command: ['sh', '-c', 'echo "nothing to dump" >&2'] }));

    expect(failure).toBeInstanceOf(EmptyOutputError);
    expect(failure).toMatchObject({ kind: 'EmptyOutput', stderrTail: 'nothing to dump' });
  });
});

describe('a broken connection', () => {
  it('rejects a dropped connection (1006, no status) with ConnectionLostError, never success', async () => {
    const failure = await exportFailure(request({ deploymentName: 'flaky-db', command: ['cat', largeFile] }));

    expect(failure).toBeInstanceOf(ConnectionLostError);
    expect(failure).toMatchObject({
      kind: 'ConnectionLost',
      closeCode: 1006,
      statusReceived: false,
      pod: 'flaky-db-0',
    });
    expect((failure as ConnectionLostError).bytes).toBeLessThanOrEqual(DROP_AFTER_BYTES);
  });

  it('rejects a normal close without an exit status with ConnectionLostError', async () => {
    const failure = await exportFailure(request({ deploymentName: 'quiet-db', command: ['printf', 'done'] }));

    expect(failure).toBeInstanceOf(ConnectionLostError);
    expect(failure).toMatchObject({ closeCode: 1000, statusReceived: false, bytes: 4 });
  });
});

describe('choosing the pod', () => {
  it.each([
    [
      'an unknown namespace',
      { namespace: 'nowhere' },
      PodNotFoundError,
      'no pod in namespace "nowhere" matches selector "app.kubernetes.io/instance=shop-db"',
    ],
    [
      'a deployment without pods',
      { deploymentName: 'gone-db' },
      PodNotFoundError,
      'no pod in namespace "shop" matches selector "app.kubernetes.io/instance=gone-db"',
    ],
    [
      'a container that is not ready',
      { deploymentName: 'starting-db' },
      ContainerNotReadyError,
      'container "postgres" of pod "starting-db-0" in namespace "shop" is not ready',
    ],
    [
      'a pod without the container',
      { deploymentName: 'sidecar-only' },
      ContainerNotReadyError,
      'pod "sidecar-only-0" in namespace "shop" has no container "postgres" (containers: app, metrics)',
    ],
  ])('rejects %s', async (_case, overrides, expectedClass, expectedMessage) => {
    const failure = await exportFailure(request(overrides));

    expect(failure).toBeInstanceOf(expectedClass);
    expect(failure.message).toContain(expectedMessage);
  });

  it('uses an explicit pod selector when the deployment has one', async () => {
    const selected = request({
      deploymentName: 'ignored',
      podSelector: 'app.kubernetes.io/instance in (shop-db)',
      command: ['printf', 'x'],
    });

    const result = await runDataExport(clients, selected, logger);

    expect(result.pod).toBe('shop-db-0');
  });

  it('classifies a refused exec upgrade: 404 (the pod vanished) and 400 (container not running)', async () => {
    const streamFrom = (pod: string) => execToStream(clients.exec, streamOptions(pod));

    await expect(streamFrom('vanished-0')).rejects.toBeInstanceOf(PodNotFoundError);
    await expect(streamFrom('vanished-0')).rejects.toMatchObject({
      pod: 'vanished-0',
      message:
        'pod "vanished-0" (container "postgres") in namespace "shop" no longer exists (the exec was answered with 404)',
    });
    await expect(streamFrom('starting-db-0')).rejects.toBeInstanceOf(ContainerNotReadyError);
  });
});

// A broken teardown would hang these until the process exits; fail them early instead.
describe('stopping an export', { timeout: 10_000 }, () => {
  it('times out a stalled exec with TimeoutError and kills the process', async () => {
    const failure = await exportFailure(
      request({ deploymentName: 'stuck-db', command: ['cat', '/dev/zero'], timeoutMs: SHORT_TIMEOUT_MS }),
    );

    expect(failure).toBeInstanceOf(TimeoutError);
    expect(failure).toMatchObject({
      kind: 'Timeout',
      timeoutMs: SHORT_TIMEOUT_MS,
      bytes: STALL_AFTER_BYTES,
      pod: 'stuck-db-0',
    });
    await expect(latestExec().exited).resolves.toMatchObject({ signal: 'SIGKILL' });
  });

  it('aborts on the signal with AbortedError and kills the process', async () => {
    const controller = new AbortController();
    const destination = collectingDestination();
    const command = ['sh', '-c', 'printf started; exec sleep 30'];

    const running = exportFailure(request({ command, destination: destination.stream, signal: controller.signal }));
    await waitFor(() => destination.data().length > 0);
    controller.abort();
    const failure = await running;

    expect(failure).toBeInstanceOf(AbortedError);
    expect(failure).toMatchObject({ kind: 'Aborted', bytes: 'started'.length });
    await expect(latestExec().exited).resolves.toMatchObject({ signal: 'SIGKILL' });
  });

  it('does not start an export whose signal is already aborted', async () => {
    const requestsBefore = fake.requests.length;

    const failure = await exportFailure(request({ signal: AbortSignal.abort() }));

    expect(failure).toBeInstanceOf(AbortedError);
    expect(failure).toMatchObject({ pod: null });
    expect(fake.requests.length).toBe(requestsBefore);
  });

  it('rejects with the destination’s own error at once and tears the exec down', async () => {
    const diskFull = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const destination = failingDestination(FAILING_DESTINATION_LIMIT_BYTES, diskFull);

    const failure = await exportFailure(request({ command: ['cat', largeFile], destination: destination.stream }));

    expect(failure).toBe(diskFull);
    await expect(latestExec().exited).resolves.toMatchObject({ signal: 'SIGKILL' });
    expect(latestExec().transferred.stdout).toBeLessThan(LARGE_FILE_BYTES);
  });
});

describe('an unusable cluster', () => {
  it('rejects a bad token (401) with ClusterUnreachableError, without the token in the message', async () => {
    const badToken = 'not-the-token-0123456789';
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [
        { name: 'fake', server: fake.url, caData: Buffer.from(fake.caPem).toString('base64'), skipTLSVerify: false },
      ],
      users: [{ name: 'fake', token: badToken }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });

    const failure = await exportFailure(request(), createKubeClients(kubeConfig));
    const execFailure = await execToStream(new Exec(kubeConfig), streamOptions('shop-db-0')).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(ClusterUnreachableError);
    expect(failure).toMatchObject({ kind: 'ClusterUnreachable', statusCode: 401 });
    expect(failure.message).toContain(
      'Kubernetes API answered 401 (Unauthorized: check the credentials) while listing pods in namespace "shop"',
    );
    expect(failure.message).not.toContain(badToken);
    expect(execFailure).toBeInstanceOf(ClusterUnreachableError);
    expect(execFailure).toMatchObject({ statusCode: 401 });
  });

  it('rejects an API server that does not answer with ClusterUnreachableError', async () => {
    const kubeConfig = new KubeConfig();
    const closedPort = new URL(fake.url);
    closedPort.port = '9';
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'down', server: closedPort.toString(), skipTLSVerify: true }],
      users: [{ name: 'down', token: 'unused-token' }],
      contexts: [{ name: 'down', cluster: 'down', user: 'down' }],
      currentContext: 'down',
    });

    const failure = await exportFailure(request(), createKubeClients(kubeConfig));

    expect(failure).toBeInstanceOf(ClusterUnreachableError);
    expect(failure).toMatchObject({ statusCode: null });
    expect(failure.message).toContain('cannot reach the Kubernetes API while listing pods');
  });
});

describe('loadKubeConfig', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('prefers the given kubeconfig file, then the in-cluster service account', () => {
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.96.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');

    expect(loadKubeConfig({ kubeconfigPath: fake.kubeconfigPath }).getCurrentCluster()?.server).toBe(fake.url);
    expect(loadKubeConfig().getCurrentCluster()).toMatchObject({
      server: 'https://10.96.0.1:443',
      caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
    });
  });
});

function request(overrides: Partial<DataExportRequest> & { command?: string[] } = {}): DataExportRequest {
  const { command, ...rest } = overrides;
  const dataExport: DataExport = command ? { ...postgresRecipe, command } : postgresRecipe;
  return {
    workspaceId: WORKSPACE_ID,
    namespace: NAMESPACE,
    podSelector: null,
    deploymentName: 'shop-db',
    dataExport,
    destination: collectingDestination().stream,
    timeoutMs: TIMEOUT_MS,
    ...rest,
  };
}

/** Options for calling execToStream directly (past the pod lookup). */
function streamOptions(pod: string): ExecToStreamOptions {
  const destination = collectingDestination().stream;
  return {
    namespace: NAMESPACE,
    pod,
    container: 'postgres',
    command: ['true'],
    destination,
    timeoutMs: TIMEOUT_MS,
    redact: (text) => text,
  };
}

async function exportFailure(exportRequest: DataExportRequest, kubeClients: KubeClients = clients): Promise<Error> {
  try {
    await runDataExport(kubeClients, exportRequest, logger);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the export to fail');
}

function latestExec(): ExecRecord {
  const exec = fake.execs.at(-1);
  if (!exec) throw new Error('data-export test: no exec was recorded');
  return exec;
}

async function withDatabase<T>(name: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(name) });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500 && !condition(); attempt += 1)
    await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error('data-export test: gave up waiting');
}
