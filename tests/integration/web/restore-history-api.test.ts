import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as restoresRoute from '../../../src/app/api/deployments/[id]/restores/route.ts';
import type { Deployment, Prisma, PrismaClient, RestoreRecord } from '../../../src/generated/prisma/client.ts';
import type { RestoreHistoryItem } from '../../../src/lib/web/restore-history.ts';
import { generateApiToken } from '../../../src/lib/shared/tokens.ts';
import { getWebContext } from '../../../src/lib/web/web-context.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

/**
 * GET /api/deployments/{id}/restores as Next.js calls it, against the real database of the web context: strangers get
 * a 401 with no data, another workspace's deployment looks missing, the list is newest first and bounded by `limit`,
 * and no confirmation token (nor its hash) ever leaves the server; a PROPOSED restore says how a person takes it on.
 */
const BASE = 'http://ops.test';
const T0 = new Date('2026-11-20T03:00:00Z');
const MINUTE = 60_000;
const UNKNOWN_ID = 'nosuchdeployment000000000';

let harness: BackupHarness;
let db: PrismaClient;
let myToken: string;
let theirToken: string;
let mine: Deployment;
let theirs: Deployment;
/** The restores of `mine`, as created (oldest first). */
let restores: Record<'test' | 'scratchFailed' | 'live' | 'planned' | 'proposed' | 'cancelled', RestoreRecord>;
let plannedTokenHash: string;

async function storeToken(workspaceId: string): Promise<string> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  await db.apiToken.create({ data: { workspaceId, name: 'test', tokenHash, tokenPrefix } });
  return token;
}

async function storeRestore(
  deployment: Deployment,
  minutes: number,
  data: Partial<Prisma.RestoreRecordUncheckedCreateInput>,
): Promise<RestoreRecord> {
  const backup = await db.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId: deployment.workspaceId,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt: T0,
      path: `/backups/${deployment.name}/x.dump`,
      sha256: 'b'.repeat(64),
    },
  });
  return db.restoreRecord.create({
    data: {
      workspaceId: deployment.workspaceId,
      deploymentId: deployment.id,
      backupRecordId: backup.id,
      backupSha256: backup.sha256!,
      backupStartedAt: backup.startedAt,
      kind: 'DESTRUCTIVE',
      status: 'SUCCEEDED',
      trigger: 'API',
      target: 'app',
      requestedBy: 'cli',
      createdAt: new Date(T0.getTime() + minutes * MINUTE),
      ...data,
    },
  });
}

const params = (id: string) => ({ params: Promise.resolve({ id }) });
function listRestores(id: string, token: string | null, query = ''): Promise<Response> {
  const headers = new Headers(token ? { authorization: `Bearer ${token}` } : {});
  return restoresRoute.GET(new Request(`${BASE}/api/deployments/${id}/restores${query}`, { headers }), params(id));
}

beforeAll(async () => {
  harness = await startBackupHarness();
  Object.assign(process.env, {
    DATABASE_URL: harness.db.url,
    BACKUP_ROOT: harness.root,
    KUBECONFIG: harness.kube.kubeconfigPath,
    LOG_LEVEL: 'silent',
  });
  db = (await getWebContext()).runtime.database.prisma;
  const myWorkspace = await createWorkspace(db);
  const theirWorkspace = await createWorkspace(db);
  myToken = await storeToken(myWorkspace.id);
  theirToken = await storeToken(theirWorkspace.id);
  mine = await createDeployment(db, myWorkspace.id);
  theirs = await createDeployment(db, theirWorkspace.id);
  plannedTokenHash = createHash('sha256').update(randomBytes(32)).digest('hex');
  const scratch = { target: 'app_scratch_1a2b3c', requestedBy: 'schedule', trigger: 'SCHEDULE' } as const;
  restores = {
    test: await storeRestore(mine, 1, {
      ...scratch,
      kind: 'TEST',
      startedAt: new Date(T0.getTime() + MINUTE),
      finishedAt: new Date(T0.getTime() + 2 * MINUTE),
      durationMs: 42_000,
      bytesRestored: 2n ** 40n,
      counts: { tables: { 'public.orders': 1_200, 'public.items': 30, 'public.notes': 4 } },
    }),
    scratchFailed: await storeRestore(mine, 2, {
      ...scratch,
      kind: 'SCRATCH',
      status: 'FAILED',
      errorKind: 'ExecFailed',
      error: 'pg_restore exited with code 1',
    }),
    live: await storeRestore(mine, 3, {
      confirmedBy: 'api:tok_1',
      plan: 'Overwrites app: 3 tables, 1,234 rows.',
      durationMs: 9_000,
    }),
    planned: await storeRestore(mine, 4, {
      status: 'PROPOSED',
      plan: 'Overwrites app: 3 tables, 1,300 rows.',
      confirmTokenHash: plannedTokenHash,
      // Far ahead of any run of this test: the token is still valid.
      confirmExpiresAt: new Date('2099-01-01T00:00:00Z'),
    }),
    proposed: await storeRestore(mine, 5, {
      status: 'PROPOSED',
      trigger: 'AGENT',
      requestedBy: 'agent',
      plan: 'Overwrites app: 3 tables, 1,310 rows.',
    }),
    cancelled: await storeRestore(mine, 6, { status: 'CANCELLED', error: 'cancelled by cli' }),
  };
  await storeRestore(theirs, 7, {});
});

