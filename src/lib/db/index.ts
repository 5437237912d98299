export { type Database, type DatabaseConnection, openDatabase, withPgConnection } from './database.ts';
export { applyMigrations, readMigrations } from './migrations.ts';
export { poolQuery, prismaQuery, type SqlQuery, type SqlStatement } from './sql-query.ts';
export {
  diffCatalogs,
  PARTIAL_INDEXES_PATH,
  renderSchemaSql,
  SCHEMA_PATH,
  snapshotCatalog,
  TRIGGERS_PATH,
} from './schema-drift.ts';
