import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  applyMigrations,
  diffCatalogs,
  readMigrations,
  renderSchemaSql,
  SCHEMA_PATH,
  snapshotCatalog,
  withPgConnection,
} from '../lib/db/index.ts';

/**
 * `npm run db:check-drift`: builds one scratch database from the migrations and one from schema.prisma on the server
 * named by DRIFT_ADMIN_URL (default: local PostgreSQL), compares them and exits 1 on any difference.
 */
const adminUrl = process.env.DRIFT_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function withScratchDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `drift_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

const migrations = await readMigrations();
const fromMigrations = await withScratchDatabase((url) =>
  withPgConnection(url, async (connection) => {
    await applyMigrations(connection, migrations);
    return snapshotCatalog(connection);
  }),
);
const fromSchema = await withScratchDatabase(async (url) => {
  const sql = await renderSchemaSql(SCHEMA_PATH, url);
  return withPgConnection(url, async (connection) => {
    await connection.exec(sql);
    return snapshotCatalog(connection);
  });
});
const { onlyInMigrations, onlyInSchema } = diffCatalogs(fromMigrations, fromSchema);
if (onlyInMigrations.length === 0 && onlyInSchema.length === 0) {
  process.stdout.write(
    `no drift: ${migrations.length} migration(s) produce schema.prisma (${fromSchema.length} catalog entries)\n`,
  );
} else {
  process.stdout.write('DRIFT between prisma/migrations and prisma/schema.prisma:\n');
  for (const line of onlyInMigrations) process.stdout.write(`  only in migrations: ${line}\n`);
  for (const line of onlyInSchema) process.stdout.write(`  only in schema.prisma: ${line}\n`);
  process.stdout.write('Write a migration for the schema change (see README, "Migrations").\n');
  process.exitCode = 1;
}
