/**
 * The write fence's read on MySQL/MariaDB (src/cutover/fence.ts, docs/cutover.md "Fence"): `LOCK IN SHARE MODE`
 * (both servers; MySQL 8 also spells it `FOR SHARE`) takes a shared InnoDB row lock until the transaction ends,
 * and a locking read sees the newest committed row whatever the isolation level, so the cutover's `UPDATE` of
 * the row waits for every write already past it and every later write reads the closed row.
 * @internal
 */
export const mysqlFenceShareLock = ' LOCK IN SHARE MODE';
