/** PGlite is PostgreSQL: the same sequence advance (`pg_depend`, identity columns, `setval`). */
export { advanceSequencesPg } from '../postgres/sequences.js';
