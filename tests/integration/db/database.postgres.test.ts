import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../../src/lib/db/database.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { adminQuery, createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

// The platform database on a PostgreSQL server whose connections are cut (a restart, a failover, an administrator's
// pg_terminate_backend): the pool's idle connections close under it, which must be a warning, not a crashed worker.

let name: string;
let database: Database;
const lines: string[] = [];

beforeAll(async () => {
  name = await createDatabase(uniqueDatabaseName('ops_db_cut'));
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  database = await openDatabase({
    databaseUrl: databaseUrl(name),
    embeddedDir: '/nonexistent',
    logger: createLogger({ level: 'warn', destination }),
  });
});
afterAll(async () => {
  await database?.close();
  if (name) await dropDatabase(name);
});

describe('the platform database when the server closes its connections', () => {
  it('logs each idle connection it loses and answers the next query on a new one', async () => {
    // Several connections in the pool, all idle afterwards.
    await Promise.all(
      [1, 2, 3].map((value) => database.query({ name: `cut_${value}`, text: 'SELECT pg_sleep(0.05)', values: [] })),
    );
    await database.prisma.$queryRaw`SELECT 1`;

    const { rows } = await adminQuery(
      'SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (let waited = 0; waited < 5_000 && !lines.some((line) => line.includes('closed by the server')); waited += 50)
      await sleep(50);

    expect(lines.some((line) => line.includes('an idle database connection was closed by the server'))).toBe(true);
    expect(await database.prisma.$queryRaw<Array<{ one: number }>>`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    expect(await database.query<{ two: number }>({ name: 'two', text: 'SELECT 2 AS two', values: [] })).toEqual([
      { two: 2 },
    ]);
  });
});
