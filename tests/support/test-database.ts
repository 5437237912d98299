import { inject } from 'vitest';
import { PrismaPg } from '@prisma/adapter-pg';
import { createPgPool } from '../../src/lib/db/pg-pool.ts';
import { poolQuery, type SqlQuery } from '../../src/lib/db/index.ts';
import { PrismaClient } from '../../src/generated/prisma/client.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from './postgres.ts';

/** A migrated database of one's own on the real local PostgreSQL, with a Prisma client connected to it. */
export interface TestDatabase {
  name: string;
  url: string;
  prisma: PrismaClient;
  /** Statements run without Prisma, on the same pool (as `Database.query`). */
  query: SqlQuery;
  /** Disconnects and drops the database (kept when KEEP_TEST_DATABASES=1, to inspect after a failure). */
  drop(): Promise<void>;
}

/** Clones the migrated template built by the global setup. Call in `beforeAll`, drop in `afterAll`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = await createDatabase(uniqueDatabaseName('ops_test'), inject('templateDatabase'));
  const url = databaseUrl(name);
  // Tests that restart or cut the database close the pool's idle connections: expected, not an unhandled error.
  const pool = createPgPool(url, () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    name,
    url,
    prisma,
    query: poolQuery(pool),
    async drop() {
      await prisma.$disconnect();
      await pool.end();
      if (process.env.KEEP_TEST_DATABASES !== '1') await dropDatabase(name);
    },
  };
}
