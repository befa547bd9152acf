/**
 * The control plane's `state` table (control-schema v2): named text rows — the phase, the routing rows, the
 * guard's verdict, the last verification of each entity, the newest rehearsal and archive records. One module for
 * its SQL, the way pg-boss keeps its SQL in one place; every caller reads and writes it through these.
 */
import type { Executor, Store } from '../stores/types.js';

/** What the state SQL needs of a store: its control table names and its SQL dialect helpers. */
export type StateStore = Pick<Store, 'controlTable' | 'sql'>;

/** The value of the state row `name` read through `db` (the store or an open transaction), or null when absent. */
export async function readState(db: Executor, control: StateStore, name: string): Promise<string | null> {
  const r = await db.query<{ value: unknown }>(
    `SELECT value FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`,
    [name],
  );
  return r[0] ? String(r[0].value) : null;
}

/** The state rows among `names` that exist, by name, in one statement. */
export async function readStates(db: Executor, control: StateStore, names: string[]): Promise<Map<string, string>> {
  if (!names.length) return new Map();
  const rows = await db.query<{ name: unknown; value: unknown }>(
    `SELECT name, value FROM ${control.controlTable('state')} WHERE name IN (${names.map((_, i) => control.sql.param(i + 1)).join(', ')})`,
    names,
  );
  return new Map(rows.map((r) => [String(r.name), String(r.value)]));
}

/**
 * Sets the state row `name` to `value` through `db` (UPDATE, else INSERT; `updated_at` = the store's now). Run it
 * in a transaction (or use {@link writeState}): two first writers racing outside one may both INSERT, and the
 * second fails on the primary key.
 */
export async function putState(db: Executor, control: StateStore, name: string, value: string): Promise<void> {
  const t = control.controlTable('state');
  const p = (i: number) => control.sql.param(i);
  const n = await db.execute(
    `UPDATE ${t} SET value = ${p(1)}, updated_at = ${control.sql.now()} WHERE name = ${p(2)}`,
    [value, name],
  );
  if (n === 0) await db.execute(`INSERT INTO ${t} (name, value) VALUES (${p(1)}, ${p(2)})`, [name, value]);
}

/** {@link putState} in a transaction of its own on `control`. Throws what the store throws. */
export async function writeState(control: Store, name: string, value: string): Promise<void> {
  await control.transaction((tx) => putState(tx, control, name, value));
}

/** Removes the state row `name` (nothing when absent). */
export async function deleteState(db: Executor, control: StateStore, name: string): Promise<void> {
  await db.execute(`DELETE FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`, [name]);
}
