import type { Migration } from '../runtime/migration.js';
import type { ReadOnlyChange } from '../stores/types.js';
import { sideTables, unsupported } from './sides.js';

/**
 * Makes the legacy tables of the migration's entities refuse writes in the database itself (`on`), or undoes it
 * (`!on`): triggers under Tandem-owned names (`Store.setReadOnly`, src/stores/<dialect>/read-only.ts) that
 * raise an error of kind `read_only` — PostgreSQL/PGlite SQLSTATE 25006, MySQL/MariaDB `SIGNAL SQLSTATE '45000'`,
 * SQLite `RAISE(ABORT, …)` — with the message `tandem read-only: table <name> refuses writes (set by Tandem)`.
 * Reads keep working. Undo drops only the triggers Tandem created. Idempotent. The cutover calls it on entering
 * `legacy_read_only` and on rollback; it does not change the phase.
 *
 * Throws `TANDEM_ERR_LEGACY_WRITE_REFUSED` when turning it on before write cutover (the legacy store is still
 * the primary), `TANDEM_ERR_PREPARE_CONFLICT` when a table holds a trigger of Tandem's name that Tandem did not
 * create, `TANDEM_ERR_STORE_UNSUPPORTED` for a store adapter without the capability, `TANDEM_ERR_TABLE_NOT_FOUND`.
 */
export async function setLegacyReadOnly(m: Migration, on: boolean): Promise<ReadOnlyChange[]> {
  const store = m.stores.legacy;
  if (!store.setReadOnly) throw unsupported(store, 'make tables read-only');
  return store.setReadOnly(sideTables(m, 'legacy'), on);
}

/** The legacy tables of the entities on which Tandem's read-only triggers are in place. Reads only. */
export async function legacyReadOnlyTables(m: Migration): Promise<string[]> {
  const store = m.stores.legacy;
  if (!store.readOnlyTables) throw unsupported(store, 'tell read-only tables');
  return store.readOnlyTables(sideTables(m, 'legacy'));
}
