import { introspectPostgres } from '../postgres/introspect.js';
import type { Executor, SchemaInfo } from '../types.js';

/**
 * The schema whose tables a PGlite store introspects and reads (`pglite:` URLs carry no `?schema=`).
 * @internal
 */
export const PGLITE_SCHEMA = 'public';

/**
 * Reads tables, columns, keys and foreign keys of the `public` schema of a PGlite database from `pg_catalog`
 * (the PostgreSQL store's introspection; see `introspectPostgres`). Rejects with `TANDEM_ERR_STORE_QUERY`.
 * @internal
 */
export function introspectPglite(db: Executor): Promise<SchemaInfo> {
  return introspectPostgres(db, PGLITE_SCHEMA);
}
