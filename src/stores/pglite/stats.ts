/** PGlite is PostgreSQL: the same statistics (`pg_class.reltuples`, `pg_total_relation_size`, `pg_trigger`). */
export { tableStatsPg } from '../postgres/stats.js';
