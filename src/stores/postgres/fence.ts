/**
 * The write fence's read on PostgreSQL and PGlite (src/cutover/fence.ts, docs/cutover.md "Fence"): the dual
 * writer's `SELECT … FROM tandem.fence` takes a shared row lock, held until its transaction ends, so the
 * cutover's `UPDATE` of the row (closing the fence) waits for every write already past it and every later write
 * reads the closed row.
 * @internal
 */
export const pgFenceShareLock = ' FOR SHARE';
