import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, Deployment } from '../../../src/generated/prisma/client.ts';
import { BACKUP_UNVERIFIED_ALERT } from '../../../src/lib/alerts/alerts.ts';
import { executeBackup, type BackupDependencies } from '../../../src/lib/backups/backup.ts';
import { runCycle } from '../../../src/lib/worker/loop.ts';
import { formatSidecar, sidecarPathFor } from '../../../src/lib/storage/backup-path.ts';
import { checkBackupFormat, FormatCheckUnavailableError } from '../../../src/lib/verification/format-check.ts';
import { hashFile } from '../../../src/lib/storage/verify-backup.ts';
import { recordFormatCheck } from '../../../src/lib/verification/record-format-check.ts';
import { checkUncheckedBackups, DEFAULT_UNCHECKED_GRACE_MS } from '../../../src/lib/verification/unchecked-backups.ts';
import { createSourceDatabase } from '../../support/backup-checks.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { mariadb, redis } from '../../support/engines.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { dropDatabase } from '../../support/postgres.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';
import { withAlertInsertsRefused } from '../../support/refuse-alerts.ts';

// The format check after each backup, through the real backup path: the real pg_dump, mariadb-dump and redis-cli
// "in the pod" (fake Kubernetes API, real exec protocol), stored by the real store, checked and recorded. Broken
// dumps come from wrappers put first on the pod's PATH that exit 0 after partial output (the failure that fools
// exit codes), or from a stored file cut afterwards with its sha256 recomputed, so only the format is wrong.

const SOURCE_ROWS = 3_000;
const MARIADB_ROWS = 500;
/** How much of a dump the truncating wrappers let through. */
const CUT_AT_BYTES = 20_000;
const SHORT_TIMEOUT_MS = 200;
const SECRET = `pw-${randomBytes(6).toString('hex')}`;

let harness: BackupHarness;
let workspaceId: string;
let sourceDatabase: string;
let mariadbDatabase: string;
let binDir: string;
const redisKeys: string[] = [];

beforeAll(async () => {
  sourceDatabase = await createSourceDatabase(SOURCE_ROWS);
  mariadbDatabase = `ops_fc_${randomBytes(4).toString('hex')}`;
  await mariadb(`CREATE DATABASE ${mariadbDatabase}`);
  await mariadb('CREATE TABLE items (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)', mariadbDatabase);
  await mariadb(`INSERT INTO items SELECT seq, MD5(seq) FROM seq_1_to_${MARIADB_ROWS}`, mariadbDatabase);
  const prefix = `opsfc:${randomBytes(4).toString('hex')}`;
  for (let index = 0; index < 50; index += 1) redisKeys.push(`${prefix}:${index}`);
  for (const key of redisKeys) await redis(['SET', key, `value of ${key}`]);
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
  binDir = await mkdtemp(path.join(os.tmpdir(), 'fake-bin-'));
  const real = (binary: string) =>
    execFileSync('sh', ['-c', `command -v ${binary}`])
      .toString()
      .trim();
  await script('pg_dump', `"${real('pg_dump')}" "$@" | head -c ${CUT_AT_BYTES}\nexit 0`);
  await script('mariadb-dump', `"${real('mariadb-dump')}" "$@" | head -n 40\nexit 0`);
  // The recipe runs `redis-cli --rdb "$f"`: the wrapper lets the real one write the snapshot, then cuts it in half.
  await script(
    'redis-cli',
    `"${real('redis-cli')}" "$@" || exit $?\nfor last; do :; done\nhead -c $(( $(wc -c < "$last") / 2 )) "$last" > "$last.cut" && mv "$last.cut" "$last"`,
  );
});

afterAll(async () => {
  await harness?.close();
  if (sourceDatabase) await dropDatabase(sourceDatabase);
  if (mariadbDatabase) await mariadb(`DROP DATABASE IF EXISTS ${mariadbDatabase}`);
  if (redisKeys.length > 0) await redis(['DEL', ...redisKeys]);
  if (binDir) await rm(binDir, { recursive: true, force: true });
});

