import { createHash } from 'node:crypto';
import { TandemError } from '../core/errors.js';
import type { ReadOnlyChange } from './types.js';

/**
 * The shared part of {@link Store.setReadOnly} (src/stores/<dialect>/read-only.ts has the DDL): the names Tandem
 * gives its read-only triggers and the message they raise.
 *
 * - PostgreSQL/PGlite: one statement-level trigger `tandem_read_only` per table (`BEFORE INSERT OR UPDATE OR
 *   DELETE OR TRUNCATE`) executing the function `tandem.tandem_read_only()`, which raises SQLSTATE 25006
 *   (`read_only_sql_transaction`). Trigger names are per table there.
 * - MySQL/MariaDB and SQLite: three row triggers per table, `BEFORE INSERT`, `BEFORE UPDATE`, `BEFORE DELETE`,
 *   named `tandem_ro_<table>_ins|_upd|_del` (names are per database: the table is part of the name; a name longer
 *   than MySQL's 64 characters keeps 40 characters of the table and 8 hex digits of its SHA-1), raising
 *   `SIGNAL SQLSTATE '45000'` or `RAISE(ABORT, …)`.
 *
 * Every trigger's definition carries {@link READ_ONLY_MARKER}: a trigger is Tandem's when its name is one of these
 * AND its definition holds the marker (PostgreSQL: it executes Tandem's function). Undo drops only those.
 */

/** The first words of the message of a refused write, and the marker of Tandem's trigger definitions. */
export const READ_ONLY_MARKER = 'tandem read-only:';

/** PostgreSQL/PGlite: the trigger's name (on every table) and its function's name (in schema `tandem`). */
export const PG_READ_ONLY_TRIGGER = 'tandem_read_only';

/** The three trigger names of `table` on MySQL/MariaDB and SQLite (at most 64 characters each). */
export function readOnlyTriggerNames(table: string): { insert: string; update: string; delete: string } {
  let base = `tandem_ro_${table}`;
  if (base.length + 4 > 64)
    base = `tandem_ro_${table.slice(0, 40)}_${createHash('sha1').update(table, 'utf8').digest('hex').slice(0, 8)}`;
  return { insert: `${base}_ins`, update: `${base}_upd`, delete: `${base}_del` };
}

/**
 * The message a refused write raises on `table`: `tandem read-only: table <name> refuses writes (set by Tandem)`.
 * The name is reduced to `[A-Za-z0-9_.$-]` (others become `?`) and 64 characters, so the text needs no quoting in
 * any engine's string literal and stays within MySQL's 128-character `MESSAGE_TEXT`.
 */
export function readOnlyMessage(table: string): string {
  return `${READ_ONLY_MARKER} table ${table.replace(/[^A-Za-z0-9_.$-]/g, '?').slice(0, 64)} refuses writes (set by Tandem)`;
}

/** True when an error message is one of Tandem's read-only refusals. */
export function saysReadOnly(message: string | undefined): boolean {
  return (message ?? '').includes(READ_ONLY_MARKER);
}

/** The error for a trigger of Tandem's name that Tandem did not create. */
export function foreignTriggerError(url: string, table: string, names: string[]): TandemError {
  return new TandemError(
    'PREPARE_CONFLICT',
    `${url}: table "${table}" has trigger(s) ${names.map((n) => `"${n}"`).join(', ')} with the name Tandem's read-only trigger uses, not created by Tandem; rename or drop them first`,
    { table, triggers: names },
  );
}

/** An empty change record of `table`. */
export function readOnlyChange(table: string, readOnly: boolean): ReadOnlyChange {
  return { table, readOnly, created: [], dropped: [], foreign: [] };
}
