import type { DataExport } from './recipe.ts';

/**
 * The `dataExport.liveTables` commands: each prints one line, the number of tables the export is about to dump, read
 * from the catalog alone (no table is scanned or locked, so it is cheap on any size of database). The format check
 * later counts the same kind of table in the dump file; a dump holding fewer is flagged suspicious. Credentials are
 * read inside the container, as by the export, and the database is the one the export names.
 */
type LiveTables = NonNullable<DataExport['liveTables']>;

/**
 * The tables whose rows pg_dump writes as a `TABLE DATA` entry: ordinary tables (partitions included; a partitioned
 * parent holds no rows of its own) outside the schemas pg_dump never dumps (`pg_*`, `information_schema`), and not
 * temporary. Tables that belong to an extension are left out: pg_dump recreates them with `CREATE EXTENSION` (it
 * writes the data of an extension's configuration tables all the same, so a dump may show more tables than this
 * count, never fewer).
 */
const PG_TABLE_COUNT_SQL =
  'SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ' +
  "WHERE c.relkind = 'r' AND c.relpersistence <> 't' " +
  "AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' " +
  'AND NOT EXISTS (SELECT 1 FROM pg_depend d ' +
  "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e');";

/** PostgreSQL: the database and user of the export command (`POSTGRES_DB`, `POSTGRES_USER`). */
export const postgresLiveTables: LiveTables = {
  command: [
    'sh',
    '-c',
    'set -eu; u="${POSTGRES_USER:-postgres}"; ' +
      `exec psql -X -q -A -t -v ON_ERROR_STOP=1 --username="$u" --dbname="\${POSTGRES_DB:-$u}" <<'SQL'\n` +
      `${PG_TABLE_COUNT_SQL}\nSQL\n`,
  ],
};

/**
 * MySQL and MariaDB: the tables (system-versioned ones included, a MariaDB table type) of the database the export
 * names with `--databases`; views and sequences are not tables in the dump either.
 */
export function mysqlFamilyLiveTables(options: { client: string; envPrefix: string }): LiveTables {
  const p = options.envPrefix;
  return {
    command: [
      'sh',
      '-c',
      `set -eu; export MYSQL_PWD="\${${p}_PASSWORD:-\${${p}_ROOT_PASSWORD:-}}"; ` +
        `exec ${options.client} --user="\${${p}_USER:-root}" --database="\${${p}_DATABASE:?${p}_DATABASE is not set}" ` +
        `--batch --skip-column-names <<'SQL'\n` +
        'SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() ' +
        "AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED');\nSQL\n",
    ],
  };
}
