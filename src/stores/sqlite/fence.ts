/**
 * The write fence's read on SQLite (src/cutover/fence.ts, docs/cutover.md "Fence"): no lock clause — the dual
 * writer's transaction is `BEGIN IMMEDIATE`, which holds the database's one write lock from its start, so the
 * cutover's `UPDATE` of the fence row runs either before the write's transaction (which then reads the closed
 * row) or after it committed.
 * @internal
 */
export const sqliteFenceShareLock = '';
