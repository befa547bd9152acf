import type { ColumnInfo, TypeCategory } from '../stores/types.js';
import {
  canonicalBit,
  canonicalGeometry,
  canonicalInet,
  canonicalInterval,
  canonicalMacaddr,
  intervalAsTime,
} from './extra-types.js';
import { JsonNumber, normalizeJsonNumber, parseJsonExact, readArray } from './composite.js';

/**
 * What canonical encoding reads of a column: its category and scale and float width, and (issue 13) whether a
 * fixed-length character type pads (`padded`) and an array's element type (`element`).
 */
export type CanonicalColumn = Pick<ColumnInfo, 'category' | 'scale' | 'floatBytes'> & {
  padded?: boolean;
  element?: CanonicalColumn;
};

/**
 * Canonical encoding: one text form per type category, so that values read from MariaDB, PostgreSQL, SQLite
 * and PGlite compare equal exactly when they mean the same. `null` (SQL NULL) is distinct from `''`.
 * The rules (docs/canonical-encoding.md repeats them):
 *
 * | category     | canonical text                                                                 |
 * |--------------|--------------------------------------------------------------------------------|
 * | integer      | base-10, no leading zeros or `+` (`-12`, `0`); exact for any width (BigInt)     |
 * | decimal      | base-10 at the column's scale (`10.50` for scale 2); without a declared scale, trailing zeros dropped (`10.5`); `-0` → `0`; `NaN`, `Infinity`, `-Infinity` |
 * | float        | shortest round-trip of the value as a double, after rounding to 6 significant digits for single-precision columns (`0.1`, `1e+21`) |
 * | text, uuid*  | the string as is (no trimming, no Unicode normalisation); uuid lower-cased      |
 * | boolean      | `true` / `false` (from true/false, 1/0, '1'/'0', 't'/'f', 'true'/'false')     |
 * | timestamp    | `YYYY-MM-DDTHH:MM:SS.ffffffZ`; values without a zone are taken as UTC; `infinity`, `-infinity`, zero date `0000-00-00T00:00:00.000000Z` |
 * | timestamptz  | the same instant converted to UTC, same form                                    |
 * | date         | `YYYY-MM-DD`; `infinity`, `-infinity`, zero date `0000-00-00`                   |
 * | time         | `[-]HH:MM:SS.ffffff`                                                            |
 * | binary       | lower-case hex of the bytes                                                     |
 * | json         | the parsed value re-serialised with object keys sorted (code-point order), no spaces, numbers exact and normalised (`1.0` → `1`, `1e2` → `100`) |
 * | text, padded | char(n) (`padded`): trailing spaces dropped (pad, not data)                    |
 * | array        | JSON array of the elements' canonical texts (`["a","b"]`), nested per dimension, NULL `null` |
 * | other        | `String(value)`                                                                 |
 *
 * Throws `TypeError` when a value cannot be read as its category — an impossible date (`2020-02-30`) included: no
 * value is ever moved to another one (the caller turns it into a TandemError that names the column, or verify
 * into an unreadable value that keeps its raw text, src/core/encoding.ts).
 */
export function canonicalize(value: unknown, column: CanonicalColumn): string | null {
  if (value === null || value === undefined) return null;
  return encoders[column.category](value, column);
}

type Encoder = (v: unknown, c: CanonicalColumn) => string;

const encoders: Record<TypeCategory, Encoder> = {
  integer: (v) => canonicalInteger(v),
  decimal: (v, c) => canonicalDecimal(v, c.scale),
  float: (v, c) => canonicalFloat(v, c.floatBytes === 4),
  text: (v, c) => {
    const t = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
    // char(n): trailing spaces are pad (PAD SPACE), not data
    return c.padded ? t.replace(/ +$/, '') : t;
  },
  uuid: (v) => String(v).toLowerCase(),
  boolean: (v) => String(canonicalBoolean(v)),
  timestamp: (v) => canonicalTimestamp(v),
  timestamptz: (v) => canonicalTimestamp(v),
  date: (v) => canonicalDate(v),
  time: (v) => canonicalTime(v),
  binary: (v) => canonicalBinary(v),
  json: (v) =>
    canonicalJson(
      typeof v === 'string' ? parseJsonExact(v) : Buffer.isBuffer(v) ? parseJsonExact(v.toString('utf8')) : v,
    ),
  // issue 13 fills these in (arrays, bit strings, network addresses, intervals, spatial values)
  array: (v, c) => canonicalArray(v, c.element ?? { category: 'text' }),
  // bit strings, network addresses, intervals, spatial values: src/core/extra-types.ts
  bit: (v, c) => canonicalBit(v, (c as Partial<ColumnInfo>).bits),
  inet: (v) => canonicalInet(v),
  macaddr: (v, c) => canonicalMacaddr(v, /^macaddr8/.test((c as Partial<ColumnInfo>).dataType ?? '')),
  interval: (v) => canonicalInterval(v),
  geometry: (v) => canonicalGeometry(v),
  other: (v) => (Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'object' ? canonicalJson(v) : String(v)),
};

