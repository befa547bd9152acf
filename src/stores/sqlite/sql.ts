import { predicateSql } from '../../core/where.js';
import { sqliteFenceShareLock } from './fence.js';
import { TandemError } from '../../core/errors.js';
import { checkIdentifier, ledgerWinsSql } from '../common.js';
import type { KeysetQuery, SqlDialect, Statement, StoreCapabilities, UpsertQuery, LedgerMode } from '../types.js';
import { sqlitePrepare } from './prepare.js';

/**
 * SQLite's limit on host parameters in one statement (`SQLITE_MAX_VARIABLE_NUMBER` of the bundled build).
 * @internal
 */
export const SQLITE_MAX_PARAMS = 32766;

/**
 * Quotes an SQLite identifier: `"name"`, doubling embedded quotes. Throws `TANDEM_ERR_CONFIG_INVALID` (see
 * checkIdentifier).
 * @internal
 */
export function sqliteIdent(name: string): string {
  return `"${checkIdentifier(name).replace(/"/g, '""')}"`;
}

/**
 * The most rows of `columns` columns one {@link sqliteSql} upsert may carry (SQLite binds at most
 * {@link SQLITE_MAX_PARAMS} parameters per statement). Callers batch their rows by this number.
 * @internal
 */
export function sqliteUpsertMaxRows(columns: number): number {
  return Math.max(1, Math.floor(SQLITE_MAX_PARAMS / Math.max(1, columns)));
}

function isStringCategory(c: string | undefined): boolean {
  return c === 'text' || c === 'uuid' || c === 'other' || c === undefined;
}

/**
 * What SQLite can do.
 * @internal
 */
export const sqliteCapabilities: StoreCapabilities = {
  skipLocked: false,
  maxParams: SQLITE_MAX_PARAMS,
  returning: true,
  arrayParams: false,
  abortsTransactionOnError: false,
  transactionalDdl: true,
  schemas: false,
  tableNameCase: 'insensitive',
  columnNamesFoldCase: true,
  enforcesTypes: false,
};

type ControlPart = Omit<SqlDialect, 'ident' | 'table' | 'param' | 'keyset' | 'upsert' | 'count' | 'checksum'>;

/** Now as ISO-8601 text in UTC, millisecond precision (SQLite has no timestamp type). */
const SQLITE_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))";

/**
 * The control-plane builders of SQLite (clock, insert-ignore, DDL types, identity upserts, prepare).
 * @internal
 */
export const sqliteControlSql: ControlPart = {
  now: () => SQLITE_NOW,
  utcNow: () => SQLITE_NOW,
  nowPlus: (ms: number) => `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+${(Math.max(0, ms) / 1000).toFixed(3)} seconds')`,
  nowMs: () => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
  insertIgnore: (table: string, columns: string[], conflict: string[]) =>
    `INSERT INTO ${table} (${columns.map(sqliteIdent).join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (${conflict.map(sqliteIdent).join(', ')}) DO NOTHING`,
  random: () => 'random()',
  intDiv: (a: string, b: string) => `${a} / ${b}`,
  // one writer at a time: take the write lock at BEGIN, not at the first write (no SQLITE_BUSY mid-transaction)
  beginWrite: 'BEGIN IMMEDIATE',
  shareLock: sqliteFenceShareLock,
  asyncCommit: null,
  ddl: {
    text: () => 'text',
    bigint: 'integer',
    bool: 'integer',
    ts: 'text',
    serial: 'integer PRIMARY KEY AUTOINCREMENT',
    longtext: 'text',
    tableSuffix: '',
    inlineIndexes: false,
    // index names are per database, next to the application's own
    indexName: (n: string) => `tandem_${n}`,
    createNamespace: null,
    lock: null,
  },
  identity: {
    ledgerWrite(table, mode) {
      const into = `${table} (entity, entity_key, identifier, state, scheme, updated_ms, migrated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`;
      if (mode === 'insert-only') return `INSERT INTO ${into} ON CONFLICT (entity, entity_key) DO NOTHING`;
      return `INSERT INTO ${into} ON CONFLICT (entity, entity_key) DO UPDATE SET identifier = excluded.identifier, state = excluded.state,
          scheme = COALESCE(excluded.scheme, scheme), updated_ms = excluded.updated_ms, migrated_ms = COALESCE(excluded.migrated_ms, migrated_ms)${
            mode === 'unless-migrated' ? ` WHERE state <> 'migrated'` : ''
          }`;
    },
    failureCount: (table) =>
      `INSERT INTO ${table} (id, failures, last_failure_ms) VALUES (?, 1, ?) ON CONFLICT (id) DO UPDATE SET failures = CASE WHEN last_failure_ms < ? THEN 1 ELSE failures + 1 END, last_failure_ms = excluded.last_failure_ms`,
  },
  prepare: sqlitePrepare,
};

/**
 * SQL builders for SQLite. Tables are not schema-qualified (one database per store, `main`).
 * Keyset reads use row values `(a, b) > (?, ?)` (SQLite ≥ 3.15); with `byteOrder`, string key columns get
 * `COLLATE BINARY`, which compares the UTF-8 bytes (= code point order).
 * Upserts are `INSERT … VALUES (…), (…) ON CONFLICT (key) DO UPDATE SET c = excluded.c` with one parameter per
 * value; `columnInfo` is not needed (SQLite converts by column affinity).
 * @internal
 */
