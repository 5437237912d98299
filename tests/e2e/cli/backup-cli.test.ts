import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { BackupInterruptedError } from '../../../src/lib/backups/backup-outcome.ts';
import { recoverInterruptedBackups } from '../../../src/lib/backups/recovery.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createSourceDatabase, filesUnder, folderOf, waitUntil } from '../../support/backup-checks.ts';
import type { ExecFaults } from '../../support/fake-kube-api.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';
import { startWebhookReceiver } from '../../support/webhook-receiver.ts';

/**
 * The operator's CLI (`npm run backup -- …`) as separate processes against the harness: a cloned database, the fake
 * Kubernetes API (through KUBECONFIG) whose pods run the real pg_dump, and a backup root in a temp folder. Includes
 * what only separate processes can show: a worker killed with SIGKILL mid-backup, and two CLIs racing for one claim.
 */
const CLI = 'src/cli/backup.ts';
/** A dump of about 800 KB: far more than the stalled pod lets through. */
const SOURCE_ROWS = 20_000;
const CLAIM_TTL_MS = 30_000;
/** Recovery runs this far in the future: past the killed CLI's claim and its temporary file's age limit. */
const RECOVERY_SKEW_MS = 31 * 60_000;
/** A live backup in the "future" renews its claim (and touches its temp file) every second with this lease. */
const LIVE_CLAIM_TTL_MS = 3_000;
const STALL_AFTER_BYTES = 64 * 1024;
/** Longer than the start-up skew of two node processes, so their backups certainly overlap. */
const SLOW_STATUS_MS = 3_000;

let harness: BackupHarness;
let workspaceId: string;
let sourceDatabase: string;

beforeAll(async () => {
  sourceDatabase = await createSourceDatabase(SOURCE_ROWS);
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});

afterAll(async () => {
  await harness?.close();
  if (sourceDatabase) await dropDatabase(sourceDatabase);
});

async function deploymentWithPod(faults?: ExecFaults, database = sourceDatabase): Promise<Deployment> {
  const name = `db-${randomBytes(4).toString('hex')}`;
  const env = { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: database };
  harness.kube.pods.push(podFor(name, 'postgres', env, faults ? { faults } : {}));
  return createDeployment(harness.db.prisma, workspaceId, {
    name,
    recipeSlug: 'postgresql',
    status: 'RUNNING',
    namespace: 'apps',
  });
}

/** Starts the CLI with only the harness's configuration in its environment; stdout is kept apart from the logs. */
function startCli(args: string[], extraEnvironment: Record<string, string> = {}) {
  const env = childEnvironment({
    DATABASE_URL: harness.db.url,
    KUBECONFIG: harness.kube.kubeconfigPath,
    BACKUP_ROOT: harness.root,
    BACKUP_CLAIM_TTL_SECONDS: String(CLAIM_TTL_MS / 1_000),
    ...extraEnvironment,
  });
  const cli = startEntryPoint(CLI, args, env);
  let stdout = '';
  cli.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  return {
    ...cli,
    stdout: () => stdout,
    finished: cli.exited.then((code) => ({ code, stdout, output: cli.output() })),
  };
}

function runCli(args: string[], extraEnvironment: Record<string, string> = {}) {
  return startCli(args, extraEnvironment).finished;
}

