import { andPredicate, predicateSql } from '../../core/where.js';
import type {
  ChecksumCell,
  ChecksumQuery,
  ChecksumSql,
  ColumnInfo,
  HashColumn,
  KeyValues,
  ParsedStatement,
  ProbeQuery,
  TypeCategory,
} from '../types.js';
import { parseCells, parseKey } from '../postgres/checksum.js';
import { MysqlNumericLiteral, mysqlIdent } from './sql.js';

/**
 * Pushed-down checksums for MySQL/MariaDB: the row hash encoding of `src/core/encoding.ts` in SQL.
 *
 * Per category (x is the column; each session runs with time_zone '+00:00'):
 *
 * | category            | SQL                                                                   |
 * |---------------------|-----------------------------------------------------------------------|
 * | integer             | `x` (CONCAT_WS prints integers in base 10)                             |
 * | decimal (scale s)   | `x` when the column has scale s (MariaDB never stores `-0.00`), else `CAST(x AS DECIMAL(65,s))`; no scale: trailing zeros trimmed |
 * | text                | `x`, lengths by `CHAR_LENGTH` (characters, whatever the character set); `TRIM(TRAILING ' ' FROM x)` when either side is `CHAR(n)` (`padded`) |
 * | array               | not pushed down (an `array` cast or an array target: JS side streams)  |
 * | uuid                | `LOWER(x)`                                                            |
 * | boolean (tinyint(1))| `CASE WHEN x IS NULL THEN NULL WHEN x <> 0 THEN 'true' ELSE 'false' END` |
 * | timestamp(tz)       | `x` for `DATETIME(6)`/`TIMESTAMP(6)` (MariaDB prints `YYYY-MM-DD HH:MM:SS.ffffff`), else `CONCAT(x, '.000000')` or the missing zeros; the zero date as is; an impossible date unreadable with its raw text |
 * | date                | `x`; the zero date as is; an impossible date unreadable with its raw text |
 * | time                | `x` for `TIME(6)`, else padded like timestamps                         |
 * | binary              | `LOWER(HEX(x))`                                                       |
 * | YEAR                | `x + 0` (the zero year prints as `0000` otherwise)                     |
 * | bit (BIT(n))        | `LPAD(BIN(x), n, '0')`                                                |
 * | inet (INET4)        | `x`; INET6 streams (it writes `2001:db8::1:1:1:1:1`, RFC 5952 `2001:db8:0:1:1:1:1:1`) |
 * | float, json, other  | not pushed down (JS side streams); geometry streams too                |
 *
 * The separator is `_utf8mb4'|' COLLATE utf8mb4_bin`: its explicit collation makes CONCAT_WS convert every
 * argument to utf8mb4, so latin1 columns hash their UTF-8 bytes. Row hash: `CAST(CONV(LEFT(MD5(…), 16), 16, 10) AS
 * UNSIGNED)`; sums are exact (`SUM` of
 * `BIGINT UNSIGNED` is a DECIMAL). String keys compare by UTF-8 bytes (`CAST(CONVERT(k USING utf8mb4) AS
 * BINARY)`), which cannot use the index: on a string key with a non-binary collation each segment is a scan.
 * @internal
 */
export function mysqlChecksum(): ChecksumSql {
  return {
    cheapCells: true,
    supports: (h) => valueSql(h) !== null,
    checksum(q: ChecksumQuery): ParsedStatement<ChecksumCell[]> {
      const params: unknown[] = [];
      const keyExpr = keyExprs(q.key, q.keyCategories);
      const cats = q.keyCategories;
      const where = andPredicate(
        rangeWhere(keyExpr, q.after, q.upTo, cats, params),
        q.where ? predicateSql(q.where, () => '?', params) : null,
      );
      // parameters are positional: the cell expression comes first in the statement, so build it first
      const cellParams: unknown[] = [];
      const cell = q.cells.length ? caseTree(keyExpr, q.cells, 0, q.cells.length, cats, cellParams) : '0';
      const hashParams: unknown[] = [];
      const hashes = q.hashes.map((cols, i) => `SUM(${rowHashSql(cols, hashParams)}) AS s${i}`);
      const sql = `SELECT ${cell} AS cell, COUNT(*) AS n${hashes.length ? `, ${hashes.join(', ')}` : ''} FROM ${mysqlIdent(q.table)}${where}${q.cells.length ? ' GROUP BY 1' : ''}`;
      return {
        sql,
        params: [...cellParams, ...hashParams, ...params],
        parse: (rows) => parseCells(rows, q.hashes.length),
      };
    },
    nth(q: ProbeQuery): ParsedStatement<KeyValues | null> {
      const params: unknown[] = [];
      const keyExpr = keyExprs(q.key, q.keyCategories);
      const where = andPredicate(
        rangeWhere(keyExpr, q.after, q.upTo, q.keyCategories, params),
        q.where ? predicateSql(q.where, () => '?', params) : null,
      );
      const sql = `SELECT ${q.key.map(mysqlIdent).join(', ')} FROM ${mysqlIdent(q.table)}${where} ORDER BY ${keyExpr.join(', ')} LIMIT 1 OFFSET ${Math.max(0, Math.floor(q.offset))}`;
      return { sql, params, parse: (rows) => parseKey(rows, q.key) };
    },
    sumExpr: (column) => `CAST(SUM(${mysqlIdent(column)}) AS CHAR)`,
    exactGroupExpr: (column, category) => (isString(category) ? byteOrdered(mysqlIdent(column)) : mysqlIdent(column)),
  };
}

