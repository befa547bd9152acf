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
  Row,
  TypeCategory,
} from '../types.js';
import { pgIdent } from './sql.js';

/**
 * Pushed-down checksums for PostgreSQL (and PGlite, which shares this file): the row hash encoding of
 * `src/core/encoding.ts` in SQL, per key range and cell.
 *
 * Per category (x is the column; the text is the canonical text in hash form, docs/verify.md):
 *
 * | category            | SQL                                                                  |
 * |---------------------|----------------------------------------------------------------------|
 * | integer             | `x::text`                                                            |
 * | decimal (scale s)   | `x::text` when the column has scale s, else `round(x::numeric, s)::text`; no scale: `trim_scale(x)::text` (`NaN`, `Infinity`, `-Infinity` print as the JS side writes them) |
 * | text                | `x::text` (for `char(n)` it drops the pad, as canonical encoding does); into a `char(n)` target `rtrim(x::text, ' ')` |
 * | array               | not pushed down (JS side streams: a JSON array of the elements' canonical texts) |
 * | uuid                | `x::text` (lower case); from a text column `lower(x)`                 |
 * | boolean             | `CASE x WHEN true THEN 'true' WHEN false THEN 'false' END`            |
 * | timestamp(tz)       | `to_char(x [AT TIME ZONE 'UTC'], 'YYYY-MM-DD HH24:MI:SS.US')`; `infinity`/`-infinity` as `x::text`; BC unreadable (`<unreadable as …:n:x::text>`) |
 * | date                | `x::text` (DateStyle ISO, which every Tandem session sets); BC unreadable |
 * | time                | `to_char(x::time::interval, 'HH24:MI:SS.US')`                        |
 * | binary              | `encode(x, 'hex')`                                                   |
 * | money               | `x::numeric::text` (plain decimal, scale 2)                            |
 * | bit                 | `x::text` (binary digits)                                            |
 * | inet                | `host(x)` for a host prefix (/32, /128), else `x::text`               |
 * | macaddr             | `x::text` (same type on both sides)                                   |
 * | interval            | `x::text` (`IntervalStyle = iso_8601`, set on every session)          |
 * | float, json, other  | not pushed down (JS side streams): text forms differ from JS's; geometry streams too |
 *
 * The row hash: `('x' || left(md5(row string), 16))::bit(64)::bigint` (signed; verify reduces sums mod 2^64).
 * Sums are `sum(bigint)`, exact in `numeric`. String keys compare `COLLATE "C"` (byte order of UTF-8).
 * @internal
 */
export function postgresChecksum(schema: string): ChecksumSql {
  const table = (name: string) => `${pgIdent(schema)}.${pgIdent(name)}`;
  return {
    cheapCells: false,
    supports: (h) => valueSql(h, '$0') !== null,
    checksum(q: ChecksumQuery): ParsedStatement<ChecksumCell[]> {
      const params: unknown[] = [];
      const p = (v: unknown) => (params.push(v), `$${params.length}`);
      const keyExpr = keyExprs(q.key, q.keyCategories);
      const where = andPredicate(
        rangeWhere(keyExpr, q.after, q.upTo, p),
        q.where ? predicateSql(q.where, (i) => `$${i}`, params) : null,
      );
      const cell = q.cells.length ? caseTree(keyExpr, q.cells, 0, q.cells.length, p) : '0';
      const hashes = q.hashes.map((cols, i) => `sum(${rowHashSql(cols, p)}) AS s${i}`);
      const sql = `SELECT ${cell} AS cell, count(*) AS n${hashes.length ? `, ${hashes.join(', ')}` : ''} FROM ${table(q.table)}${where}${q.cells.length ? ' GROUP BY 1' : ''}`;
      return { sql, params, parse: (rows) => parseCells(rows, q.hashes.length) };
    },
    nth(q: ProbeQuery): ParsedStatement<KeyValues | null> {
      const params: unknown[] = [];
      const p = (v: unknown) => (params.push(v), `$${params.length}`);
      const keyExpr = keyExprs(q.key, q.keyCategories);
      const where = andPredicate(
        rangeWhere(keyExpr, q.after, q.upTo, p),
        q.where ? predicateSql(q.where, (i) => `$${i}`, params) : null,
      );
      const sql = `SELECT ${q.key.map(pgIdent).join(', ')} FROM ${table(q.table)}${where} ORDER BY ${keyExpr.join(', ')} LIMIT 1 OFFSET ${Math.max(0, Math.floor(q.offset))}`;
      return { sql, params, parse: (rows) => parseKey(rows, q.key) };
    },
    sumExpr: (column) => `sum(${pgIdent(column)})::text`,
    exactGroupExpr: (column, category) =>
      category === 'text' ? `${pgIdent(column)}::text COLLATE "C"` : pgIdent(column),
  };
}

