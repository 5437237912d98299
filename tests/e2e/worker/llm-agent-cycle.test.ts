import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runOnce, type LoopDependencies } from '../../../src/lib/worker/loop.ts';
import { BACKUP_GUIDANCE } from '../../../src/lib/agent/system-prompt.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import {
  startFakeLlmServer,
  type FakeLlmReply,
  type FakeLlmServer,
  type RecordedLlmRequest,
} from '../../support/fake-llm-server.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * A whole ops-agent cycle with the LLM agent on: the scheduler backs up what is due (a real pg_dump through the fake
 * Kubernetes API) without waiting for any model, then the agent turn runs against a local server speaking the
 * chat-completions protocol, whose scripted model calls the real backup tools — validly, invalidly, a tool that does
 * not exist, and a backup of a FAILED deployment that must be refused. A model that fails must not cost a backup.
 */

/** 04:30 UTC: `0 3 * * *` fired 90 minutes ago, more than the grace period. The harness clock ticks from here. */
const T0 = new Date('2026-03-01T04:30:00Z');
const FIRED_AT = new Date('2026-03-01T03:00:00Z');
const LAST_BACKUP_AT = new Date('2026-02-28T03:00:05Z');
const CREATED_AT = new Date('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const SETTINGS = { concurrency: 2, overdueGraceMs: HOUR, retryDelayMs: 15 * 60_000 };
const LLM = { model: 'test', maxSteps: 6, timeoutMs: 5_000 };
const FINAL_ANSWER = 'shop-db was backed up by the scheduler. legacy-db is FAILED: not backed up, it needs a person.';

let source: string;
let harness: BackupHarness | undefined;
let llm: FakeLlmServer | undefined;

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_cycle_src'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(`CREATE TABLE orders AS SELECT g AS id, 'order ' || g AS label FROM generate_series(1, 1000) g`);
  await client.end();
});
afterEach(async () => {
  await llm?.close();
  await harness?.close();
  llm = undefined;
  harness = undefined;
});
afterAll(async () => {
  await dropDatabase(source);
});

/**
 * A fresh harness whose clock starts at T0 and ticks in real time, with two deployments backed up daily at 03:00
 * (last success yesterday): shop-db, RUNNING, with one stored backup; legacy-db, FAILED. Both have a pod that dumps
 * the source database, so a refusal can only come from the guard.
 */
async function setUp() {
  const startedAt = performance.now();
  const env = { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source };
  harness = await startBackupHarness({
    pods: [podFor('shop-db', 'postgres', env), podFor('legacy-db', 'postgres', env)],
    clock: () => new Date(T0.getTime() + Math.round(performance.now() - startedAt)),
  });
  const prisma = harness.db.prisma;
  const workspace = await createWorkspace(prisma, { slug: 'acme' });
  const daily = {
    backupEnabled: true,
    backupSchedule: '0 3 * * *',
    lastBackupAt: LAST_BACKUP_AT,
    createdAt: CREATED_AT,
  };
  const shop = await createDeployment(prisma, workspace.id, { name: 'shop-db', ...daily });
  const legacy = await createDeployment(prisma, workspace.id, { name: 'legacy-db', status: 'FAILED', ...daily });
  const yesterday = await prisma.backupRecord.create({
    data: {
      deploymentId: shop.id,
      workspaceId: workspace.id,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt: LAST_BACKUP_AT,
      // Only listed by the dry run below, never opened.
      path: path.join(harness.root, workspace.id, 'shop-db', '20260228T030005.000Z.dump'),
      sizeBytes: 4_096n,
      sha256: 'a'.repeat(64),
    },
  });
  return { harness, shopId: shop.id, legacyId: legacy.id, yesterdayBackupId: yesterday.id };
}

function loopDependencies(backup: BackupHarness, baseUrl: string | null): Promise<LoopDependencies> {
  return backup.loop({
    settings: SETTINGS,
    agent: baseUrl === null ? null : { llm: { baseUrl, ...LLM }, workspaceId: null },
  });
}

/** The tool messages fed back to the model in a recorded request, in order, with their content parsed. */
function toolMessages(request: RecordedLlmRequest | undefined) {
  return (request?.body.messages ?? []).flatMap((message) =>
    message.role === 'tool'
      ? [{ toolCallId: message.tool_call_id, result: JSON.parse(message.content) as unknown }]
      : [],
  );
}

