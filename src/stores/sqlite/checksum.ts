import { andPredicate, predicateSql } from '../../core/where.js';
import type Database from 'better-sqlite3';
import { canonicalDecimal } from '../../core/canonical.js';
import { encodeRow, hashColumnText, rowHash } from '../../core/encoding.js';
import { parseKey } from '../postgres/checksum.js';
import type {
  ChecksumCell,
  ChecksumQuery,
  ChecksumSql,
  HashColumn,
  KeyValues,
  ParsedStatement,
  ProbeQuery,
  Row,
  TypeCategory,
} from '../types.js';
import { sqliteIdent } from './sql.js';

/**
 * Pushed-down checksums for SQLite. SQLite has no hash functions, so the row hash is a deterministic function
 * registered on the connection (`tandem_row_hash`, see {@link registerChecksumFunctions}) that runs
 * `src/core/encoding.ts` in-process, inside the engine's scan: the values are converted as the store reads
 * them (integers beyond 2^53 as decimal text), cast, canonicalised and hashed exactly as the JS side does. Every
 * category, cast and constant is therefore supported.
 *
 * Sums: SQLite's `sum()` of 64-bit integers raises on overflow, so each hash is summed as two halves,
 * `sum(h >> 32)` and `sum(h & 0xFFFFFFFF)`, each exact in 64 bits for up to 2^31 rows per cell; verify recombines
 * them mod 2^64. String keys compare with `COLLATE BINARY` (UTF-8 bytes).
 * @internal
 */
export const sqliteChecksum: ChecksumSql = {
  cheapCells: true,
  // the registered function reads category, scale, float width and cast only: pad semantics, arrays and a
  // cast's separator stream (SQLite itself keeps trailing spaces and has no arrays)
  supports: (h) => !h.as.padded && h.as.category !== 'array' && h.cast !== 'array' && h.separator === undefined,
  checksum(q: ChecksumQuery): ParsedStatement<ChecksumCell[]> {
    const params: unknown[] = [];
    const keyExpr = keyExprs(q.key, q.keyCategories);
    const cellSql = q.cells.length ? caseTree(keyExpr, q.cells, 0, q.cells.length, params) : '0';
    const inner = q.hashes.map((cols, i) => {
      const args = cols.filter((h) => h.column).map((h) => sqliteIdent(h.column!.name));
      params.push(specOf(cols));
      return `tandem_row_hash(?${args.length ? `, ${args.join(', ')}` : ''}) AS h${i}`;
    });
    const where = andPredicate(
      rangeWhere(keyExpr, q.after, q.upTo, params),
      q.where ? predicateSql(q.where, () => '?', params) : null,
    );
    const sums = q.hashes.map((_, i) => `sum(h${i} >> 32) AS hi${i}, sum(h${i} & 4294967295) AS lo${i}`);
    const sql = `SELECT cell, count(*) AS n${sums.length ? `, ${sums.join(', ')}` : ''} FROM (SELECT ${cellSql} AS cell${inner.length ? `, ${inner.join(', ')}` : ''} FROM ${sqliteIdent(q.table)}${where}) GROUP BY cell`;
    return {
      sql,
      params,
      parse: (rows: Row[]): ChecksumCell[] =>
        rows
          .map((r) => ({
            cell: Number(r.cell),
            count: Number(r.n),
            sums: q.hashes.map((_, i) =>
              BigInt.asUintN(64, (BigInt(String(r[`hi${i}`] ?? 0)) << 32n) + BigInt(String(r[`lo${i}`] ?? 0))),
            ),
          }))
          .filter((c) => c.count > 0)
          .sort((a, b) => a.cell - b.cell),
    };
  },
  nth(q: ProbeQuery): ParsedStatement<KeyValues | null> {
    const params: unknown[] = [];
    const keyExpr = keyExprs(q.key, q.keyCategories);
    const where = andPredicate(
      rangeWhere(keyExpr, q.after, q.upTo, params),
      q.where ? predicateSql(q.where, () => '?', params) : null,
    );
    const sql = `SELECT ${q.key.map(sqliteIdent).join(', ')} FROM ${sqliteIdent(q.table)}${where} ORDER BY ${keyExpr.join(', ')} LIMIT 1 OFFSET ${Math.max(0, Math.floor(q.offset))}`;
    return { sql, params, parse: (rows) => parseKey(rows, q.key) };
  },
  sumExpr: (column) => `tandem_decimal_sum(${sqliteIdent(column)})`,
  exactGroupExpr: (column, category) =>
    isString(category) ? `${sqliteIdent(column)} COLLATE BINARY` : sqliteIdent(column),
};

function isString(c: TypeCategory | undefined): boolean {
  return c === 'text' || c === 'uuid' || c === 'other' || c === undefined;
}

function keyExprs(key: string[], categories: TypeCategory[]): string[] {
  return key.map((k, i) => (isString(categories[i]) ? `${sqliteIdent(k)} COLLATE BINARY` : sqliteIdent(k)));
}

const row = (xs: string[]) => (xs.length === 1 ? xs[0]! : `(${xs.join(', ')})`);