describe('backup CLI', () => {
  it('runs a backup, lists it, verifies it, and detects one flipped byte', async () => {
    const deployment = await deploymentWithPod();

    const run = await runCli(['run', deployment.id]);

    expect(run.code, run.output).toBe(0);
    const record = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { deploymentId: deployment.id } });
    expect(record.status).toBe('SUCCEEDED');
    expect(run.stdout).toContain(`SUCCEEDED ${record.id}`);
    expect(run.stdout).toContain(`file    ${record.path}`);
    expect(run.stdout).toContain(`sha256  ${record.sha256}`);
    // Said on stderr (with the progress lines) as soon as the record exists, not only at the end.
    expect(run.output).toContain(`started backup ${record.id}\n`);
    expect(run.stdout).not.toContain('started backup');

    const [list, verified] = await Promise.all([runCli(['list', deployment.id]), runCli(['verify', record.id])]);

    expect(list.code, list.output).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^${record.startedAt.toISOString()}\\s+SUCCEEDED\\s+MANUAL\\s.*${record.id}\\s+${record.path}$`, 'm'),
    );
    expect(verified.code, verified.output).toBe(0);
    expect(verified.stdout).toMatch(new RegExp(`^OK ${record.path} \\(.*sha256 ${record.sha256}\\)$`, 'm'));

    const bytes = await readFile(record.path!);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0x01;
    await writeFile(record.path!, bytes);
    const corrupted = await runCli(['verify', record.id]);

    expect(corrupted.code, corrupted.output).toBe(1);
    expect(corrupted.stdout).toContain(`BAD ${record.path}: checksum-mismatch`);
  });

  it('leaves a SIGKILLed backup to recovery once its claim expired, while a live backup is left alone', async () => {
    const killed = await deploymentWithPod({ stallAfterBytes: STALL_AFTER_BYTES });
    const cli = startCli(['run', killed.id]);
    const running = await waitUntil('the CLI to record a RUNNING backup', () =>
      harness.db.prisma.backupRecord
        .findFirst({ where: { deploymentId: killed.id, status: 'RUNNING' } })
        .then((record) => record ?? undefined),
    );
    // The store batches writes (256 KiB), so the stalled export's first bytes may still be in memory: the
    // temporary file existing is what recovery deals with.
    const tempFile = await waitUntil('a temporary file', async () => {
      const [partial] = (await filesUnder(folderOf(harness.root, killed))).filter((file) => file.endsWith('.partial'));
      return partial ? path.join(folderOf(harness.root, killed), partial) : undefined;
    });
    cli.child.kill('SIGKILL');
    expect(await cli.exited).toBe('SIGKILL');

    // Now, the killed CLI still holds a valid claim: recovery cannot tell it from a live backup and leaves it.
    const recoveryDeps = { ...harness.deps, settings: { claimTtlMs: CLAIM_TTL_MS } };
    const early = await recoverInterruptedBackups(recoveryDeps);
    expect(early).toEqual({ interrupted: [], removedTempFiles: [], tempFileProblems: [] });
    expect(await filesUnder(folderOf(harness.root, killed))).toEqual([path.basename(tempFile)]);

    // Later, with a backup that really is running at that time (its claim and temp file kept fresh by its heartbeat).
    const later = () => new Date(Date.now() + RECOVERY_SKEW_MS);
    const live = await deploymentWithPod({ stallAfterBytes: STALL_AFTER_BYTES });
    const stopLive = new AbortController();
    const liveDeps = {
      ...harness.deps,
      clock: later,
      settings: { ...harness.deps.settings, claimTtlMs: LIVE_CLAIM_TTL_MS },
    };
    const liveBackup = executeBackup(liveDeps, live.id, { trigger: 'MANUAL', signal: stopLive.signal });
    const liveTempFile = await waitUntil('the live backup to touch its temporary file', async () => {
      const [partial] = (await filesUnder(folderOf(harness.root, live))).filter((file) => file.endsWith('.partial'));
      const file = partial && path.join(folderOf(harness.root, live), partial);
      return file && (await stat(file)).mtimeMs > Date.now() + RECOVERY_SKEW_MS / 2 ? file : undefined;
    });

    const report = await recoverInterruptedBackups({ ...recoveryDeps, clock: later });

    expect(report.interrupted).toEqual([
      { id: running.id, deploymentId: killed.id, startedAt: running.startedAt.toISOString() },
    ]);
    expect(report.removedTempFiles).toEqual([tempFile]);
    const recovered = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: running.id } });
    expect(recovered).toMatchObject({ status: 'FAILED', errorKind: 'Interrupted', path: null });
    expect(recovered.error).toContain('interrupted');
    expect(await filesUnder(folderOf(harness.root, killed))).toEqual([]);
    const alert = await harness.db.prisma.alert.findFirstOrThrow({
      where: { deploymentId: killed.id, resolvedAt: null },
    });
    expect(alert).toMatchObject({ kind: 'backup_failed', severity: 'CRITICAL', backupRecordId: running.id });
    const liveRecord = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { deploymentId: live.id } });
    expect(liveRecord.status).toBe('RUNNING');
    expect(await filesUnder(folderOf(harness.root, live))).toEqual([path.basename(liveTempFile)]);

    stopLive.abort(new BackupInterruptedError('Interrupted', 'interrupted: the test stopped the live backup'));
    expect(await liveBackup).toMatchObject({
      status: 'FAILED',
      record: { id: liveRecord.id, errorKind: 'Interrupted' },
    });
  });

  it('lets only one of two CLIs started together back up a deployment; the other exits 3', async () => {
    const deployment = await deploymentWithPod({ delayStatusMs: SLOW_STATUS_MS });

    const results = await Promise.all([runCli(['run', deployment.id]), runCli(['run', deployment.id])]);

    const records = await harness.db.prisma.backupRecord.findMany({ where: { deploymentId: deployment.id } });
    expect(records).toHaveLength(1);
    expect(records[0]!.status).toBe('SUCCEEDED');
    const [winner, loser] = [...results].sort((a, b) => Number(a.code) - Number(b.code));
    expect(winner!.code, winner!.output).toBe(0);
    expect(winner!.stdout).toContain(`SUCCEEDED ${records[0]!.id}`);
    expect(loser!.code, loser!.output).toBe(3);
    expect(loser!.stdout).toContain('skipped (ALREADY_RUNNING): another backup of this deployment is running');
    expect(loser!.stdout).toContain(`running backup ${records[0]!.id}`);
  });

  it('sends the alert of a failed backup to the webhook before it exits, as the worker does', async () => {
    const webhook = await startWebhookReceiver();
    try {
      const deployment = await deploymentWithPod(undefined, uniqueDatabaseName('ops_test_missing'));

      const run = await runCli(['run', deployment.id], { ALERT_WEBHOOK_URL: webhook.url });

      expect(run.code, run.output).toBe(1);
      const record = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { deploymentId: deployment.id } });
      expect(record).toMatchObject({ status: 'FAILED', errorKind: 'ExecFailed' });
      const alert = await harness.db.prisma.alert.findFirstOrThrow({ where: { deploymentId: deployment.id } });
      expect(webhook.bodies.map((body) => JSON.parse(body) as unknown)).toEqual([
        expect.objectContaining({
          type: 'backup.alert',
          alertId: alert.id,
          kind: 'backup_failed',
          backupRecordId: record.id,
        }),
      ]);
    } finally {
      await webhook.close();
    }
  });

  it('rejects bad usage with exit code 2 and a message naming the problem', async () => {
    const [keepZero, unknown] = await Promise.all([
      runCli(['prune', 'cdeployment0000000000000', '--keep', '0']),
      runCli(['frobnicate']),
    ]);

    expect(keepZero.code).toBe(2);
    expect(keepZero.output).toContain('backup: --keep must be a whole number >= 1');
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain('backup: unknown command "frobnicate"');
    expect(unknown.output).toContain('usage: npm run backup -- <command>');
  });
});