async function script(name: string, body: string): Promise<void> {
  const file = path.join(binDir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
}

type Engine = 'postgresql' | 'mariadb' | 'redis' | 'mongodb';
const CONTAINERS: Record<Engine, string> = {
  postgresql: 'postgres',
  mariadb: 'mariadb',
  redis: 'redis',
  mongodb: 'mongodb',
};

function envOf(engine: Engine, broken: boolean): Record<string, string> {
  const base: Record<Engine, Record<string, string>> = {
    postgresql: { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: sourceDatabase, PGPASSWORD: SECRET },
    mariadb: { MARIADB_USER: 'root', MARIADB_DATABASE: mariadbDatabase, MARIADB_ROOT_PASSWORD: '' },
    redis: {},
    mongodb: { MONGO_INITDB_ROOT_USERNAME: 'root', MONGO_INITDB_ROOT_PASSWORD: SECRET },
  };
  return broken ? { ...base[engine], PATH: `${binDir}:${process.env.PATH}` } : base[engine];
}

/** A RUNNING deployment of `engine` whose pod exports through the real tools, or through the breaking wrappers. */
async function deploymentOf(engine: Engine, options: { broken?: boolean; path?: string } = {}): Promise<Deployment> {
  const name = `${engine.slice(0, 5)}-${randomBytes(4).toString('hex')}`;
  const env = envOf(engine, options.broken ?? false);
  harness.kube.pods.push(podFor(name, CONTAINERS[engine], options.path ? { ...env, PATH: options.path } : env));
  return createDeployment(harness.db.prisma, workspaceId, { name, recipeSlug: engine, backupCompression: 'gzip' });
}

/** Puts the pod of `deployment` back on the real tools. */
function repair(deployment: Deployment, engine: Engine): void {
  const pod = harness.kube.pods.find((candidate) => candidate.name === `${deployment.name}-0`);
  pod!.containers[0]!.env = envOf(engine, false);
}

async function backUp(deployment: Deployment, deps: BackupDependencies = harness.deps): Promise<BackupRecord> {
  const outcome = await executeBackup(deps, deployment.id, { trigger: 'MANUAL' });
  expect(outcome.status).toBe('SUCCEEDED');
  if (outcome.status !== 'SUCCEEDED') throw new Error('unreachable');
  // What executeBackup returned is what the database holds.
  expect(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: outcome.record.id } })).toEqual(
    outcome.record,
  );
  return outcome.record;
}

function openAlerts(deploymentId: string) {
  return harness.db.prisma.alert.findMany({ where: { deploymentId, kind: BACKUP_UNVERIFIED_ALERT, resolvedAt: null } });
}

function expectVerified(record: BackupRecord, method: string): void {
  expect(record).toMatchObject({ status: 'SUCCEEDED', verifyMethod: method, verifyError: null });
  expect(record.verifiedAt).toBeInstanceOf(Date);
  expect(record.verifiedAt!.getTime()).toBeGreaterThanOrEqual(record.finishedAt!.getTime());
}

async function expectUnverified(record: BackupRecord, method: string, error: RegExp): Promise<void> {
  expect(record).toMatchObject({ status: 'SUCCEEDED', verifiedAt: null, verifyMethod: method });
  expect(record.verifyError).toMatch(error);
  const alerts = await openAlerts(record.deploymentId);
  expect(alerts).toHaveLength(1);
  expect(alerts[0]).toMatchObject({ severity: 'CRITICAL', backupRecordId: record.id });
  expect(alerts[0]!.message).toContain('It is probably not restorable');
  expect(alerts[0]!.message).toContain(record.verifyError!);
}

/** Replaces the stored file by its first `keepBytes` bytes and makes sha256, sidecar and record agree with that. */
async function cutStoredFile(record: BackupRecord, keepBytes: number): Promise<BackupRecord> {
  await truncate(record.path!, keepBytes);
  const { sha256, sizeBytes } = await hashFile(record.path!);
  await writeFile(sidecarPathFor(record.path!), formatSidecar(sha256, path.basename(record.path!)));
  return harness.db.prisma.backupRecord.update({ where: { id: record.id }, data: { sha256, sizeBytes } });
}

