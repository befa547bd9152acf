/**
 * SQL builders for PGlite: PGlite is PostgreSQL, so the SQL is the PostgreSQL store's — `postgresSql(schema)`
 * (row-value keyset reads, `COLLATE "C"` for byte order, `unnest` bulk upserts) and `pgAdvanceLedger`.
 */
export { pgAdvanceLedger, pgIdent, postgresCapabilities, postgresSql } from '../postgres/sql.js';
