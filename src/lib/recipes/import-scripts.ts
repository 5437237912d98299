import type { DataImport } from './recipe.ts';

/**
 * The `dataImport` of each engine: constant shell scripts run with `sh -c SCRIPT sh [TARGET]`. The only value they
 * receive from the platform is the target database name as `$1`, already validated by the worker and checked again
 * here (`check_target`) before any use, so a script never runs with a name it did not expect. Credentials are read
 * from the container's own environment, as by the export.
 *
 * Count lines are tab-separated: `database<TAB>name`, then `table<TAB>name<TAB>rows` or `keys<TAB>db0<TAB>keys`.
 */

/** `sh -c` wants a name for `$0`; the target follows it as `$1`. */
function shell(script: string): string[] {
  return ['sh', '-c', script, 'sh'];
}

/** Refuses any `$1` that is not a plain lowercase identifier (defence in depth: the worker validated it already). */
const CHECK_TARGET =
  't="${1:-}"; case "$t" in [a-z_]*) ;; *) echo "invalid target name" >&2; exit 64;; esac; ' +
  'case "$t" in *[!a-z0-9_]*) echo "invalid target name" >&2; exit 64;; esac; ' +
  '[ "${#t}" -le 63 ] || { echo "invalid target name" >&2; exit 64; }; ';

/** The count scripts take an optional target: absent means the live database. */
const TARGET_OR_LIVE =
  'if [ -n "${1:-}" ]; then ' + CHECK_TARGET + 'db="$t"; else db="$live"; fi; ' + 'printf \'database\\t%s\\n\' "$db"; ';

// PostgreSQL ---------------------------------------------------------------------------------------------------------

const PG_PRELUDE = 'set -eu; u="${POSTGRES_USER:-postgres}"; live="${POSTGRES_DB:-$u}"; ';
/** Exact row counts of every ordinary table (`query_to_xml` runs one `count(*)` per table inside one statement). */
const PG_COUNT_SQL =
  "SELECT 'table', n.nspname || '.' || c.relname, " +
  "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text " +
  'FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ' +
  "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 2;";
const PSQL = 'psql -X -q -v ON_ERROR_STOP=1 --username="$u"';

/**
 * Custom-format dumps go through pg_restore in one transaction that stops at the first error: a failed restore
 * leaves the database as it was. The live restore drops (`--clean --if-exists`) and recreates every object the dump
 * holds; objects created after the backup are left alone. The scratch database is created empty first.
 */
export const postgresImport: DataImport = {
  container: 'postgres',
  format: 'postgres-custom',
  environment: ['POSTGRES_USER', 'POSTGRES_DB', 'PGPASSWORD'],
  counts: 'tables',
  live: shell(
    PG_PRELUDE +
      'exec pg_restore --single-transaction --exit-on-error --no-owner --no-acl --clean --if-exists --username="$u" --dbname="$live"',
  ),
  count: shell(
    PG_PRELUDE + TARGET_OR_LIVE + `${PSQL} -A -t -F "$(printf '\\t')" --dbname="$db" <<'SQL'\n${PG_COUNT_SQL}\nSQL\n`,
  ),
  scratch: {
    create: shell(
      PG_PRELUDE + CHECK_TARGET + `printf 'CREATE DATABASE :"target";\\n' | ${PSQL} -v target="$t" --dbname="$live"`,
    ),
    import: shell(
      PG_PRELUDE +
        CHECK_TARGET +
        'exec pg_restore --single-transaction --exit-on-error --no-owner --no-acl --username="$u" --dbname="$t"',
    ),
    drop: shell(
      PG_PRELUDE +
        CHECK_TARGET +
        `printf 'DROP DATABASE IF EXISTS :"target" WITH (FORCE);\\n' | ${PSQL} -v target="$t" --dbname="$live"`,
    ),
    printsCounts: false,
  },
};

// MySQL and MariaDB --------------------------------------------------------------------------------------------------

/**
 * The dump was made with `--databases`, so it names the original database (`CREATE DATABASE`, `USE`, and `ALTER
 * DATABASE` around routines). Those lines are removed, and the client is pointed at the target with `--database`,
 * so the same file restores over the live database or into a scratch one. mysqldump writes each statement of data on
 * one line (newlines inside values are escaped), so a line starting with these words is always such a statement.
 * The client stops at the first error (it runs without `--force`) and exits non-zero; the pipeline's status is the
 * client's, and sed only fails on I/O errors, which also cut the client's input.
 */
