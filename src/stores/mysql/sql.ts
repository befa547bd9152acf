import { predicateSql } from '../../core/where.js';
import { mysqlFenceShareLock } from './fence.js';
import { bitBytes, intervalAsTime, mysqlGeometryBytes } from '../../core/extra-types.js';
import { checkIdentifier } from '../common.js';
import type {
  ColumnInfo,
  KeysetQuery,
  LedgerEntry,
  SqlDialect,
  Statement,
  StoreCapabilities,
  TypeCategory,
  UpsertQuery,
} from '../types.js';
import { mysqlPrepare } from './prepare.js';

/**
 * Quotes a MySQL/MariaDB identifier: `` `name` ``, doubling embedded backticks. Throws TANDEM_ERR_CONFIG_INVALID.
 * @internal
 */
export function mysqlIdent(name: string): string {
  return `\`${checkIdentifier(name).replace(/`/g, '``')}\``;
}

/** A plain decimal number: what MySQL reads as an exact integer or DECIMAL literal. */
const NUMERIC_LITERAL = /^-?\d{1,65}(?:\.\d{1,38})?$/;

/**
 * A parameter written into the statement unquoted, as an exact integer or DECIMAL literal (mysql2's client-side
 * formatting calls `toSqlString`). Can only hold text matching a plain decimal number; the store's executor
 * passes these through and turns any other object into JSON text, so no other value is ever inlined raw.
 * @internal
 */
export class MysqlNumericLiteral {
  readonly text: string;
  constructor(text: string) {
    if (!NUMERIC_LITERAL.test(text)) throw new TypeError('not a plain decimal number');
    this.text = text;
  }
  toSqlString(): string {
    return this.text;
  }
}

/**
 * A key value for comparison with an integer or decimal column. Integers wider than 2^53 and decimals arrive as
 * strings; compared with a column as a quoted string, MySQL may compare as doubles (inexact). Written unquoted,
 * they are exact integer/DECIMAL literals.
 */
function numericKeyValue(v: unknown, category: TypeCategory | undefined): unknown {
  if ((category === 'integer' || category === 'decimal') && typeof v === 'string' && NUMERIC_LITERAL.test(v.trim())) {
    return new MysqlNumericLiteral(v.trim());
  }
  return v;
}

/** Keyset string comparisons by UTF-8 bytes, whatever the column's character set and collation (NO PAD). */
function byteOrdered(col: string): string {
  return `CAST(CONVERT(${col} USING utf8mb4) AS BINARY)`;
}

function isStringCategory(c: TypeCategory | undefined): boolean {
  return c === 'text' || c === 'uuid' || c === 'other' || c === undefined;
}

/**
 * The keyset condition "key after `values`" (`op` `>`) or "key up to `values`" (`op` `<=`) in the expanded form
 * `a > ? OR (a = ? AND b > ?)`: MySQL/MariaDB do not serve row-value comparisons `(a, b) > (?, ?)` from a
 * composite index, but do serve this as index ranges.
 */
function expandedCompare(
  keyExpr: string[],
  values: unknown[],
  op: '>' | '<=',
  categories: (TypeCategory | undefined)[],
  params: unknown[],
): string {
  if (values.length !== keyExpr.length)
    throw new TypeError(`keyset position has ${values.length} values for ${keyExpr.length} key columns`);
  const strict = op === '>' ? '>' : '<';
  const parts: string[] = [];
  for (let i = 0; i < keyExpr.length; i++) {
    const terms: string[] = [];
    for (let j = 0; j < i; j++) {
      terms.push(`${keyExpr[j]} = ?`);
      params.push(numericKeyValue(values[j], categories[j]));
    }
    const last = i === keyExpr.length - 1 ? op : strict;
    terms.push(`${keyExpr[i]} ${last} ?`);
    params.push(numericKeyValue(values[i], categories[i]));
    parts.push(terms.length === 1 ? terms[0]! : `(${terms.join(' AND ')})`);
  }
  return parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
}

/** `2020-01-02T03:04:05.123456Z` / `…+02:00` → `2020-01-02 01:04:05.123456` (UTC, microseconds kept). */
const ISO_WITH_ZONE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d{1,9})?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * Converts a timestamp string with a zone (`Z` or an offset, as canonical encoding and ISO 8601 write them) to
 * the UTC `YYYY-MM-DD HH:MM:SS.ffffff` form MariaDB accepts (it rejects zones in datetime literals). Other values
 * are returned unchanged.
 * @internal
 */