function isString(c: TypeCategory | undefined): boolean {
  return c === 'text' || c === 'uuid' || c === 'other' || c === undefined;
}

/** String comparisons by UTF-8 bytes, whatever the column's character set and collation (NO PAD). */
function byteOrdered(col: string): string {
  return `CAST(CONVERT(${col} USING utf8mb4) AS BINARY)`;
}

function keyExprs(key: string[], categories: TypeCategory[]): string[] {
  return key.map((k, i) => (isString(categories[i]) ? byteOrdered(mysqlIdent(k)) : mysqlIdent(k)));
}

const NUMERIC_LITERAL = /^-?\d{1,65}(?:\.\d{1,38})?$/;

/** Integer and decimal keys read as strings are written as exact numeric literals (see `mysqlSql`). */
function keyValue(v: unknown, category: TypeCategory | undefined): unknown {
  if ((category === 'integer' || category === 'decimal') && typeof v === 'string' && NUMERIC_LITERAL.test(v.trim()))
    return new MysqlNumericLiteral(v.trim());
  return v;
}

/**
 * "key after `values`" (`>`) or "key up to `values`" (`<=`) expanded as `a > ? OR (a = ? AND b > ?)`, which
 * MariaDB serves from a composite index (row-value comparisons it does not).
 */
function compare(
  keyExpr: string[],
  values: KeyValues,
  op: '>' | '<=',
  categories: TypeCategory[],
  params: unknown[],
): string {
  if (values.length !== keyExpr.length)
    throw new TypeError(`key position has ${values.length} values for ${keyExpr.length} key columns`);
  const strict = op === '>' ? '>' : '<';
  const parts: string[] = [];
  for (let i = 0; i < keyExpr.length; i++) {
    const terms: string[] = [];
    for (let j = 0; j < i; j++) {
      terms.push(`${keyExpr[j]} = ?`);
      params.push(keyValue(values[j], categories[j]));
    }
    terms.push(`${keyExpr[i]} ${i === keyExpr.length - 1 ? op : strict} ?`);
    params.push(keyValue(values[i], categories[i]));
    parts.push(terms.length === 1 ? terms[0]! : `(${terms.join(' AND ')})`);
  }
  return parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
}

function rangeWhere(
  keyExpr: string[],
  after: KeyValues | null,
  upTo: KeyValues | null,
  categories: TypeCategory[],
  params: unknown[],
): string {
  const w: string[] = [];
  if (after) w.push(compare(keyExpr, after, '>', categories, params));
  if (upTo) w.push(compare(keyExpr, upTo, '<=', categories, params));
  return w.length ? ` WHERE ${w.join(' AND ')}` : '';
}

/** Binary search over the cell bounds as nested CASE (see the PostgreSQL version). */
function caseTree(
  keyExpr: string[],
  bounds: KeyValues[],
  lo: number,
  hi: number,
  categories: TypeCategory[],
  params: unknown[],
): string {
  if (lo >= hi) return String(lo);
  const mid = (lo + hi) >> 1;
  const cond = compare(keyExpr, bounds[mid]!, '<=', categories, params);
  const left = caseTree(keyExpr, bounds, lo, mid, categories, params);
  const right = caseTree(keyExpr, bounds, mid + 1, hi, categories, params);
  return `CASE WHEN ${cond} THEN ${left} ELSE ${right} END`;
}

/** Fractional-second digits MariaDB prints for a temporal column (`datetime(3)` → 3). */
function fsp(c: ColumnInfo): number {
  if (c.scale !== undefined) return c.scale;
  const m = /\((\d)\)/.exec(c.dataType);
  return m ? Number(m[1]) : 0;
}

/** `x` followed by the zeros that make 6 fractional digits. */
function padMicros(x: string, digits: number): string {
  if (digits >= 6) return x;
  return `CONCAT(${x}, '${digits === 0 ? '.000000' : '0'.repeat(6 - digits)}')`;
}

