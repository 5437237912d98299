import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { pruneBackups } from '../../../src/lib/retention/prune.ts';
import { claimDeployment, releaseClaim } from '../../../src/lib/backups/claims.ts';
import { callTool, toolInputJsonSchema, type ToolResult } from '../../../src/lib/agent/tool.ts';
import type { ToolContext } from '../../../src/lib/agent/tool-context.ts';
import { backupTools } from '../../../src/lib/agent/tools.ts';
import { formatSidecar, sidecarPathFor } from '../../../src/lib/storage/backup-path.ts';
import { hashFile } from '../../../src/lib/storage/verify-backup.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The backup tools as the model calls them (arguments as JSON text, through `callTool`), with real parts: the
 * cloned database, the fake Kubernetes API running a real pg_dump against the local PostgreSQL, the backup volume
 * in a temporary folder. Each tool validates before it acts, stays inside its workspace, refuses what it must, and
 * answers with plain JSON data.
 */
const HOUR = 3_600_000;
const STATE_OPTIONS = { overdueGraceMs: HOUR, retryDelayMs: HOUR / 4 };
const UNKNOWN_ID = 'nosuchdeployment0';

let harness: BackupHarness;
let source: string;
let missingDatabase: string;
let mine: { id: string; slug: string };
let theirs: { id: string; slug: string };
/** Deployment ids by name. */
const ids: Record<string, string> = {};
/** A successful backup in the other workspace. */
let theirBackupId: string;
let context: ToolContext;

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_tools_src'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(`CREATE TABLE orders AS SELECT g AS id, 'order ' || g AS label FROM generate_series(1, 500) g`);
  await client.end();
  missingDatabase = uniqueDatabaseName('ops_test_missing');

  const dumpsSource = { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source };
  harness = await startBackupHarness({
    pods: [
      ...['shop-db', 'legacy-db', 'prune-db', 'verify-db', 'their-db'].map((name) =>
        podFor(name, 'postgres', dumpsSource),
      ),
      podFor('broken-db', 'postgres', { ...dumpsSource, POSTGRES_DB: missingDatabase }),
    ],
  });
  const prisma = harness.db.prisma;
  mine = await createWorkspace(prisma, { slug: 'mine' });
  theirs = await createWorkspace(prisma, { slug: 'theirs' });
  const deployments: Array<[string, string, Record<string, unknown>]> = [
    // shop-db has scheduled backups off: agent backups run all the same.
    ['shop-db', mine.id, {}],
    ['broken-db', mine.id, {}],
    ['legacy-db', mine.id, { status: 'FAILED', backupEnabled: true, backupSchedule: '0 3 * * *' }],
    ['web', mine.id, { recipeSlug: 'nginx' }],
    ['history-db', mine.id, {}],
    // Its own policy keeps only the newest backup: the agent may apply that, and nothing tighter anywhere.
    ['prune-db', mine.id, { backupEnabled: true, backupSchedule: '0 3 * * *', backupRetention: 1 }],
    ['verify-db', mine.id, { backupEnabled: true, backupSchedule: '0 3 * * *' }],
    ['their-db', theirs.id, { backupEnabled: true, backupSchedule: '0 3 * * *' }],
  ];
  for (const [name, workspaceId, overrides] of deployments) {
    ids[name] = (await createDeployment(prisma, workspaceId, { name, ...overrides })).id;
  }
  const outcome = await executeBackup(harness.deps, ids['their-db']!, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`setup backup ${outcome.status}`);
  theirBackupId = outcome.record.id;
  context = { backup: harness.deps, workspaceId: mine.id, stateOptions: STATE_OPTIONS };
});
afterAll(async () => {
  await harness?.close();
  await dropDatabase(source);
});

/**
 * Calls a tool the way the model does (arguments as JSON text unless given as a string) and checks that the result
 * survives JSON unchanged: no bigint (JSON.stringify would throw), no Date, no undefined.
 */
async function call(name: string, input: unknown, scope: ToolContext = context): Promise<ToolResult<unknown>> {
  const result = await callTool(backupTools, name, typeof input === 'string' ? input : JSON.stringify(input), scope);
  expect(JSON.parse(JSON.stringify(result))).toStrictEqual(result);
  return result;
}

/** The value of a successful result (fails the test with the error otherwise). */
async function callOk<T = Record<string, unknown>>(name: string, input: unknown, scope?: ToolContext): Promise<T> {
  const result = await call(name, input, scope);
  if (!result.ok) throw new Error(`${name} failed: ${JSON.stringify(result.error)}`);
  return result.value as T;
}