async function expectScheduledBackupSucceeded(backup: BackupHarness, shopId: string) {
  const records = await backup.db.prisma.backupRecord.findMany({
    where: { deploymentId: shopId, trigger: 'SCHEDULE', startedAt: { gte: T0 } },
  });
  expect(records).toEqual([
    expect.objectContaining({ status: 'SUCCEEDED', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }),
  ]);
  return records[0]!;
}

describe('a cycle with the LLM agent', () => {
  it('lets the model use the tools after the scheduler backed up what was due; invalid, unknown and refused calls come back as data', async () => {
    const { harness: backup, shopId, legacyId, yesterdayBackupId } = await setUp();
    // The scheduler queues and runs the due backup without any model (the agent's turns never hold it up).
    const first = await runOnce(await loopDependencies(backup, null));
    expect(first.cycle).toMatchObject({ due: 1, queued: 1, skipped: 1, overdue: 2, interrupted: 0, agent: null });
    expect(first.jobs).toMatchObject({ backupsRun: 1, backupsSucceeded: 1, backupsFailed: 0, pruned: 0 });
    let firstRequestAt: Date | null = null;
    const replies: FakeLlmReply[] = [
      { toolCalls: [{ name: 'listBackupStatus', arguments: '{}' }] },
      { toolCalls: [{ name: 'runBackup', arguments: '{"deploymentId":123}' }] },
      { toolCalls: [{ name: 'dropDatabase', arguments: '{"name":"shop"}' }] },
      {
        content: 'legacy-db looks overdue, backing it up.',
        toolCalls: [{ name: 'runBackup', arguments: JSON.stringify({ deploymentId: legacyId }) }],
      },
      {
        toolCalls: [
          { name: 'pruneOldBackups', arguments: JSON.stringify({ deploymentId: shopId, keepCount: 1, dryRun: true }) },
        ],
      },
      { content: FINAL_ANSWER },
    ];
    llm = await startFakeLlmServer({
      script: (_request, index) => {
        firstRequestAt ??= backup.deps.clock();
        return replies[index] ?? { status: 500, body: 'script exhausted' };
      },
    });

    const { cycle: summary } = await runOnce(await loopDependencies(backup, llm.baseUrl));

    expect(summary).toMatchObject({ due: 0, queued: 0, skipped: 2, overdue: 1, interrupted: 0 });
    expect(summary.agent).toEqual({ stoppedBecause: 'final_answer', steps: 6, toolCalls: 5 });
    expect(llm.requests).toHaveLength(6);

    // The scheduled backup finished before the model was asked, and the prompt shows its result.
    const scheduled = await expectScheduledBackupSucceeded(backup, shopId);
    expect(firstRequestAt).not.toBeNull();
    expect(scheduled.finishedAt!.getTime()).toBeLessThanOrEqual(firstRequestAt!.getTime());
    const [system, user] = llm.requests[0]!.body.messages;
    expect(system?.role).toBe('system');
    expect(user).toMatchObject({ role: 'user', content: expect.stringContaining('Review the backup state') });
    const prompt = system?.content ?? '';
    for (const sentence of BACKUP_GUIDANCE) expect(prompt).toContain(sentence);
    expect(prompt).toContain(`- acme/shop-db id=${shopId} status=RUNNING recipe=postgresql`);
    expect(prompt).toContain(`last success ${scheduled.startedAt.toISOString()}`);
    expect(prompt).toMatch(/stored: 2 backups, [\d.]+ \w+ \(retention 10\); not due: NOT_DUE/);
    expect(prompt).toContain(`- acme/legacy-db id=${legacyId} status=FAILED recipe=postgresql`);
    expect(prompt).toContain(`OVERDUE by`);
    expect(prompt).toContain('not due: DEPLOYMENT_NOT_RUNNING');
    expect(llm.requests[0]!.body.tools?.map((tool) => tool.function.name)).toEqual([
      'listBackupStatus',
      'runBackup',
      'getBackupHistory',
      'pruneOldBackups',
      'verifyBackup',
      'proposeRestore',
    ]);

    // Each request carries the answer to the previous step's tool call; the last one carries them all.
    for (let step = 1; step < 6; step += 1) {
      expect(toolMessages(llm.requests[step]).map((message) => message.toolCallId)).toEqual(
        Array.from({ length: step }, (_, index) => `call_${index + 1}_1`),
      );
    }
    const [status, invalid, unknown, refused, dryRun] = toolMessages(llm.requests[5]).map((message) => message.result);
    expect(status).toMatchObject({
      ok: true,
      value: {
        totals: { enabled: 2, running: 0, storedBytes: expect.stringMatching(/^\d+$/) },
        deployments: expect.arrayContaining([
          expect.objectContaining({
            deploymentId: shopId,
            due: false,
            skipCode: 'NOT_DUE',
            storedBackups: 2,
            lastBackupAt: scheduled.startedAt.toISOString(),
            overdue: null,
          }),
          expect.objectContaining({
            deploymentId: legacyId,
            status: 'FAILED',
            skipCode: 'DEPLOYMENT_NOT_RUNNING',
            overdue: { since: FIRED_AT.toISOString(), lateByMs: expect.any(Number) },
          }),
        ]),
      },
    });
    expect(invalid).toEqual({
      ok: false,
      error: {
        code: 'INVALID_INPUT',
        message: expect.stringMatching(
          /^runBackup: invalid input \{"deploymentId":123\}: deploymentId: .*expected string/,
        ),
      },
    });
    expect(unknown).toEqual({
      ok: false,
      error: { code: 'UNKNOWN_TOOL', message: expect.stringContaining('no tool named "dropDatabase"') },
    });
    expect(refused).toEqual({
      ok: false,
      error: { code: 'REFUSED', message: expect.stringMatching(/^DEPLOYMENT_NOT_RUNNING: .*corrupt data/) },
    });
    expect(dryRun).toMatchObject({
      ok: true,
      value: {
        deployment: 'shop-db',
        dryRun: true,
        prunedCount: 1,
        kept: 1,
        pruned: [expect.objectContaining({ id: yesterdayBackupId })],
      },
    });

    // Nothing was ever recorded for the FAILED deployment, and the dry run deleted nothing.
    expect(await backup.db.prisma.backupRecord.count({ where: { deploymentId: legacyId } })).toBe(0);
    expect(await backup.db.prisma.backupRecord.count({ where: { deploymentId: shopId } })).toBe(2);
    const alerts = await backup.db.prisma.alert.findMany({ where: { deploymentId: legacyId, resolvedAt: null } });
    expect(alerts.map((alert) => alert.kind).sort()).toEqual(['backup_blocked', 'backup_overdue']);
    expect(backup.logs()).toContain(FINAL_ANSWER);
  });

  it.each([
    {
      case: 'answers HTTP 500',
      start: async () => {
        llm = await startFakeLlmServer({ script: [{ status: 500, body: 'model overloaded' }] });
        return llm.baseUrl;
      },
      logged: 'HTTP 500',
    },
    {
      case: 'is unreachable',
      start: async () => {
        const closed = createServer();
        await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
        const { port } = closed.address() as AddressInfo;
        await new Promise<void>((resolve) => closed.close(() => resolve()));
        return `http://127.0.0.1:${port}/v1`;
      },
      logged: 'ECONNREFUSED',
    },
  ])('completes the cycle with its backups when the model $case', async ({ start, logged }) => {
    const { harness: backup, shopId, legacyId } = await setUp();
    const baseUrl = await start();

    const { cycle: summary, jobs } = await runOnce(await loopDependencies(backup, baseUrl));

    expect(summary).toMatchObject({ due: 1, queued: 1, skipped: 1 });
    expect(jobs).toMatchObject({ backupsRun: 1, backupsSucceeded: 1, backupsFailed: 0 });
    expect(summary.agent).toEqual({ stoppedBecause: 'error', steps: 1, toolCalls: 0 });
    await expectScheduledBackupSucceeded(backup, shopId);
    expect(await backup.db.prisma.backupRecord.count({ where: { deploymentId: legacyId } })).toBe(0);
    expect(backup.logs()).toContain(logged);
  });
});

describe('a cycle without an agent', () => {
  it('runs the due backups and needs no model', async () => {
    const { harness: backup, shopId } = await setUp();

    const { cycle: summary, jobs } = await runOnce(await loopDependencies(backup, null));

    expect(summary).toMatchObject({ due: 1, queued: 1, skipped: 1, overdue: 2, agent: null });
    expect(jobs).toMatchObject({ backupsRun: 1, backupsSucceeded: 1, backupsFailed: 0 });
    await expectScheduledBackupSucceeded(backup, shopId);
    expect(backup.logs()).not.toContain('ops-agent/llm-agent');
  });
});
