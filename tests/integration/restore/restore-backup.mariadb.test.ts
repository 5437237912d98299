import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { planLiveRestore, restoreBackup } from '../../../src/lib/restore/restore-backup.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { mariadb } from '../../support/engines.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

/**
 * MariaDB restores with the real client through the fake cluster. The dump names its database (`--databases`), so
 * the scratch restore proves the CREATE DATABASE / USE lines are stripped: the data lands in the scratch database
 * and the live one is not touched; then the changed live database is restored after plan → confirm.
 */
const ROWS = 1_200;
let harness: BackupHarness;
let database: string;
let backupId: string;

const fingerprint = (db: string) =>
  mariadb(
    `SELECT COUNT(*), MD5(GROUP_CONCAT(id, ':', name, ':', HEX(payload) ORDER BY id SEPARATOR ',')), (SELECT COUNT(*) FROM notes) FROM items`,
    db,
  );

beforeAll(async () => {
  harness = await startBackupHarness();
  database = `ops_test_maria_${randomBytes(4).toString('hex')}`;
  await mariadb(`CREATE DATABASE ${database}`);
  await mariadb(
    'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, payload VARBINARY(32) NOT NULL) ENGINE=InnoDB',
    database,
  );
  await mariadb(`INSERT INTO items SELECT seq, CONCAT('item ', seq), UNHEX(MD5(seq)) FROM seq_1_to_${ROWS}`, database);
  await mariadb(`CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT)`, database);
  await mariadb(`INSERT INTO notes (body) VALUES ('first\\nline'), ('USE \`other\`;'), ('third')`, database);
  const workspace = await createWorkspace(harness.db.prisma);
  harness.kube.pods.push(
    podFor('maria-restore', 'mariadb', { MARIADB_USER: 'root', MARIADB_DATABASE: database, MARIADB_ROOT_PASSWORD: '' }),
  );
  const deployment = await createDeployment(harness.db.prisma, workspace.id, {
    name: 'maria-restore',
    recipeSlug: 'mariadb',
  });
  const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
  expect(outcome.record.extension).toBe('sql.zst');
  backupId = outcome.record.id;
});

afterAll(async () => {
  await harness.close();
  await mariadb(`DROP DATABASE IF EXISTS ${database}`);
});

describe('MariaDB restore', () => {
  it('restores into a scratch database (not the one the dump names), counts it and drops it', async () => {
    const liveBefore = await fingerprint(database);
    const record = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
      keepScratch: true,
    });
    try {
      expect(record).toMatchObject({ status: 'SUCCEEDED', errorKind: null });
      expect(record.counts).toEqual({ tables: { items: ROWS, notes: 3 } });
      expect(await fingerprint(record.target)).toBe(liveBefore);
      expect(await mariadb(`SELECT body FROM notes WHERE id = 2`, record.target)).toBe('USE `other`;');
    } finally {
      await mariadb(`DROP DATABASE IF EXISTS ${record.target}`);
    }
    const dropped = await restoreBackup(harness.deps, backupId, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(dropped.status).toBe('SUCCEEDED');
    expect(await mariadb(`SHOW DATABASES LIKE '${dropped.target}'`)).toBe('');
    expect(await fingerprint(database)).toBe(liveBefore);
  });

  it('restores the live database to the backed-up data after plan and confirmation', async () => {
    const backedUp = await fingerprint(database);
    await mariadb(`DELETE FROM items WHERE id > 600`, database);
    await mariadb(`UPDATE items SET name = 'changed' WHERE id < 5`, database);
    await mariadb(`INSERT INTO notes (body) VALUES ('after the backup')`, database);
    expect(await fingerprint(database)).not.toBe(backedUp);

    const planned = await planLiveRestore(harness.deps, backupId, {
      requestedBy: 'cli',
      trigger: 'MANUAL',
      now: new Date(),
    });
    expect(planned.restore.target).toBe(database);
    expect(planned.plan).toContain('items: 600 rows');
    expect(planned.plan).toContain('notes: 4 rows');
    const restored = await restoreBackup(harness.deps, backupId, {
      mode: 'live',
      restoreId: planned.restore.id,
      confirmToken: planned.confirmToken,
      confirmedBy: 'alice',
    });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', errorKind: null });
    expect(restored.counts).toEqual({ tables: { items: ROWS, notes: 3 } });
    expect(await fingerprint(database)).toBe(backedUp);
  });
});