export function mysqlDateTime(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const m = ISO_WITH_ZONE.exec(v.trim());
  if (!m) return v;
  const [, date, hms, frac = '', zone] = m;
  const base = Date.parse(`${date}T${hms!.length === 5 ? `${hms}:00` : hms}Z`);
  if (Number.isNaN(base)) return v;
  let offsetMin = 0;
  if (zone!.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone!)!;
    offsetMin = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0));
  }
  const d = new Date(base - offsetMin * 60_000);
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) return v;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac.slice(0, 7)}`;
}

/**
 * Prepares one value of an upsert row for its target column (see {@link mysqlSql}'s `upsert`): timestamps with a
 * zone to UTC text; bit strings (`'0101'`) to the bytes of `BIT(n)`; spatial values (EWKB, WKB, (E)WKT, hex) to
 * MySQL's internal format (SRID + WKB); an ISO 8601 interval without months or days to a `TIME` literal.
 */
function upsertValue(v: unknown, col: ColumnInfo | undefined): unknown {
  if (col && (col.category === 'timestamp' || col.category === 'timestamptz')) return mysqlDateTime(v);
  // issue 13 (types-b): the forms these column types are written in
  if (v === null || v === undefined || !col) return v;
  if (col.category === 'bit') return bitBytes(v, col.bits);
  if (col.category === 'geometry') return mysqlGeometryBytes(v);
  if (col.category === 'time' && typeof v === 'string' && /^P/i.test(v.trim())) return intervalAsTime(v) ?? v;
  return v;
}

/**
 * SQL builders for MySQL/MariaDB. Tables are not qualified: the database comes from the URL. Parameters are `?`
 * (mysql2 formats them client-side, so a statement may carry any number of them).
 *
 * - keyset reads use the expanded comparison `a > ? OR (a = ? AND b > ?)` (served by a composite index), order
 *   by the key and LIMIT, never OFFSET; with `byteOrder`, string key columns compare and order by their UTF-8
 *   bytes (`CAST(CONVERT(col USING utf8mb4) AS BINARY)`, which costs the index). Integer and decimal key values
 *   given as strings (as BIGINT/DECIMAL are read) are written as exact numeric literals when `keyCategories`
 *   says so.
 * - upserts are one `INSERT … VALUES (…), (…) ON DUPLICATE KEY UPDATE c = VALUES(c)`; without non-key columns
 *   the first key column is set to itself; no rows give a statement that does nothing. Note MySQL detects the
 *   conflict on any primary or unique key, not only `key`: a row whose other unique value (an email) is held by
 *   another row would update that row. Tandem writes rows with the store's `upsert` instead ({@link mysqlUpsertSql}).
 * With `columnInfo`, timestamp strings with a zone
 *   (`…Z`, `…+02:00`) are converted to UTC text. Throws `TypeError` when a row's length differs from `columns`
 *   or a keyset position's length from `key`; `TANDEM_ERR_CONFIG_INVALID` for an invalid identifier.
 * @internal
 */
export function mysqlSql(): SqlDialect {
  const table = (name: string) => mysqlIdent(name);
  const param = (_i: number) => '?';
  return {
    ...mysqlControlSql,
    ident: mysqlIdent,
    table,
    param,
    keyset(q: KeysetQuery): Statement {
      const params: unknown[] = [];
      const categories = q.key.map((_, i) => q.keyCategories?.[i]);
      const keyExpr = q.key.map((k, i) =>
        q.byteOrder && isStringCategory(categories[i]) ? byteOrdered(mysqlIdent(k)) : mysqlIdent(k),
      );
      const where: string[] = [];
      if (q.after) where.push(expandedCompare(keyExpr, q.after, '>', categories, params));
      if (q.upTo) where.push(expandedCompare(keyExpr, q.upTo, '<=', categories, params));
      if (q.where) where.push(predicateSql(q.where, () => '?', params));
      const sql = `SELECT ${q.columns.map(mysqlIdent).join(', ')} FROM ${table(q.table)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${keyExpr.join(', ')} LIMIT ${Math.max(1, Math.floor(q.limit))}`;
      return { sql, params };
    },
    upsert(q: UpsertQuery): Statement {
      // no rows: a statement that does nothing (as PostgreSQL's unnest of empty arrays does)
      if (q.rows.length === 0) return { sql: 'DO 0', params: [] };
      const cols = q.columns.map(mysqlIdent).join(', ');
      const nonKey = q.columns.filter((c) => !q.key.includes(c));
      const update = nonKey.length
        ? nonKey.map((c) => `${mysqlIdent(c)} = VALUES(${mysqlIdent(c)})`).join(', ')
        : `${mysqlIdent(q.key[0]!)} = ${mysqlIdent(q.key[0]!)}`;
      const params: unknown[] = [];
      const row = `(${q.columns.map(() => '?').join(', ')})`;
      const values: string[] = [];
      for (const r of q.rows) {
        if (r.length !== q.columns.length)
          throw new TypeError(`upsert row has ${r.length} values for ${q.columns.length} columns`);
        for (let i = 0; i < r.length; i++) params.push(upsertValue(r[i], q.columnInfo?.[i]));
        values.push(row);
      }
      return {
        sql: `INSERT INTO ${table(q.table)} (${cols}) VALUES ${values.join(', ')} ON DUPLICATE KEY UPDATE ${update}`,
        params,
      };
    },
    count(name: string): Statement {
      return { sql: `SELECT count(*) AS n FROM ${table(name)}`, params: [] };
    },
  };
}

/**
 * Most keys one read of existing target keys names ({@link mysqlUpsertSql}'s `existing`), as for the ledger.
 * @internal
 */
export const UPSERT_KEY_READ_CHUNK = 500;

/**
 * The statements of the MySQL/MariaDB row write by key (`upsertMysql` in ./index.ts runs them), for rows of
 * `q` (already split so that each statement binds a bounded number of values):
 * - `existing(rows)`: `SELECT` of the written columns of the target rows whose key is one of `rows`' keys (at
 *   most {@link UPSERT_KEY_READ_CHUNK} rows per statement; integer/decimal keys as exact literals with
 *   `columnInfo`), so that rows whose values are all there already are not written at all;
 * - `insert(rows)`: a plain multi-row `INSERT` — a duplicate on any primary or unique key raises 1062;
 * - `updates(rows)`, for rows whose key exists: one `UPDATE t SET c = ?, … WHERE k = ? AND …` per row. Not
 *   `INSERT … ON DUPLICATE KEY UPDATE`: that runs the table's BEFORE INSERT triggers first, and a trigger's
 *   `SET NEW.c = NOW()` reaches the update through `VALUES(c)` (MariaDB 10.11), rewriting a copied value — even
 *   a key column. An UPDATE by key touches only the key's row and fires only UPDATE triggers; a clash on another
 *   unique key raises 1062. Empty when every column is a key column (an existing row has nothing to update).
 * Throws `TypeError` when a row's length differs from `columns` or a key column is not among `columns`.
 * @internal
 */
export function mysqlUpsertSql(q: UpsertQuery) {
  const keyIdx = q.key.map((k) => {
    const i = q.columns.indexOf(k);
    if (i < 0) throw new TypeError(`upsert key column ${k} is not among the columns written`);
    return i;
  });
  const t = mysqlIdent(q.table);
  const cols = q.columns.map(mysqlIdent).join(', ');
  const tuple = `(${q.columns.map(() => '?').join(', ')})`;
  const nonKey = q.columns.filter((c) => !q.key.includes(c));
  const values = (rows: unknown[][]) => {
    const params: unknown[] = [];
    for (const r of rows) {
      if (r.length !== q.columns.length)
        throw new TypeError(`upsert row has ${r.length} values for ${q.columns.length} columns`);
      for (let i = 0; i < r.length; i++) params.push(upsertValue(r[i], q.columnInfo?.[i]));
    }
    return { sql: rows.map(() => tuple).join(', '), params };
  };
  const keyCategories = keyIdx.map((i) => q.columnInfo?.[i]?.category);
  return {
    keyIndexes: keyIdx,
    existing(rows: unknown[][]): Statement {
      if (rows.length > UPSERT_KEY_READ_CHUNK)
        throw new TypeError(`a key read names at most ${UPSERT_KEY_READ_CHUNK} keys`);
      const params: unknown[] = [];
      const ph = (v: unknown, j: number) => (params.push(numericKeyValue(v, keyCategories[j])), '?');
      const where =
        q.key.length === 1
          ? `${mysqlIdent(q.key[0]!)} IN (${rows.map((r) => ph(r[keyIdx[0]!], 0)).join(', ')})`
          : rows
              .map((r) => `(${q.key.map((k, j) => `${mysqlIdent(k)} = ${ph(r[keyIdx[j]!], j)}`).join(' AND ')})`)
              .join(' OR ');
      // every column written, so the caller can leave out rows whose values are already there
      return { sql: `SELECT ${q.columns.map(mysqlIdent).join(', ')} FROM ${t} WHERE ${where}`, params };
    },
    insert(rows: unknown[][]): Statement {
      const v = values(rows);
      return { sql: `INSERT INTO ${t} (${cols}) VALUES ${v.sql}`, params: v.params };
    },
    updates(rows: unknown[][]): Statement[] {
      if (nonKey.length === 0) return [];
      const set = nonKey.map((c) => `${mysqlIdent(c)} = ?`).join(', ');
      const where = q.key.map((k) => `${mysqlIdent(k)} = ?`).join(' AND ');
      const nonKeyIdx = nonKey.map((c) => q.columns.indexOf(c));
      return rows.map((r) => {
        if (r.length !== q.columns.length)
          throw new TypeError(`upsert row has ${r.length} values for ${q.columns.length} columns`);
        return {
          sql: `UPDATE ${t} SET ${set} WHERE ${where}`,
          params: [
            ...nonKeyIdx.map((i) => upsertValue(r[i], q.columnInfo?.[i])),
            ...keyIdx.map((i, j) => numericKeyValue(r[i], keyCategories[j])),
          ],
        };
      });
    },
  };
}

/**
 * Most keys one locking read of the ledger names: below MariaDB's `in_predicate_conversion_threshold` (1000),
 * past which an IN list becomes a semi-join whose plan may scan, and lock, every ledger row of the entity.
 * @internal
 */
export const LEDGER_READ_CHUNK = 500;

/**
 * The statements of the MySQL version-ledger advance for one entity (`ledgerTable` already quoted):
 * - `lockPlaceholders(keys)`: inserts missing rows at version -1 and takes an exclusive lock on every row. It is
 *   `INSERT … ON DUPLICATE KEY UPDATE version = version` rather than `INSERT IGNORE`: on a duplicate, InnoDB takes
 *   a shared lock for `INSERT IGNORE`, and two appliers upgrading shared locks on the same row deadlock;
 * - `selectForUpdate(keys)`: current versions, as a locking read (latest committed, whatever the snapshot), at most
 *   {@link LEDGER_READ_CHUNK} keys per statement. `FORCE INDEX (PRIMARY)` makes it point lookups: otherwise, on a
 *   small ledger, the optimizer reads (and locks) every row of the entity, and concurrent appliers deadlock;
 * - `writeWinners(entries)`: one multi-row upsert setting version, deleted and applied_at of the winning keys.
 * @internal
 */
export function mysqlLedgerSql(ledgerTable: string, entity: string) {
  return {
    lockPlaceholders(keys: string[]): Statement {
      const params: unknown[] = [];
      for (const k of keys) params.push(entity, k);
      return {
        sql: `INSERT INTO ${ledgerTable} (entity, entity_key, version, deleted) VALUES ${keys.map(() => '(?, ?, -1, false)').join(', ')} ON DUPLICATE KEY UPDATE version = version`,
        params,
      };
    },
    selectForUpdate(keys: string[]): Statement {
      if (keys.length > LEDGER_READ_CHUNK) throw new TypeError(`a ledger read names at most ${LEDGER_READ_CHUNK} keys`);
      return {
        sql: `SELECT entity_key AS \`key\`, version FROM ${ledgerTable} FORCE INDEX (PRIMARY) WHERE entity = ? AND entity_key IN (${keys.map(() => '?').join(', ')}) FOR UPDATE`,
        params: [entity, ...keys],
      };
    },
    writeWinners(entries: LedgerEntry[]): Statement {
      const params: unknown[] = [];
      for (const e of entries) params.push(entity, e.key, e.version, e.deleted);
      return {
        sql: `INSERT INTO ${ledgerTable} (entity, entity_key, version, deleted, applied_at) VALUES ${entries.map(() => '(?, ?, ?, ?, CURRENT_TIMESTAMP(6))').join(', ')}
          ON DUPLICATE KEY UPDATE version = VALUES(version), deleted = VALUES(deleted), applied_at = VALUES(applied_at)`,
        params,
      };
    },
  };
}

