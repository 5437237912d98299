import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { executeBackup } from '../../src/lib/backups/backup.ts';
import type { BackupRecord } from '../../src/generated/prisma/client.ts';
import { podFor, type BackupHarness } from './backup-harness.ts';
import { createDeployment } from './factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from './postgres.ts';

/**
 * A real PostgreSQL backup for off-site tests: a source database holding `randomMiB` of random (incompressible)
 * bytes, dumped by the real pg_dump through the fake cluster into the harness's backup root. Returns the SUCCEEDED
 * record; the source database is dropped again.
 */
export async function makePostgresBackup(
  harness: BackupHarness,
  workspaceId: string,
  name: string,
  options: { randomMiB: number },
): Promise<BackupRecord> {
  const source = await createDatabase(uniqueDatabaseName('ops_test_offsite'));
  try {
    const client = new pg.Client({ connectionString: databaseUrl(source) });
    await client.connect();
    await client.query('CREATE TABLE blobs (id int PRIMARY KEY, payload bytea NOT NULL)');
    // Random bytes, 256 KiB a row: pg_dump's compression cannot shrink them.
    for (let row = 1; row <= options.randomMiB * 4; row += 1) {
      await client.query('INSERT INTO blobs VALUES ($1, $2)', [row, randomBytes(256 * 1024)]);
    }
    await client.end();
    if (!harness.kube.pods.some((pod) => pod.name === `${name}-0`)) {
      harness.kube.pods.push(
        podFor(name, 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source }),
      );
    } else {
      const pod = harness.kube.pods.find((candidate) => candidate.name === `${name}-0`)!;
      pod.containers[0]!.env = { ...pod.containers[0]!.env, POSTGRES_DB: source };
    }
    const deployment =
      (await harness.db.prisma.deployment.findFirst({ where: { workspaceId, name } })) ??
      (await createDeployment(harness.db.prisma, workspaceId, { name, recipeSlug: 'postgresql' }));
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    if (outcome.status !== 'SUCCEEDED') throw new Error(`test backup of ${name} did not succeed: ${outcome.status}`);
    return outcome.record;
  } finally {
    await dropDatabase(source);
  }
}