/** Integer text for a number, bigint, boolean or decimal string with no fraction. */
export function canonicalInteger(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`${v} is not an integer`);
    return BigInt(v).toString();
  }
  const s = String(v).trim();
  const m = /^([+-]?)(\d+)(?:\.0*)?$/.exec(s);
  if (!m) throw new TypeError(`"${s.slice(0, 40)}" is not an integer`);
  const digits = m[2]!.replace(/^0+(?=\d)/, '');
  return m[1] === '-' && digits !== '0' ? `-${digits}` : digits;
}

/**
 * Decimal text at `scale` digits after the point, exact (string arithmetic, rounding half away from zero like
 * PostgreSQL and MariaDB do on insert). Numbers are first written with up to 15 significant digits. The specials
 * of PostgreSQL numeric are their own texts, `NaN`, `Infinity`, `-Infinity` (never padded to the scale).
 * Throws `TypeError` for anything else that is not a decimal number.
 */
export function canonicalDecimal(v: unknown, scale?: number): string {
  let s: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    s = Number(v.toPrecision(15)).toString();
    if (/e/i.test(s)) s = expandExponent(s);
  } else if (typeof v === 'bigint') s = v.toString();
  else s = String(v).trim();
  const special = decimalSpecial(s);
  if (special) return special;
  if (/e/i.test(s)) s = expandExponent(s);
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new TypeError(`"${s.slice(0, 40)}" is not a decimal`);
  const neg = m[1] === '-';
  let int = (m[2] || '0').replace(/^0+(?=\d)/, '');
  let frac = m[3] ?? '';
  if (scale === undefined) {
    frac = frac.replace(/0+$/, '');
  } else if (frac.length > scale) {
    const roundUp = frac.charCodeAt(scale) >= 53; // '5'
    frac = frac.slice(0, scale);
    if (roundUp) {
      const digits = (int + frac).split('').map(Number);
      let i = digits.length - 1;
      while (i >= 0) {
        if (digits[i]! < 9) {
          digits[i]!++;
          break;
        }
        digits[i] = 0;
        i--;
      }
      let all = digits.join('');
      if (i < 0) all = `1${all}`;
      int = all.slice(0, all.length - scale) || '0';
      frac = all.slice(all.length - scale);
    }
  } else frac = frac.padEnd(scale, '0');
  const body = frac.length ? `${int}.${frac}` : int;
  return neg && /[1-9]/.test(body) ? `-${body}` : body;
}

/**
 * PostgreSQL numeric's specials (`NaN`, and since PostgreSQL 14 `Infinity`, `-Infinity`), in the spellings its
 * input accepts (any case, `inf`), as PostgreSQL prints them; null for anything else.
 */
function decimalSpecial(s: string): string | null {
  if (/^nan$/i.test(s)) return 'NaN';
  const m = /^([+-]?)inf(?:inity)?$/i.exec(s);
  return m ? (m[1] === '-' ? '-Infinity' : 'Infinity') : null;
}

function expandExponent(s: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?e([+-]?\d+)$/i.exec(s.trim());
  if (!m) return s;
  const digits = (m[2] ?? '') + (m[3] ?? '');
  const point = (m[2] ?? '').length + Number(m[4]);
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (m[1] === '-' ? '-' : '') + out;
}

/** Shortest round-trip text of a double; single-precision values are first rounded to 6 significant digits. */
export function canonicalFloat(v: unknown, single: boolean): string {
  const t = String(v).trim();
  // only decimal spellings: JS's Number() would also read '' and ' ' as 0 and '0x10' as 16
  if (typeof v !== 'number' && !/^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$|^nan$|^[+-]?infinity$/i.test(t))
    throw new TypeError(`"${t.slice(0, 40)}" is not a number`);
  const n =
    typeof v === 'number'
      ? v
      : /^nan$/i.test(t)
        ? NaN
        : /infinity$/i.test(t)
          ? t.startsWith('-')
            ? -Infinity
            : Infinity
          : Number(t);
  if (!Number.isFinite(n)) return String(n);
  return String(single ? Number(n.toPrecision(6)) : n);
}

