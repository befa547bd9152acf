import { createHash } from 'node:crypto';
import { type CanonicalColumn, canonicalize } from './canonical.js';
import { applyCast } from './mapping.js';
import type { Cast } from '../config/schema.js';
import type { HashColumn, TypeCategory } from '../stores/types.js';

/**
 * The row hash encoding shared by every engine (docs/verify.md, "Row hashes"). The SQL of each dialect
 * (`src/stores/<dialect>/checksum.ts`) reproduces it; this module is the reference, used by SQLite's registered
 * function, by the JS side of entities that cannot be pushed down, and by the property test.
 *
 * 1. Each value is written in its **canonical text** (src/core/canonical.ts, by the target column's category),
 *    in *hash form*: the same text, except timestamps as `YYYY-MM-DD HH:MM:SS.ffffff` (a space for the `T`, no
 *    `Z`), which is what MariaDB prints for `DATETIME(6)` without a function call. NULL is `~`.
 * 2. The values are joined by `|`. Free-text categories (text, uuid, json, other, array) may contain `|` or `~`, so
 *    their lengths in characters (Unicode code points; `~` for NULL) follow, joined by `|` too. Every other
 *    category's readable text is drawn from `[0-9a-zA-Z.:+ -]` (and `/` for inet); an unreadable value is
 *    `<unreadable as <category>:<length>:<raw text>>` ({@link unreadableText}), which starts with `<` and says
 *    where it ends. So the whole string decodes back to the values (the encoding is injective: the near-pairs
 *    property in test/verify/encoding.test.ts), and two rows hash alike only through an MD5 collision.
 * 3. The row hash is the first 64 bits of the MD5 of the UTF-8 bytes, read as an unsigned big-endian integer.
 * 4. A segment's checksum is (row count, sum of its row hashes mod 2^64). The engines sum exactly (PostgreSQL
 *    `numeric`, MariaDB `DECIMAL(65)`, SQLite two 32-bit halves in 64-bit integers) and verify reduces mod 2^64,
 *    so no sum overflows whatever the segment size.
 */

/** Bits of each row hash (and of the segment sums, taken mod 2^HASH_BITS). */
export const HASH_BITS = 64;
/** The encoding of SQL NULL. */
export const NULL_MARK = '~';
/** Separator between encoded values. */
export const SEPARATOR = '|';
const MOD = 1n << 64n;

/** Categories whose canonical text is free-form: their character lengths are appended to the row string. */
export function isTracked(category: TypeCategory): boolean {
  // arrays: their canonical text (a JSON array of strings) may hold `|` and `~` too; never pushed down in SQL
  if (category === 'array') return true;
  return category === 'text' || category === 'uuid' || category === 'json' || category === 'other';
}

/** The hash form of a canonical text: timestamps `YYYY-MM-DD HH:MM:SS.ffffff`; everything else unchanged. */
export function hashForm(canonical: string, category: TypeCategory): string {
  if ((category === 'timestamp' || category === 'timestamptz') && canonical.endsWith('Z')) {
    const t = canonical.lastIndexOf('T');
    return t > 0 ? `${canonical.slice(0, t)} ${canonical.slice(t + 1, -1)}` : canonical;
  }
  return canonical;
}

/** Number of Unicode code points of `s` (what PostgreSQL `char_length` and MariaDB `CHAR_LENGTH` count). */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * The row string of values already in canonical text (null for NULL), by their categories (see the module
 * comment). Throws nothing.
 */
export function encodeRow(values: (string | null)[], categories: TypeCategory[]): string {
  const parts: string[] = [];
  const lengths: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const c = categories[i]!;
    parts.push(v === null ? NULL_MARK : hashForm(v, c));
    if (isTracked(c)) lengths.push(v === null ? NULL_MARK : String(codePoints(v)));
  }
  return lengths.length ? `${parts.join(SEPARATOR)}${SEPARATOR}${lengths.join(SEPARATOR)}` : parts.join(SEPARATOR);
}

/** The 64-bit row hash of a row string: the first 8 bytes of its MD5, unsigned big-endian. */
export function rowHash(encoded: string): bigint {
  return createHash('md5').update(encoded, 'utf8').digest().readBigUInt64BE(0);
}

/** `(a + b) mod 2^64`. */
export function addMod64(a: bigint, b: bigint): bigint {
  return (a + b) & (MOD - 1n);
}

/** A sum returned by an engine (any sign, any size) reduced mod 2^64. */
export function mod64(v: bigint): bigint {
  return ((v % MOD) + MOD) % MOD;
}

/**
 * The text an unreadable value is encoded as: the category it could not be read as, then its raw text
 * length-prefixed — `<unreadable as timestamp:10:2020-02-30>` — so two unreadable values are equal exactly when
 * their raw texts are, and the form delimits itself whatever the text holds (`|`, `~`, `>`). Bytes (a `Buffer`
 * or `Uint8Array`) are written as hex, counted in bytes: `<unreadable bytes as date:2:6162>`. Other values are
 * written as `String(v)` (numbers, booleans) or JSON (objects). No readable canonical text of a category other
 * than text, uuid and other starts with `<` (json's never does), so an unreadable value never equals a readable
 * one. The checksum SQL of each engine builds the same form (`'<unreadable as …:' || char_length(t) || …`).
 */
export function unreadableText(category: string, raw: unknown): string {
  if (Buffer.isBuffer(raw) || raw instanceof Uint8Array) {
    const b = Buffer.from(raw);
    return `<unreadable bytes as ${category}:${b.length}:${b.toString('hex')}>`;
  }
  let t: string;
  if (typeof raw === 'string') t = raw;
  else if (raw instanceof Date) t = Number.isNaN(raw.getTime()) ? 'Invalid Date' : raw.toISOString();
  else if (raw !== null && typeof raw === 'object') {
    try {
      t = JSON.stringify(raw) ?? String(raw);
    } catch {
      t = String(raw);
    }
  } else t = String(raw);
  return `<unreadable as ${category}:${codePoints(t)}:${t}>`;
}

/**
 * The canonical text of a value for comparison and hashing, by `column`'s category. A value that cannot be read
 * as its category becomes {@link unreadableText} (never throws): it keeps its raw text, so it differs from any
 * readable value and from any other unreadable value.
 */
export function canonText(v: unknown, column: CanonicalColumn): string | null {
  try {
    return canonicalize(v, column);
  } catch {
    return unreadableText(column.category, v);
  }
}

/**
 * The canonical text of one hash column's raw value as a driver returns it: the cast applied first (if any),
 * then {@link canonText} by the `as` type. Constants return their stored text. A value the cast cannot read is
 * {@link unreadableText} by the cast's name.
 */
export function hashColumnText(h: HashColumn, raw: unknown): string | null {
  if (!h.column) return h.constant ?? null;
  let v = raw;
  if (h.cast && v !== null && v !== undefined) {
    try {
      v = applyCast(v, h.cast as Cast, h.separator);
    } catch {
      return unreadableText(h.cast, raw);
    }
  }
  return canonText(v, h.as);
}

/** The row hash of values already in canonical text, by their categories. */
export function hashCanonical(values: (string | null)[], categories: TypeCategory[]): bigint {
  return rowHash(encodeRow(values, categories));
}
