/**
 * `apply.userTriggers` (docs/mapping.md "Target triggers"): how Tandem's writes to the new store meet the
 * triggers the application keeps on its tables. `fire` (default) leaves them on — Tandem's upserts write only
 * rows whose values differ, so a re-apply fires nothing. `replica` turns them off for Tandem's own transactions on
 * the new store with the dialect's per-transaction switch (`SqlDialect.userTriggersOff`, PostgreSQL/PGlite
 * `SET LOCAL session_replication_role = replica`); the application's own writes keep firing them.
 */
import type { ApplyConfig } from '../config/schema.js';
import { TandemError, errorLine, isTandemError } from '../core/errors.js';
import type { Executor, Store } from '../stores/types.js';

/**
 * The new store as Tandem's apply must see it under `setting`: the store itself for `fire`; for `replica`, a
 * store whose every transaction (backfill chunks, relay batches, repair, and the control plane's when it lives
 * there) first runs `sql.userTriggersOff`. Checks the switch once, in a transaction that writes nothing.
 *
 * Throws `TANDEM_ERR_APPLY_TRIGGERS_UNSUPPORTED` when the store's dialect has no such switch (MySQL/MariaDB,
 * SQLite, a user's adapter without `userTriggersOff`), `TANDEM_ERR_APPLY_TRIGGERS_REFUSED` when the server
 * refuses it (not a superuser, no `GRANT SET ON PARAMETER session_replication_role` on PostgreSQL 15+), and
 * `TANDEM_ERR_STORE_UNREACHABLE` as the store throws it. Never falls back to leaving the triggers on.
 */
export async function applyTriggerSetting(store: Store, setting: ApplyConfig['userTriggers']): Promise<Store> {
  if (setting !== 'replica') return store;
  const off = store.sql.userTriggersOff;
  if (!off)
    throw new TandemError(
      'APPLY_TRIGGERS_UNSUPPORTED',
      `apply.userTriggers: 'replica' cannot be used with the target ${store.url} (${store.dialect}): the engine has no per-session switch for user triggers; remove the setting, or disable the triggers on the target tables yourself (docs/mapping.md "Target triggers")`,
      { store: store.url },
    );
  try {
    await store.transaction((tx) => tx.execute(off));
  } catch (e) {
    if (isTandemError(e, 'STORE_UNREACHABLE')) throw e;
    throw new TandemError(
      'APPLY_TRIGGERS_REFUSED',
      `apply.userTriggers: 'replica': the target ${store.url} refused "${off}" (${errorLine(e)}); connect as a superuser, or on PostgreSQL 15+ run GRANT SET ON PARAMETER session_replication_role TO <the user>`,
      { store: store.url },
    );
  }
  return {
    ...store,
    transaction: <T>(fn: (tx: Executor) => Promise<T>) =>
      store.transaction(async (tx) => {
        await tx.execute(off);
        return fn(tx);
      }),
  };
}