/**
 * What MySQL/MariaDB can do.
 * @internal
 */
export const mysqlCapabilities: StoreCapabilities = {
  skipLocked: true,
  maxParams: 65535,
  returning: false,
  arrayParams: false,
  abortsTransactionOnError: false,
  transactionalDdl: false,
  schemas: false,
  tableNameCase: 'server',
  columnNamesFoldCase: true,
  enforcesTypes: true,
  zeroDates: true,
};

type ControlPart = Omit<SqlDialect, 'ident' | 'table' | 'param' | 'keyset' | 'upsert' | 'count' | 'checksum'>;

/**
 * The control-plane builders of MySQL/MariaDB (clock, insert-ignore, DDL types, identity upserts, prepare).
 * @internal
 */
export const mysqlControlSql: ControlPart = {
  now: () => 'CURRENT_TIMESTAMP(6)',
  // the application's session may not be in UTC, but Tandem's timestamps are
  utcNow: () => 'UTC_TIMESTAMP(6)',
  nowPlus: (ms: number) => `CURRENT_TIMESTAMP(6) + INTERVAL ${Math.round(Math.max(0, ms) * 1000)} MICROSECOND`,
  nowMs: () => 'CAST(FLOOR(UNIX_TIMESTAMP(CURRENT_TIMESTAMP(3)) * 1000) AS SIGNED)',
  insertIgnore: (table: string, columns: string[], conflict: string[]) =>
    `INSERT INTO ${table} (${columns.map(mysqlIdent).join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON DUPLICATE KEY UPDATE ${mysqlIdent(conflict[0]!)} = ${mysqlIdent(conflict[0]!)}`,
  random: () => 'RAND()',
  intDiv: (a: string, b: string) => `${a} DIV ${b}`,
  beginWrite: 'BEGIN',
  shareLock: mysqlFenceShareLock,
  asyncCommit: null,
  ddl: {
    text: (n: number) => `varchar(${n})`,
    bigint: 'bigint',
    bool: 'boolean',
    ts: 'datetime(6)',
    serial: 'bigint AUTO_INCREMENT PRIMARY KEY',
    longtext: 'longtext',
    tableSuffix: ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
    inlineIndexes: true,
    indexName: (n: string) => n,
    createNamespace: null,
    // DDL commits implicitly in MySQL: a named lock on one connection instead of a transaction
    lock: {
      acquire: `SELECT GET_LOCK('tandem_control_schema', 30) AS ok`,
      release: `SELECT RELEASE_LOCK('tandem_control_schema') AS ok`,
    },
  },
  identity: {
    ledgerWrite(table, mode) {
      const into = `INSERT INTO ${table} (entity, entity_key, identifier, state, scheme, updated_ms, migrated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`;
      if (mode === 'insert-only') return `${into} ON DUPLICATE KEY UPDATE entity = entity`;
      const keep =
        mode === 'unless-migrated'
          ? (col: string, v: string) => `${col} = IF(state = 'migrated', ${col}, ${v})`
          : (col: string, v: string) => `${col} = ${v}`;
      // MySQL evaluates the assignments left to right: `state` goes last so the others see the old state
      return `${into} ON DUPLICATE KEY UPDATE ${[
        keep('identifier', 'VALUES(identifier)'),
        keep('scheme', 'COALESCE(VALUES(scheme), scheme)'),
        keep('updated_ms', 'VALUES(updated_ms)'),
        keep('migrated_ms', 'COALESCE(VALUES(migrated_ms), migrated_ms)'),
        keep('state', 'VALUES(state)'),
      ].join(', ')}`;
    },
    failureCount: (table) =>
      `INSERT INTO ${table} (id, failures, last_failure_ms) VALUES (?, 1, ?) ON DUPLICATE KEY UPDATE failures = IF(last_failure_ms < ?, 1, failures + 1), last_failure_ms = VALUES(last_failure_ms)`,
    columnCollation: (table, column) => ({
      sql: 'SELECT COLLATION_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?',
      params: [table, column],
    }),
  },
  prepare: mysqlPrepare,
};
