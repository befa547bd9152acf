/**
 * Pushed-down checksums for PGlite: PGlite is PostgreSQL, so the checksum SQL is the PostgreSQL store's —
 * `postgresChecksum(schema)` (row hash `md5` → 64 bits, `sum` exact in `numeric`, `COLLATE "C"` key order).
 */
export { postgresChecksum } from '../postgres/checksum.js';
