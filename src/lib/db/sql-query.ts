import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import type { PrismaClient } from '../../generated/prisma/client.ts';

/** One SQL statement with its parameters; `name` makes it a prepared statement, parsed and planned once per connection. */
export interface SqlStatement {
  name: string;
  text: string;
  values: unknown[];
}

/**
 * Runs a statement on the platform database without Prisma: for a hot statement whose rows are used as PostgreSQL
 * writes them (e.g. a JSON text), where Prisma's per-query work and a new plan per call cost more than the statement.
 */
export type SqlQuery = <Row>(statement: SqlStatement) => Promise<Row[]>;

/** Over a node-postgres pool (the one Prisma's adapter uses): prepared by name on each pooled connection. */
export function poolQuery(pool: pg.Pool): SqlQuery {
  return async <Row>(statement: SqlStatement) =>
    (await pool.query({ name: statement.name, text: statement.text, values: statement.values })).rows as Row[];
}

/** Over the embedded PGlite instance (one connection). */
export function pgliteQuery(pglite: PGlite): SqlQuery {
  return async <Row>(statement: SqlStatement) => (await pglite.query<Row>(statement.text, statement.values)).rows;
}

/**
 * Through Prisma's raw queries (unprepared, rows mapped by Prisma): for a caller that holds only the Prisma client.
 * The same rows as {@link poolQuery} gives for the column types the statements here use (text, bool, int4, float8).
 */
export function prismaQuery(db: PrismaClient): SqlQuery {
  return async <Row>(statement: SqlStatement) => db.$queryRawUnsafe<Row[]>(statement.text, ...statement.values);
}
