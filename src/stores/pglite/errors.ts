/** PGlite raises PostgreSQL's SQLSTATEs: the same classification. */
export { classifyPgError } from '../postgres/errors.js';
