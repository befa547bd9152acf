/** PGlite is PostgreSQL: the same `tandem prepare` SQL. */
export { postgresPrepare } from '../postgres/prepare.js';
