import { z } from 'zod';
import { recipeSchema, type Recipe } from './recipe.ts';

/**
 * The recipes the platform deploys, with their `dataExport`. This registry is the single source of truth for how
 * each engine is backed up; it is validated by `recipeSchema` when the module loads, so a malformed recipe fails
 * at start-up, not in the middle of the night.
 *
 * Each export command is a constant script; the values it needs come from the container's own environment.
 */
/**
 * MySQL and MariaDB differ only in binary and variable names. `--single-transaction` gives a consistent InnoDB
 * snapshot without locking; `--databases` names the app database so the dump recreates it (never "all databases").
 */
function mysqlFamilyRecipe(options: { slug: string; name: string; dumpBinary: string; envPrefix: string }): Recipe {
  const p = options.envPrefix;
  return {
    slug: options.slug,
    name: options.name,
    dataExport: {
      container: options.slug,
      command: [
        'sh',
        '-c',
        `MYSQL_PWD="\${${p}_PASSWORD:-\${${p}_ROOT_PASSWORD:-}}" exec ${options.dumpBinary} --single-transaction --quick ` +
          `--routines --triggers --events --user="\${${p}_USER:-root}" --databases "\${${p}_DATABASE:?${p}_DATABASE is not set}"`,
      ],
      format: 'mysql-sql',
      extension: 'sql',
      compressed: false,
      environment: [`${p}_USER`, `${p}_PASSWORD`, `${p}_ROOT_PASSWORD`, `${p}_DATABASE`],
    },
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
    },
  },
  mysqlFamilyRecipe({ slug: 'mariadb', name: 'MariaDB', dumpBinary: 'mariadb-dump', envPrefix: 'MARIADB' }),
  mysqlFamilyRecipe({ slug: 'mysql', name: 'MySQL', dumpBinary: 'mysqldump', envPrefix: 'MYSQL' }),
  {
    slug: 'redis',
    name: 'Redis',
    dataExport: {
      container: 'redis',
      // A full RDB snapshot streamed by the server itself (every key, every type); REDISCLI_AUTH keeps the
      // password off the command line.
      command: ['sh', '-c', 'REDISCLI_AUTH="${REDIS_PASSWORD:-}" exec redis-cli --no-auth-warning --rdb -'],
      format: 'redis-rdb',
      extension: 'rdb',
      compressed: false,
      environment: ['REDIS_PASSWORD'],
    },
  },
  {
    slug: 'mongodb',
    name: 'MongoDB',
    dataExport: {
      container: 'mongodb',
      command: [
        'sh',
        '-c',
        'exec mongodump --archive --gzip --username="${MONGO_INITDB_ROOT_USERNAME:-}" ' +
          '--password="${MONGO_INITDB_ROOT_PASSWORD:-}" --authenticationDatabase=admin',
      ],
      format: 'mongo-archive',
      extension: 'archive.gz',
      compressed: true,
      environment: ['MONGO_INITDB_ROOT_USERNAME', 'MONGO_INITDB_ROOT_PASSWORD'],
    },
  },
  { slug: 'nginx', name: 'Nginx static site' },
];

export const recipes: ReadonlyMap<string, Recipe> = new Map(
  z.array(recipeSchema).parse(BUILT_IN_RECIPES).map((recipe) => [recipe.slug, recipe]),
);

/** The recipe with this slug, or undefined when the platform does not know it. */
export function findRecipe(slug: string): Recipe | undefined {
  return recipes.get(slug);
}
