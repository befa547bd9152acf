import {
  READ_ONLY_MARKER,
  foreignTriggerError,
  readOnlyChange,
  readOnlyMessage,
  readOnlyTriggerNames,
} from '../read-only.js';
import { missingTable } from '../sequences.js';
import type { Executor, ReadOnlyChange, Store } from '../types.js';
import { sqliteIdent } from './sql.js';

/** Tandem's three triggers of `table` with their events, and which exist (ours or not). */
async function inspect(db: Executor, url: string, table: string) {
  const t = (
    await db.query<{ name: string }>(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`,
      [table],
    )
  )[0];
  if (!t) throw missingTable(url, table);
  const names = readOnlyTriggerNames(table);
  const wanted = [
    { name: names.insert, event: 'INSERT' },
    { name: names.update, event: 'UPDATE' },
    { name: names.delete, event: 'DELETE' },
  ];
  const rows = await db.query<{ name: string; tbl: string; body: string | null }>(
    `SELECT name, tbl_name AS tbl, sql AS body FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?, ?) COLLATE NOCASE`,
    wanted.map((w) => w.name),
  );
  const state = new Map<string, 'ours' | 'foreign'>();
  for (const r of rows) {
    const w = wanted.find((x) => x.name.toLowerCase() === r.name.toLowerCase());
    if (w)
      state.set(
        w.name,
        r.tbl.toLowerCase() === t.name.toLowerCase() && (r.body ?? '').includes(READ_ONLY_MARKER) ? 'ours' : 'foreign',
      );
  }
  return { name: t.name, wanted, state };
}

/**
 * {@link Store.setReadOnly} on SQLite, in one `BEGIN IMMEDIATE` transaction (all tables or none): on, creates
 * `BEFORE INSERT|UPDATE|DELETE` triggers running `SELECT RAISE(ABORT, 'tandem read-only: …')` under Tandem's
 * names (src/stores/read-only.ts); off, drops those whose table and text are Tandem's.
 * @internal
 */
export function setReadOnlySqlite(
  store: Pick<Store, 'transaction' | 'url'>,
  tables: string[],
  on: boolean,
): Promise<ReadOnlyChange[]> {
  return store.transaction(async (tx) => {
    const out: ReadOnlyChange[] = [];
    for (const table of tables) {
      const s = await inspect(tx, store.url, table);
      const change = readOnlyChange(table, on);
      change.foreign.push(...s.wanted.filter((w) => s.state.get(w.name) === 'foreign').map((w) => w.name));
      if (on && change.foreign.length) throw foreignTriggerError(store.url, table, change.foreign);
      for (const w of s.wanted) {
        const st = s.state.get(w.name);
        if (on && !st) {
          await tx.execute(
            `CREATE TRIGGER ${sqliteIdent(w.name)} BEFORE ${w.event} ON ${sqliteIdent(s.name)} BEGIN SELECT RAISE(ABORT, '${readOnlyMessage(table)}'); END`,
          );
          change.created.push(w.name);
        } else if (!on && st === 'ours') {
          await tx.execute(`DROP TRIGGER IF EXISTS ${sqliteIdent(w.name)}`);
          change.dropped.push(w.name);
        }
      }
      out.push(change);
    }
    return out;
  });
}

/**
 * {@link Store.readOnlyTables} on SQLite: the tables holding all three of Tandem's triggers.
 * @internal
 */
export async function readOnlyTablesSqlite(db: Executor, url: string, tables: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const table of tables) {
    const s = await inspect(db, url, table);
    if (s.wanted.every((w) => s.state.get(w.name) === 'ours')) out.push(table);
  }
  return out;
}