describe('a good dump made through the real backup path verifies', () => {
  it('PostgreSQL custom format: pg_restore lists and reads it', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    expectVerified(record, 'pg_restore');
    expect(await openAlerts(record.deploymentId)).toEqual([]);
  });

  it('MariaDB: the gzipped dump ends with "-- Dump completed"', async () => {
    const record = await backUp(await deploymentOf('mariadb'));
    expect(record.extension).toBe('sql.gz');
    expectVerified(record, 'mysql-trailer');
  });

  it('Redis: the gzipped RDB has its header, EOF opcode and matching CRC-64', async () => {
    const record = await backUp(await deploymentOf('redis'));
    expect(record.extension).toBe('rdb.gz');
    expectVerified(record, 'rdb-checksum');
    // Redis has no tables: its recipe counts none live, its format check counts none in the file.
    expect(record).toMatchObject({ liveTableCount: null, dumpTableCount: null });
  });
});

describe('a dump that is not restorable stays SUCCEEDED with a verifyError and a critical alert', () => {
  it('PostgreSQL: pg_dump cut short with exit 0; the next good backup resolves the alert', async () => {
    const deployment = await deploymentOf('postgresql', { broken: true });
    const bad = await backUp(deployment);
    expect(Number(bad.sizeBytes)).toBe(CUT_AT_BYTES);
    await expectUnverified(
      bad,
      'pg_restore',
      /^pg_restore could not read the whole dump \(exit 1\): .*could not read from input file: end of file/,
    );

    repair(deployment, 'postgresql');
    const good = await backUp(deployment);
    expectVerified(good, 'pg_restore');
    expect(await openAlerts(deployment.id)).toEqual([]);
    const resolved = await harness.db.prisma.alert.findFirstOrThrow({
      where: { deploymentId: deployment.id, kind: BACKUP_UNVERIFIED_ALERT },
    });
    expect(resolved.resolvedAt).toBeInstanceOf(Date);
  });

  it('MariaDB: a dump without its trailer (the export exits 0 after partial output)', async () => {
    const record = await backUp(await deploymentOf('mariadb', { broken: true }));
    await expectUnverified(
      record,
      'mysql-trailer',
      /^the dump does not end with "-- Dump completed" \(its last line is ".+"\): it was cut short$/,
    );
  });

  it('Redis: an RDB file cut short', async () => {
    const record = await backUp(await deploymentOf('redis', { broken: true }));
    await expectUnverified(record, 'rdb-checksum', /does not end with the RDB EOF opcode 0xFF and its 8-byte checksum/);
  });

  it('a corrupt gzip stream stored as it came (mongodump output with a flipped byte)', async () => {
    const archive = Buffer.concat([Buffer.from([0x6d, 0xe2, 0x99, 0x81]), randomBytes(64 * 1024)]);
    const corrupt = gzipSync(archive);
    corrupt[Math.floor(corrupt.length / 2)] = (corrupt[Math.floor(corrupt.length / 2)] as number) ^ 0xff;
    await writeFile(path.join(binDir, 'archive-corrupt.gz'), corrupt);
    await writeFile(path.join(binDir, 'archive-good.gz'), gzipSync(archive));
    const mongoBin = await mkdtemp(path.join(binDir, 'mongo-'));
    await writeFile(path.join(mongoBin, 'mongodump'), `#!/bin/sh\ncat "${binDir}/$ARCHIVE"\n`);
    await chmod(path.join(mongoBin, 'mongodump'), 0o755);
    const pathWithMongo = `${mongoBin}:${process.env.PATH}`;

    const bad = await deploymentOf('mongodb', { path: pathWithMongo });
    harness.kube.pods.at(-1)!.containers[0]!.env!.ARCHIVE = 'archive-corrupt.gz';
    const badRecord = await backUp(bad);
    expect(badRecord.extension).toBe('archive.gz');
    await expectUnverified(
      badRecord,
      'mongo-archive',
      /^gzip: (incorrect data check|invalid .*|.*) \(the file is truncated or corrupt\)$/,
    );

    const good = await deploymentOf('mongodb', { path: pathWithMongo });
    harness.kube.pods.at(-1)!.containers[0]!.env!.ARCHIVE = 'archive-good.gz';
    expectVerified(await backUp(good), 'mongo-archive');
  });

  it('a stored file cut afterwards, its sha256 recomputed: only the format is wrong', async () => {
    const record = await backUp(await deploymentOf('mariadb'));
    expectVerified(record, 'mysql-trailer');
    const cut = await cutStoredFile(record, Number(record.sizeBytes) - 30);
    const checked = await recordFormatCheck(harness.deps, cut);
    expect(checked.outcome).toBe('failed');
    await expectUnverified(
      checked.record,
      'mysql-trailer',
      /^gzip: unexpected end of file \(the file is truncated or corrupt\)$/,
    );
  });
});

