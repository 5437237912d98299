import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import {
  approveRestore,
  cancelRestore,
  planLiveRestore,
  restoreBackup,
  RestoreRefusedError,
} from '../../../src/lib/restore/restore-backup.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { adminQuery, createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * PostgreSQL restores with the real pg_restore through the fake cluster: a real backup of known data is restored
 * into a scratch database (counted, then dropped), then over the changed live database after plan → confirm.
 */
const ROWS = 1_500;
const SECRET = `pw-${randomBytes(6).toString('hex')}`;
const T0 = new Date('2026-11-22T10:00:00Z');
const MINUTE = 60_000;
let harness: BackupHarness;
let now = T0;
let live: string;
let deploymentId: string;
let backupId: string;

async function query<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function fingerprint(database: string): Promise<string> {
  const [row] = await query<{ count: string; digest: string; notes: string }>(
    database,
    `SELECT (SELECT count(*) FROM items)::text AS count,
            (SELECT md5(string_agg(id || ':' || name || ':' || encode(payload, 'hex'), ',' ORDER BY id)) FROM items) AS digest,
            (SELECT count(*) FROM notes)::text AS notes`,
  );
  return `${row?.count}/${row?.notes}/${row?.digest}`;
}

async function scratchDatabases(): Promise<string[]> {
  const { rows } = await adminQuery(`SELECT datname FROM pg_database WHERE datname LIKE 'ops_scratch_%'`);
  return rows.map((row: { datname: string }) => row.datname);
}

