import { SKIP, type Cast, type ColumnSpec, type EntityConfig, type TargetConfig } from '../config/schema.js';
import type { ColumnInfo, Executor, Row, SourcePredicate, Store, TableInfo, TypeCategory } from '../stores/types.js';
import {
  canonicalBoolean,
  canonicalDecimal,
  canonicalInteger,
  canonicalJson,
  canonicalTimestamp,
  canonicalize,
} from './canonical.js';
import { parseJsonExact, readArray, splitDelimited } from './composite.js';
import { TandemError } from './errors.js';
import { isZeroDate, toEwkb, toEwkt, toWkb, toWkt } from './extra-types.js';
import { type QuoteRule, safeDriverError, scrubMessage } from './redact.js';

/**
 * An entity resolved against the live schemas: which source columns to read, how each source row becomes one
 * row per target table, its key and its version. Built by `resolveEntities` (src/config/resolve.ts).
 */
export interface ResolvedEntity {
  name: string;
  config: EntityConfig;
  source: TableInfo;
  /** Source key columns, in key order. */
  key: string[];
  keyColumns: ColumnInfo[];
  /** The source version column, if the entity has one. */
  version: ColumnInfo | null;
  /** Source columns read by backfill and verify (key first, then the others the mapping needs). */
  readColumns: string[];
  /** Whether every column mapping is declarative (no TypeScript transform). */
  declarative: boolean;
  targets: ResolvedTarget[];
  sensitive: Set<string>;
  /**
   * Reads the current rows of the entity's source for raw key values, where one table does not hold them all
   * (the reverse direction reads several new tables). Absent: `SELECT readColumns FROM source WHERE key IN …`.
   */
  read?: (store: Store, keys: unknown[][], via: Executor) => Promise<Row[]>;
  /**
   * The entity's `where`, checked (src/core/where.ts): only source rows matching it are migrated. Every read of
   * the source by key range passes it to the builders (`KeysetQuery.where`, `ChecksumQuery.where`); reads by key
   * (relay, repair) mark the rows that do not match with {@link markExcluded}, and they map as skipped.
   */
  where?: SourcePredicate | null;
}

/** One target table of an entity, resolved. */
export interface ResolvedTarget {
  table: TableInfo;
  /** Target columns written, in write order, with their metadata. */
  columns: ColumnInfo[];
  /** Target columns holding the entity key, in entity key order. */
  keyColumns: string[];
  /** Produces the target value of each of `columns` from a source row. */
  valueOf: ((row: Row) => unknown)[];
  /**
   * Per column of `columns`, what {@link checkFits} must check at run time: `full` (length, range, type),
   * `null` (only NOT NULL: the source column's type already fits, see {@link staticFit}), or `none`.
   * Absent: `full` for every column.
   */
  checks?: FitCheck[];
  config: TargetConfig;
}

/** A mapped source row: its key (canonical string and raw values), version, and one value array per target. */
export interface MappedRow {
  key: string;
  keyValues: unknown[];
  version: bigint;
  values: unknown[][];
  /**
   * True when the mapping leaves the row out (a transform returned {@link SKIP}, or the row does not match the
   * entity's `where`): `values` is empty, apply deletes the key's target rows, verify counts it as skipped.
   */
  skipped?: boolean;
}

export { SKIP };

/** Source rows read by key that do not match their entity's `where` (see {@link markExcluded}). */
const excluded = new WeakSet<Row>();

/** Marks a source row read by key as not matching its entity's `where`: {@link mapRow} maps it as skipped. */
export function markExcluded(row: Row): void {
  excluded.add(row);
}

/** The canonical key string of a row: JSON array of the canonical key values (`["42"]`, `["7","a"]`). */
export function keyString(values: unknown[], columns: Pick<ColumnInfo, 'category' | 'scale' | 'floatBytes'>[]): string {
  return JSON.stringify(values.map((v, i) => canonicalize(v, columns[i]!)));
}

/**
 * The version of a source row as a bigint: integer columns as they are, timestamps as microseconds since the
 * Unix epoch (UTC). Rows of entities without a version column get 0 (last writer wins).
 */