/** What a tool call could change: records, alerts and files on the backup volume. */
async function snapshot() {
  const prisma = harness.db.prisma;
  const files = (await readdir(harness.root, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
  return {
    records: await prisma.backupRecord.findMany({ orderBy: { id: 'asc' }, select: { id: true, status: true } }),
    alerts: await prisma.alert.count(),
    files,
    deployments: await prisma.deployment.findMany({ orderBy: { id: 'asc' }, select: { id: true, lastBackupAt: true } }),
  };
}

describe('tool schemas (what the model sees)', () => {
  it.each(backupTools.map((tool) => [tool.name, tool] as const))(
    '%s: a strict draft-07 object schema, every property described',
    (_name, tool) => {
      expect(tool.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
      expect(tool.description.length).toBeGreaterThan(40);
      const schema = toolInputJsonSchema(tool);
      expect(schema).toMatchObject({
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        additionalProperties: false,
      });
      const properties = schema.properties as Record<string, Record<string, unknown>>;
      for (const [key, property] of Object.entries(properties)) {
        expect(property.description, `${tool.name}.${key}`).toMatch(/\w{3,}/);
        expect(property.type, `${tool.name}.${key}`).toMatch(/^(string|integer|boolean|array)$/);
      }
      for (const key of (schema.required as string[] | undefined) ?? []) expect(Object.keys(properties)).toContain(key);
    },
  );

  it('requires exactly the fields without a default, and shows limits and defaults', () => {
    const byName = Object.fromEntries(backupTools.map((tool) => [tool.name, toolInputJsonSchema(tool)]));
    expect(byName.listBackupStatus).toMatchObject({ properties: {} });
    expect(byName.listBackupStatus).not.toHaveProperty('required');
    expect(byName.runBackup?.required).toEqual(['deploymentId']);
    expect(byName.getBackupHistory).toMatchObject({
      required: ['deploymentId'],
      properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 } },
    });
    expect(byName.pruneOldBackups).toMatchObject({
      required: ['deploymentId'],
      properties: { keepCount: { type: 'integer', minimum: 1 }, dryRun: { type: 'boolean', default: true } },
    });
    expect(byName.verifyBackup?.required).toEqual(['backupId']);
  });

  it('accepts and rejects the same inputs as the tool’s own validation (round trip through JSON Schema)', () => {
    const samples: Record<string, unknown[]> = {
      listBackupStatus: [{}, { workspaceId: 'x' }],
      runBackup: [
        { deploymentId: 'abc123' },
        { deploymentId: 123 },
        { deploymentId: 'ABC' },
        {},
        { deploymentId: 'abc', force: true },
      ],
      getBackupHistory: [
        { deploymentId: 'abc' },
        { deploymentId: 'abc', limit: 100 },
        { deploymentId: 'abc', limit: 0 },
        { deploymentId: 'abc', limit: 101 },
        { deploymentId: 'abc', limit: 2.5 },
      ],
      pruneOldBackups: [
        { deploymentId: 'abc', keepCount: 1 },
        { deploymentId: 'abc', keepCount: 0 },
        { deploymentId: 'abc', keepCount: 3, dryRun: 'yes' },
      ],
      verifyBackup: [{ backupId: 'b1' }, { backupId: '../x' }],
    };
    for (const tool of backupTools) {
      const seenByModel = z.fromJSONSchema(toolInputJsonSchema(tool) as Parameters<typeof z.fromJSONSchema>[0]);
      for (const sample of samples[tool.name] ?? []) {
        expect(seenByModel.safeParse(sample).success, `${tool.name} ${JSON.stringify(sample)}`).toBe(
          tool.inputSchema.safeParse(sample).success,
        );
      }
    }
  });
});

describe('invalid input: INVALID_INPUT naming the tool, and nothing happens', () => {
  const cases: Array<{ case: string; tool: string; input: (id: string) => unknown; mentions: string }> = [
    {
      case: 'a number as deploymentId',
      tool: 'runBackup',
      input: () => ({ deploymentId: 123 }),
      mentions: 'deploymentId: Invalid input: expected string, received number',
    },
    { case: 'a missing deploymentId', tool: 'runBackup', input: () => ({}), mentions: 'deploymentId:' },
    {
      case: 'an unknown key (strict)',
      tool: 'runBackup',
      input: (id) => ({ deploymentId: id, force: true }),
      mentions: 'Unrecognized key: "force"',
    },
    {
      case: 'malformed JSON',
      tool: 'runBackup',
      input: (id) => `{"deploymentId": "${id}"`,
      mentions: 'arguments are not valid JSON',
    },
    {
      case: 'a name instead of an id',
      tool: 'runBackup',
      input: () => ({ deploymentId: 'Shop DB' }),
      mentions: 'must be a deployment id',
    },
    { case: 'a JSON array', tool: 'runBackup', input: () => '[]', mentions: 'expected object' },
    {
      case: 'a string limit',
      tool: 'getBackupHistory',
      input: (id) => ({ deploymentId: id, limit: '5' }),
      mentions: 'limit:',
    },
    {
      case: 'limit 0',
      tool: 'getBackupHistory',
      input: (id) => ({ deploymentId: id, limit: 0 }),
      mentions: 'limit: Too small',
    },
    {
      case: 'limit 101',
      tool: 'getBackupHistory',
      input: (id) => ({ deploymentId: id, limit: 101 }),
      mentions: 'limit: Too big',
    },
    {
      case: 'keepCount 0',
      tool: 'pruneOldBackups',
      input: (id) => ({ deploymentId: id, keepCount: 0 }),
      mentions: 'keepCount: must be at least 1',
    },
    {
      case: 'a fractional keepCount',
      tool: 'pruneOldBackups',
      input: (id) => ({ deploymentId: id, keepCount: 1.5 }),
      mentions: 'keepCount:',
    },
    {
      case: 'a GFS rule of its own',
      tool: 'pruneOldBackups',
      input: (id) => ({ deploymentId: id, daily: 1, dryRun: false }),
      mentions: 'Unrecognized key: "daily"',
    },
    {
      case: 'dryRun as a string',
      tool: 'pruneOldBackups',
      input: (id) => ({ deploymentId: id, keepCount: 1, dryRun: 'false' }),
      mentions: 'dryRun:',
    },
    {
      case: 'a path as backupId',
      tool: 'verifyBackup',
      input: () => ({ backupId: '../../etc/passwd' }),
      mentions: 'backupId: must be a backup id',
    },
    {
      case: 'a scope of its own choosing',
      tool: 'listBackupStatus',
      input: () => ({ workspaceId: 'theirs' }),
      mentions: 'Unrecognized key: "workspaceId"',
    },
  ];

  it.each(cases)('$tool with $case', async ({ tool, input, mentions }) => {
    const before = await snapshot();
    const result = await call(tool, input(ids['prune-db']!));
    expect(result).toEqual({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringMatching(new RegExp(`^${tool}: `)) },
    });
    if (!result.ok) expect(result.error.message).toContain(mentions);
    expect(await snapshot()).toEqual(before);
  });

  it('UNKNOWN_TOOL for a tool that does not exist, listing the ones that do', async () => {
    expect(await call('dropDatabase', {})).toEqual({
      ok: false,
      error: {
        code: 'UNKNOWN_TOOL',
        message:
          'no tool named "dropDatabase"; available: listBackupStatus, runBackup, getBackupHistory, pruneOldBackups, verifyBackup, proposeRestore',
      },
    });
  });
});