/** true/false from the spellings databases use for booleans. */
export function canonicalBoolean(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return Number(v) !== 0;
  // MySQL/MariaDB BIT(1) (one byte, 0 or 1)
  if (Buffer.isBuffer(v) && v.length === 1 && v[0]! <= 1) return v[0] === 1;
  const s = String(v).trim().toLowerCase();
  if (['1', 't', 'true', 'y', 'yes', 'on'].includes(s)) return true;
  if (['0', 'f', 'false', 'n', 'no', 'off'].includes(s)) return false;
  throw new TypeError(`"${s.slice(0, 40)}" is not a boolean`);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** A signed year with at least 4 digits (`0044`, `-0043`, `10000`). */
const padYear = (y: number) => (y < 0 ? `-${pad(-y, 4)}` : pad(y, 4));

/** The canonical text of the timestamp and date specials PostgreSQL has: `infinity`, `-infinity`. */
export const INFINITY = 'infinity';
export const NEG_INFINITY = '-infinity';
/** MariaDB's zero date, an exact special: `0000-00-00` (date) and `0000-00-00T00:00:00.000000Z` (timestamp). */
export const ZERO_DATE = '0000-00-00';
export const ZERO_TIMESTAMP = '0000-00-00T00:00:00.000000Z';

/** `infinity` / `-infinity` for the spellings of an infinite timestamp or date, else null. */
function infinite(s: string): string | null {
  const m = /^([+-]?)infinity$/i.exec(s);
  return m ? (m[1] === '-' ? NEG_INFINITY : INFINITY) : null;
}

/**
 * True when year-month-day is a day of the proleptic Gregorian calendar. Year 0 is counted as a common year, as
 * MariaDB (the one engine that stores it) counts it; no date is ever moved to another day.
 */
export function isCalendarDate(y: number, m: number, d: number): boolean {
  if (!Number.isInteger(y) || !Number.isInteger(m) || !Number.isInteger(d) || m < 1 || m > 12 || d < 1) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || (y % 400 === 0 && y !== 0));
  const days = m === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;
  return d <= days;
}

/**
 * Parses `YYYY-MM-DD[ T]HH:MM[:SS[.f…]][Z|±HH[:MM]]`, `YYYY/M/D[ H:M:S]`, or a JS Date, into UTC parts with
 * microseconds. A trailing offset is applied; without one the value is taken as UTC.
 *
 * Specials, each its own text: `infinity` and `-infinity` (PostgreSQL), and MariaDB's zero date
 * `0000-00-00 00:00:00` as {@link ZERO_TIMESTAMP}. An impossible date or time (`2020-02-30`, month 13, day 0,
 * hour 24, second 60, a zero date with a time) throws: it is never rolled over to another instant.
 */
export function canonicalTimestamp(v: unknown): string {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new TypeError('invalid date');
    return `${padYear(v.getUTCFullYear())}${v.toISOString().slice(v.toISOString().indexOf('-', 1), 19)}.${pad(v.getUTCMilliseconds(), 3)}000Z`;
  }
  const s = String(v).trim();
  const inf = infinite(s);
  if (inf) return inf;
  const m =
    /^(-?\d{1,6})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(
      s,
    );
  if (!m) throw new TypeError(`"${s.slice(0, 40)}" is not a timestamp`);
  const [, y, mo, d, h = '0', mi = '0', se = '0', frac = '', zone] = m;
  const zm = zone && zone.toUpperCase() !== 'Z' ? /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)! : null;
  const off = zm ? (Number(zm[2]) * 60 + Number(zm[3] ?? 0)) * (zm[1] === '-' ? -1 : 1) : 0;
  const micros = Number(frac.padEnd(6, '0').slice(0, 6));
  const [Y, M, D, H, MI, S] = [y, mo, d, h, mi, se].map(Number) as [number, number, number, number, number, number];
  if (Y === 0 && M === 0 && D === 0 && H === 0 && MI === 0 && S === 0 && !/[1-9]/.test(frac) && off === 0)
    return ZERO_TIMESTAMP;
  if (
    !isCalendarDate(Y, M, D) ||
    H > 23 ||
    MI > 59 ||
    S > 59 ||
    (zm && (Number(zm[2]) > 23 || Number(zm[3] ?? 0) > 59))
  )
    throw new TypeError(`"${s.slice(0, 40)}" is not a timestamp`);
  // no offset to apply, a year Date can hold: the fields are the instant already (the common case, and the hot one:
  // every timestamp of every row of a backfill or a relay batch passes here)
  if (off === 0 && Y >= 0 && Y <= 9999)
    return `${padYear(Y)}-${pad(M)}-${pad(D)}T${pad(H)}:${pad(MI)}:${pad(S)}.${pad(micros, 6)}Z`;
  // a valid calendar instant: Date arithmetic only applies the offset (years 0-99 are set explicitly: Date.UTC
  // would read them as 1900-1999)
  const base = new Date(Date.UTC(2000, M - 1, D, H, MI, S));
  base.setUTCFullYear(Y);
  const dt = new Date(base.getTime() - off * 60_000);
  if (Number.isNaN(dt.getTime())) throw new TypeError(`"${s.slice(0, 40)}" is not a timestamp`);
  return `${padYear(dt.getUTCFullYear())}-${pad(dt.getUTCMonth() + 1)}-${pad(dt.getUTCDate())}T${pad(dt.getUTCHours())}:${pad(dt.getUTCMinutes())}:${pad(dt.getUTCSeconds())}.${pad(micros, 6)}Z`;
}