export function versionOf(row: Row, column: ColumnInfo | null): bigint {
  if (!column) return 0n;
  const v = row[column.name];
  if (v === null || v === undefined) return 0n;
  if (column.category === 'timestamp' || column.category === 'timestamptz') {
    const c = canonicalTimestamp(v);
    const ms = Date.parse(`${c.slice(0, 23)}Z`);
    // infinity, -infinity and the zero date are no instant: they have no version
    if (Number.isNaN(ms))
      throw new TypeError(`the version column ${column.name} holds a timestamp that is not an instant`);
    return BigInt(ms) * 1000n + BigInt(Number(c.slice(23, 26)));
  }
  return BigInt(canonicalInteger(v));
}

/**
 * Applies a declarative cast to a value (JS side). Returns null for null. `array` reads a JS array or a
 * PostgreSQL array literal as it is, and any other string as the parts between `separator`s (default `,`, a
 * MySQL/MariaDB SET's; `''` is the empty array). Throws `TypeError` for a value the cast cannot read.
 */
export function applyCast(v: unknown, cast: Cast, separator?: string): unknown {
  if (v === null || v === undefined) return null;
  switch (cast) {
    case 'text':
      return Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'object' ? canonicalJson(v) : String(v);
    case 'integer':
      return canonicalInteger(v);
    case 'decimal':
      return canonicalDecimal(v);
    case 'float':
      return Number(v);
    case 'boolean':
      return canonicalBoolean(v);
    case 'timestamp':
      return canonicalTimestamp(v).replace('T', ' ').replace('Z', '');
    case 'date':
      return canonicalTimestamp(v).slice(0, 10);
    case 'json':
      return typeof v === 'string' ? canonicalJson(parseJsonExact(v)) : canonicalJson(v);
    case 'array':
      return castToArray(v, separator);
    case 'lower':
      return String(v).toLowerCase();
    case 'upper':
      return String(v).toUpperCase();
    case 'trim':
      return String(v).trim();
    // spatial values (src/core/extra-types.ts): WKT/WKB drop the SRID, EWKT/EWKB keep it (when not 0)
    case 'wkt':
      return toWkt(v);
    case 'ewkt':
      return toEwkt(v);
    case 'wkb':
      return toWkb(v);
    case 'ewkb':
      return toEwkb(v);
    // MySQL's zero date (`0000-00-00`, `0000-00-00 00:00:00`) becomes NULL; every other value is kept as it is
    case 'zero-date-null':
      return isZeroDate(v) ? null : v;
  }
}

/**
 * The `array` cast: a JS array as it is; with no `separator` given, a PostgreSQL array literal (`{a,b}`) or a
 * JSON array text is read as the array it writes; any other string is split at `separator` (default `,`).
 */