describe('scope: unknown deployments and other workspaces are NOT_FOUND, alike', () => {
  const deploymentTools = [
    { tool: 'runBackup', input: (id: string) => ({ deploymentId: id }) },
    { tool: 'getBackupHistory', input: (id: string) => ({ deploymentId: id }) },
    { tool: 'pruneOldBackups', input: (id: string) => ({ deploymentId: id, keepCount: 1 }) },
  ];

  it.each(deploymentTools)('$tool: an id that does not exist', async ({ tool, input }) => {
    expect(await call(tool, input(UNKNOWN_ID))).toEqual({
      ok: false,
      error: {
        code: 'NOT_FOUND',
        message: `no deployment "${UNKNOWN_ID}" in your scope; call listBackupStatus for the ids you may use`,
      },
    });
  });

  it.each(deploymentTools)('$tool: a deployment of another workspace, and nothing runs', async ({ tool, input }) => {
    const before = await snapshot();
    const theirId = ids['their-db']!;
    expect(await call(tool, input(theirId))).toEqual({
      ok: false,
      error: {
        code: 'NOT_FOUND',
        message: `no deployment "${theirId}" in your scope; call listBackupStatus for the ids you may use`,
      },
    });
    expect(await snapshot()).toEqual(before);
  });

  it('verifyBackup: a backup of another workspace, or one that does not exist', async () => {
    expect(await call('verifyBackup', { backupId: theirBackupId })).toEqual({
      ok: false,
      error: { code: 'NOT_FOUND', message: `no backup "${theirBackupId}" in your scope` },
    });
    expect(await call('verifyBackup', { backupId: 'nosuchbackup0' })).toEqual({
      ok: false,
      error: { code: 'NOT_FOUND', message: 'no backup "nosuchbackup0" in your scope' },
    });
  });

  it('proposeRestore: a backup of another workspace is answered exactly like one that does not exist', async () => {
    const before = await snapshot();
    const answer = async (backupId: string) =>
      JSON.stringify(await call('proposeRestore', { backupId })).replaceAll(backupId, '<id>');
    expect(await answer(theirBackupId)).toBe(await answer('nosuchbackup0'));
    expect(await call('proposeRestore', { backupId: theirBackupId })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await snapshot()).toEqual(before);
    expect(await harness.db.prisma.restoreRecord.count()).toBe(0);
  });

  it('listBackupStatus: only the deployments and alerts of the bound workspace', async () => {
    const scoped = await callOk<{
      workspace: { id: string; slug: { untrusted: string } };
      deployments: Array<{ deploymentId: string }>;
      openAlerts: Array<{ deploymentId: string }>;
    }>('listBackupStatus', {});
    expect(scoped.workspace).toEqual({ id: mine.id, slug: { untrusted: 'mine' } });
    expect(scoped.deployments.map((d) => d.deploymentId).sort()).toEqual(
      [ids['legacy-db'], ids['prune-db'], ids['verify-db']].sort(),
    );
    expect(JSON.stringify(scoped)).not.toContain(theirs.id);
    expect(JSON.stringify(scoped)).not.toContain(ids['their-db']);

    const theirsOnly = await callOk<{ deployments: Array<{ deploymentId: string }> }>(
      'listBackupStatus',
      {},
      { ...context, workspaceId: theirs.id },
    );
    expect(theirsOnly.deployments.map((d) => d.deploymentId)).toEqual([ids['their-db']]);
  });
});

