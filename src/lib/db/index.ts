export { type Database, type DatabaseConnection, openDatabase, withPgConnection } from './database.ts';
export { applyMigrations, readMigrations } from './migrations.ts';
export { diffCatalogs, renderSchemaSql, SCHEMA_PATH, snapshotCatalog } from './schema-drift.ts';
