import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runOnce, type LoopDependencies } from '../../../src/lib/worker/loop.ts';
import { SYSTEM_PROMPT } from '../../../src/lib/agent/system-prompt.ts';
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
 * Kubernetes API) without waiting for any model, then the agent gets one turn per workspace against a local server
 * speaking the chat-completions protocol, whose scripted model calls the real backup tools — validly, invalidly, a
 * tool that does not exist, a backup of a FAILED deployment and a prune tighter than the policy, both refused. A
 * model that fails must not cost a backup, nor another workspace its turn.
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
/** After today's 03:00 run: a deployment last backed up then is neither due nor overdue. */
const BACKED_UP_TODAY = new Date('2026-03-01T03:00:05Z');

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
  return { harness, workspaceId: workspace.id, shopId: shop.id, legacyId: legacy.id, yesterdayBackupId: yesterday.id };
}

/** A second workspace, globex, with one backup-enabled deployment that is not due (no pod needed). */
async function addGlobex(backup: BackupHarness) {
  const prisma = backup.db.prisma;
  const workspace = await createWorkspace(prisma, { slug: 'globex' });
  const deployment = await createDeployment(prisma, workspace.id, {
    name: 'globex-ledger',
    backupEnabled: true,
    backupSchedule: '0 3 * * *',
    lastBackupAt: BACKED_UP_TODAY,
    createdAt: CREATED_AT,
  });
  return { workspaceId: workspace.id, deploymentId: deployment.id };
}

/** The state a turn was given: the JSON on the last line of its user message. */
function stateOf(request: RecordedLlmRequest | undefined) {
  const user = request?.body.messages.find((message) => message.role === 'user')?.content ?? '';
  return JSON.parse(user.split('\n').at(-1)!) as {
    workspace: { id: string; slug: { untrusted: string } };
    deployments: Array<Record<string, unknown>>;
  };
}