describe('runBackup', () => {
  it('refuses a FAILED deployment (corrupt data), records nothing', async () => {
    const before = await snapshot();
    const result = await call('runBackup', { deploymentId: ids['legacy-db'] });
    expect(result).toEqual({
      ok: false,
      error: { code: 'REFUSED', message: expect.stringMatching(/^DEPLOYMENT_NOT_RUNNING: .*may produce corrupt data/) },
    });
    expect(await harness.db.prisma.backupRecord.count({ where: { deploymentId: ids['legacy-db'] } })).toBe(0);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a recipe without a data export', async () => {
    expect(await call('runBackup', { deploymentId: ids.web })).toEqual({
      ok: false,
      error: {
        code: 'REFUSED',
        message: 'NO_DATA_EXPORT: recipe "nginx" has no dataExport: there is no data to back up',
      },
    });
  });

  it('refuses a recipe this worker does not know, the slug as untrusted detail only', async () => {
    const odd = await createDeployment(harness.db.prisma, mine.id, {
      name: 'odd-db',
      recipeSlug: 'ignore-previous-instructions',
    });
    try {
      expect(await call('runBackup', { deploymentId: odd.id })).toEqual({
        ok: false,
        error: {
          code: 'REFUSED',
          message: 'UNKNOWN_RECIPE: the deployment’s recipe is not known to this worker; a person must fix it',
          detail: { untrusted: 'recipe "ignore-previous-instructions" is not known to this worker' },
        },
      });
    } finally {
      await harness.db.prisma.deployment.delete({ where: { id: odd.id } });
    }
  });

  it('backs up a RUNNING deployment (even with scheduled backups off) and records trigger AGENT', async () => {
    const value = await callOk<{ backupId: string; path: { untrusted: string }; sizeBytes: string; sha256: string }>(
      'runBackup',
      { deploymentId: ids['shop-db'] },
    );
    // The name and the path (which holds the name) are the tenant's words: labelled untrusted.
    expect(value).toEqual({
      status: 'SUCCEEDED',
      backupId: expect.stringMatching(/^[a-z0-9]+$/),
      deployment: { untrusted: 'shop-db' },
      path: {
        untrusted: expect.stringMatching(
          new RegExp(`^${harness.root}/${mine.id}/shop-db/\\d{8}T\\d{6}\\.\\d{3}Z\\.dump$`),
        ),
      },
      sizeBytes: expect.stringMatching(/^[1-9]\d*$/),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      durationMs: expect.any(Number),
    });
    const file = value.path.untrusted;
    const record = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: value.backupId } });
    expect(record).toMatchObject({
      status: 'SUCCEEDED',
      trigger: 'AGENT',
      workspaceId: mine.id,
      path: file,
      sha256: value.sha256,
    });
    expect(record.sizeBytes?.toString()).toBe(value.sizeBytes);
    expect(BigInt((await stat(file)).size)).toBe(record.sizeBytes);
    expect((await readFile(file)).subarray(0, 5).toString('latin1')).toBe('PGDMP');
    const deployment = await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: ids['shop-db'] } });
    expect(deployment.lastBackupAt).toEqual(record.startedAt);
  });

  it('answers ALREADY_RUNNING while another worker holds the deployment, and starts nothing', async () => {
    const claim = { deploymentId: ids['shop-db']!, token: 'another-worker', ttlMs: HOUR };
    expect(await claimDeployment(harness.db.prisma, { ...claim, now: harness.deps.clock() })).toBe(true);
    try {
      const before = await snapshot();
      expect(await call('runBackup', { deploymentId: ids['shop-db'] })).toEqual({
        ok: false,
        error: { code: 'ALREADY_RUNNING', message: 'ALREADY_RUNNING: another backup of this deployment is running' },
      });
      expect(await snapshot()).toEqual(before);
    } finally {
      await releaseClaim(harness.db.prisma, claim);
    }
  });

  it('reports a failed backup as data (status FAILED, errorKind) with a critical alert, and keeps no file', async () => {
    const value = await callOk('runBackup', { deploymentId: ids['broken-db'] });
    expect(value).toMatchObject({
      status: 'FAILED',
      deployment: { untrusted: 'broken-db' },
      path: null,
      sizeBytes: null,
      sha256: null,
      errorKind: 'ExecFailed',
      error: { untrusted: expect.stringContaining(missingDatabase) },
      alert: 'a critical alert was raised',
    });
    const record = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: value.backupId as string } });
    expect(record).toMatchObject({ status: 'FAILED', trigger: 'AGENT', errorKind: 'ExecFailed', path: null });
    const alerts = await harness.db.prisma.alert.findMany({ where: { deploymentId: ids['broken-db'] } });
    expect(alerts).toEqual([
      expect.objectContaining({
        kind: 'backup_failed',
        severity: 'CRITICAL',
        backupRecordId: record.id,
        resolvedAt: null,
      }),
    ]);
    expect(alerts[0]?.message).toContain('Data-loss risk');
    const folder = path.join(harness.root, mine.id, 'broken-db');
    expect(await readdir(folder).catch(() => [])).toEqual([]);
  });
});

