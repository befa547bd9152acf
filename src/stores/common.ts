import { TandemError } from '../core/errors.js';
import type { Executor, LedgerEntry, LedgerMode, Store, UpsertQuery } from './types.js';

/**
 * Checks an SQL identifier taken from config or introspection before it is quoted: non-empty, at most 128
 * characters, no NUL byte. Quoting (per dialect) then makes any other character safe.
 * Throws `TANDEM_ERR_CONFIG_INVALID`.
 * @internal
 */
export function checkIdentifier(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || name.includes('\u0000')) {
    throw new TandemError('CONFIG_INVALID', `invalid SQL identifier ${JSON.stringify(String(name)).slice(0, 140)}`);
  }
  return name;
}

/**
 * How a store's error mapper marks a statement refused because a row would duplicate the value of a primary or
 * unique key: `detail.violation` of the `TANDEM_ERR_STORE_QUERY` error. Each dialect sets it from its own
 * signal in `src/stores/<dialect>/connection.ts` (PostgreSQL/PGlite SQLSTATE 23505, MySQL/MariaDB errno 1062
 * and 1586, SQLite `SQLITE_CONSTRAINT_UNIQUE`/`_PRIMARYKEY`), so no code outside the stores reads engine codes.
 * @internal
 */
export const UNIQUE_VIOLATION = 'unique';

/**
 * True when `e` is a store's unique-key violation (see {@link UNIQUE_VIOLATION}). A user's own store adapter
 * may set `detail.violation = 'unique'` too; the SQL standard's SQLSTATE 23505 in `detail.sqlstate` also counts.
 */
export function isUniqueViolation(e: unknown): boolean {
  const d = (e as TandemError | undefined)?.detail as { violation?: unknown; sqlstate?: unknown } | undefined;
  return d?.violation === UNIQUE_VIOLATION || d?.sqlstate === '23505';
}

/**
 * Writes rows by key into `store` inside `tx`, touching no row but the key's: the store's own `upsert` where it
 * has one (MySQL/MariaDB), otherwise the statement of `sql.upsert` (`ON CONFLICT (key)`). A value of another
 * unique key held by another row raises a unique violation ({@link isUniqueViolation}). See {@link Store.upsert}.
 * @internal
 */
export async function upsertByKey(store: Store, tx: Executor, q: UpsertQuery): Promise<void> {
  if (store.upsert) return store.upsert(tx, q);
  const st = store.sql.upsert(q);
  await tx.execute(st.sql, st.params);
}

/**
 * Sorts and de-duplicates ledger entries so one statement never touches a key twice (keeping the highest
 * version, a tombstone winning a tie) and concurrent appliers lock keys in the same order (no deadlock).
 * @internal
 */
export function normalizeLedgerEntries(entries: LedgerEntry[]): LedgerEntry[] {
  const byKey = new Map<string, LedgerEntry>();
  for (const e of entries) {
    const prev = byKey.get(e.key);
    if (!prev || e.version > prev.version || (e.version === prev.version && e.deleted && !prev.deleted))
      byKey.set(e.key, e);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Whether an incoming ledger version wins over the current one (`-1` when the key has no entry) in a mode.
 * @internal
 */
export function ledgerWins(mode: LedgerMode, incoming: bigint, current: bigint): boolean {
  if (mode === 'newer') return incoming > current;
  if (mode === 'if-absent') return current < 0n;
  return incoming >= current;
}

/**
 * The SQL condition of a conditional ledger upsert (`ON CONFLICT … DO UPDATE … WHERE <this>`): `l` is the row in
 * the table, `x` the incoming one (`EXCLUDED`).
 * @internal
 */
export function ledgerWinsSql(mode: LedgerMode, l: string, x: string): string {
  if (mode === 'newer') return `${l}.version < ${x}.version`;
  if (mode === 'if-absent') return `${l}.version < 0`;
  return `${l}.version <= ${x}.version`;
}

/**
 * The lock-then-decide ledger advance, for dialects without `INSERT … ON CONFLICT … RETURNING` (MySQL/MariaDB):
 * 1. insert missing ledger rows as placeholders (version -1) — this takes the row locks, or waits for them;
 * 2. read the current versions `FOR UPDATE`;
 * 3. update the rows whose incoming version wins, and return their keys.
 * `sql` supplies the three statements for the dialect.
 * @internal
 */
export async function advanceLedgerLocking(
  tx: Executor,
  entries: LedgerEntry[],
  mode: LedgerMode,
  sql: {
    insertPlaceholders(keys: string[]): { sql: string; params: unknown[] };
    selectForUpdate(keys: string[]): { sql: string; params: unknown[] };
    update(e: LedgerEntry): { sql: string; params: unknown[] };
  },
): Promise<Set<string>> {
  const list = normalizeLedgerEntries(entries);
  const won = new Set<string>();
  if (list.length === 0) return won;
  const keys = list.map((e) => e.key);
  const ins = sql.insertPlaceholders(keys);
  await tx.execute(ins.sql, ins.params);
  const sel = sql.selectForUpdate(keys);
  const current = new Map<string, bigint>();
  for (const r of await tx.query<{ key: string; version: unknown }>(sel.sql, sel.params))
    current.set(String(r.key), BigInt(r.version as string));
  for (const e of list) {
    const cur = current.get(e.key) ?? -1n;
    if (ledgerWins(mode, e.version, cur)) {
      const up = sql.update(e);
      await tx.execute(up.sql, up.params);
      won.add(e.key);
    }
  }
  return won;
}