beforeAll(async () => {
  harness = await startBackupHarness({ clock: () => now });
  const workspace = await createWorkspace(harness.db.prisma);
  live = await createDatabase(uniqueDatabaseName('ops_test_live'));
  await query(live, 'CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, payload bytea NOT NULL)');
  await query(
    live,
    `INSERT INTO items SELECT g, 'item ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, ${ROWS}) g`,
  );
  await query(live, `CREATE TABLE notes (id serial PRIMARY KEY, body text)`);
  await query(live, `INSERT INTO notes (body) VALUES ('first'), ('second'), ('third')`);
  harness.kube.pods.push(
    podFor('pg-restore', 'postgres', {
      PGHOST: '127.0.0.1',
      POSTGRES_USER: 'postgres',
      POSTGRES_DB: live,
      PGPASSWORD: SECRET,
    }),
  );
  deploymentId = (
    await createDeployment(harness.db.prisma, workspace.id, { name: 'pg-restore', recipeSlug: 'postgresql' })
  ).id;
  const outcome = await executeBackup(harness.deps, deploymentId, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
  backupId = outcome.record.id;
});

afterAll(async () => {
  await harness.close();
  await dropDatabase(live);
});

describe('PostgreSQL restore', () => {
  it('restores into a scratch database, records exact counts, and drops it', async () => {
    const record = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(record).toMatchObject({ status: 'SUCCEEDED', kind: 'SCRATCH', backupRecordId: backupId, errorKind: null });
    expect(record.target).toMatch(/^ops_scratch_[0-9a-f]{12}$/);
    expect(record.counts).toEqual({ tables: { 'public.items': ROWS, 'public.notes': 3 } });
    expect(Number(record.bytesRestored)).toBeGreaterThan(10_000);
    // Its own scratch database is gone (other test files may have theirs on the shared server meanwhile).
    expect(await scratchDatabases()).not.toContain(record.target);
    // The scratch import got the target as its own argument, after the fixed script.
    const importExec = harness.kube.execs.find(
      (exec) => exec.argv.at(-1) === record.target && exec.argv[2]?.includes('pg_restore'),
    );
    expect(importExec?.argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(importExec?.transferred.stdin).toBe(Number(record.bytesRestored));
  });

  it('keeps the scratch database when asked, with the same data as the backup', async () => {
    const record = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
      keepScratch: true,
    });
    try {
      expect(record.status).toBe('SUCCEEDED');
      expect(await fingerprint(record.target)).toBe(await fingerprint(live));
    } finally {
      await dropDatabase(record.target);
    }
  });

  it('plans a live restore that says what is overwritten, and restores the backed-up data after confirmation', async () => {
    const backedUp = await fingerprint(live);
    await query(live, `DELETE FROM items WHERE id > 1000`);
    await query(live, `UPDATE items SET name = 'changed' WHERE id <= 10`);
    await query(live, `INSERT INTO notes (body) VALUES ('after the backup')`);
    expect(await fingerprint(live)).not.toBe(backedUp);

    const planned = await planLiveRestore(harness.deps, backupId, { requestedBy: 'cli', trigger: 'MANUAL', now });
    expect(planned.restore).toMatchObject({ status: 'PROPOSED', kind: 'DESTRUCTIVE', target: live, confirmedBy: null });
    expect(planned.plan).toContain(`live database "${live}"`);
    expect(planned.plan).toContain('public.items: 1000 rows');
    expect(planned.plan).toContain('public.notes: 4 rows');
    expect(planned.plan).toContain(planned.restore.backupSha256);
    expect(planned.expiresAt).toEqual(new Date(T0.getTime() + 15 * MINUTE));
    const stored = await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: planned.restore.id } });
    expect(stored.confirmTokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(planned.confirmToken);

    const restored = await restoreBackup(harness.deps, backupId, {
      mode: 'live',
      restoreId: planned.restore.id,
      confirmToken: planned.confirmToken,
      confirmedBy: 'alice',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', confirmedBy: 'alice', errorKind: null });
    expect(restored.counts).toEqual({ tables: { 'public.items': ROWS, 'public.notes': 3 } });
    expect(await fingerprint(live)).toBe(backedUp);
    const deployment = await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deploymentId } });
    expect(deployment.backupClaimToken).toBeNull();

    // Single use.
    await expect(
      restoreBackup(harness.deps, backupId, {
        mode: 'live',
        restoreId: planned.restore.id,
        confirmToken: planned.confirmToken,
        confirmedBy: 'alice',
      }),
    ).rejects.toMatchObject({ code: 'NOT_PROPOSED' });
  });

  it('refuses a wrong token, an expired token and a cancelled proposal without touching the data', async () => {
    await query(live, `INSERT INTO notes (body) VALUES ('must survive')`);
    const before = await fingerprint(live);
    const planned = await planLiveRestore(harness.deps, backupId, { requestedBy: 'cli', trigger: 'MANUAL', now });
    const confirm = (token: string) =>
      restoreBackup(harness.deps, backupId, {
        mode: 'live',
        restoreId: planned.restore.id,
        confirmToken: token,
        confirmedBy: 'mallory',
      });
    // The last character changed: to 'y' when it is 'x' (a random token ends in 'x' one time in 64, and then "changed
    // to 'x'" was the right token).
    const wrong = planned.confirmToken.slice(0, -1) + (planned.confirmToken.endsWith('x') ? 'y' : 'x');
    expect(wrong).not.toBe(planned.confirmToken);
    await expect(confirm(wrong)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(confirm('')).rejects.toBeInstanceOf(RestoreRefusedError);

    now = new Date(T0.getTime() + 16 * MINUTE);
    try {
      await expect(confirm(planned.confirmToken)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    } finally {
      now = T0;
    }
    expect(
      await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: planned.restore.id } }),
    ).toMatchObject({ status: 'CANCELLED', errorKind: 'Expired' });
    await expect(confirm(planned.confirmToken)).rejects.toMatchObject({ code: 'NOT_PROPOSED' });

    const second = await planLiveRestore(harness.deps, backupId, { requestedBy: 'cli', trigger: 'MANUAL', now });
    await cancelRestore(harness.deps, second.restore.id, { cancelledBy: 'bob', now });
    await expect(
      restoreBackup(harness.deps, backupId, {
        mode: 'live',
        restoreId: second.restore.id,
        confirmToken: second.confirmToken,
        confirmedBy: 'bob',
      }),
    ).rejects.toMatchObject({ code: 'NOT_PROPOSED' });
    expect(await fingerprint(live)).toBe(before);
  });

  it('approving a proposal issues a new token and retires the old one', async () => {
    const planned = await planLiveRestore(harness.deps, backupId, { requestedBy: 'cli', trigger: 'MANUAL', now });
    const approved = await approveRestore(harness.deps, planned.restore.id, { approvedBy: 'carol', now });
    expect(approved.confirmToken).not.toBe(planned.confirmToken);
    await expect(
      restoreBackup(harness.deps, backupId, {
        mode: 'live',
        restoreId: planned.restore.id,
        confirmToken: planned.confirmToken,
        confirmedBy: 'carol',
      }),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await cancelRestore(harness.deps, planned.restore.id, { cancelledBy: 'carol', now });
  });

  it('refuses a live restore while a backup holds the deployment, and leaves the proposal usable', async () => {
    const planned = await planLiveRestore(harness.deps, backupId, { requestedBy: 'cli', trigger: 'MANUAL', now });
    await harness.db.prisma.deployment.update({
      where: { id: deploymentId },
      data: { backupClaimToken: 'a-backup', backupClaimExpiresAt: new Date(T0.getTime() + MINUTE) },
    });
    try {
      await expect(
        restoreBackup(harness.deps, backupId, {
          mode: 'live',
          restoreId: planned.restore.id,
          confirmToken: planned.confirmToken,
          confirmedBy: 'dave',
        }),
      ).rejects.toMatchObject({ code: 'BUSY' });
      expect(
        (await harness.db.prisma.restoreRecord.findUniqueOrThrow({ where: { id: planned.restore.id } })).status,
      ).toBe('PROPOSED');
    } finally {
      await harness.db.prisma.deployment.update({
        where: { id: deploymentId },
        data: { backupClaimToken: null, backupClaimExpiresAt: null },
      });
    }
    await cancelRestore(harness.deps, planned.restore.id, { cancelledBy: 'dave', now });
  });

  it('refuses a tampered file before sending a byte', async () => {
    const execsBefore = harness.kube.execs.length;
    const backup = await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: backupId } });
    const tampered = await harness.db.prisma.backupRecord.create({
      data: {
        ...backup,
        id: undefined,
        sha256: backup.sha256,
        path: backup.path!.replace(/\.dump$/, '_8.dump'),
        startedAt: new Date(backup.startedAt.getTime() + 1),
      },
    });
    const { copyFile } = await import('node:fs/promises');
    await copyFile(backup.path!, tampered.path!);
    await copyFile(`${backup.path}.sha256`, `${tampered.path}.sha256`);
    await appendFile(tampered.path!, 'x');
    const record = await restoreBackup(harness.deps, tampered.id, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(record).toMatchObject({ status: 'FAILED', errorKind: 'ChecksumMismatch' });
    expect(record.error).toContain('does not match its record');
    // Refused before the cluster was contacted: no scratch database, nothing streamed.
    expect(harness.kube.execs.length).toBe(execsBefore);
    const alert = await harness.db.prisma.alert.findFirstOrThrow({
      where: { deploymentId, kind: 'restore_failed', resolvedAt: null },
    });
    expect(alert.message).toContain('ChecksumMismatch');
  });

  it('never writes a secret of the pod into records, alerts, logs or commands', async () => {
    const stored = JSON.stringify(
      [await harness.db.prisma.restoreRecord.findMany(), await harness.db.prisma.alert.findMany()],
      (_k, v) => (typeof v === 'bigint' ? String(v) : v),
    );
    expect(stored).not.toContain(SECRET);
    expect(harness.logs()).not.toContain(SECRET);
    expect(harness.kube.execs.every((exec) => !exec.argv.join(' ').includes(SECRET))).toBe(true);
  });
});
