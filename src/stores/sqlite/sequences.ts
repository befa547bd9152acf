import { advanceCounter, advanceEntry, bigOrNull, marginOf, missingTable } from '../sequences.js';
import type { AdvanceSequencesOptions, Executor, SequenceAdvance } from '../types.js';
import { sqliteIdent } from './sql.js';

/**
 * {@link Store.advanceSequences} on SQLite. SQLite numbers only the rowid: an `INTEGER PRIMARY KEY` column is
 * its alias. Without `AUTOINCREMENT` the next rowid is always `max(rowid) + 1` (kind `rowid`: nothing to advance,
 * and no margin can be kept). With `AUTOINCREMENT` it is `max(sqlite_sequence.seq, max(rowid)) + 1`: when that is
 * not past `max + margin`, the table's `sqlite_sequence` row is set to `max + margin` (inserted where missing).
 * Tables without a rowid alias (`WITHOUT ROWID`, other keys) are reported `none`.
 * @internal
 */
export async function advanceSequencesSqlite(
  db: Executor,
  url: string,
  tables: string[],
  o?: AdvanceSequencesOptions,
): Promise<SequenceAdvance[]> {
  const margin = marginOf(o);
  const out: SequenceAdvance[] = [];
  for (const table of tables) {
    const t = (
      await db.query<{ name: string; sql: string | null }>(
        `SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`,
        [table],
      )
    )[0];
    if (!t) throw missingTable(url, table);
    const list = await db.query<{ wr: unknown }>(`SELECT wr FROM pragma_table_list(?) WHERE schema = 'main'`, [t.name]);
    const withoutRowid = Number(list[0]?.wr ?? 0) === 1;
    const pk = (
      await db.query<{ name: string; type: string; pk: unknown }>(`SELECT name, type, pk FROM pragma_table_info(?)`, [
        t.name,
      ])
    ).filter((c) => Number(c.pk) > 0);
    const alias =
      !withoutRowid && pk.length === 1 && String(pk[0]!.type).toUpperCase() === 'INTEGER' ? pk[0]!.name : null;
    if (!alias) {
      out.push(
        advanceEntry({
          table,
          column: null,
          kind: 'none',
          sequence: null,
          max: null,
          from: null,
          to: null,
          changed: false,
          note: 'no INTEGER PRIMARY KEY (rowid) column',
        }),
      );
      continue;
    }
    const max = bigOrNull(
      (await db.query<{ m: unknown }>(`SELECT max(${sqliteIdent(alias)}) AS m FROM ${sqliteIdent(t.name)}`))[0]?.m,
    );
    if (!/\bAUTOINCREMENT\b/i.test(t.sql ?? '')) {
      const next = max === null ? 1n : max + 1n;
      const note =
        margin > 0n
          ? 'SQLite hands out max(rowid) + 1: no margin can be kept without AUTOINCREMENT'
          : 'SQLite hands out max(rowid) + 1: nothing to advance';
      out.push(
        advanceEntry({
          table,
          column: alias,
          kind: 'rowid',
          sequence: null,
          max,
          from: next,
          to: next,
          changed: false,
          note,
        }),
      );
      continue;
    }
    const seqRow = (await db.query<{ seq: unknown }>(`SELECT seq FROM sqlite_sequence WHERE name = ?`, [t.name]))[0];
    const seq = bigOrNull(seqRow?.seq) ?? 0n;
    const from = (max !== null && max > seq ? max : seq) + 1n;
    const base = { table, column: alias, kind: 'autoincrement', sequence: 'sqlite_sequence', max } as const;
    out.push(
      await advanceCounter(base, from, margin, o?.dryRun, async (to) => {
        const value = (to - 1n).toString();
        if (seqRow) await db.execute(`UPDATE sqlite_sequence SET seq = ? WHERE name = ?`, [value, t.name]);
        else await db.execute(`INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, [t.name, value]);
      }),
    );
  }
  return out;
}