afterAll(async () => {
  await (await getWebContext()).close();
  await harness.close();
});

describe('GET /api/deployments/{id}/restores', () => {
  it.each([
    ['no token', null],
    ['an unknown token', generateApiToken().token],
  ])('401 with %s, and no data', async (_label, token) => {
    const response = await listRestores(mine.id, token);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: expect.stringMatching(/^authentication required/) });
  });

  it('another workspace’s deployment is answered like a missing one (404)', async () => {
    const foreign = await listRestores(theirs.id, myToken);
    const missing = await listRestores(UNKNOWN_ID, myToken);
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    expect(await foreign.json()).toEqual({ error: `deployment "${theirs.id}" not found` });
    expect(await missing.json()).toEqual({ error: `deployment "${UNKNOWN_ID}" not found` });
    expect((await listRestores(theirs.id, theirToken)).status).toBe(200);
  });

  it('lists the deployment’s restores newest first, only its own', async () => {
    const response = await listRestores(mine.id, myToken);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { items } = (await response.json()) as { items: RestoreHistoryItem[] };
    const { test, scratchFailed, live, planned, proposed, cancelled } = restores;
    expect(items.map((item) => item.id)).toEqual([
      cancelled.id,
      proposed.id,
      planned.id,
      live.id,
      scratchFailed.id,
      test.id,
    ]);
    expect(items.at(-1)).toEqual({
      id: test.id,
      kind: 'TEST',
      status: 'SUCCEEDED',
      trigger: 'SCHEDULE',
      requestedBy: 'schedule',
      confirmedBy: null,
      target: 'app_scratch_1a2b3c',
      backupRecordId: test.backupRecordId,
      backupStartedAt: T0.toISOString(),
      backupSha256: 'b'.repeat(64),
      createdAt: '2026-11-20T03:01:00.000Z',
      startedAt: '2026-11-20T03:01:00.000Z',
      finishedAt: '2026-11-20T03:02:00.000Z',
      durationMs: 42_000,
      bytesRestored: '1099511627776',
      progressBytes: null,
      progressAt: null,
      counts: { tables: { 'public.orders': 1_200, 'public.items': 30, 'public.notes': 4 } },
      countsSummary: '3 tables, 1,234 rows',
      errorKind: null,
      error: null,
      plan: null,
      confirmExpiresAt: null,
      nextStep: null,
    });
    expect(items[4]).toMatchObject({
      kind: 'SCRATCH',
      status: 'FAILED',
      errorKind: 'ExecFailed',
      error: 'pg_restore exited with code 1',
      countsSummary: null,
    });
    expect(items[3]).toMatchObject({ kind: 'DESTRUCTIVE', confirmedBy: 'api:tok_1', nextStep: null });
  });

  it('a PROPOSED restore carries its plan and how to approve or confirm it; no token and no hash in the answer', async () => {
    const text = await (await listRestores(mine.id, myToken)).text();
    expect(text).not.toContain('confirmTokenHash');
    expect(text).not.toContain(plannedTokenHash);
    const items = (JSON.parse(text) as { items: RestoreHistoryItem[] }).items;
    const byId = new Map(items.map((item) => [item.id, item]));
    const { proposed, planned } = restores;
    expect(byId.get(proposed.id)).toMatchObject({
      plan: 'Overwrites app: 3 tables, 1,310 rows.',
      requestedBy: 'agent',
      nextStep: {
        state: 'awaiting-approval',
        approveCommand: `npm run restore -- approve ${proposed.id}`,
        approvePath: `/api/restores/${proposed.id}/approve`,
        confirmCommand: `npm run restore -- confirm ${proposed.id} --token <token>`,
        confirmPath: `/api/restores/${proposed.id}/confirm`,
        cancelCommand: `npm run restore -- cancel ${proposed.id}`,
      },
    });
    expect(byId.get(planned.id)?.nextStep?.state).toBe('awaiting-confirmation');
    expect(byId.get(planned.id)?.confirmExpiresAt).toBe('2099-01-01T00:00:00.000Z');
    expect(byId.get(restores.cancelled.id)?.nextStep).toBeNull();
  });

  it('?limit=2 gives the two newest', async () => {
    const { items } = (await (await listRestores(mine.id, myToken, '?limit=2')).json()) as {
      items: RestoreHistoryItem[];
    };
    expect(items.map((item) => item.id)).toEqual([restores.cancelled.id, restores.proposed.id]);
  });

  it.each(['0', '51', 'abc', '2.5'])('?limit=%s → 400 naming the parameter', async (limit) => {
    const response = await listRestores(mine.id, myToken, `?limit=${limit}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: `limit must be a whole number from 1 to 50 (got "${limit}")` });
  });

  it('authentication comes before validation', async () => {
    expect((await listRestores(mine.id, null, '?limit=0')).status).toBe(401);
  });
});
