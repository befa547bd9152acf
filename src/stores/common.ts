import { TandemError } from '../core/errors.js';
import type { Executor, LedgerEntry } from './types.js';

/**
 * Checks an SQL identifier taken from config or introspection before it is quoted: non-empty, at most 128
 * characters, no NUL byte. Quoting (per dialect) then makes any other character safe.
 * Throws `TANDEM_ERR_CONFIG_INVALID`.
 */
export function checkIdentifier(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || name.includes('\u0000')) {
    throw new TandemError('CONFIG_INVALID', `invalid SQL identifier ${JSON.stringify(String(name)).slice(0, 140)}`);
  }
  return name;
}

/**
 * Sorts and de-duplicates ledger entries so one statement never touches a key twice (keeping the highest
 * version, a tombstone winning a tie) and concurrent appliers lock keys in the same order (no deadlock).
 */
export function normalizeLedgerEntries(entries: LedgerEntry[]): LedgerEntry[] {
  const byKey = new Map<string, LedgerEntry>();
  for (const e of entries) {
    const prev = byKey.get(e.key);
    if (!prev || e.version > prev.version || (e.version === prev.version && e.deleted && !prev.deleted)) byKey.set(e.key, e);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The lock-then-decide ledger advance, for dialects without `INSERT … ON CONFLICT … RETURNING` (MySQL/MariaDB):
 * 1. insert missing ledger rows as placeholders (version -1) — this takes the row locks, or waits for them;
 * 2. read the current versions `FOR UPDATE`;
 * 3. update the rows whose incoming version wins, and return their keys.
 * `sql` supplies the three statements for the dialect.
 */
export async function advanceLedgerLocking(
  tx: Executor,
  entries: LedgerEntry[],
  mode: 'newer' | 'last-writer-wins',
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
  for (const r of await tx.query<{ key: string; version: unknown }>(sel.sql, sel.params)) current.set(String(r.key), BigInt(r.version as string));
  for (const e of list) {
    const cur = current.get(e.key) ?? -1n;
    if (mode === 'newer' ? e.version > cur : e.version >= cur) {
      const up = sql.update(e);
      await tx.execute(up.sql, up.params);
      won.add(e.key);
    }
  }
  return won;
}