describe('getBackupHistory', () => {
  /** Twelve records, one an hour; every fourth failed. Newest first: h11 … h0. */
  const seeded: string[] = [];
  beforeAll(async () => {
    const start = Date.parse('2026-03-01T00:00:00Z');
    for (let hour = 0; hour < 12; hour += 1) {
      const failed = hour % 4 === 3;
      const record = await harness.db.prisma.backupRecord.create({
        data: {
          deploymentId: ids['history-db']!,
          workspaceId: mine.id,
          trigger: 'SCHEDULE',
          status: failed ? 'FAILED' : 'SUCCEEDED',
          startedAt: new Date(start + hour * HOUR),
          durationMs: 1_000 + hour,
          sizeBytes: failed ? null : BigInt(hour) * 1_000_000_000_000n,
          ...(failed ? { errorKind: 'Timeout', error: `no output for 60 s (attempt ${hour})` } : {}),
        },
      });
      seeded.unshift(record.id);
    }
  });

  it('returns the newest 10 by default, newest first, sizes as strings, errors of failed ones', async () => {
    const value = await callOk<{ deployment: unknown; backups: Array<Record<string, unknown>> }>('getBackupHistory', {
      deploymentId: ids['history-db'],
    });
    expect(value.deployment).toEqual({ untrusted: 'history-db' });
    expect(value.backups.map((b) => b.backupId)).toEqual(seeded.slice(0, 10));
    expect(value.backups[0]).toEqual({
      backupId: seeded[0],
      status: 'FAILED',
      trigger: 'SCHEDULE',
      startedAt: '2026-03-01T11:00:00.000Z',
      durationMs: 1_011,
      sizeBytes: null,
      errorKind: 'Timeout',
      error: { untrusted: 'no output for 60 s (attempt 11)' },
    });
    // 10 TB does not fit a 32-bit int; it travels as a decimal string.
    expect(value.backups[1]).toEqual({
      backupId: seeded[1],
      status: 'SUCCEEDED',
      trigger: 'SCHEDULE',
      startedAt: '2026-03-01T10:00:00.000Z',
      durationMs: 1_010,
      sizeBytes: '10000000000000',
    });
  });

  it.each([
    { limit: 1, expected: 1 },
    { limit: 100, expected: 12 },
  ])('honours limit $limit', async ({ limit, expected }) => {
    const value = await callOk<{ backups: Array<{ backupId: string }> }>('getBackupHistory', {
      deploymentId: ids['history-db'],
      limit,
    });
    expect(value.backups.map((b) => b.backupId)).toEqual(seeded.slice(0, expected));
  });

  it('returns an empty list for a deployment without backups', async () => {
    expect(await callOk('getBackupHistory', { deploymentId: ids.web })).toEqual({
      deployment: { untrusted: 'web' },
      backups: [],
    });
  });
});

