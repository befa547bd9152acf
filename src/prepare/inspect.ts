import { TandemError } from '../core/errors.js';
import type { Executor, Store } from '../stores/types.js';
import { columnNamesFoldCase, COLUMN_COMMENT, type TableShape } from './sql.js';

/**
 * Reading what `tandem prepare` needs to know about one source table, per dialect, from the catalog: the
 * version column (type, comment), every trigger of the schema whose name `prepare` could use (with its table
 * and definition), the trigger function (PostgreSQL/PGlite), the other UPDATE triggers of the table, and how a
 * trigger finds its row (SQLite). Reads only; every value goes in as a parameter.
 */

/** The version column as found. */
export interface ColumnState {
  /** Name as the database spells it. */
  name: string;
  /** Raw type (`bigint`, `int`, `INTEGER`). */
  dataType: string;
  integer: boolean;
  /** True when its comment says `tandem prepare` created it (MySQL/MariaDB, PostgreSQL, PGlite). */
  marked: boolean;
}

/** A trigger of the schema, as found. */
export interface TriggerState {
  name: string;
  /** The table it is on. */
  table: string;
  /** Its definition: MySQL the trigger statement, SQLite the CREATE TRIGGER text, PostgreSQL the function body. */
  body: string;
  /** PostgreSQL/PGlite: `schema.function` it executes. */
  fn?: string;
}

/** Everything `prepare` reads before it plans. */
export interface TableState {
  shape: TableShape;
  column: ColumnState | null;
  /** Triggers of the schema by exact name (MySQL/SQLite: schema-wide names; PostgreSQL: this table's). */
  triggers: Map<string, TriggerState>;
  /** PostgreSQL/PGlite: the body of the function named like Tandem's trigger function, in the table's schema. */
  functionBody: string | null;
  /**
   * Other row triggers on the table that fire on UPDATE at the same point as Tandem's (PostgreSQL/PGlite:
   * BEFORE; MySQL: BEFORE; SQLite: AFTER), by name, for the notes printed to the user.
   */
  otherUpdateTriggers: string[];
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v));

/** Compares column names the way the engine does (case-insensitively on MySQL/MariaDB and SQLite). */
export function sameColumn(store: Store, a: string, b: string): boolean {
  return columnNamesFoldCase(store.dialect) ? a.toLowerCase() === b.toLowerCase() : a === b;
}

/** Compares table names the way the engine does (case-insensitively on SQLite). */
export function sameTable(store: Store, a: string, b: string): boolean {
  return store.dialect === 'sqlite' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

/**
 * Reads the state of `table` and `column` in `store` through `db` (the store itself, or the transaction that
 * holds `prepare`'s lock). `fnName` is the PostgreSQL trigger function's name. Throws `TANDEM_ERR_TABLE_NOT_FOUND`
 * when the table does not exist, `TANDEM_ERR_STORE_QUERY` when the catalog cannot be read.
 */
export async function inspectTable(store: Store, db: Executor, table: string, column: string, fnName: string): Promise<TableState> {
  switch (store.dialect) {
    case 'postgres':
    case 'pglite':
      return inspectPg(store, db, table, column, fnName);
    case 'mysql':
      return inspectMysql(store, db, table, column);
    case 'sqlite':
      return inspectSqlite(store, db, table, column);
  }
}

function notFound(store: Store, table: string): TandemError {
  return new TandemError('TABLE_NOT_FOUND', `source table "${table}" does not exist in ${store.url}`, { table, side: 'source' });
}

async function inspectPg(store: Store, db: Executor, table: string, column: string, fnName: string): Promise<TableState> {
  const qualified = store.sql.table(table);
  const rel = await db.query<{ schema: string }>(
    `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`,
    [qualified],
  );
  if (!rel[0]) throw notFound(store, table);
  const schema = rel[0].schema;
  const cols = await db.query<{ name: string; data_type: string; typname: string; comment: string | null }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS data_type, t.typname AS typname, col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [qualified, column],
  );
  const c = cols[0];
  const trg = await db.query<{ name: string; fn: string; fn_schema: string; body: string; before: boolean; on_update: boolean }>(
    `SELECT t.tgname AS name, p.proname AS fn, n.nspname AS fn_schema, p.prosrc AS body,
            (t.tgtype & 2) <> 0 AS before, (t.tgtype & 16) <> 0 AS on_update
       FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE t.tgrelid = to_regclass($1) AND NOT t.tgisinternal AND (t.tgtype & 1) <> 0`,
    [qualified],
  );
  const fn = await db.query<{ body: string }>(
    `SELECT p.prosrc AS body FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0`,
    [schema, fnName],
  );
  const triggers = new Map<string, TriggerState>();
  for (const r of trg) triggers.set(r.name, { name: r.name, table, body: text(r.body), fn: `${r.fn_schema}.${r.fn}` });
  return {
    shape: { schema },
    column: c ? { name: c.name, dataType: c.data_type, integer: ['int2', 'int4', 'int8'].includes(c.typname), marked: text(c.comment).startsWith(COLUMN_COMMENT) } : null,
    triggers,
    functionBody: fn[0] ? text(fn[0].body) : null,
    otherUpdateTriggers: trg.filter((r) => r.before && r.on_update).map((r) => r.name),
  };
}

