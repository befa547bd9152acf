import { advanceCounter, advanceEntry, bigOrNull, marginOf, missingTable } from '../sequences.js';
import type { AdvanceSequencesOptions, Executor, SequenceAdvance, Store } from '../types.js';
import { withDdlLockWait } from './read-only.js';
import { mysqlIdent } from './sql.js';

const text = (v: unknown): string =>
  Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v);

/**
 * The table's AUTO_INCREMENT counter from `SHOW CREATE TABLE` (the table option `AUTO_INCREMENT=n`; absent: 1).
 * `information_schema.TABLES.AUTO_INCREMENT` is a cached statistic on MySQL 8 (`information_schema_stats_expiry`),
 * `SHOW CREATE TABLE` reads the live counter on MySQL and MariaDB alike.
 */
async function autoIncrementOf(db: Executor, table: string): Promise<bigint> {
  const rows = await db.query(`SHOW CREATE TABLE ${mysqlIdent(table)}`);
  const ddl = text(rows[0]?.['Create Table']);
  const m = /\)[^)]*\bAUTO_INCREMENT=(\d+)/i.exec(ddl);
  return m ? BigInt(m[1]!) : 1n;
}

/**
 * {@link Store.advanceSequences} on MySQL/MariaDB: the `AUTO_INCREMENT` column of each table (there is at most
 * one), its counter read from `SHOW CREATE TABLE`, and when the counter is not past `max + margin`,
 * `ALTER TABLE … AUTO_INCREMENT = max + 1 + margin` (an in-place change of the table's metadata). InnoDB never
 * lowers the counter below `max + 1` anyway, and already moves it past explicit keys written by the backfill; a
 * margin is then what moves it. MariaDB `SEQUENCE` objects used by column defaults are not followed. Runs under
 * `withDdlLockWait` (the ALTER waits at most 10 s for the table's metadata lock).
 * @internal
 */
export function advanceSequencesMysql(
  store: Pick<Store, 'transaction' | 'url'>,
  tables: string[],
  o?: AdvanceSequencesOptions,
): Promise<SequenceAdvance[]> {
  return withDdlLockWait(store, (db) => advanceOn(db, store.url, tables, o));
}

async function advanceOn(
  db: Executor,
  url: string,
  tables: string[],
  o?: AdvanceSequencesOptions,
): Promise<SequenceAdvance[]> {
  const margin = marginOf(o);
  const out: SequenceAdvance[] = [];
  for (const table of tables) {
    const found = await db.query<{ t: unknown }>(
      `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`,
      [table],
    );
    if (!found.some((r) => text(r.t) === table)) throw missingTable(url, table);
    const cols = await db.query<{ c: unknown; tbl: unknown }>(
      `SELECT COLUMN_NAME AS c, TABLE_NAME AS tbl FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND EXTRA LIKE '%auto_increment%'`,
      [table],
    );
    const col = cols.find((r) => text(r.tbl) === table);
    if (!col) {
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
          note: 'no AUTO_INCREMENT column',
        }),
      );
      continue;
    }
    const column = text(col.c);
    const from = await autoIncrementOf(db, table);
    const max = bigOrNull(
      (await db.query<{ m: unknown }>(`SELECT MAX(${mysqlIdent(column)}) AS m FROM ${mysqlIdent(table)}`))[0]?.m,
    );
    const base = { table, column, kind: 'auto_increment', sequence: table, max } as const;
    out.push(
      await advanceCounter(base, from, margin, o?.dryRun, (to) =>
        db.execute(`ALTER TABLE ${mysqlIdent(table)} AUTO_INCREMENT = ${to.toString()}`),
      ),
    );
  }
  return out;
}