describe('pruneOldBackups', () => {
  /** prune-db's three backups, newest first. Its own policy is keep-last 1. */
  const backups: Array<{ backupId: string; path: string }> = [];
  beforeAll(async () => {
    // Retention runs after every successful backup: the three are made under a roomier policy, then keep-last 1 is set.
    const where = { id: ids['prune-db']! };
    await harness.db.prisma.deployment.update({ where, data: { backupRetention: 10 } });
    for (let index = 0; index < 3; index += 1) {
      const value = await callOk<{ backupId: string; path: { untrusted: string }; status: string }>('runBackup', {
        deploymentId: ids['prune-db'],
      });
      expect(value.status).toBe('SUCCEEDED');
      backups.unshift({ backupId: value.backupId, path: value.path.untrusted });
    }
    await harness.db.prisma.deployment.update({ where, data: { backupRetention: 1 } });
  });
  const exists = (file: string) =>
    stat(file).then(
      () => true,
      () => false,
    );

  it('previews by default: lists what would go and why, paths labelled untrusted, deletes nothing', async () => {
    const before = await snapshot();
    const value = await callOk<{
      dryRun: boolean;
      prunedCount: number;
      pruned: Array<{ id: string; path: { untrusted: string }; fileWasMissing: boolean; reason: string }>;
      kept: number;
    }>('pruneOldBackups', { deploymentId: ids['prune-db'] });
    expect(value).toMatchObject({
      deployment: { untrusted: 'prune-db' },
      policy: 'keep-last 1',
      keep: [{ id: backups[0]!.backupId, reasons: ['newest', 'newest-verified', 'keep-last'] }],
    });
    expect(new Set(value.pruned.map((p) => p.reason))).toEqual(new Set(['no-keep-rule']));
    expect(value).toMatchObject({ dryRun: true, prunedCount: 2, kept: 1, problems: [], prunedFailedRecords: 0 });
    expect(value.pruned.map((p) => [p.id, p.path.untrusted, p.fileWasMissing])).toEqual(
      backups.slice(1).map((b) => [b.backupId, b.path, false]),
    );
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    { case: 'as a dry run', dryRun: true },
    { case: 'with a confirmation', dryRun: false },
  ])(
    'refuses a keepCount below the deployment’s own keep-last $case, naming the CLI for a person',
    async ({ dryRun }) => {
      const before = await snapshot();
      const strict = await createDeployment(harness.db.prisma, mine.id, { name: 'strict-db', backupRetention: 3 });
      try {
        expect(
          await call('pruneOldBackups', {
            deploymentId: strict.id,
            keepCount: 1,
            dryRun,
            ...(dryRun ? {} : { expectDelete: [] }),
          }),
        ).toEqual({
          ok: false,
          error: {
            code: 'REFUSED',
            message: expect.stringMatching(
              new RegExp(
                `^pruneOldBackups: keepLast 1 \\(the policy: 3\\) would keep fewer backups than the deployment's own ` +
                  `retention policy \\(keep-last 3\\)\\. You may only apply that policy .*npm run backup -- prune ${strict.id} --keep 1 --dry-run`,
              ),
            ),
          },
        });
      } finally {
        await harness.db.prisma.deployment.delete({ where: { id: strict.id } });
      }
      expect(await snapshot()).toEqual(before);
    },
  );

  it('accepts a keepCount above the policy (it deletes less), and a plan seen so does not confirm the policy’s own', async () => {
    const before = await snapshot();
    expect(await call('pruneOldBackups', { deploymentId: ids['prune-db'], dryRun: false })).toEqual({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringContaining('dryRun: false needs expectDelete') },
    });
    // A plan seen with keep-last 2 (one deletion) does not confirm the keep-last 1 plan (two deletions).
    const seen = await callOk<{ expectDelete: string[]; policy: string }>('pruneOldBackups', {
      deploymentId: ids['prune-db'],
      keepCount: 2,
    });
    expect(seen).toMatchObject({ policy: 'keep-last 2', expectDelete: [backups[2]!.backupId] });
    const refused = await callOk<{ dryRun: boolean; planChanged: { unconfirmed: string[] }; expectDelete: string[] }>(
      'pruneOldBackups',
      { deploymentId: ids['prune-db'], dryRun: false, expectDelete: seen.expectDelete },
    );
    expect(refused).toMatchObject({ dryRun: true, planChanged: { unconfirmed: [backups[1]!.backupId] } });
    expect(refused.expectDelete).toEqual([backups[1]!.backupId, backups[2]!.backupId].sort());
    expect(await snapshot()).toEqual(before);
  });

  it('is stopped by the retention guard from deleting most backups; a person confirms, and the files go', async () => {
    const before = await snapshot();
    const plan = await callOk<{ expectDelete: string[]; guard: { reasons: string[] } }>('pruneOldBackups', {
      deploymentId: ids['prune-db'],
    });
    expect(plan.guard.reasons).toEqual(['it would delete 2 of the 3 successful backups, more than half of them']);
    const stopped = await callOk<{ dryRun: boolean; prunedCount: number; guard: { note: string } }>('pruneOldBackups', {
      deploymentId: ids['prune-db'],
      dryRun: false,
      expectDelete: plan.expectDelete,
    });
    expect(stopped).toMatchObject({ dryRun: true, prunedCount: 2 });
    expect(stopped.guard.note).toContain('--confirm');
    expect(await snapshot()).toEqual({ ...before, alerts: before.alerts + 1 });
    const alert = await harness.db.prisma.alert.findFirst({
      where: { deploymentId: ids['prune-db'], kind: 'prune_refused', resolvedAt: null },
    });
    expect(alert?.message).toContain('deleted nothing: it would delete 2 of the 3 successful backups');

    const value = await pruneBackups(harness.deps, ids['prune-db']!, {
      expectDelete: plan.expectDelete,
      confirm: true,
    });
    expect(value).toMatchObject({ dryRun: false, kept: 1, problems: [] });
    expect(value.pruned).toHaveLength(2);
    for (const old of backups.slice(1)) {
      expect(await exists(old.path)).toBe(false);
      expect(await exists(`${old.path}.sha256`)).toBe(false);
    }
    const newest = backups[0]!;
    expect(await exists(newest.path)).toBe(true);
    const left = await harness.db.prisma.backupRecord.findMany({
      where: { deploymentId: ids['prune-db'] },
      select: { id: true },
    });
    expect(left).toEqual([{ id: newest.backupId }]);
    expect(await callOk('verifyBackup', { backupId: newest.backupId })).toMatchObject({ ok: true });
  });

  it('prunes nothing more when run again', async () => {
    expect(
      await callOk('pruneOldBackups', { deploymentId: ids['prune-db'], dryRun: false, expectDelete: [] }),
    ).toMatchObject({ prunedCount: 0, kept: 1 });
  });

  it('never deletes a pinned backup, the newest successful or the newest verified one, even under keep-last 1', async () => {
    const deployment = await createDeployment(harness.db.prisma, mine.id, { name: 'kept-db', backupRetention: 1 });
    const start = Date.parse('2026-02-01T03:00:00Z');
    const seed = (day: number, fields: Record<string, unknown> = {}) =>
      harness.db.prisma.backupRecord.create({
        data: {
          deploymentId: deployment.id,
          workspaceId: mine.id,
          trigger: 'SCHEDULE',
          status: 'SUCCEEDED',
          startedAt: new Date(start + day * 24 * HOUR),
          ...fields,
        },
      });
    // Oldest first: pinned, plain, verified, plain, newest (unverified). No files: deletion goes by records here.
    const pinned = await seed(0, { pinned: true });
    const plain = await seed(1);
    const verified = await seed(2, { verifiedAt: new Date(start + 2 * 24 * HOUR), verifyMethod: 'pg_restore' });
    const plainToo = await seed(3);
    const newest = await seed(4);
    try {
      const plan = await callOk<{ expectDelete: string[]; keep: Array<{ id: string; reasons: string[] }> }>(
        'pruneOldBackups',
        { deploymentId: deployment.id },
      );
      expect(plan.expectDelete).toEqual([plain.id, plainToo.id].sort());
      expect(plan.keep).toEqual([
        expect.objectContaining({ id: newest.id, reasons: ['newest', 'keep-last'] }),
        expect.objectContaining({ id: verified.id, reasons: ['newest-verified'] }),
        expect.objectContaining({ id: pinned.id, reasons: ['pinned'] }),
      ]);
      await callOk('pruneOldBackups', { deploymentId: deployment.id, dryRun: false, expectDelete: plan.expectDelete });
      const left = await harness.db.prisma.backupRecord.findMany({
        where: { deploymentId: deployment.id },
        orderBy: { startedAt: 'asc' },
      });
      expect(left.map((record) => record.id)).toEqual([pinned.id, verified.id, newest.id]);
    } finally {
      await harness.db.prisma.backupRecord.deleteMany({ where: { deploymentId: deployment.id } });
      await harness.db.prisma.deployment.delete({ where: { id: deployment.id } });
    }
  });

  it('answers INVALID_POLICY with the bad value as untrusted detail when the deployment’s own policy is invalid', async () => {
    const deployment = await createDeployment(harness.db.prisma, mine.id, {
      name: 'bad-policy-db',
      backupTimezone: 'Mars/Olympus_Mons',
    });
    try {
      expect(await call('pruneOldBackups', { deploymentId: deployment.id })).toEqual({
        ok: false,
        error: {
          code: 'INVALID_POLICY',
          message: "the deployment's own retention policy is invalid, so nothing is pruned; a person must fix it",
          detail: { untrusted: expect.stringContaining('backupTimezone must be an IANA time zone name') },
        },
      });
    } finally {
      await harness.db.prisma.deployment.delete({ where: { id: deployment.id } });
    }
  });
});