/**
 * `YYYY-MM-DD` from a date, a timestamp at midnight, or a Date. Specials: `infinity`, `-infinity`, and MariaDB's
 * zero date {@link ZERO_DATE}. An impossible date (`2020-02-30`, `2020-00-10`, `2020-01-00`) throws.
 */
export function canonicalDate(v: unknown): string {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new TypeError('invalid date');
    const iso = v.toISOString();
    return `${padYear(v.getUTCFullYear())}${iso.slice(iso.indexOf('-', 1), iso.indexOf('T'))}`;
  }
  const s = String(v).trim();
  const inf = infinite(s);
  if (inf) return inf;
  const m = /^(-?\d{1,6})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]0{1,2}:0{1,2}(?::0{1,2}(?:\.0+)?)?)?$/.exec(s);
  if (!m) throw new TypeError(`"${s.slice(0, 40)}" is not a date`);
  const [Y, M, D] = [m[1], m[2], m[3]].map(Number) as [number, number, number];
  if (Y === 0 && M === 0 && D === 0) return ZERO_DATE;
  if (!isCalendarDate(Y, M, D)) throw new TypeError(`"${s.slice(0, 40)}" is not a date`);
  return `${padYear(Y)}-${pad(M)}-${pad(D)}`;
}

/**
 * `HH:MM:SS.ffffff` from `[-]H:M[:S[.f]]` (an offset, if any, is dropped: time zones on times are not compared).
 * A negative time (MariaDB TIME) keeps its sign, `-00:30:00` included.
 */
export function canonicalTime(v: unknown): string {
  let s = String(v).trim();
  // an ISO 8601 interval without months or days (PostgreSQL interval → TIME), src/core/extra-types.ts
  if (/^P/i.test(s)) s = intervalAsTime(s) ?? s;
  const m = /^(-?)(\d{1,3}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s);
  if (!m) throw new TypeError(`"${s.slice(0, 40)}" is not a time`);
  return `${m[1]}${pad(Number(m[2]))}:${pad(Number(m[3]))}:${pad(Number(m[4] ?? 0))}.${(m[5] ?? '').padEnd(6, '0').slice(0, 6)}`;
}

/** Lower-case hex of bytes; strings in PostgreSQL's `\x…` form are decoded, other strings are taken as UTF-8. */
export function canonicalBinary(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  const s = String(v);
  if (/^\\x[0-9a-f]*$/i.test(s)) return s.slice(2).toLowerCase();
  return Buffer.from(s, 'utf8').toString('hex');
}

/**
 * An array value (a JS array, nested for more dimensions, or a PostgreSQL array literal / JSON array text):
 * the JSON array of its elements' canonical texts as JSON strings, NULL elements `null`, nested arrays nested —
 * `["a","b"]`, `[["1","2"],["3",null]]`, `[]`. Elements are encoded by `element` (text when unknown).
 * Throws `TypeError` when the value or an element cannot be read.
 */
export function canonicalArray(v: unknown, element: CanonicalColumn): string {
  const enc = (xs: unknown[]): string =>
    `[${xs.map((x) => (Array.isArray(x) ? enc(x) : JSON.stringify(canonicalize(x, element)))).join(',')}]`;
  return enc(readArray(v));
}

/**
 * JSON with object keys sorted by code point and no insignificant white space (after RFC 8785's key order);
 * numbers in one exact form (`normalizeJsonNumber` in src/core/composite.ts: `1.0` → `1`, `1e2` → `100`, `-0` →
 * `0`, big integers exact when read from text by `parseJsonExact`).
 */
export function canonicalJson(v: unknown): string {
  if (v instanceof JsonNumber) return v.text;
  if (typeof v === 'number' && Number.isFinite(v)) return normalizeJsonNumber(String(v).replace('e+', 'e'));
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  const keys = Object.keys(v as object)
    .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}
