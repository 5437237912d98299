import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runWorkspaceTurns } from '../../../src/lib/agent/workspace-turns.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { startFakeLlmServer, type FakeLlmScript, type FakeLlmServer } from '../../support/fake-llm-server.ts';

// The agent's turns of a cycle against the real database and the local chat-completions server: which workspaces
// get one, and how a turn that cannot even start or is stopped leaves the others.

const HOUR = 3_600_000;
const STATE_OPTIONS = { overdueGraceMs: HOUR, retryDelayMs: HOUR / 4 };
const LLM = { model: 'test', maxSteps: 3, timeoutMs: 5_000 };

let harness: BackupHarness;
let llm: FakeLlmServer | undefined;
/** Workspace ids in the order the turns run (by id). */
let turnOrder: string[];

beforeAll(async () => {
  harness = await startBackupHarness();
  const prisma = harness.db.prisma;
  const workspaces = [];
  for (const slug of ['alpha', 'beta']) {
    const workspace = await createWorkspace(prisma, { slug });
    await createDeployment(prisma, workspace.id, { backupEnabled: true, backupSchedule: '0 3 * * *' });
    workspaces.push(workspace.id);
  }
  // Backups off, or no deployment at all: nothing for an agent to review.
  const quiet = await createWorkspace(prisma, { slug: 'quiet' });
  await createDeployment(prisma, quiet.id, { backupEnabled: false });
  await createWorkspace(prisma, { slug: 'empty' });
  turnOrder = workspaces.sort();
});
afterEach(async () => {
  await llm?.close();
  llm = undefined;
});
afterAll(async () => {
  await harness?.close();
});

async function run(script: FakeLlmScript, options: { stopTakingWork?: AbortSignal; only?: string | null } = {}) {
  llm = await startFakeLlmServer({ script });
  return runWorkspaceTurns({
    backup: harness.deps,
    llm: { baseUrl: llm.baseUrl, ...LLM },
    onlyWorkspaceId: options.only ?? null,
    stateOptions: STATE_OPTIONS,
    logger: harness.deps.logger,
    ...(options.stopTakingWork ? { stopTakingWork: options.stopTakingWork } : {}),
  });
}

describe('runWorkspaceTurns', () => {
  it('gives a turn to each workspace with backup-enabled deployments, in a stable order', async () => {
    const summaries = await run(() => ({ content: 'ok' }));
    expect(summaries).toEqual(
      turnOrder.map((workspaceId) => ({ workspaceId, stoppedBecause: 'final_answer', steps: 1, toolCalls: 0 })),
    );
  });

  it('gives no turn when AGENT_WORKSPACE_ID names a workspace without backups', async () => {
    const quiet = await harness.db.prisma.workspace.findUniqueOrThrow({ where: { slug: 'quiet' } });
    expect(await run(() => ({ content: 'ok' }), { only: quiet.id })).toEqual([]);
    expect(llm?.requests).toEqual([]);
  });

  it('starts no further turn once the cycle is told to stop', async () => {
    const stop = new AbortController();
    const summaries = await run(
      () => {
        stop.abort();
        return { content: 'ok' };
      },
      { stopTakingWork: stop.signal },
    );
    expect(summaries).toEqual([{ workspaceId: turnOrder[0], stoppedBecause: 'aborted', steps: 1, toolCalls: 0 }]);
  });

  it('reports each turn whose state cannot be read as an error, logs it, and asks no model', async () => {
    // A real fault of the database: the alerts table is gone (renamed back afterwards).
    await harness.db.prisma.$executeRawUnsafe('ALTER TABLE "Alert" RENAME TO "AlertAway"');
    try {
      const summaries = await run(() => ({ content: 'unreachable' }));
      expect(summaries).toEqual(
        turnOrder.map((workspaceId) => ({ workspaceId, stoppedBecause: 'error', steps: 0, toolCalls: 0 })),
      );
      expect(llm?.requests).toEqual([]);
      expect(harness.logs()).toContain('the agent turn of a workspace crashed; the other workspaces get theirs');
    } finally {
      await harness.db.prisma.$executeRawUnsafe('ALTER TABLE "AlertAway" RENAME TO "Alert"');
    }
  });
});
