/** PGlite is PostgreSQL: the same read-only trigger (SQLSTATE 25006). */
export { readOnlyTablesPg, setReadOnlyPg } from '../postgres/read-only.js';
