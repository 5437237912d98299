import pg from 'pg';

/**
 * A node-postgres pool that survives the server closing its idle connections (a restart, a failover,
 * `pg_terminate_backend`): each such close is an 'error' event of the pool, which crashes the process unless something
 * listens for the pool's whole life (Prisma's adapter listens only while it is connected). `onIdleError` hears of each;
 * the pool drops that connection and opens another for the next query.
 */
export function createPgPool(connectionString: string, onIdleError: (error: Error) => void): pg.Pool {
  const pool = new pg.Pool({ connectionString });
  pool.on('error', onIdleError);
  return pool;
}