/** Key expressions in byte order: text keys `COLLATE "C"`, other types in their own order. */
function keyExprs(key: string[], categories: TypeCategory[]): string[] {
  return key.map((k, i) => (categories[i] === 'text' ? `${pgIdent(k)} COLLATE "C"` : pgIdent(k)));
}

const row = (xs: string[]) => (xs.length === 1 ? xs[0]! : `(${xs.join(', ')})`);

function rangeWhere(
  keyExpr: string[],
  after: KeyValues | null,
  upTo: KeyValues | null,
  p: (v: unknown) => string,
): string {
  const w: string[] = [];
  if (after) w.push(`${row(keyExpr)} > ${row(after.map(p))}`);
  if (upTo) w.push(`${row(keyExpr)} <= ${row(upTo.map(p))}`);
  return w.length ? ` WHERE ${w.join(' AND ')}` : '';
}

/**
 * The cell number of a row as a binary search over `bounds[lo..hi)`: `CASE WHEN key <= b THEN … ELSE … END`,
 * depth log2(cells); each bound appears once. Cells are numbered lo..hi.
 */
function caseTree(keyExpr: string[], bounds: KeyValues[], lo: number, hi: number, p: (v: unknown) => string): string {
  if (lo >= hi) return String(lo);
  const mid = (lo + hi) >> 1;
  return `CASE WHEN ${row(keyExpr)} <= ${row(bounds[mid]!.map(p))} THEN ${caseTree(keyExpr, bounds, lo, mid, p)} ELSE ${caseTree(keyExpr, bounds, mid + 1, hi, p)} END`;
}

