import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as pinRoute from '../../../src/app/api/backups/[id]/pin/route.ts';
import * as pruneRoute from '../../../src/app/api/deployments/[id]/prune/route.ts';
import * as sessionRoute from '../../../src/app/api/session/route.ts';
import type {
  BackupRecord,
  BackupStatus,
  Deployment,
  Prisma,
  PrismaClient,
} from '../../../src/generated/prisma/client.ts';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { getWebContext } from '../../../src/lib/web/web-context.ts';
import { filesUnder, folderOf } from '../../support/backup-checks.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

/**
 * Retention over HTTP, as Next.js calls the route handlers: GET shows the plan and deletes nothing, POST carries out
 * only the plan the caller confirms, pins keep backups; all against the web context's real database and a backup
 * volume in a temporary folder, with the same authentication and workspace isolation as the rest of the API.
 */
const BASE = 'http://ops.test';
const T0 = new Date('2026-03-01T03:00:00Z');
const DAY_MS = 86_400_000;
const BACKUP_BYTES = 2048;

let harness: BackupHarness;
let db: PrismaClient;
let mine: { id: string };
let theirs: { id: string };
let myToken: string;
let theirToken: string;

beforeAll(async () => {
  harness = await startBackupHarness();
  Object.assign(process.env, {
    DATABASE_URL: harness.db.url,
    BACKUP_ROOT: harness.root,
    KUBECONFIG: harness.kube.kubeconfigPath,
    LOG_LEVEL: 'silent',
  });
  db = (await getWebContext()).runtime.database.prisma;
  mine = await createWorkspace(db);
  theirs = await createWorkspace(db);
  myToken = await storeToken(mine.id);
  theirToken = await storeToken(theirs.id);
});

afterAll(async () => {
  await (await getWebContext()).close();
  await harness?.close();
});

async function storeToken(workspaceId: string): Promise<string> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  await db.apiToken.create({ data: { workspaceId, name: 'test', tokenHash, tokenPrefix } });
  return token;
}

function newDeployment(columns: Partial<Prisma.DeploymentUncheckedCreateInput> = {}): Promise<Deployment> {
  return createDeployment(db, mine.id, { name: `db-${randomBytes(4).toString('hex')}`, ...columns });
}

/** A SUCCEEDED backup written by the store, `days` after T0. */
async function seedBackup(deployment: Deployment, days: number): Promise<BackupRecord> {
  const startedAt = new Date(T0.getTime() + days * DAY_MS);
  const writer = await harness.deps.store.open({
    workspaceId: deployment.workspaceId,
    deploymentName: deployment.name,
    extension: 'dump',
    compressed: true,
    startedAt,
  });
  writer.stream.write(randomBytes(BACKUP_BYTES));
  const stored = await writer.commit();
  return db.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId: deployment.workspaceId,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt,
      finishedAt: startedAt,
      path: stored.path,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
      extension: stored.extension,
    },
  });
}

function seedRecord(deployment: Deployment, days: number, status: BackupStatus): Promise<BackupRecord> {
  const startedAt = new Date(T0.getTime() + days * DAY_MS);
  return db.backupRecord.create({
    data: { deploymentId: deployment.id, workspaceId: deployment.workspaceId, trigger: 'SCHEDULE', status, startedAt },
  });
}

async function recordIds(deployment: Deployment): Promise<string[]> {
  return (await db.backupRecord.findMany({ where: { deploymentId: deployment.id }, select: { id: true } }))
    .map((r) => r.id)
    .sort();
}

async function state(deployment: Deployment) {
  return { records: await recordIds(deployment), files: await filesUnder(folderOf(harness.root, deployment)) };
}

