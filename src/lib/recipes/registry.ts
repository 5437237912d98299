import { z } from 'zod';
import {
  mariadbImport,
  MONGO_PASSWORD_CONFIG,
  MONGO_TOOL_AUTH,
  mongodbImport,
  mysqlImport,
  postgresImport,
  redisImport,
} from './import-scripts.ts';
import { mysqlFamilyLiveTables, postgresLiveTables } from './live-table-scripts.ts';
import { recipeSchema, type Recipe } from './recipe.ts';

/**
 * The recipes the platform deploys, with their `dataExport`. This registry is the single source of truth for how
 * each engine is backed up; it is validated by `recipeSchema` when the module loads, so a malformed recipe fails
 * at start-up, not in the middle of the night.
 *
 * Each export command is a constant script; the values it needs come from the container's own environment. The
 * `dataImport` counterparts (restores) live in import-scripts.ts.
 */
/**
 * MySQL and MariaDB differ only in binary and variable names. `--single-transaction` gives a consistent InnoDB
 * snapshot without locking; `--databases` names the app database so the dump recreates it (never "all databases");
 * `--hex-blob` writes binary columns as hex, so the dump is plain text that survives any tool that treats it as such.
 */
function mysqlFamilyRecipe(options: {
  slug: string;
  name: string;
  dumpBinary: string;
  /** The command-line client, for counting the live tables. */
  client: string;
  envPrefix: string;
  dataImport: Recipe['dataImport'];
}): Recipe {
  const p = options.envPrefix;
  return {
    slug: options.slug,
    name: options.name,
    dataExport: {
      container: options.slug,
      command: [
        'sh',
        '-c',
        `MYSQL_PWD="\${${p}_PASSWORD:-\${${p}_ROOT_PASSWORD:-}}" exec ${options.dumpBinary} --single-transaction --quick --hex-blob ` +
          `--routines --triggers --events --user="\${${p}_USER:-root}" --databases "\${${p}_DATABASE:?${p}_DATABASE is not set}"`,
      ],
      format: 'mysql-sql',
      extension: 'sql',
      compressed: false,
      environment: [`${p}_USER`, `${p}_PASSWORD`, `${p}_ROOT_PASSWORD`, `${p}_DATABASE`],
      liveTables: mysqlFamilyLiveTables({ client: options.client, envPrefix: p }),
    },
    dataImport: options.dataImport,
  };
}

const BUILT_IN_RECIPES: Recipe[] = [
  {
    slug: 'postgresql',
    name: 'PostgreSQL',
    dataExport: {
      container: 'postgres',
      // Custom format: compressed, restorable with pg_restore (also selectively); named `.dump`, not `.sql`.
      command: [
        'sh',
        '-c',
        'exec pg_dump --format=custom --no-owner --no-acl --username="${POSTGRES_USER:-postgres}" ' +
          '--dbname="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"',
      ],
      format: 'postgres-custom',
      extension: 'dump',
      compressed: true,
      environment: ['POSTGRES_USER', 'POSTGRES_DB', 'PGPASSWORD'],
      liveTables: postgresLiveTables,
    },
    dataImport: postgresImport,
  },
  mysqlFamilyRecipe({
    slug: 'mariadb',
    name: 'MariaDB',
    dumpBinary: 'mariadb-dump',
    client: 'mariadb',
    envPrefix: 'MARIADB',
    dataImport: mariadbImport,
  }),
  mysqlFamilyRecipe({
    slug: 'mysql',
    name: 'MySQL',
    dumpBinary: 'mysqldump',
    client: 'mysql',
    envPrefix: 'MYSQL',
    dataImport: mysqlImport,
  }),
  {
    slug: 'redis',
    name: 'Redis',
    dataExport: {
      container: 'redis',
      // A full RDB snapshot made by the server itself (every key, every type). REDISCLI_AUTH keeps the password off
      // the command line; it is set only when there is one (an empty one still sends AUTH and fails). Not
      // `--rdb -`: redis-cli 7.0 appends the 40-byte replication EOF marker to stdout, corrupting the snapshot, so
      // it goes to a temporary file in the container first and is streamed from there.
      command: [
        'sh',
        '-c',
        'set -e; f=$(mktemp); trap \'rm -f "$f"\' EXIT; ' +
          'if [ -n "${REDIS_PASSWORD:-}" ]; then export REDISCLI_AUTH="$REDIS_PASSWORD"; fi; ' +
          'redis-cli --no-auth-warning --rdb "$f" >&2; cat "$f"',
      ],
      format: 'redis-rdb',
      extension: 'rdb',
      compressed: false,
      environment: ['REDIS_PASSWORD'],
    },
    dataImport: redisImport,
  },
  {
    slug: 'mongodb',
    name: 'MongoDB',
    dataExport: {
      container: 'mongodb',
      // The password reaches mongodump through a --config here-document, never its argv (see MONGO_TOOL_AUTH).
      command: ['sh', '-c', `exec mongodump --archive --gzip ${MONGO_TOOL_AUTH} ${MONGO_PASSWORD_CONFIG}`],
      format: 'mongo-archive',
      extension: 'archive.gz',
      compressed: true,
      environment: ['MONGO_INITDB_ROOT_USERNAME', 'MONGO_INITDB_ROOT_PASSWORD'],
    },
    dataImport: mongodbImport,
  },
  { slug: 'nginx', name: 'Nginx static site' },
];

export const recipes: ReadonlyMap<string, Recipe> = new Map(
  z
    .array(recipeSchema)
    .parse(BUILT_IN_RECIPES)
    .map((recipe) => [recipe.slug, recipe]),
);

/** The recipe with this slug, or undefined when the platform does not know it. */
export function findRecipe(slug: string): Recipe | undefined {
  return recipes.get(slug);
}