function castToArray(v: unknown, separator?: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (separator === undefined && typeof v === 'string' && /^\s*[[{]/.test(v)) {
    try {
      return readArray(v);
    } catch {
      // not an array literal: a delimited string after all
    }
  }
  return splitDelimited(v, separator);
}

/**
 * A source column's value as its type means it: the pad of a `char(n)` (`padded`) is dropped (PostgreSQL
 * returns it, MySQL/MariaDB strip it), so it reaches an unpadded target column (varchar, text) as the same
 * text on every engine. Other values pass through.
 */
export function unpad(v: unknown): unknown {
  return typeof v === 'string' && v.endsWith(' ') ? v.replace(/ +$/, '') : v;
}

/** Compiles one column spec into a function of the source row. */
export function compileColumn(spec: ColumnSpec): (row: Row) => unknown {
  if (typeof spec === 'string') return (row) => row[spec];
  if ('from' in spec) {
    const { from, cast } = spec;
    const sep = 'separator' in spec ? spec.separator : undefined;
    return cast ? (row) => applyCast(row[from], cast, sep) : (row) => row[from];
  }
  if ('value' in spec) {
    const value = spec.value;
    return () => value;
  }
  return spec.transform;
}

/** The source column a spec reads directly, if it is a rename or cast. */
export function specSource(spec: ColumnSpec): string | null {
  if (typeof spec === 'string') return spec;
  if ('from' in spec) return spec.from;
  return null;
}

/**
 * Maps one source row: key, version, and per target the values in `target.columns` order (after the target's
 * row transform, if any). Throws `TANDEM_ERR_MAPPING_INVALID` when a transform throws.
 */
export function mapRow(entity: ResolvedEntity, row: Row): MappedRow {
  const keyValues = entity.key.map((k) => row[k]);
  const key = keyString(keyValues, entity.keyColumns);
  const version = versionOf(row, entity.version);
  if (excluded.has(row)) return { key, keyValues, version, values: [], skipped: true };
  let skip = false;
  const values = entity.targets.map((t) => {
    if (skip) return [];
    try {
      if (!t.config.transform) {
        const vs = t.valueOf.map((f) => f(row));
        if (vs.includes(SKIP)) skip = true;
        return vs;
      }
      const mapped: Row = {};
      t.columns.forEach((c, i) => (mapped[c.name] = t.valueOf[i]!(row)));
      if (Object.values(mapped).includes(SKIP)) {
        skip = true;
        return [];
      }
      const out = t.config.transform(row, mapped);
      if (out === SKIP) {
        skip = true;
        return [];
      }
      return t.columns.map((c) => out[c.name]);
    } catch (e) {
      // a transform's error can quote the row (JSON.parse does): quoted text and URLs are removed
      const why = scrubMessage(e instanceof Error ? e.message : String(e), [], TRANSFORM_QUOTES);
      throw new TandemError(
        'MAPPING_INVALID',
        `entity ${entity.name} key ${shownKey(entity, key)}: a transform for ${t.table.name} threw: ${why}`,
        { entity: entity.name, table: t.table.name },
        { cause: safeDriverError(e, (x) => scrubMessage(x, [], TRANSFORM_QUOTES)) },
      );
    }
  });
  if (skip) return { key, keyValues, version, values: [], skipped: true };
  return { key, keyValues, version, values };
}

/** Quoted text in a transform's error is taken for a value (names are not quoted there). */
const TRANSFORM_QUOTES: readonly QuoteRule[] = [
  { quote: '"', nameBefore: /(?!)/ },
  { quote: "'", nameBefore: /(?!)/ },
  { quote: '`', nameBefore: /(?!)/ },
];

/** Text shown for a key that is sensitive: a key column listed in `sensitive` is never printed. */
export const REDACTED_KEY = '[redacted]';

/**
 * The key as errors may print it: its canonical text, or `[redacted]` when a key column (source, or the target
 * column it is copied to) is listed in the entity's `sensitive`.
 */
export function shownKey(entity: Pick<ResolvedEntity, 'key' | 'sensitive' | 'targets'>, key: string): string {
  if (!entity.sensitive?.size) return key;
  const names = new Set(entity.key);
  for (const t of entity.targets ?? [])
    for (const k of t.keyColumns ?? []) {
      names.add(k);
      names.add(`${t.table.name}.${k}`);
    }
  for (const n of names) if (entity.sensitive.has(n)) return REDACTED_KEY;
  return key;
}

/** PostgreSQL/MariaDB accept a UUID as 32 hex digits, hyphens between groups, optionally in braces. */
const UUID_TEXT = /^\{?[0-9a-f]{4}(?:-?[0-9a-f]{4}){7}\}?$/i;

const INT_RANGE: Record<number, [bigint, bigint]> = {
  1: [-128n, 127n],
  2: [-32768n, 32767n],
  3: [-8388608n, 8388607n],
  4: [-2147483648n, 2147483647n],
  8: [-9223372036854775808n, 9223372036854775807n],
};

/**
 * Checks that a mapped value fits a target column (NOT NULL, character length, integer range, decimal
 * precision, readable as its category) and returns a reason when it does not, or null when it fits.
 * Values are never included in the reason (they may be sensitive).
 */
export function misfit(value: unknown, col: ColumnInfo): string | null {
  if (value === null || value === undefined)
    return col.nullable || col.generated ? null : 'is NULL but the column is NOT NULL';
  const cat: TypeCategory = col.category;
  try {
    if (cat === 'text' && col.maxLength !== undefined) {
      const len = [...String(value)].length;
      if (len > col.maxLength) return `is ${len} characters long, more than ${col.dataType} allows`;
    } else if (cat === 'integer' && /^year\b/.test(col.dataType)) {
      // MySQL/MariaDB YEAR: 1901-2155, or the zero year 0
      const n = BigInt(canonicalInteger(value));
      if (n !== 0n && (n < 1901n || n > 2155n)) return `is out of range for ${col.dataType} (0 or 1901-2155)`;
    } else if (cat === 'integer') {
      const n = BigInt(canonicalInteger(value));
      const bytes = col.intBytes ?? 8;
      const [lo, hi] = col.unsigned ? [0n, (INT_RANGE[bytes]![1] + 1n) * 2n - 1n] : INT_RANGE[bytes]!;
      if (n < lo || n > hi) return `is out of range for ${col.dataType}`;
    } else if (cat === 'decimal' && col.precision !== undefined) {
      const c = canonicalDecimal(value, col.scale);
      const intDigits = c.replace('-', '').split('.')[0]!.replace(/^0+/, '').length;
      if (intDigits > col.precision - (col.scale ?? 0))
        return `has ${intDigits} integer digits, more than ${col.dataType} allows`;
    } else if (cat === 'uuid') {
      if (!(value instanceof Uint8Array) && !UUID_TEXT.test(String(value))) return `is not a UUID (${col.dataType})`;
    } else if (cat !== 'text' && cat !== 'other' && cat !== 'binary') {
      if ((cat === 'date' || cat === 'timestamp' || cat === 'timestamptz') && !col.zeroDates && isZeroDate(value))
        return `holds the zero date 0000-00-00, which ${col.dataType} cannot store (fix: cast: 'zero-date-null' writes NULL instead)`;
      canonicalize(value, col);
    }
  } catch {
    // the parser's message quotes the value: only the type is named
    return `cannot be read as ${col.dataType}`;
  }
  return null;
}

/** What a mapped value must be checked for before it is written. */
export type FitCheck = 'full' | 'null' | 'none';

/**
 * What a value copied by plain rename from `source` into `target` needs checking for: `none` or `null` when the
 * source column's declared type guarantees the value fits (same type family and no wider: a varchar(60) into
 * a varchar(100), an int into a bigint, a decimal(10,2) into a decimal(12,2), timestamps either way), `full`
 * otherwise. Sources whose declared types are not enforced (SQLite) always get `full`.
 */
export function staticFit(source: ColumnInfo, target: ColumnInfo, sourceEnforcesTypes: boolean): FitCheck {
  const nullCheck: FitCheck = target.nullable || target.generated || !source.nullable ? 'none' : 'null';
  if (!sourceEnforcesTypes) return 'full';
  const s = source.category,
    t = target.category;
  const ts = (c: string) => c === 'timestamp' || c === 'timestamptz';
  // a MySQL zero date fits only a column that can hold it (checked value by value otherwise)
  if (source.zeroDates && !target.zeroDates && (t === 'date' || ts(t))) return 'full';
  if (ts(s) && ts(t)) return nullCheck;
  if (s !== t) return 'full';
  switch (t) {
    case 'text':
      return target.maxLength === undefined || (source.maxLength !== undefined && source.maxLength <= target.maxLength)
        ? nullCheck
        : 'full';
    case 'integer': {
      const sb = source.intBytes ?? 8,
        tb = target.intBytes ?? 8;
      if (target.unsigned && !source.unsigned) return 'full';
      return tb > sb || (tb === sb && !!source.unsigned === !!target.unsigned) ? nullCheck : 'full';
    }
    case 'decimal':
      if (target.precision === undefined) return nullCheck;
      if (source.precision === undefined || source.scale === undefined) return 'full';
      return target.precision - (target.scale ?? 0) >= source.precision - source.scale &&
        (target.scale ?? 0) >= source.scale
        ? nullCheck
        : 'full';
    case 'float':
      return (target.floatBytes ?? 8) >= (source.floatBytes ?? 8) ? nullCheck : 'full';
    case 'date':
    case 'time':
    case 'boolean':
    case 'json':
    case 'uuid':
    case 'binary':
      return nullCheck;
    default:
      return 'full';
  }
}
