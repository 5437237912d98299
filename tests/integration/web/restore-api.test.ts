import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as planRoute from '../../../src/app/api/backups/[id]/restore/route.ts';
import * as approveRoute from '../../../src/app/api/restores/[id]/approve/route.ts';
import * as confirmRoute from '../../../src/app/api/restores/[id]/confirm/route.ts';
import * as restoreRoute from '../../../src/app/api/restores/[id]/route.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { callTool } from '../../../src/lib/agent/tool.ts';
import type { ToolContext } from '../../../src/lib/agent/tool-context.ts';
import { backupTools } from '../../../src/lib/agent/tools.ts';
import { restoreBackup } from '../../../src/lib/restore/restore-backup.ts';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { getWebContext } from '../../../src/lib/web/web-context.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The ways in: the agent's proposeRestore (a proposal with a plan and no token; nothing the agent can call confirms
 * it), and the authenticated API (dry-run 201 with the token, confirm 202, approve of the agent's proposal), scoped to
 * the caller's workspace. The restore itself is the real pg_restore through the fake cluster.
 */
const BASE = 'http://ops.test';
const DEADLINE_MS = 30_000;
let harness: BackupHarness;
let live: string;
let workspaceId: string;
let backupId: string;
let myToken: string;
let theirToken: string;

async function count(): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl(live) });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM items')).rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function storeToken(forWorkspace: string): Promise<string> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  await harness.db.prisma.apiToken.create({
    data: { workspaceId: forWorkspace, name: 'test', tokenHash, tokenPrefix },
  });
  return token;
}