describe('verifyBackup', () => {
  let backup: { backupId: string; path: string; sizeBytes: string };
  /** A backup of verify-db, its path read out of the untrusted label. */
  async function backUp() {
    const value = await callOk<{ backupId: string; path: { untrusted: string }; sizeBytes: string }>('runBackup', {
      deploymentId: ids['verify-db'],
    });
    return { ...value, path: value.path.untrusted };
  }
  beforeAll(async () => {
    backup = await backUp();
  });

  it('confirms an intact backup: checksum, then format', async () => {
    expect(await callOk('verifyBackup', { backupId: backup.backupId })).toEqual({
      backupId: backup.backupId,
      ok: true,
      sizeBytes: backup.sizeBytes,
      format: { outcome: 'verified', method: 'pg_restore', detail: { untrusted: expect.any(String) } },
    });
  });

  it('reports a dump cut short whose checksum matches (only the format check can tell) and records it', async () => {
    const cut = await backUp();
    await truncate(cut.path, Number(cut.sizeBytes) - 300);
    const { sha256, sizeBytes } = await hashFile(cut.path);
    await writeFile(sidecarPathFor(cut.path), formatSidecar(sha256, path.basename(cut.path)));
    await harness.db.prisma.backupRecord.update({ where: { id: cut.backupId }, data: { sha256, sizeBytes } });

    expect(await callOk('verifyBackup', { backupId: cut.backupId })).toEqual({
      backupId: cut.backupId,
      ok: false,
      sizeBytes: sizeBytes.toString(),
      format: { outcome: 'failed', method: 'pg_restore', detail: { untrusted: expect.any(String) } },
    });
    const record = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: cut.backupId } });
    expect(record).toMatchObject({ status: 'SUCCEEDED', verifiedAt: null, verifyMethod: 'pg_restore' });
    expect(record.verifyError).toEqual(expect.any(String));
  });

  it('reports a corrupted file as a checksum mismatch', async () => {
    const bytes = await readFile(backup.path);
    const last = bytes.length - 1;
    bytes[last] = bytes[last]! ^ 0xff;
    await writeFile(backup.path, bytes);
    expect(await callOk('verifyBackup', { backupId: backup.backupId })).toEqual({
      backupId: backup.backupId,
      ok: false,
      reason: 'checksum-mismatch',
      detail: { untrusted: expect.stringContaining(backup.path) },
    });
  });

  it('answers NO_FILE for a failed backup', async () => {
    const failed = await harness.db.prisma.backupRecord.findFirstOrThrow({
      where: { deploymentId: ids['broken-db'], status: 'FAILED' },
    });
    expect(await call('verifyBackup', { backupId: failed.id })).toEqual({
      ok: false,
      error: { code: 'NO_FILE', message: `backup ${failed.id} is FAILED: there is no file to verify` },
    });
  });
});
