import { TandemError } from '../core/errors.js';
import type { TableState } from '../stores/prepare.js';
import type { Executor, Store } from '../stores/types.js';
import { prepareSqlOf } from './sql.js';

/**
 * Reading what `tandem prepare` needs to know about one source table from the catalog (each dialect's
 * `sql.prepare.inspect`, src/stores/<dialect>/prepare.ts): the
 * version column (type, comment), every trigger of the schema whose name `prepare` could use (with its table
 * and definition), the trigger function (PostgreSQL/PGlite), the other UPDATE triggers of the table, and how a
 * trigger finds its row (SQLite). Reads only; every value goes in as a parameter.
 */

/** @internal Re-exported: the state shapes live with the stores (src/stores/prepare.ts). */
export type { ColumnState, TableState, TriggerState } from '../stores/prepare.js';

/** Compares column names the way the engine does (case-insensitively on MySQL/MariaDB and SQLite). */
export function sameColumn(store: Store, a: string, b: string): boolean {
  return store.capabilities.columnNamesFoldCase ? a.toLowerCase() === b.toLowerCase() : a === b;
}

/** Compares table names the way the engine does (case-insensitively on SQLite). */
export function sameTable(store: Store, a: string, b: string): boolean {
  return store.capabilities.tableNameCase === 'insensitive' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

/**
 * Reads the state of `table` and `column` in `store` through `db` (the store itself, or the transaction that
 * holds `prepare`'s lock). `fnName` is the PostgreSQL trigger function's name. Throws `TANDEM_ERR_TABLE_NOT_FOUND`
 * when the table does not exist, `TANDEM_ERR_STORE_QUERY` when the catalog cannot be read.
 */
export async function inspectTable(
  store: Store,
  db: Executor,
  table: string,
  column: string,
  fnName: string,
): Promise<TableState> {
  const state = await prepareSqlOf(store.sql, store.url).inspect(db, store.sql, table, column, fnName, (a, b) =>
    sameColumn(store, a, b),
  );
  if (!state)
    throw new TandemError('TABLE_NOT_FOUND', `source table "${table}" does not exist in ${store.url}`, {
      table,
      side: 'source',
    });
  return state;
}