async function inspectMysql(store: Store, db: Executor, table: string, column: string): Promise<TableState> {
  const cols = await db.query<{ tbl: unknown; name: unknown; data_type: unknown; comment: unknown }>(
    `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, COLUMN_TYPE AS data_type, COLUMN_COMMENT AS comment
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [table],
  );
  const mine = cols.filter((r) => text(r.tbl) === table);
  if (mine.length === 0) throw notFound(store, table);
  const c = mine.find((r) => sameColumn(store, text(r.name), column));
  const trg = await db.query<{ name: unknown; tbl: unknown; body: unknown; timing: unknown; event: unknown }>(
    `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl, ACTION_STATEMENT AS body, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event
       FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`,
  );
  const triggers = new Map<string, TriggerState>();
  for (const r of trg) triggers.set(text(r.name), { name: text(r.name), table: text(r.tbl), body: text(r.body) });
  const dataType = c ? text(c.data_type).toLowerCase() : '';
  return {
    shape: {},
    column: c ? { name: text(c.name), dataType, integer: /^(tiny|small|medium|big)?int\b/.test(dataType), marked: text(c.comment).startsWith(COLUMN_COMMENT) } : null,
    triggers,
    functionBody: null,
    otherUpdateTriggers: trg.filter((r) => text(r.tbl) === table && text(r.timing) === 'BEFORE' && text(r.event) === 'UPDATE').map((r) => text(r.name)),
  };
}

async function inspectSqlite(store: Store, db: Executor, table: string, column: string): Promise<TableState> {
  const exists = await db.query<{ wr: number }>(`SELECT wr FROM pragma_table_list(?) WHERE schema = 'main' AND type = 'table'`, [table]);
  if (!exists[0]) throw notFound(store, table);
  const cols = await db.query<{ name: string; type: string; pk: number }>(`SELECT name, type, pk FROM pragma_table_info(?)`, [table]);
  const c = cols.find((r) => sameColumn(store, r.name, column));
  let rowMatch: string[];
  if (Number(exists[0].wr) === 1) {
    rowMatch = cols.filter((r) => Number(r.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk)).map((r) => r.name);
  } else {
    // the rowid under a name no column shadows
    const alias = ['rowid', '_rowid_', 'oid'].find((a) => !cols.some((r) => r.name.toLowerCase() === a));
    if (!alias) throw new TandemError('CONFIG_INVALID', `source table "${table}" has columns named rowid, _rowid_ and oid: Tandem's trigger cannot find its rows`, { table });
    rowMatch = [alias];
  }
  const trg = await db.query<{ name: string; tbl: string; body: string | null }>(`SELECT name, tbl_name AS tbl, sql AS body FROM sqlite_master WHERE type = 'trigger'`);
  const triggers = new Map<string, TriggerState>();
  for (const r of trg) triggers.set(r.name, { name: r.name, table: r.tbl, body: text(r.body) });
  const dataType = c ? String(c.type ?? '') : '';
  return {
    shape: { rowMatch },
    column: c ? { name: c.name, dataType, integer: /int/i.test(dataType), marked: false } : null,
    triggers,
    functionBody: null,
    otherUpdateTriggers: trg
      .filter((r) => sameTable(store, r.tbl, table) && /\bAFTER\s+UPDATE\b/i.test(text(r.body)))
      .map((r) => r.name),
  };
}