function post(path: string, token: string, body?: unknown): Request {
  return new Request(`${BASE}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}
const params = (id: string) => ({ params: Promise.resolve({ id }) });

beforeAll(async () => {
  live = await createDatabase(uniqueDatabaseName('ops_test_api_restore'));
  const client = new pg.Client({ connectionString: databaseUrl(live) });
  await client.connect();
  await client.query(`CREATE TABLE items AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 500) g`);
  await client.end();
  harness = await startBackupHarness({
    pods: [podFor('pg-api', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: live })],
  });
  Object.assign(process.env, {
    DATABASE_URL: harness.db.url,
    BACKUP_ROOT: harness.root,
    KUBECONFIG: harness.kube.kubeconfigPath,
    LOG_LEVEL: 'silent',
  });
  await getWebContext();
  // A worker beside the web process: it answers dry-runs and approvals and runs the confirmed restores.
  await harness.runJobs();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
  const deployment = await createDeployment(harness.db.prisma, workspaceId, {
    name: 'pg-api',
    recipeSlug: 'postgresql',
  });
  const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
  backupId = outcome.record.id;
  myToken = await storeToken(workspaceId);
  theirToken = await storeToken((await createWorkspace(harness.db.prisma)).id);
});

afterAll(async () => {
  await (await getWebContext()).close();
  await harness.close();
  await dropDatabase(live);
});

describe('proposeRestore (agent tool)', () => {
  const context = (): ToolContext => ({
    backup: harness.deps,
    workspaceId,
    stateOptions: { overdueGraceMs: 3_600_000, retryDelayMs: 900_000 },
  });

  it('records a proposal with a plan and no token, raises an INFO alert, and returns no secret', async () => {
    const result = await callTool(backupTools, 'proposeRestore', { backupId }, context());
    expect(result.ok).toBe(true);
    const value = (result as { ok: true; value: { restoreId: string; plan: { untrusted: string }; status: string } })
      .value;
    expect(value.status).toBe('PROPOSED');
    // The plan names the tenant's tables: the model gets it as untrusted text.
    expect(value.plan.untrusted).toContain('items: 500 rows');
    expect(JSON.stringify(value)).not.toMatch(/opsr_/);
    const record = await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: value.restoreId } });
    expect(record).toMatchObject({
      status: 'PROPOSED',
      requestedBy: 'agent',
      trigger: 'AGENT',
      confirmTokenHash: null,
      confirmExpiresAt: null,
    });
    const alert = await harness.db.prisma.alert.findFirstOrThrow({
      where: { kind: 'restore_proposed', resolvedAt: null },
    });
    expect(alert.message).toContain(`npm run restore -- approve ${value.restoreId}`);
    expect(harness.logs()).toContain(`npm run restore -- confirm ${value.restoreId}`);
  });

  it('gives the agent no way to confirm: no such tool, and the proposal refuses any token until a person approves', async () => {
    expect(backupTools.map((tool) => tool.name).filter((name) => /confirm|approve|restore/i.test(name))).toEqual([
      'proposeRestore',
    ]);
    expect(await callTool(backupTools, 'proposeRestore', { backupId, confirm: true }, context())).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT' },
    });
    const proposal = await harness.db.prisma.restoreRecord.findFirstOrThrow({
      where: { requestedBy: 'agent', status: 'PROPOSED' },
    });
    await expect(
      restoreBackup(harness.deps, backupId, {
        mode: 'live',
        restoreId: proposal.id,
        confirmToken: `opsr_${'a'.repeat(40)}`,
        confirmedBy: 'agent',
      }),
    ).rejects.toMatchObject({ code: 'NOT_APPROVED' });
  });

  it('refuses backups of another workspace as not found', async () => {
    expect(
      await callTool(backupTools, 'proposeRestore', { backupId }, { ...context(), workspaceId: 'someoneelse' }),
    ).toEqual({
      ok: false,
      error: { code: 'NOT_FOUND', message: `no backup "${backupId}" in your scope` },
    });
  });
});

describe('restore API', () => {
  it('refuses strangers and other workspaces like missing records', async () => {
    expect(
      (
        await planRoute.POST(
          new Request(`${BASE}/api/backups/${backupId}/restore`, { method: 'POST' }),
          params(backupId),
        )
      ).status,
    ).toBe(401);
    expect((await planRoute.POST(post(`/api/backups/${backupId}/restore`, theirToken), params(backupId))).status).toBe(
      404,
    );
    const proposal = await harness.db.prisma.restoreRecord.findFirstOrThrow({ where: { status: 'PROPOSED' } });
    expect(
      (await approveRoute.POST(post(`/api/restores/${proposal.id}/approve`, theirToken), params(proposal.id))).status,
    ).toBe(404);
    expect(
      (
        await confirmRoute.POST(
          post(`/api/restores/${proposal.id}/confirm`, theirToken, { token: 'x' }),
          params(proposal.id),
        )
      ).status,
    ).toBe(404);
    expect(
      (
        await restoreRoute.GET(
          new Request(`${BASE}/api/restores/${proposal.id}`, { headers: { authorization: `Bearer ${theirToken}` } }),
          params(proposal.id),
        )
      ).status,
    ).toBe(404);
  });

  it('plans (201 with the token), refuses a wrong token (403), and confirms (202) into a restore that succeeds', async () => {
    const planned = await planRoute.POST(post(`/api/backups/${backupId}/restore`, myToken), params(backupId));
    expect(planned.status).toBe(201);
    const body = (await planned.json()) as { restore: Record<string, unknown>; plan: string; confirmToken: string };
    expect(body.plan).toContain('Will overwrite: live database');
    expect(body.confirmToken).toMatch(/^opsr_/);
    expect(body.restore).not.toHaveProperty('confirmTokenHash');
    const id = body.restore.id as string;

    expect((await confirmRoute.POST(post(`/api/restores/${id}/confirm`, myToken, {}), params(id))).status).toBe(400);
    const wrong = await confirmRoute.POST(
      post(`/api/restores/${id}/confirm`, myToken, { token: `opsr_${'b'.repeat(40)}` }),
      params(id),
    );
    expect(wrong.status).toBe(403);

    const client = new pg.Client({ connectionString: databaseUrl(live) });
    await client.connect();
    await client.query('DELETE FROM items WHERE id > 100');
    await client.end();
    const confirmed = await confirmRoute.POST(
      post(`/api/restores/${id}/confirm`, myToken, { token: body.confirmToken }),
      params(id),
    );
    expect(confirmed.status).toBe(202);
    // Queued for a worker: the web process only checked the token.
    expect(((await confirmed.json()) as { restore: { status: string } }).restore.status).toBe('QUEUED');
    const deadline = Date.now() + DEADLINE_MS;
    let status = 'QUEUED';
    while ((status === 'QUEUED' || status === 'RUNNING') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const answer = await restoreRoute.GET(
        new Request(`${BASE}/api/restores/${id}`, { headers: { authorization: `Bearer ${myToken}` } }),
        params(id),
      );
      status = ((await answer.json()) as { restore: { status: string } }).restore.status;
    }
    expect(status).toBe('SUCCEEDED');
    expect(await count()).toBe(500);
    const reused = await confirmRoute.POST(
      post(`/api/restores/${id}/confirm`, myToken, { token: body.confirmToken }),
      params(id),
    );
    expect(reused.status).toBe(409);
  });

  it('a person approves the agent’s proposal through the API and gets a token that confirms it', async () => {
    // The plan above replaced the agent's first proposal (one open plan per backup): it proposes again.
    const proposed = await callTool(
      backupTools,
      'proposeRestore',
      { backupId },
      { backup: harness.deps, workspaceId, stateOptions: { overdueGraceMs: 3_600_000, retryDelayMs: 900_000 } },
    );
    expect(proposed.ok).toBe(true);
    const proposal = await harness.db.prisma.restoreRecord.findFirstOrThrow({
      where: { requestedBy: 'agent', status: 'PROPOSED' },
    });
    const approved = await approveRoute.POST(
      post(`/api/restores/${proposal.id}/approve`, myToken),
      params(proposal.id),
    );
    expect(approved.status).toBe(201);
    const { confirmToken } = (await approved.json()) as { confirmToken: string };
    const confirmed = await confirmRoute.POST(
      post(`/api/restores/${proposal.id}/confirm`, myToken, { token: confirmToken }),
      params(proposal.id),
    );
    expect(confirmed.status).toBe(202);
    const deadline = Date.now() + DEADLINE_MS;
    while (
      Date.now() < deadline &&
      ['QUEUED', 'RUNNING'].includes(
        (await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: proposal.id } })).status,
      )
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: proposal.id } })).toMatchObject({
      status: 'SUCCEEDED',
      confirmedBy: expect.stringMatching(/^api:/),
    });
    expect(await harness.db.prisma.alert.count({ where: { kind: 'restore_proposed', resolvedAt: null } })).toBe(0);
  });
});

describe('restore plans: one open plan per backup, and a flood is rate-limited', () => {
  it('a new plan replaces the open one: its token stops working', async () => {
    const token = await storeToken(workspaceId);
    const first = (await (
      await planRoute.POST(post(`/api/backups/${backupId}/restore`, token), params(backupId))
    ).json()) as { restore: { id: string }; confirmToken: string };
    const second = await planRoute.POST(post(`/api/backups/${backupId}/restore`, token), params(backupId));
    expect(second.status).toBe(201);
    const replaced = await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: first.restore.id } });
    expect(replaced).toMatchObject({ status: 'CANCELLED', error: expect.stringMatching(/^replaced by a newer plan/) });
    const late = await confirmRoute.POST(
      post(`/api/restores/${first.restore.id}/confirm`, token, { token: first.confirmToken }),
      params(first.restore.id),
    );
    expect(late.status).toBe(409);
    expect(
      await harness.db.prisma.restoreRecord.count({ where: { backupRecordId: backupId, status: 'PROPOSED' } }),
    ).toBe(1);
  });

  it('20 plans at once from one token: most get 429 with Retry-After, and one PROPOSED record is left', async () => {
    const token = await storeToken(workspaceId);
    // From a client address of its own (as the production server records it), so that the earlier tests' requests,
    // which share the in-process address "unknown", do not count: the token's limit (3 at once) is what answers.
    const flood = () => {
      const request = post(`/api/backups/${backupId}/restore`, token);
      request.headers.set('x-ops-client-address', '203.0.113.7');
      return planRoute.POST(request, params(backupId));
    };
    const answers = await Promise.all(Array.from({ length: 20 }, flood));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(3);
    const limited = answers.filter((answer) => answer.status === 429);
    expect(limited).toHaveLength(17);
    for (const answer of limited) expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(
      await harness.db.prisma.restoreRecord.count({ where: { backupRecordId: backupId, status: 'PROPOSED' } }),
    ).toBe(1);
  });
});

describe('a workspace that requires a second principal for live restores', () => {
  it('refuses the planner’s own confirmation (403) and takes another token’s', async () => {
    await harness.db.prisma.workspace.update({
      where: { id: workspaceId },
      data: { restoreNeedsSecondPrincipal: true },
    });
    try {
      const [planner, second] = [await storeToken(workspaceId), await storeToken(workspaceId)];
      const request = post(`/api/backups/${backupId}/restore`, planner);
      request.headers.set('x-ops-client-address', '203.0.113.8');
      const planned = await planRoute.POST(request, params(backupId));
      expect(planned.status).toBe(201);
      const { restore, confirmToken } = (await planned.json()) as { restore: { id: string }; confirmToken: string };
      const own = await confirmRoute.POST(
        post(`/api/restores/${restore.id}/confirm`, planner, { token: confirmToken }),
        params(restore.id),
      );
      expect([own.status, own.headers.get('x-restore-refusal')]).toEqual([403, 'SAME_PRINCIPAL']);
      expect((await own.json()).error).toMatch(/requires another principal to confirm it/);
      expect((await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: restore.id } })).status).toBe(
        'PROPOSED',
      );
      const confirmed = await confirmRoute.POST(
        post(`/api/restores/${restore.id}/confirm`, second, { token: confirmToken }),
        params(restore.id),
      );
      expect(confirmed.status).toBe(202);
      const deadline = Date.now() + DEADLINE_MS;
      let status = 'QUEUED';
      while (['QUEUED', 'RUNNING'].includes(status) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: restore.id } })).status;
      }
      expect(status).toBe('SUCCEEDED');
    } finally {
      await harness.db.prisma.workspace.update({
        where: { id: workspaceId },
        data: { restoreNeedsSecondPrincipal: false },
      });
    }
  });
});