function isChar(c: ColumnInfo): boolean {
  return /^(character|bpchar|char)(\(|$)/.test(c.dataType) && !/varying/.test(c.dataType);
}

/** The hash form of one value as SQL text, or null when PostgreSQL cannot produce it exactly. `x` is the column. */
function valueSql(h: HashColumn, param: string): string | null {
  if (!h.column) return param;
  if (h.cast) return null;
  const c = h.column;
  const x = pgIdent(c.name);
  const from = c.category;
  switch (h.as.category) {
    case 'integer':
      return from === 'integer' ? `${x}::text` : null;
    case 'decimal': {
      if (from !== 'decimal' && from !== 'integer') return null;
      // money prints with its currency symbol: as numeric it is the plain decimal the store reads
      if (c.dataType === 'money') return moneySql(x, h.as.scale);
      const s = h.as.scale;
      if (s === undefined) return `trim_scale(${x}::numeric)::text`;
      if (from === 'decimal' && c.scale === s) return `${x}::text`;
      return `round(${x}::numeric, ${Math.floor(s)})::text`;
    }
    case 'text':
      // char(n): `bpchar::text` drops the pad, as canonical encoding does (pad is not data); a value written into
      // a char(n) target loses its trailing spaces there, so the other side drops them too
      if (from === 'text') return isChar(c) ? `${x}::text` : h.as.padded ? `rtrim(${x}::text, ' ')` : `${x}::text`;
      if (from === 'uuid' || from === 'integer') return `${x}::text`;
      return null;
    case 'uuid':
      return from === 'uuid' ? `${x}::text` : from === 'text' ? `lower(${x}::text)` : null;
    case 'boolean':
      return from === 'boolean' ? `CASE ${x} WHEN true THEN 'true' WHEN false THEN 'false' END` : null;
    case 'timestamp':
    case 'timestamptz':
      if (from === 'timestamp') return timestampSql(x, x, h.as.category);
      if (from === 'timestamptz') return timestampSql(`(${x} AT TIME ZONE 'UTC')`, x, h.as.category);
      return null;
    case 'date':
      return from === 'date'
        ? `CASE WHEN ${x} >= date '0001-01-01' OR NOT isfinite(${x}) THEN ${x}::text ELSE ${unreadableSql(`${x}::text`, 'date')} END`
        : null;
    case 'time':
      return from === 'time' ? `to_char(${x}::time::interval, 'HH24:MI:SS.US')` : null;
    case 'binary':
      return from === 'binary' ? `encode(${x}, 'hex')` : null;
    // issue 13 (types-b)
    case 'bit':
      return from === 'bit' ? `${x}::text` : null;
    case 'inet':
      // a host prefix (/32, /128) is not written, as canonicalInet does; host() prints the address alone
      return from === 'inet'
        ? `CASE WHEN masklen(${x}) = CASE family(${x}) WHEN 4 THEN 32 ELSE 128 END THEN host(${x}) ELSE ${x}::text END`
        : null;
    case 'macaddr':
      return from === 'macaddr' && c.dataType === (h.as as Partial<ColumnInfo>).dataType ? `${x}::text` : null;
    case 'interval':
      // every Tandem session sets IntervalStyle = iso_8601, whose output is the canonical text
      return from === 'interval' ? `${x}::text` : null;
    default:
      return null;
  }
}

/** `money` as the decimal text of scale `s` (2 when not given: lc_monetary's fractional digits). */
function moneySql(x: string, s: number | undefined): string {
  return s === undefined
    ? `trim_scale(${x}::numeric)::text`
    : s === 2
      ? `${x}::numeric::text`
      : `round(${x}::numeric, ${Math.floor(s)})::text`;
}

/**
 * The hash form of a timestamp: `infinity` / `-infinity` as PostgreSQL prints them (`to_char` returns NULL for
 * them), a BC timestamp unreadable with its raw text (the JS side cannot read `… BC`; `to_char`'s `YYYY` would
 * write 44 BC as 0044), else `to_char`. `utc` is the value as a UTC timestamp, `x` the column (its text is the
 * raw text the driver returns).
 */
function timestampSql(utc: string, x: string, as: TypeCategory): string {
  return `CASE WHEN NOT isfinite(${x}) THEN ${x}::text WHEN ${utc} < timestamp '0001-01-01' THEN ${unreadableSql(`${x}::text`, as)} ELSE to_char(${utc}, 'YYYY-MM-DD HH24:MI:SS.US') END`;
}

/** `<unreadable as <category>:<length>:<text>>` of a text expression, as `unreadableText` writes it (encoding.ts). */
function unreadableSql(t: string, category: TypeCategory): string {
  return `'<unreadable as ${category}:' || char_length(${t}) || ':' || ${t} || '>'`;
}

// 'array': only constants reach the SQL (array columns stream), their lengths follow as encoding.ts writes them
const TRACKED = new Set<TypeCategory>(['text', 'uuid', 'json', 'other', 'array']);

/** `('x' || left(md5(<row string>), 16))::bit(64)::bigint` for the columns of one hash. */
function rowHashSql(cols: HashColumn[], p: (v: unknown) => string): string {
  const parts: string[] = [];
  const lengths: string[] = [];
  for (const h of cols) {
    let v: string;
    if (!h.column) v = h.constant === null || h.constant === undefined ? `'~'` : `${p(h.constant)}::text`;
    else {
      const e = valueSql(h, '');
      if (e === null) throw new TypeError(`PostgreSQL cannot checksum ${h.column.name} as ${h.as.category}`);
      v = h.column.nullable ? `coalesce(${e}, '~')` : e;
      if (TRACKED.has(h.as.category))
        lengths.push(h.column.nullable ? `coalesce(char_length(${e})::text, '~')` : `char_length(${e})::text`);
    }
    if (!h.column && TRACKED.has(h.as.category))
      lengths.push(h.constant === null || h.constant === undefined ? `'~'` : `'${[...h.constant].length}'`);
    parts.push(v);
  }
  return `('x' || left(md5(concat_ws('|', ${[...parts, ...lengths].join(', ')})), 16))::bit(64)::bigint`;
}

/**
 * Rows of a checksum statement → cells with sums mod 2^64.
 * @internal
 */
export function parseCells(rows: Row[], hashes: number): ChecksumCell[] {
  const MOD = 1n << 64n;
  return rows
    .map((r) => ({
      cell: Number(r.cell),
      count: Number(r.n),
      sums: Array.from({ length: hashes }, (_, i) => {
        const v = r[`s${i}`];
        const b = v === null || v === undefined ? 0n : BigInt(String(v));
        return ((b % MOD) + MOD) % MOD;
      }),
    }))
    .filter((c) => c.count > 0)
    .sort((a, b) => a.cell - b.cell);
}

/**
 * The row of a probe → its key values (raw, as the driver returns them), or null for no row.
 * @internal
 */
export function parseKey(rows: Row[], key: string[]): KeyValues | null {
  return rows.length ? key.map((k) => rows[0]![k]) : null;
}