function request(
  method: string,
  url: string,
  options: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Request {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? myToken}`;
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  return new Request(`${BASE}${url}`, {
    method,
    headers,
    ...(options.body !== undefined
      ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
      : {}),
  });
}

const params = (id: string) => ({ params: Promise.resolve({ id }) });

interface PlanJson {
  keep: Array<{ id: string; reasons: string[] }>;
  pruned: Array<{ id: string; reason: string }>;
  prunedFailedRecords: Array<{ id: string; reason: string }>;
  expectDelete: string[];
  policy: Record<string, unknown>;
  guard: { reasons: string[]; confirmed: boolean } | null;
}

async function getPlan(
  deployment: Deployment,
  token?: string,
): Promise<{ status: number; body: { plan: PlanJson; error?: string } }> {
  const response = await pruneRoute.GET(
    request('GET', `/api/deployments/${deployment.id}/prune`, { token: token ?? myToken }),
    params(deployment.id),
  );
  return { status: response.status, body: await response.json() };
}

function confirm(
  deployment: Deployment,
  body: unknown,
  options: { token?: string; headers?: Record<string, string> } = {},
) {
  return pruneRoute.POST(
    request('POST', `/api/deployments/${deployment.id}/prune`, { body, ...options }),
    params(deployment.id),
  );
}

describe('GET /api/deployments/{id}/prune', () => {
  it('shows the plan under the deployment policy, with reasons and the list to confirm, and deletes nothing', async () => {
    const deployment = await newDeployment({ backupRetention: 1, retentionDaily: 2 });
    const [oldest, middle, newest] = [
      await seedBackup(deployment, 0),
      await seedBackup(deployment, 1),
      await seedBackup(deployment, 2),
    ];
    const oldFailure = await seedRecord(deployment, -1, 'FAILED');
    const before = await state(deployment);

    const { status, body } = await getPlan(deployment);

    expect(status).toBe(200);
    expect(body.plan.policy).toEqual({ keepLast: 1, daily: 2, timeZone: 'UTC' });
    expect(body.plan.keep.map((k) => [k.id, k.reasons])).toEqual([
      [newest!.id, ['newest', 'keep-last', 'daily']],
      [middle!.id, ['daily']],
    ]);
    expect(body.plan.pruned.map((p) => [p.id, p.reason])).toEqual([[oldest!.id, 'no-keep-rule']]);
    expect(body.plan.prunedFailedRecords.map((p) => [p.id, p.reason])).toEqual([[oldFailure.id, 'old-failure']]);
    expect(body.plan.expectDelete).toEqual([oldest!.id, oldFailure.id].sort());
    expect(await state(deployment)).toEqual(before);
  });

  it('answers 401 without a token and 404 for another workspace, like a missing deployment', async () => {
    const deployment = await newDeployment();
    expect(
      (
        await pruneRoute.GET(
          request('GET', `/api/deployments/${deployment.id}/prune`, { token: null }),
          params(deployment.id),
        )
      ).status,
    ).toBe(401);
    const other = await getPlan(deployment, theirToken);
    expect(other).toEqual({ status: 404, body: { error: `deployment "${deployment.id}" not found` } });
  });

  it('answers 409 naming the column when the deployment policy is invalid', async () => {
    const deployment = await newDeployment({ retentionWeekly: -2 });
    const { status, body } = await getPlan(deployment);
    expect(status).toBe(409);
    expect(body.error).toBe(
      "the deployment's retention policy is invalid: retentionWeekly must be 0 or more (0 turns the ISO week rule off) (got -2)",
    );
  });
});

describe('POST /api/deployments/{id}/prune', () => {
  it('carries out the plan it is shown, exactly', async () => {
    const deployment = await newDeployment({ backupRetention: 2 });
    const backups = [
      await seedBackup(deployment, 0),
      await seedBackup(deployment, 1),
      await seedBackup(deployment, 2),
      await seedBackup(deployment, 3),
    ];
    const { body } = await getPlan(deployment);

    const response = await confirm(deployment, { expectDelete: body.plan.expectDelete });

    expect(response.status).toBe(200);
    const { report } = await response.json();
    expect(report).toMatchObject({ dryRun: false, planChanged: null, problems: [], kept: 2 });
    expect(await recordIds(deployment)).toEqual([backups[2]!.id, backups[3]!.id].sort());
    expect(await filesUnder(folderOf(harness.root, deployment))).toHaveLength(4);
  });

  it('answers 409 when the retention guard stops the plan, and carries it out with "confirm": true', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const backups = [];
    for (let day = 0; day < 10; day += 1) backups.push(await seedBackup(deployment, day));
    const { body } = await getPlan(deployment);
    expect(body.plan).toMatchObject({
      guard: { reasons: ['it would delete 9 of the 10 successful backups, more than half of them'], confirmed: false },
    });
    const before = await state(deployment);

    const stopped = await confirm(deployment, { expectDelete: body.plan.expectDelete });
    expect(stopped.status).toBe(409);
    expect((await stopped.json()).error).toContain('send "confirm": true to go ahead');
    expect(await state(deployment)).toEqual(before);

    const confirmed = await confirm(deployment, { expectDelete: body.plan.expectDelete, confirm: true });
    expect(confirmed.status).toBe(200);
    expect((await confirmed.json()).report).toMatchObject({ dryRun: false, guard: { confirmed: true } });
    expect(await recordIds(deployment)).toEqual([backups[9]!.id]);
  });

  it('deletes nothing and answers 409 with the new plan when the plan changed since it was shown', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const [first, second] = [await seedBackup(deployment, 0), await seedBackup(deployment, 1)];
    const { body } = await getPlan(deployment);
    expect(body.plan.expectDelete).toEqual([first!.id]);
    const third = await seedBackup(deployment, 2);
    const before = await state(deployment);

    const response = await confirm(deployment, { expectDelete: body.plan.expectDelete });

    expect(response.status).toBe(409);
    const answer = await response.json();
    expect(answer.error).toMatch(/^the retention plan changed since it was shown; nothing was deleted/);
    expect(answer.plan.expectDelete).toEqual([first!.id, second!.id].sort());
    expect(answer.plan.planChanged).toEqual({ unconfirmed: [second!.id], noLongerDeleted: [] });
    expect(await state(deployment)).toEqual(before);
    expect(before.records).toContain(third.id);
  });

  it.each([
    {
      case: 'no body',
      body: undefined,
      status: 415,
      error: /^send \{"expectDelete": \[\.\.\.\]\} as application\/json/,
    },
    {
      case: 'a text body',
      body: 'delete it all',
      headers: { 'content-type': 'text/plain' },
      status: 415,
      error: /got content-type "text\/plain"/,
    },
    { case: 'broken JSON', body: '{"expectDelete": [', status: 400, error: /^body must be JSON/ },
    {
      case: 'an empty object',
      body: {},
      status: 400,
      error: /^expectDelete must be the expectDelete list of the plan from GET/,
    },
    {
      case: 'a path among the ids',
      body: { expectDelete: ['../etc'] },
      status: 400,
      error: /^expectDelete\.0 must hold record ids/,
    },
    {
      case: 'an extra field',
      body: { expectDelete: [], keepLast: 1 },
      status: 400,
      error: /Unrecognized key: "keepLast"/,
    },
  ])('answers $status for $case and deletes nothing', async ({ body, headers, status, error }) => {
    const deployment = await newDeployment({ backupRetention: 1 });
    await seedBackup(deployment, 0);
    await seedBackup(deployment, 1);
    const before = await state(deployment);
    const response = await pruneRoute.POST(
      request('POST', `/api/deployments/${deployment.id}/prune`, { body, ...(headers ? { headers } : {}) }),
      params(deployment.id),
    );
    expect(response.status).toBe(status);
    expect((await response.json()).error).toMatch(error);
    expect(await state(deployment)).toEqual(before);
  });

  it('refuses another workspace (404) and a cross-site cookie write (403), deleting nothing', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const [first] = [await seedBackup(deployment, 0), await seedBackup(deployment, 1)];
    const before = await state(deployment);
    expect((await confirm(deployment, { expectDelete: [first!.id] }, { token: theirToken })).status).toBe(404);
    const signedIn = await sessionRoute.POST(
      new Request('http://ops.test/api/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: myToken }),
      }),
    );
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
    const crossSite = await pruneRoute.POST(
      request('POST', `/api/deployments/${deployment.id}/prune`, {
        token: null,
        body: { expectDelete: [first!.id] },
        headers: {
          cookie,
          origin: 'https://evil.example',
          'sec-fetch-site': 'cross-site',
        },
      }),
      params(deployment.id),
    );
    expect(crossSite.status).toBe(403);
    expect(await state(deployment)).toEqual(before);
  });
});

describe('POST/DELETE /api/backups/{id}/pin', () => {
  const pin = (id: string, method: 'POST' | 'DELETE', token?: string) =>
    pinRoute[method](request(method, `/api/backups/${id}/pin`, { token: token ?? myToken }), params(id));

  it('pins a backup so that the plan keeps it, and unpins it so that the plan deletes it again', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const [old, newest] = [await seedBackup(deployment, 0), await seedBackup(deployment, 1)];

    const pinned = await pin(old!.id, 'POST');
    expect(pinned.status).toBe(200);
    expect(await pinned.json()).toEqual({ backupId: old!.id, pinned: true, changed: true });
    expect(await (await pin(old!.id, 'POST')).json()).toMatchObject({ changed: false });
    const { body } = await getPlan(deployment);
    expect(body.plan.keep.map((k) => [k.id, k.reasons])).toEqual([
      [newest!.id, ['newest', 'keep-last']],
      [old!.id, ['pinned']],
    ]);
    expect(body.plan.expectDelete).toEqual([]);

    expect(await (await pin(old!.id, 'DELETE')).json()).toEqual({ backupId: old!.id, pinned: false, changed: true });
    expect((await getPlan(deployment)).body.plan.expectDelete).toEqual([old!.id]);
  });

  it('answers 409 for a failed or running backup, 404 for another workspace or an unknown id, 401 without a token', async () => {
    const deployment = await newDeployment();
    const failed = await seedRecord(deployment, 0, 'FAILED');
    const running = await seedRecord(deployment, 1, 'RUNNING');
    const success = await seedBackup(deployment, 2);
    const refused = await pin(failed.id, 'POST');
    expect(refused.status).toBe(409);
    expect(await refused.json()).toEqual({
      error: `backup "${failed.id}" is FAILED: only a successful backup can be pinned`,
    });
    expect((await pin(running.id, 'POST')).status).toBe(409);
    expect((await pin(success.id, 'POST', theirToken)).status).toBe(404);
    expect((await pin('nosuchbackup', 'POST')).status).toBe(404);
    expect((await pin('../../x', 'POST')).status).toBe(404);
    expect(
      (await pinRoute.POST(request('POST', `/api/backups/${success.id}/pin`, { token: null }), params(success.id)))
        .status,
    ).toBe(401);
    expect(await db.backupRecord.count({ where: { deploymentId: deployment.id, pinned: true } })).toBe(0);
  });
});