function mysqlFamilyImport(options: { container: string; client: string; envPrefix: string }): DataImport {
  const p = options.envPrefix;
  const client = `${options.client} --user="$u"`;
  // The scratch steps create and drop databases: root when its password is known, else the export's user.
  const prelude =
    `set -eu; export MYSQL_PWD="\${${p}_PASSWORD:-\${${p}_ROOT_PASSWORD:-}}"; u="\${${p}_USER:-root}"; ` +
    `live="\${${p}_DATABASE:?${p}_DATABASE is not set}"; `;
  const asAdmin = `if [ -n "\${${p}_ROOT_PASSWORD:-}" ]; then export MYSQL_PWD="$${p}_ROOT_PASSWORD"; u=root; fi; `;
  const strip = "sed -e '/^CREATE DATABASE /d' -e '/^USE /d' -e '/^ALTER DATABASE /d'";
  const countSql =
    'SET SESSION group_concat_max_len = 1073741824;\n' +
    "SELECT GROUP_CONCAT(CONCAT('SELECT ''table'', ', QUOTE(table_name), ', COUNT(*) FROM `', REPLACE(table_name, '`', '``'), '`') " +
    "ORDER BY table_name SEPARATOR ' UNION ALL ') FROM information_schema.tables " +
    "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE';";
  return {
    container: options.container,
    format: 'mysql-sql',
    environment: [`${p}_USER`, `${p}_PASSWORD`, `${p}_ROOT_PASSWORD`, `${p}_DATABASE`],
    counts: 'tables',
    live: shell(prelude + `${strip} | ${client} --database="$live"`),
    count: shell(
      prelude +
        TARGET_OR_LIVE +
        `q=$(${client} --database="$db" -N -B -r <<'SQL'\n${countSql}\nSQL\n); ` +
        `if [ -n "$q" ] && [ "$q" != NULL ]; then printf '%s;\\n' "$q" | ${client} --database="$db" -N -B; fi`,
    ),
    scratch: {
      create: shell(prelude + CHECK_TARGET + asAdmin + `printf 'CREATE DATABASE \`%s\`;\\n' "$t" | ${client}`),
      import: shell(prelude + CHECK_TARGET + asAdmin + `${strip} | ${client} --database="$t"`),
      drop: shell(prelude + CHECK_TARGET + asAdmin + `printf 'DROP DATABASE IF EXISTS \`%s\`;\\n' "$t" | ${client}`),
      printsCounts: false,
    },
  };
}

export const mariadbImport = mysqlFamilyImport({ container: 'mariadb', client: 'mariadb', envPrefix: 'MARIADB' });
export const mysqlImport = mysqlFamilyImport({ container: 'mysql', client: 'mysql', envPrefix: 'MYSQL' });

// Redis --------------------------------------------------------------------------------------------------------------

/**
 * A temporary redis-server in the container loads the RDB from a private folder. `live_cli` talks to the live server
 * (with its password, when it has one), `temp_cli` to the temporary one over its unix socket. The trap stops the
 * temporary server, removes the folder and, if the live server was left replicating, detaches it.
 */
const REDIS_PRELUDE =
  'set -eu; unset REDISCLI_AUTH; ' +
  'live_cli() { if [ -n "${REDIS_PASSWORD:-}" ]; then REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning "$@"; else redis-cli "$@"; fi; }; ' +
  'd=$(mktemp -d); pid=""; replicating=0; ' +
  'temp_cli() { redis-cli -s "$d/redis.sock" "$@"; }; ' +
  'cleanup() { if [ "$replicating" = 1 ]; then live_cli REPLICAOF NO ONE >/dev/null 2>&1 || true; fi; ' +
  'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$d"; }; ' +
  'trap cleanup EXIT; ' +
  // $1: TCP port on 127.0.0.1, or 0 for the unix socket only. Waits until the RDB is loaded (PING answers PONG).
  'start_temp() { rm -f "$d/redis.log"; redis-server --port "$1" --bind 127.0.0.1 --unixsocket "$d/redis.sock" --dir "$d" ' +
  '--dbfilename dump.rdb --save \'\' --appendonly no --repl-diskless-sync-delay 0 --logfile "$d/redis.log" & pid=$!; ' +
  'while :; do if ! kill -0 "$pid" 2>/dev/null; then pid=""; cat "$d/redis.log" >&2 || true; return 1; fi; ' +
  '[ "$(temp_cli PING 2>/dev/null || true)" = PONG ] && return 0; sleep 0.2; done; }; ' +
  "key_lines() { tr -d '\\r' | awk -F'[:=,]' '/^db[0-9]+:keys=/ { printf \"keys\\t%s\\t%s\\n\", $1, $3 }'; }; ";

/**
 * Redis has one dataset per server, so the scratch target is a temporary server that loads the RDB, is counted and
 * stopped (`printsCounts`: nothing outlives the import). The live restore makes the live server a replica of a
 * temporary server holding the backup: a full resynchronisation replaces the whole dataset (every key, type and TTL,
 * as Redis itself copies it), the live server refuses writes meanwhile, and once the link is up and the key counts
 * per database match, `REPLICAOF NO ONE` makes it a primary again. A live server that is itself a replica is refused.
 */