/** The hash form of one value as SQL, or null when MariaDB cannot produce it exactly. */
function valueSql(h: HashColumn): string | null {
  if (!h.column) return '?';
  if (h.cast) return null;
  const c = h.column;
  const x = mysqlIdent(c.name);
  const from = c.category;
  switch (h.as.category) {
    case 'integer':
      // YEAR prints the zero year as 0000 in string context
      if (from === 'integer' && /^year\b/.test(c.dataType)) return `(${x} + 0)`;
      return from === 'integer' ? x : null;
    case 'decimal': {
      if (from !== 'decimal' && from !== 'integer') return null;
      const s = h.as.scale;
      if (s === undefined) {
        if (from === 'integer' || !c.scale) return x;
        return `TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM ${x}))`;
      }
      if (s > 38) return null;
      if (from === 'decimal' && c.scale === s) return x;
      return `CAST(${x} AS DECIMAL(65, ${Math.floor(s)}))`;
    }
    case 'text':
      // CHAR(n) (`padded`) on either side: trailing spaces are pad, dropped as canonical encoding drops them
      if (from === 'text' && (h.as.padded || c.padded)) return `TRIM(TRAILING ' ' FROM ${x})`;
      return from === 'text' || from === 'integer' ? x : null;
    case 'uuid':
      return from === 'uuid' || from === 'text' ? `LOWER(CONVERT(${x} USING utf8mb4))` : null;
    case 'boolean':
      return from === 'boolean' ? `CASE WHEN ${x} IS NULL THEN NULL WHEN ${x} <> 0 THEN 'true' ELSE 'false' END` : null;
    case 'timestamp':
    case 'timestamptz':
      return from === 'timestamp' || from === 'timestamptz'
        ? calendarChecked(x, padMicros(x, fsp(c)), h.as.category, true)
        : null;
    case 'date':
      return from === 'date' ? calendarChecked(x, x, 'date', false) : null;
    case 'time':
      return from === 'time' ? padMicros(x, fsp(c)) : null;
    case 'binary':
      return from === 'binary' ? `LOWER(HEX(${x}))` : null;
    // issue 13 (types-b)
    case 'bit': {
      if (from !== 'bit' || c.bits === undefined) return null;
      const n = (h.as as Partial<ColumnInfo>).bits ?? 8 * Math.ceil(c.bits / 8);
      // a narrower target would drop high bits the JS side refuses: streamed instead
      return n >= c.bits && n <= 64 ? `LPAD(BIN(${x}), ${n}, '0')` : null;
    }
    case 'inet':
      // INET4 prints dotted decimal; INET6 compresses a single zero word (RFC 5952 does not): streamed
      return from === 'inet' && c.dataType === 'inet4' ? x : null;
    default:
      return null;
  }
}

/**
 * `readable` when the date part of `x` is a calendar day or `x` is the zero date (all zero, time included: the
 * JS side's exact special), else `x` unreadable with its raw text — an impossible date MariaDB keeps
 * (`2020-02-30` under ALLOW_INVALID_DATES, `2020-00-10`, `2020-01-00`, `0000-00-00 12:00:00`), written as
 * `unreadableText` does (src/core/encoding.ts). LAST_DAY is NULL for month 0; MariaDB counts year 0 as a common
 * year, as the JS side does.
 */
function calendarChecked(x: string, readable: string, as: TypeCategory, withTime: boolean): string {
  const zero = `(YEAR(${x}) = 0 AND MONTH(${x}) = 0 AND DAY(${x}) = 0${withTime ? ` AND TIME_TO_SEC(${x}) = 0` : ''})`;
  return `CASE WHEN DAY(${x}) BETWEEN 1 AND DAY(LAST_DAY(${x})) OR ${zero} THEN ${readable} ELSE CONCAT('<unreadable as ${as}:', CHAR_LENGTH(${x}), ':', ${x}, '>') END`;
}

// 'array': only constants reach the SQL (array columns stream), their lengths follow as encoding.ts writes them
const TRACKED = new Set<TypeCategory>(['text', 'uuid', 'json', 'other', 'array']);

/**
 * `CAST(CONV(LEFT(MD5(CONCAT_WS(_utf8mb4'|' COLLATE utf8mb4_bin, …)), 16), 16, 10) AS UNSIGNED)` for one hash.
 * The separator's explicit utf8mb4 collation makes CONCAT_WS convert every argument to utf8mb4 (latin1 columns
 * included), so MD5 sees UTF-8 bytes; on utf8mb4 columns it costs nothing (a CONVERT of the whole row string
 * costs a fifth of the query).
 */
function rowHashSql(cols: HashColumn[], params: unknown[]): string {
  const parts: string[] = [];
  const lengths: string[] = [];
  const lengthParams: unknown[] = [];
  for (const h of cols) {
    if (!h.column) {
      if (h.constant === null || h.constant === undefined) parts.push(`'~'`);
      else {
        parts.push('?');
        params.push(h.constant);
      }
      if (TRACKED.has(h.as.category)) {
        lengths.push('?');
        lengthParams.push(h.constant === null || h.constant === undefined ? '~' : String([...h.constant].length));
      }
      continue;
    }
    const e = valueSql(h);
    if (e === null) throw new TypeError(`MariaDB cannot checksum ${h.column.name} as ${h.as.category}`);
    parts.push(h.column.nullable ? `COALESCE(${e}, '~')` : e);
    if (TRACKED.has(h.as.category))
      lengths.push(h.column.nullable ? `COALESCE(CHAR_LENGTH(${e}), '~')` : `CHAR_LENGTH(${e})`);
  }
  params.push(...lengthParams);
  return `CAST(CONV(LEFT(MD5(CONCAT_WS(_utf8mb4'|' COLLATE utf8mb4_bin, ${[...parts, ...lengths].join(', ')})), 16), 16, 10) AS UNSIGNED)`;
}