describe('npm run backup -- verify', () => {
  function verifyCli(backupId: string): Promise<{ code: number | string; stdout: string }> {
    const env = childEnvironment({
      DATABASE_URL: harness.db.url,
      KUBECONFIG: harness.kube.kubeconfigPath,
      BACKUP_ROOT: harness.root,
    });
    const cli = startEntryPoint('src/cli/backup.ts', ['verify', backupId], env);
    let stdout = '';
    cli.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    return cli.exited.then((code) => ({ code, stdout }));
  }

  it('checks the sha256, then the format, and records the result', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    const good = await verifyCli(record.id);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(
      /^OK .*\.dump \(.*, sha256 [0-9a-f]{64}\)\nOK format \(pg_restore\): \d+ table-of-contents entries \(data of 1 table\), every data block readable; the database had 1 table when the export began\n$/,
    );

    // Cut, with sha256, sidecar and record made to agree: the sha256 check passes, the format check does not.
    const cut = await cutStoredFile(record, Number(record.sizeBytes) - 100);
    const bad = await verifyCli(record.id);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      /^OK .*\nBAD format \(pg_restore\): pg_restore could not read the whole dump \(exit 1\): /,
    );
    await expectUnverified(
      await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: cut.id } }),
      'pg_restore',
      /could not read from input file: end of file/,
    );
  });
});

