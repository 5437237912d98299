import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, Deployment } from '../../../src/generated/prisma/client.ts';
import { BACKUP_SUSPICIOUS_ALERT } from '../../../src/lib/alerts/alerts.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { reindexBackups } from '../../../src/lib/backups/reindex.ts';
import { pruneBackups } from '../../../src/lib/retention/prune.ts';
import { readManifest } from '../../../src/lib/storage/index.ts';
import { recordFormatCheck } from '../../../src/lib/verification/record-format-check.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { mariadb } from '../../support/engines.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { createTestDatabase } from '../../support/test-database.ts';

// A dump that ends well but lacks tables is SUCCEEDED and suspicious: just before the export, the recipe's count
// reads how many tables the database has (catalog only, in the pod, through the fake Kubernetes API's real exec
// protocol); the format check counts the tables of the dump it reads anyway (pg_restore --list, mysqldump's
// CREATE TABLE statements). Short dumps come from wrappers first on the pod's PATH that run the real pg_dump and
// mariadb-dump with a table filter (exit 0, a complete dump of the tables they kept), the failure no exit code shows.

/** Tables of each source database; the short dumps keep only the first. */
const TABLES = ['customers', 'orders', 'invoices', 'payments', 'products', 'audit_log'];
const ROWS_PER_TABLE = 200;

let harness: BackupHarness;
let workspaceId: string;
let postgresDatabase: string;
let mariadbDatabase: string;
/** Wrappers that dump one table only. */
let oneTableBin: string;
/** A psql that cannot connect: the live count fails, the dump does not. */
let noCountBin: string;