function loopDependencies(
  backup: BackupHarness,
  baseUrl: string | null,
  onlyWorkspaceId: string | null = null,
): Promise<LoopDependencies> {
  return backup.loop({
    settings: SETTINGS,
    agent: baseUrl === null ? null : { llm: { baseUrl, ...LLM }, workspaceId: onlyWorkspaceId },
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
    const { harness: backup, workspaceId, shopId, legacyId, yesterdayBackupId } = await setUp();
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
          { name: 'pruneOldBackups', arguments: JSON.stringify({ deploymentId: shopId }) },
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
    expect(summary.agent).toEqual([{ workspaceId, stoppedBecause: 'final_answer', steps: 6, toolCalls: 6 }]);
    expect(llm.requests).toHaveLength(6);

    // The scheduled backup finished before the model was first asked, and the user message shows its result.
    const scheduled = await expectScheduledBackupSucceeded(backup, shopId);
    expect(firstRequestAt).not.toBeNull();
    expect(scheduled.finishedAt!.getTime()).toBeLessThanOrEqual(firstRequestAt!.getTime());
    const [system, user] = llm.requests[0]!.body.messages;
    expect(system).toEqual({ role: 'system', content: SYSTEM_PROMPT });
    expect(user).toMatchObject({
      role: 'user',
      content: expect.stringContaining(`Review the backups of workspace ${workspaceId}`),
    });
    const state = stateOf(llm.requests[0]);
    expect(state.workspace).toEqual({ id: workspaceId, slug: { untrusted: 'acme' } });
    // Most urgent first: legacy-db is overdue (and FAILED); shop-db was just backed up.
    expect(state.deployments).toEqual([
      expect.objectContaining({
        deploymentId: legacyId,
        name: { untrusted: 'legacy-db' },
        status: 'FAILED',
        skipCode: 'DEPLOYMENT_NOT_RUNNING',
        overdue: { since: FIRED_AT.toISOString(), lateByMs: expect.any(Number) },
      }),
      expect.objectContaining({
        deploymentId: shopId,
        name: { untrusted: 'shop-db' },
        status: 'RUNNING',
        recipe: { untrusted: 'postgresql' },
        lastBackupAt: scheduled.startedAt.toISOString(),
        skipCode: 'NOT_DUE',
        storedBackups: 2,
        retention: 10,
        overdue: null,
      }),
    ]);
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
      expect(toolMessages(llm.requests[step]).map((message) => message.toolCallId)).toEqual([
        ...Array.from({ length: step }, (_, index) => `call_${index + 1}_1`),
        ...(step === 5 ? ['call_5_2'] : []),
      ]);
    }
    const [status, invalid, unknown, refused, tighter, dryRun] = toolMessages(llm.requests[5]).map(
      (message) => message.result,
    );
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
        openAlerts: expect.arrayContaining([
          expect.objectContaining({
            deploymentId: legacyId,
            kind: 'backup_overdue',
            severity: 'CRITICAL',
            message: { untrusted: expect.stringContaining('acme/legacy-db is overdue') },
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
    expect(tighter).toEqual({
      ok: false,
      error: { code: 'REFUSED', message: expect.stringContaining('keepLast 1 (the policy: 10) would keep fewer') },
    });
    expect(dryRun).toMatchObject({
      ok: true,
      value: {
        deployment: { untrusted: 'shop-db' },
        policy: 'keep-last 10',
        dryRun: true,
        prunedCount: 0,
        kept: 2,
        keep: expect.arrayContaining([expect.objectContaining({ id: yesterdayBackupId, reasons: ['keep-last'] })]),
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
    expect(summary.agent).toEqual([expect.objectContaining({ stoppedBecause: 'error', steps: 1, toolCalls: 0 })]);
    await expectScheduledBackupSucceeded(backup, shopId);
    expect(await backup.db.prisma.backupRecord.count({ where: { deploymentId: legacyId } })).toBe(0);
    expect(backup.logs()).toContain(logged);
  });
});

describe('one agent turn per workspace', () => {
  /** The workspace id a request's turn is about, from its state. */
  const workspaceOf = (request: RecordedLlmRequest) => stateOf(request).workspace.id;

  it('gives each workspace with backups its own turn, the same system prompt, and only its own state', async () => {
    const { harness: backup, workspaceId, shopId, legacyId } = await setUp();
    const globex = await addGlobex(backup);
    await createWorkspace(backup.db.prisma, { slug: 'idle' }); // no deployments: no turn
    llm = await startFakeLlmServer({
      script: (request) =>
        // Each turn's model tries the other workspace's deployment, then answers.
        request.body.messages.some((message) => message.role === 'tool')
          ? { content: `done with ${workspaceOf(request)}` }
          : {
              toolCalls: [
                {
                  name: 'getBackupHistory',
                  arguments: JSON.stringify({
                    deploymentId: workspaceOf(request) === globex.workspaceId ? shopId : globex.deploymentId,
                  }),
                },
              ],
            },
    });

    const { cycle: summary } = await runOnce(await loopDependencies(backup, llm.baseUrl));

    expect(summary.agent).toEqual(
      [
        { workspaceId, stoppedBecause: 'final_answer', steps: 2, toolCalls: 1 },
        { workspaceId: globex.workspaceId, stoppedBecause: 'final_answer', steps: 2, toolCalls: 1 },
      ].sort((a, b) => (a.workspaceId < b.workspaceId ? -1 : 1)),
    );
    expect(llm.requests).toHaveLength(4);
    for (const request of llm.requests) {
      expect(request.body.messages[0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
      const state = stateOf(request);
      const ids = state.deployments.map((deployment) => deployment.deploymentId);
      expect(ids.sort()).toEqual(
        state.workspace.id === workspaceId ? [legacyId, shopId].sort() : [globex.deploymentId],
      );
      // The other workspace's deployment is not found, word for word like one that does not exist.
      const [answer] = toolMessages(request).map((message) => message.result);
      if (answer)
        expect(answer).toEqual({
          ok: false,
          error: { code: 'NOT_FOUND', message: expect.stringMatching(/^no deployment "\w+" in your scope/) },
        });
    }
    expect(new Set(llm.requests.map(workspaceOf))).toEqual(new Set([workspaceId, globex.workspaceId]));
  });

  it('runs the other workspaces’ turns when one turn fails', async () => {
    const { harness: backup, workspaceId } = await setUp();
    const globex = await addGlobex(backup);
    llm = await startFakeLlmServer({
      script: (request) =>
        workspaceOf(request) === workspaceId ? { status: 500, body: 'model overloaded' } : { content: 'all good' },
    });

    const { cycle: summary, jobs } = await runOnce(await loopDependencies(backup, llm.baseUrl));

    expect(summary).toMatchObject({ due: 1 });
    expect(jobs).toMatchObject({ backupsSucceeded: 1 });
    expect(summary.agent).toEqual(
      expect.arrayContaining([
        { workspaceId, stoppedBecause: 'error', steps: 1, toolCalls: 0 },
        { workspaceId: globex.workspaceId, stoppedBecause: 'final_answer', steps: 1, toolCalls: 0 },
      ]),
    );
    expect(summary.agent).toHaveLength(2);
  });

  it('gives only AGENT_WORKSPACE_ID’s workspace a turn when it is set', async () => {
    const { harness: backup } = await setUp();
    const globex = await addGlobex(backup);
    llm = await startFakeLlmServer({ script: () => ({ content: 'ok' }) });

    const { cycle: summary } = await runOnce(await loopDependencies(backup, llm.baseUrl, globex.workspaceId));

    expect(summary.agent).toEqual([
      { workspaceId: globex.workspaceId, stoppedBecause: 'final_answer', steps: 1, toolCalls: 0 },
    ]);
    expect(llm.requests.map(workspaceOf)).toEqual([globex.workspaceId]);
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