export const sqliteSql: SqlDialect = {
  ...sqliteControlSql,
  ident: sqliteIdent,
  table: (name: string) => sqliteIdent(name),
  param: () => '?',
  /** Rows after `after` (and up to `upTo`, inclusive) in key order, `LIMIT`ed; never OFFSET. */
  keyset(q: KeysetQuery): Statement {
    const params: unknown[] = [];
    const keyExpr = q.key.map((k, i) =>
      q.byteOrder && isStringCategory(q.keyCategories?.[i]) ? `${sqliteIdent(k)} COLLATE BINARY` : sqliteIdent(k),
    );
    const row = (exprs: string[]) => (exprs.length === 1 ? exprs[0]! : `(${exprs.join(', ')})`);
    const where: string[] = [];
    if (q.after) {
      const ph = q.after.map((v) => {
        params.push(v);
        return '?';
      });
      where.push(`${row(keyExpr)} > ${row(ph)}`);
    }
    if (q.upTo) {
      const ph = q.upTo.map((v) => {
        params.push(v);
        return '?';
      });
      where.push(`${row(keyExpr)} <= ${row(ph)}`);
    }
    if (q.where) where.push(predicateSql(q.where, () => '?', params));
    const sql = `SELECT ${q.columns.map(sqliteIdent).join(', ')} FROM ${sqliteIdent(q.table)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${keyExpr.join(', ')} LIMIT ${Math.max(1, Math.floor(q.limit))}`;
    return { sql, params };
  },
  /**
   * One multi-row upsert. On a key conflict the non-key columns are overwritten (`DO NOTHING` when all columns
   * are key columns), only where one of them differs (`WHERE t.a IS NOT excluded.a OR …`): an unchanged row is
   * not written and fires no UPDATE trigger (docs/mapping.md). Zero rows give a statement that changes nothing.
   * Throws `TANDEM_ERR_INTERNAL` when `rows × columns` exceeds {@link SQLITE_MAX_PARAMS}: the caller must batch
   * (see {@link sqliteUpsertMaxRows}); this builder never splits a batch by itself.
   */
  upsert(q: UpsertQuery): Statement {
    const table = sqliteIdent(q.table);
    const cols = q.columns.map(sqliteIdent);
    if (q.rows.length === 0)
      return {
        sql: `INSERT INTO ${table} (${cols.join(', ')}) SELECT ${cols.map(() => 'NULL').join(', ')} WHERE 0`,
        params: [],
      };
    const n = q.rows.length * q.columns.length;
    if (n > SQLITE_MAX_PARAMS)
      throw new TandemError(
        'INTERNAL',
        `SQLite upsert into ${q.table}: ${q.rows.length} rows × ${q.columns.length} columns = ${n} parameters, over SQLite's limit of ${SQLITE_MAX_PARAMS}; batch at most ${sqliteUpsertMaxRows(q.columns.length)} rows`,
        { table: q.table, rows: q.rows.length, columns: q.columns.length },
      );
    const nonKey = q.columns.filter((c) => !q.key.includes(c));
    const target = `(${q.key.map(sqliteIdent).join(', ')})`;
    const conflict = nonKey.length
      ? `ON CONFLICT ${target} DO UPDATE SET ${nonKey.map((c) => `${sqliteIdent(c)} = excluded.${sqliteIdent(c)}`).join(', ')} WHERE ${nonKey.map((c) => `${table}.${sqliteIdent(c)} IS NOT excluded.${sqliteIdent(c)}`).join(' OR ')}`
      : `ON CONFLICT ${target} DO NOTHING`;
    const params: unknown[] = [];
    const tuple = `(${q.columns.map(() => '?').join(', ')})`;
    const values: string[] = [];
    for (const r of q.rows) {
      for (let i = 0; i < q.columns.length; i++) params.push(r[i] ?? null);
      values.push(tuple);
    }
    return { sql: `INSERT INTO ${table} (${cols.join(', ')}) VALUES ${values.join(', ')} ${conflict}`, params };
  },
  count(name: string): Statement {
    return { sql: `SELECT count(*) AS n FROM ${sqliteIdent(name)}`, params: [] };
  },
};

/** Parameters per ledger row in {@link sqliteAdvanceLedger}: entity, key, version, deleted. */
const LEDGER_PARAMS_PER_ROW = 4;

/**
 * The most ledger rows one {@link sqliteAdvanceLedger} statement may carry.
 * @internal
 */
export const SQLITE_LEDGER_BATCH = Math.floor(SQLITE_MAX_PARAMS / LEDGER_PARAMS_PER_ROW);

/**
 * The version-ledger advance for `rows` entries as one conditional upsert returning the keys that moved.
 * Parameters: (entity, key, version, deleted as 0/1) per row. `strict` applies only strictly newer versions
 * (`newer` mode), otherwise newer-or-equal (`last-writer-wins`). Throws `TANDEM_ERR_INTERNAL` unless `rows` is
 * within 1..{@link SQLITE_LEDGER_BATCH}.
 * @internal
 */
export function sqliteAdvanceLedger(ledgerTable: string, mode: LedgerMode, rows: number): string {
  if (!Number.isInteger(rows) || rows < 1 || rows > SQLITE_LEDGER_BATCH)
    throw new TandemError('INTERNAL', `SQLite ledger batch of ${rows} rows is outside 1..${SQLITE_LEDGER_BATCH}`);
  const tuple = `(?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;
  return `INSERT INTO ${ledgerTable} AS l (entity, entity_key, version, deleted, applied_at)
    VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}
    ON CONFLICT (entity, entity_key) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, applied_at = excluded.applied_at
    WHERE ${ledgerWinsSql(mode, 'l', 'excluded')}
    RETURNING entity_key`;
}