describe('a check that cannot run is recorded, never crashes the backup', () => {
  it('a check that throws: SUCCEEDED with "could not run" and the alert', async () => {
    const deps: BackupDependencies = {
      ...harness.deps,
      checkFormat: async () => {
        throw new Error('disk exploded');
      },
    };
    const record = await backUp(await deploymentOf('postgresql'), deps);
    await expectUnverified(record, 'format-check', /^the format check could not run: disk exploded$/);
  });

  it("a missing pg_restore is the worker's fault, named as such", async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    await expect(
      checkBackupFormat(
        { path: record.path!, format: record.format, extension: record.extension },
        { pgRestoreBinary: 'pg_restore-not-installed' },
      ),
    ).rejects.toThrow(FormatCheckUnavailableError);
    const deps: BackupDependencies = {
      ...harness.deps,
      checkFormat: (file, options) =>
        checkBackupFormat(file, { ...options, pgRestoreBinary: 'pg_restore-not-installed' }),
    };
    const checked = await recordFormatCheck(deps, record);
    await expectUnverified(
      checked.record,
      'pg_restore',
      /^the format check could not run: .*pg_restore-not-installed is not installed on the worker/,
    );
  });

  it('a check that hangs is stopped after the timeout and recorded', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    const hanging = (_file: unknown, options: { signal?: AbortSignal }) =>
      new Promise<never>((_resolve, reject) =>
        options.signal!.addEventListener('abort', () => reject(options.signal!.reason)),
      );
    const started = Date.now();
    const checked = await recordFormatCheck(
      { ...harness.deps, checkFormat: hanging, settings: { ...harness.deps.settings, timeoutMs: SHORT_TIMEOUT_MS } },
      record,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    await expectUnverified(
      checked.record,
      'format-check',
      new RegExp(`^the format check could not run: it took longer than ${SHORT_TIMEOUT_MS} ms$`),
    );
  });

  it('a check interrupted by the caller (shutdown) leaves the record unchecked and raises nothing', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    const unchecked = await harness.db.prisma.backupRecord.update({
      where: { id: record.id },
      data: { verifiedAt: null, verifyMethod: null },
    });
    const stop = new AbortController();
    const hanging = (_file: unknown, options: { signal?: AbortSignal }) => {
      setTimeout(() => stop.abort(new Error('worker shutting down')), 20);
      return new Promise<never>((_resolve, reject) =>
        options.signal!.addEventListener('abort', () => reject(options.signal!.reason)),
      );
    };
    const checked = await recordFormatCheck({ ...harness.deps, checkFormat: hanging }, unchecked, {
      signal: stop.signal,
    });
    expect(checked.outcome).toBe('interrupted');
    expect(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: record.id } })).toMatchObject({
      verifiedAt: null,
      verifyMethod: null,
      verifyError: null,
    });
    expect(await openAlerts(record.deploymentId)).toEqual([]);
  });

  it('a backup left unchecked (the worker stopped first) is checked by a later cycle, once its grace period is over', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    await harness.db.prisma.backupRecord.update({
      where: { id: record.id },
      data: { verifiedAt: null, verifyMethod: null },
    });
    const finishedAt = record.finishedAt!.getTime();
    const soon = await checkUncheckedBackups(harness.deps, { now: new Date(finishedAt + 60_000), limit: 100 });
    expect(soon.map((result) => result.backupId)).not.toContain(record.id);
    const later = await checkUncheckedBackups(harness.deps, {
      now: new Date(finishedAt + DEFAULT_UNCHECKED_GRACE_MS + 60_000),
      limit: 100,
    });
    expect(later).toContainEqual({ backupId: record.id, outcome: 'verified' });
    expectVerified(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: record.id } }), 'pg_restore');
    const again = await checkUncheckedBackups(harness.deps, {
      now: new Date(finishedAt + DEFAULT_UNCHECKED_GRACE_MS + 120_000),
      limit: 100,
    });
    expect(again.map((result) => result.backupId)).not.toContain(record.id);
  });

  it('a failed check whose alert cannot be written is not recorded either; the catch-up pass records both', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    const unchecked = await harness.db.prisma.backupRecord.update({
      where: { id: record.id },
      data: { verifiedAt: null, verifyMethod: null },
    });
    const failing = {
      ...harness.deps,
      checkFormat: async () => {
        throw new Error('disk exploded');
      },
    };
    const db = harness.db.prisma;
    expect((await withAlertInsertsRefused(db, () => recordFormatCheck(failing, unchecked))).outcome).toBe('failed');
    // Recorded as failed without its alert, it would never page: a checked backup is not checked again.
    expect(await db.backupRecord.findUniqueOrThrow({ where: { id: record.id } })).toMatchObject({
      verifiedAt: null,
      verifyMethod: null,
      verifyError: null,
    });
    expect(await openAlerts(record.deploymentId)).toEqual([]);

    const later = await checkUncheckedBackups(failing, {
      now: new Date(record.finishedAt!.getTime() + DEFAULT_UNCHECKED_GRACE_MS + 60_000),
      limit: 100,
    });
    expect(later).toContainEqual({ backupId: record.id, outcome: 'failed' });
    await expectUnverified(
      await db.backupRecord.findUniqueOrThrow({ where: { id: record.id } }),
      'format-check',
      /^the format check could not run: disk exploded$/,
    );
  });

  it('a backup that passed before and now fails is not named as the newest that passed', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    expectVerified(record, 'pg_restore');

    const checked = await recordFormatCheck(
      {
        ...harness.deps,
        checkFormat: async () => {
          throw new Error('disk exploded');
        },
      },
      record,
    );

    expect(checked.outcome).toBe('failed');
    const [alert] = await openAlerts(record.deploymentId);
    expect(alert!.message).toContain('failed its format check (format-check)');
    expect(alert!.message).toContain('Newest backup that passed the check: none.');
  });

  it('the worker cycle runs that catch-up', async () => {
    const record = await backUp(await deploymentOf('postgresql'));
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await harness.db.prisma.backupRecord.update({
      where: { id: record.id },
      data: { verifiedAt: null, verifyMethod: null, finishedAt: anHourAgo },
    });
    const summary = await runCycle(await harness.loop());
    expect(summary.lateFormatChecks).toBeGreaterThanOrEqual(1);
    expectVerified(await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: record.id } }), 'pg_restore');
  });

  it('never writes a secret of the pod into records, alerts or logs', async () => {
    const stored = JSON.stringify(await harness.db.prisma.backupRecord.findMany(), (_k, v: unknown) =>
      typeof v === 'bigint' ? String(v) : v,
    );
    const alerts = JSON.stringify(await harness.db.prisma.alert.findMany());
    expect(stored).toContain('verifyMethod');
    expect(stored).not.toContain(SECRET);
    expect(alerts).not.toContain(SECRET);
    expect(harness.logs()).not.toContain(SECRET);
  });
});