function rangeWhere(keyExpr: string[], after: KeyValues | null, upTo: KeyValues | null, params: unknown[]): string {
  const w: string[] = [];
  const ph = (vs: KeyValues) => row(vs.map((v) => (params.push(v), '?')));
  if (after) w.push(`${row(keyExpr)} > ${ph(after)}`);
  if (upTo) w.push(`${row(keyExpr)} <= ${ph(upTo)}`);
  return w.length ? ` WHERE ${w.join(' AND ')}` : '';
}

function caseTree(keyExpr: string[], bounds: KeyValues[], lo: number, hi: number, params: unknown[]): string {
  if (lo >= hi) return String(lo);
  const mid = (lo + hi) >> 1;
  const cond = `${row(keyExpr)} <= ${row(bounds[mid]!.map((v) => (params.push(v), '?')))}`;
  const left = caseTree(keyExpr, bounds, lo, mid, params);
  const right = caseTree(keyExpr, bounds, mid + 1, hi, params);
  return `CASE WHEN ${cond} THEN ${left} ELSE ${right} END`;
}

/** One hash column as the registered function reads it: [category, scale, floatBytes, cast, constant?]. */
type SpecEntry =
  | [TypeCategory, number | null, number | null, string | null]
  | [TypeCategory, number | null, number | null, string | null, string | null];

/** The spec argument of `tandem_row_hash`: the hash columns as JSON (constants carry their text). */
function specOf(cols: HashColumn[]): string {
  return JSON.stringify(
    cols.map((h): SpecEntry => {
      const base: [TypeCategory, number | null, number | null, string | null] = [
        h.as.category,
        h.as.scale ?? null,
        h.as.floatBytes ?? null,
        h.cast ?? null,
      ];
      return h.column ? base : [...base, h.constant ?? null];
    }),
  );
}

interface ParsedSpec {
  cols: { h: HashColumn; arg: number }[];
  categories: TypeCategory[];
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A value as the SQLite store's reads return it (see `fromSqliteRow`): integers beyond 2^53 as decimal text. */
function asRead(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
  return v;
}

/**
 * Registers Tandem's checksum functions on an SQLite connection (called by the SQLite store when it opens):
 *
 * - `tandem_row_hash(spec, v1, …, vn)` → the signed 64-bit row hash (the unsigned hash of encoding.ts, as
 *   SQLite integers are signed): `spec` is the JSON list of the hashed values' types (see `specOf`), the
 *   values follow in order (constants are in the spec, not in the arguments). Deterministic.
 * - `tandem_decimal_sum(x)` → the exact decimal sum of a column as text (quick tier), NULLs ignored, NULL for
 *   no values.
 * @internal
 */
export function registerChecksumFunctions(db: Database.Database): void {
  const specs = new Map<string, ParsedSpec>();
  const parse = (spec: string): ParsedSpec => {
    let p = specs.get(spec);
    if (p) return p;
    const entries = JSON.parse(spec) as SpecEntry[];
    let arg = 0;
    const cols = entries.map((e) => {
      const as = {
        category: e[0],
        ...(e[1] !== null ? { scale: e[1] } : {}),
        ...(e[2] !== null ? { floatBytes: e[2] } : {}),
      };
      if (e.length === 5) return { h: { column: null, constant: e[4], as } as HashColumn, arg: -1 };
      return {
        h: {
          column: { name: '', dataType: '', category: e[0], nullable: true },
          as,
          ...(e[3] ? { cast: e[3] } : {}),
        } as HashColumn,
        arg: arg++,
      };
    });
    p = { cols, categories: entries.map((e) => e[0]) };
    if (specs.size > 1000) specs.clear();
    specs.set(spec, p);
    return p;
  };
  db.function(
    'tandem_row_hash',
    { deterministic: true, varargs: true, safeIntegers: true },
    (spec: unknown, ...args: unknown[]) => {
      const p = parse(String(spec));
      const texts = p.cols.map(({ h, arg }) => (arg < 0 ? (h.constant ?? null) : hashColumnText(h, asRead(args[arg]))));
      return BigInt.asIntN(64, rowHash(encodeRow(texts, p.categories)));
    },
  );
  db.aggregate('tandem_decimal_sum', {
    start: () => null as { int: bigint; scale: number } | null,
    step: (acc: { int: bigint; scale: number } | null, v: unknown) => {
      if (v === null || v === undefined) return acc;
      const t = canonicalDecimal(typeof v === 'bigint' ? v.toString() : v);
      const [i, f = ''] = t.replace('-', '').split('.');
      const neg = t.startsWith('-');
      const cur = acc ?? { int: 0n, scale: 0 };
      const scale = Math.max(cur.scale, f.length);
      const a = cur.int * 10n ** BigInt(scale - cur.scale);
      const b = BigInt(`${i}${f.padEnd(scale, '0')}`) * (neg ? -1n : 1n);
      return { int: a + b, scale };
    },
    result: (acc: { int: bigint; scale: number } | null) => {
      if (!acc) return null;
      const neg = acc.int < 0n;
      const digits = (neg ? -acc.int : acc.int).toString().padStart(acc.scale + 1, '0');
      const body = acc.scale
        ? `${digits.slice(0, digits.length - acc.scale)}.${digits.slice(digits.length - acc.scale)}`
        : digits;
      return neg ? `-${body}` : body;
    },
    safeIntegers: true,
    deterministic: true,
  });
}