export const redisImport: DataImport = {
  container: 'redis',
  format: 'redis-rdb',
  environment: ['REDIS_PASSWORD'],
  counts: 'keys',
  live: shell(
    REDIS_PRELUDE +
      "role=$(live_cli INFO replication | tr -d '\\r' | sed -n 's/^role://p'); " +
      '[ "$role" = master ] || { echo "the live server is not a primary (role: ${role:-unknown}): restore into the primary" >&2; exit 1; }; ' +
      'cat > "$d/dump.rdb"; ' +
      'n=0; while :; do port=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d \' \') % 16384 + 49152 )); start_temp "$port" && break; ' +
      'n=$((n + 1)); [ "$n" -lt 5 ] || { echo "could not start the temporary redis-server" >&2; exit 1; }; done; ' +
      'want=$(temp_cli INFO keyspace | key_lines); ' +
      'replicating=1; answer=$(live_cli REPLICAOF 127.0.0.1 "$port"); ' +
      '[ "$answer" = OK ] || { echo "REPLICAOF refused: $answer" >&2; exit 1; }; ' +
      "while :; do info=$(live_cli INFO replication | tr -d '\\r'); " +
      'case "$info" in *master_link_status:up*) case "$info" in *master_sync_in_progress:0*) break;; esac;; esac; ' +
      'kill -0 "$pid" 2>/dev/null || { echo "the temporary redis-server stopped during the sync" >&2; exit 1; }; sleep 0.2; done; ' +
      'got=$(live_cli INFO keyspace | key_lines); ' +
      '[ "$got" = "$want" ] || { echo "key counts differ after the sync: expected [$want], got [$got]" >&2; exit 1; }; ' +
      'answer=$(live_cli REPLICAOF NO ONE); [ "$answer" = OK ] || { echo "REPLICAOF NO ONE failed: $answer" >&2; exit 1; }; replicating=0',
  ),
  count: shell(
    'set -eu; [ -z "${1:-}" ] || { echo "redis has no named scratch databases to count" >&2; exit 64; }; ' +
      "printf 'database\\tredis\\n'; " +
      'if [ -n "${REDIS_PASSWORD:-}" ]; then export REDISCLI_AUTH="$REDIS_PASSWORD"; fi; ' +
      "redis-cli --no-auth-warning INFO keyspace | tr -d '\\r' | awk -F'[:=,]' '/^db[0-9]+:keys=/ { printf \"keys\\t%s\\t%s\\n\", $1, $3 }'",
  ),
  scratch: {
    import: shell(
      REDIS_PRELUDE +
        CHECK_TARGET +
        'cat > "$d/dump.rdb"; start_temp 0; ' +
        'printf \'database\\t%s\\n\' "$t"; temp_cli INFO keyspace | key_lines',
    ),
    printsCounts: true,
  },
};

// MongoDB ------------------------------------------------------------------------------------------------------------

/**
 * How the MongoDB tools authenticate without the password on any command line inside the pod (where `ps` shows it):
 * `mongodump` and `mongorestore` read it from a YAML `--config` file, here a here-document on file descriptor 3 that
 * the shell fills in from the container's environment (a literal block scalar, so quotes and backslashes in the
 * password need no escaping); `mongosh` reads it from its own `process.env`. Append {@link MONGO_PASSWORD_CONFIG} at
 * the end of the command line that uses {@link MONGO_TOOL_AUTH}.
 */
export const MONGO_TOOL_AUTH =
  '--username="${MONGO_INITDB_ROOT_USERNAME:-}" --config=/dev/fd/3 --authenticationDatabase=admin';
export const MONGO_PASSWORD_CONFIG =
  '3<<MONGO_CONFIG\npassword: |2-\n  ${MONGO_INITDB_ROOT_PASSWORD:-}\nMONGO_CONFIG\n';
const MONGOSH_AUTH =
  'db.getSiblingDB("admin").auth(process.env.MONGO_INITDB_ROOT_USERNAME || "", process.env.MONGO_INITDB_ROOT_PASSWORD || ""); ';

/**
 * Not exercised by the test suite (no MongoDB on the test machines). The live restore drops each collection in the
 * archive before restoring it; there is no scratch restore (the archive holds every database under its own name).
 */
export const mongodbImport: DataImport = {
  container: 'mongodb',
  format: 'mongo-archive',
  environment: ['MONGO_INITDB_ROOT_USERNAME', 'MONGO_INITDB_ROOT_PASSWORD'],
  counts: 'tables',
  live: shell(`exec mongorestore --archive --gzip --drop ${MONGO_TOOL_AUTH} ${MONGO_PASSWORD_CONFIG}`),
  count: shell(
    'set -eu; [ -z "${1:-}" ] || { echo "mongodb has no scratch databases to count" >&2; exit 64; }; ' +
      "printf 'database\\tall\\n'; " +
      'exec mongosh --quiet --norc --eval ' +
      `'${MONGOSH_AUTH}` +
      'db.getMongo().getDBNames().filter((n) => !["admin", "local", "config"].includes(n)).forEach((n) => { ' +
      'const d = db.getSiblingDB(n); d.getCollectionNames().forEach((c) => print("table\\t" + n + "." + c + "\\t" + d.getCollection(c).countDocuments({}))); })\'',
  ),
};
