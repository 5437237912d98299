import { createHash } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { withPgConnection } from '../../src/lib/db/database.ts';
import { applyMigrations, readMigrations } from '../../src/lib/db/migrations.ts';
import { adminQuery, createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

/**
 * Builds the migrated template database once per set of migrations (its name carries their checksum, so a changed
 * migration gets a new template). It is built under a temporary name and renamed when complete, so concurrent runs
 * never clone a half-migrated template.
 */
export default async function setup(project: TestProject): Promise<void> {
  const migrations = await readMigrations();
  const digest = createHash('sha256')
    .update(migrations.map((m) => `${m.name}:${m.checksum}`).join('\n'))
    .digest('hex');
  const template = `ops_test_template_${digest.slice(0, 16)}`;
  const existing = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
  if (existing.rowCount === 0) {
    const building = await createDatabase(uniqueDatabaseName('ops_test_building'));
    try {
      await withPgConnection(databaseUrl(building), (connection) => applyMigrations(connection, migrations));
      await adminQuery(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
    } catch (error) {
      await dropDatabase(building);
      const raced = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (raced.rowCount === 0) throw error;
    }
  }
  project.provide('templateDatabase', template);
}