beforeAll(async () => {
  postgresDatabase = await createDatabase(uniqueDatabaseName('coverage_source'));
  const client = new pg.Client({ connectionString: databaseUrl(postgresDatabase) });
  await client.connect();
  for (const table of TABLES) {
    await client.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, note text NOT NULL)`);
    await client.query(`INSERT INTO ${table} SELECT g, md5(g::text) FROM generate_series(1, ${ROWS_PER_TABLE}) g`);
  }
  // Not tables of the dump, and not counted live either: a view, a sequence.
  await client.query('CREATE VIEW recent_orders AS SELECT * FROM orders WHERE id > 100');
  await client.query('CREATE SEQUENCE ticket_numbers');
  await client.end();

  mariadbDatabase = `ops_cov_${randomBytes(4).toString('hex')}`;
  await mariadb(`CREATE DATABASE ${mariadbDatabase}`);
  for (const table of TABLES) {
    await mariadb(`CREATE TABLE ${table} (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)`, mariadbDatabase);
    await mariadb(`INSERT INTO ${table} SELECT seq, MD5(seq) FROM seq_1_to_${ROWS_PER_TABLE}`, mariadbDatabase);
  }
  await mariadb('CREATE VIEW recent_orders AS SELECT * FROM orders WHERE id > 100', mariadbDatabase);

  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
  const real = (binary: string) =>
    execFileSync('sh', ['-c', `command -v ${binary}`])
      .toString()
      .trim();
  oneTableBin = await mkdtemp(path.join(os.tmpdir(), 'one-table-bin-'));
  await script(oneTableBin, 'pg_dump', `exec "${real('pg_dump')}" --table=${TABLES[0]} "$@"`);
  const ignored = TABLES.slice(1)
    .map((table) => `--ignore-table="$MARIADB_DATABASE.${table}"`)
    .join(' ');
  await script(oneTableBin, 'mariadb-dump', `exec "${real('mariadb-dump')}" ${ignored} "$@"`);
  noCountBin = await mkdtemp(path.join(os.tmpdir(), 'no-count-bin-'));
  await script(noCountBin, 'psql', 'echo "psql: error: connection to server failed" >&2\nexit 2');
});

afterAll(async () => {
  await harness?.close();
  if (postgresDatabase) await dropDatabase(postgresDatabase);
  if (mariadbDatabase) await mariadb(`DROP DATABASE IF EXISTS ${mariadbDatabase}`);
  for (const folder of [oneTableBin, noCountBin]) if (folder) await rm(folder, { recursive: true, force: true });
});

async function script(folder: string, name: string, body: string): Promise<void> {
  const file = path.join(folder, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
}

type Engine = 'postgresql' | 'mariadb';

function envOf(engine: Engine, bin: string | null): Record<string, string> {
  const base: Record<string, string> =
    engine === 'postgresql'
      ? { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: postgresDatabase }
      : { MARIADB_USER: 'root', MARIADB_DATABASE: mariadbDatabase, MARIADB_ROOT_PASSWORD: '' };
  return bin ? { ...base, PATH: `${bin}:${process.env.PATH}` } : base;
}

/** A deployment of `engine` whose pod runs the real tools, or the wrappers of `bin` first. */
async function deploymentOf(engine: Engine, bin: string | null, fields: Partial<Deployment> = {}): Promise<Deployment> {
  const name = `${engine.slice(0, 5)}-${randomBytes(4).toString('hex')}`;
  harness.kube.pods.push(podFor(name, engine === 'postgresql' ? 'postgres' : 'mariadb', envOf(engine, bin)));
  return createDeployment(harness.db.prisma, workspaceId, { name, recipeSlug: engine, ...fields });
}

/** Puts the pod of `deployment` on other tools. */
function switchTools(deployment: Deployment, engine: Engine, bin: string | null): void {
  const pod = harness.kube.pods.find((candidate) => candidate.name === `${deployment.name}-0`);
  pod!.containers[0]!.env = envOf(engine, bin);
}

async function backUp(deployment: Deployment): Promise<BackupRecord> {
  const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`the backup ended ${outcome.status}`);
  expect(outcome.record.verifiedAt).toBeInstanceOf(Date);
  // What executeBackup returned is what the database holds.
  expect(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: outcome.record.id } })).toEqual(
    outcome.record,
  );
  return outcome.record;
}

function suspiciousAlerts(deploymentId: string) {
  return harness.db.prisma.alert.findMany({
    where: { deploymentId, kind: BACKUP_SUSPICIOUS_ALERT },
    orderBy: { createdAt: 'asc' },
  });
}

const SHORT_REASON =
  'the dump holds 1 table of the 6 the database had when the export began (16.6%); any missing table counts as suspicious';

describe.each(['postgresql', 'mariadb'] as const)('%s: the tables of the dump against the live tables', (engine) => {
  it('a dump of every table is not suspicious', async () => {
    const record = await backUp(await deploymentOf(engine, null));

    expect(record).toMatchObject({
      status: 'SUCCEEDED',
      liveTableCount: TABLES.length,
      dumpTableCount: TABLES.length,
      suspicious: false,
      suspiciousReason: null,
    });
    expect(await suspiciousAlerts(record.deploymentId)).toEqual([]);
  });

  it('a dump of one table of six is SUCCEEDED but suspicious, with the counts and a warning alert', async () => {
    const record = await backUp(await deploymentOf(engine, oneTableBin));

    expect(record).toMatchObject({
      status: 'SUCCEEDED',
      liveTableCount: TABLES.length,
      dumpTableCount: 1,
      suspicious: true,
      suspiciousReason: SHORT_REASON,
    });
    const [alert, ...more] = await suspiciousAlerts(record.deploymentId);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({ severity: 'WARNING', backupRecordId: record.id, resolvedAt: null });
    expect(alert!.message).toContain(`succeeded but is suspicious: ${SHORT_REASON}`);
    // Counts, never a table's name: names are tenant data.
    for (const table of TABLES) expect(alert!.message).not.toContain(table);
    // The manifest beside the file says so too: a reindex from the volume brings the flag back.
    expect(await readManifest(record.path!)).toMatchObject({
      recordId: record.id,
      suspicious: true,
      suspiciousReason: SHORT_REASON,
    });
  });
});

describe('a deployment whose dumps start to lack tables', () => {
  let deployment: Deployment;
  let normal: BackupRecord;

  it('keeps its last normal backup through retention, and pages once for a run of short dumps', async () => {
    deployment = await deploymentOf('postgresql', null, { backupRetention: 1 });
    normal = await backUp(deployment);
    expect(normal.suspicious).toBe(false);

    switchTools(deployment, 'postgresql', oneTableBin);
    const first = await backUp(deployment);
    const second = await backUp(deployment);

    expect([first.suspicious, second.suspicious]).toEqual([true, true]);
    // keep-last 1 would have deleted the normal backup; suspicious backups are never counted.
    const kept = await harness.db.prisma.backupRecord.findMany({ where: { deploymentId: deployment.id } });
    expect(kept.map((record) => record.id).sort()).toEqual([normal.id, first.id, second.id].sort());
    const plan = await pruneBackups(harness.deps, deployment.id, { dryRun: true });
    expect(plan.keep.find((entry) => entry.id === normal.id)?.reasons).toContain('newest-normal');
    // One open alert that counted the second short dump, not a resolved one and a new page.
    const alerts = await suspiciousAlerts(deployment.id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ occurrences: 2, backupRecordId: second.id, resolvedAt: null });
  });

  it('says it once: checking the short backup again adds no reason and no alert', async () => {
    const [short] = await harness.db.prisma.backupRecord.findMany({
      where: { deploymentId: deployment.id, suspicious: true },
      orderBy: { startedAt: 'desc' },
      take: 1,
    });

    const again = await recordFormatCheck(harness.deps, short!);

    expect(again.outcome).toBe('verified');
    expect(again.detail).toContain(`suspicious: ${SHORT_REASON}`);
    expect(again.record.suspiciousReason).toBe(SHORT_REASON);
    expect((await suspiciousAlerts(deployment.id))[0]!.occurrences).toBe(2);
  });

  it('joins the reason of a backup already suspicious for its size', async () => {
    const [short] = await harness.db.prisma.backupRecord.findMany({
      where: { deploymentId: deployment.id, suspicious: true },
      orderBy: { startedAt: 'desc' },
      take: 1,
    });
    const sizeReason =
      '1.0 KiB is 2% of the median size (50.0 KiB) of the last 3 successful backups; under 50% counts as suspicious';
    // As the backup itself leaves it when its size is suspicious: flagged, its tables not counted yet.
    const bySize = await harness.db.prisma.backupRecord.update({
      where: { id: short!.id },
      data: { suspiciousReason: sizeReason, dumpTableCount: null, verifiedAt: null, verifyMethod: null },
    });

    const checked = await recordFormatCheck(harness.deps, bySize);

    expect(checked.record).toMatchObject({
      suspicious: true,
      suspiciousReason: `${sizeReason}; ${SHORT_REASON}`,
      dumpTableCount: 1,
    });
  });

  it('the next dump of every table resolves the alert', async () => {
    switchTools(deployment, 'postgresql', null);

    const repaired = await backUp(deployment);

    expect(repaired).toMatchObject({ suspicious: false, liveTableCount: TABLES.length, dumpTableCount: TABLES.length });
    const alerts = await suspiciousAlerts(deployment.id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.resolvedAt).toBeInstanceOf(Date);
  });
});

describe('a live count that fails', () => {
  it('leaves the backup SUCCEEDED and not suspicious, its coverage unknown, with a warning in the log', async () => {
    const deployment = await deploymentOf('postgresql', noCountBin);

    const record = await backUp(deployment);

    expect(record).toMatchObject({
      status: 'SUCCEEDED',
      liveTableCount: null,
      dumpTableCount: TABLES.length,
      suspicious: false,
      suspiciousReason: null,
    });
    expect(await suspiciousAlerts(deployment.id)).toEqual([]);
    const warning = harness
      .logs()
      .split('\n')
      .filter((line) => line.includes(deployment.name) || line.includes(`"deploymentId":"${deployment.id}"`))
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((line) => line.msg.startsWith('live tables not counted'));
    expect(warning).toMatchObject({ level: 40 });
    expect(warning!.msg).toMatch(/table coverage unknown: export command in pod .* exited with code 2: psql: error/);
    const checked = await recordFormatCheck(harness.deps, record);
    expect(checked.detail).toContain('table coverage unknown (the live tables were not counted)');
  });
});

describe('the platform database lost after a short dump', () => {
  it('reindex from the volume brings the backup back suspicious, with its reason', async () => {
    const short = await backUp(await deploymentOf('postgresql', oneTableBin));
    const empty = await createTestDatabase();
    try {
      const report = await reindexBackups({ ...harness.deps, db: empty.prisma });

      expect(report.problems).toEqual([]);
      expect(await empty.prisma.backupRecord.findUniqueOrThrow({ where: { id: short.id } })).toMatchObject({
        status: 'SUCCEEDED',
        sha256: short.sha256,
        suspicious: true,
        suspiciousReason: SHORT_REASON,
      });
    } finally {
      await empty.drop();
    }
  });
});
