import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { TandemError } from '../../core/errors.js';
import { UNIQUE_VIOLATION } from '../common.js';
import { SQLITE_UNIQUE_CODES } from './errors.js';
import {
  type QuoteRule,
  type ValueRule,
  VALUE_MASK,
  redactUrl,
  safeDriverError,
  scrubMessage,
} from '../../core/redact.js';
import type { Row } from '../types.js';
import type { StoreUrl } from '../url.js';

/**
 * How long a statement waits for another process's write lock before failing with `SQLITE_BUSY`.
 * @internal
 */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * Opens the better-sqlite3 database of a parsed `sqlite:` URL and sets the connection up:
 * `journal_mode = WAL` (readers never block the writer), `busy_timeout = 5000`, `foreign_keys = ON`.
 *
 * - `sqlite::memory:` opens a private in-memory database (gone on close).
 * - `sqlite:<file>`: a relative path is resolved against the current working directory; a missing file is
 *   created (an empty database), a missing directory is not.
 * - `sqlite:file:<…>` is handed to SQLite as a URI filename as it is.
 *
 * Throws `TANDEM_ERR_STORE_UNREACHABLE` when the directory does not exist, the path is a directory, or the
 * file cannot be opened or is not an SQLite database (the message names the redacted URL and the resolved path).
 * @internal
 */
export function openSqliteDatabase(u: StoreUrl): Database.Database {
  const raw = u.path ?? '';
  const memory = raw === ':memory:';
  const uri = raw.startsWith('file:');
  const file = memory || uri ? raw : resolve(process.cwd(), raw);
  // a URI filename can carry secrets in its query (`?key=` of SQLCipher): messages show it redacted
  const shown = redactUrl(file);
  if (!memory && !uri) {
    const dir = dirname(file);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new TandemError(
        'STORE_UNREACHABLE',
        `SQLite store ${u.redacted}: directory ${redactUrl(dir)} does not exist (create it first)`,
        { path: shown },
      );
    if (existsSync(file) && statSync(file).isDirectory())
      throw new TandemError(
        'STORE_UNREACHABLE',
        `SQLite store ${u.redacted}: ${shown} is a directory, not a database file`,
        { path: shown },
      );
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    // fail fast on a file that is not a database (SQLite reads the header lazily)
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (e) {
    try {
      db?.close();
    } catch {
      // already unusable
    }
    const err = e as { code?: string; message?: string };
    throw new TandemError(
      'STORE_UNREACHABLE',
      `cannot open SQLite store ${u.redacted}${memory ? '' : ` (${shown})`}: ${scrubSqliteMessage(err.message ?? String(e))}`,
      { sqliteCode: err.code, path: shown },
      { cause: safeDriverError(e, scrubSqliteMessage) },
    );
  }
}

/**
 * SQLite names tables, columns and constraints in its messages (`UNIQUE constraint failed: users.email`,
 * `NOT NULL constraint failed: t.c`, `CHECK constraint failed: <name or expression>`), not bound values; but a
 * CHECK expression, a `RAISE(ABORT, …)` text of a trigger or a JSON function can quote text. Single-quoted text
 * is taken for a value; double-quoted text is a name after `near`, `column`, `table`, `index` or `view`.
 * @internal
 */
export const SQLITE_VALUE_RULES: readonly ValueRule[] = [
  // the bytes of a value: `unrecognized token: "X'0a…"`
  { re: /(unrecognized token: )[\s\S]*/g, replace: `$1${VALUE_MASK}` },
];

/**
 * Quoted text in SQLite messages: single quotes are values, double quotes names after a naming word.
 * @internal
 */
export const SQLITE_QUOTES: readonly QuoteRule[] = [
  { quote: "'", nameBefore: /(?!)/ },
  { quote: '"', nameBefore: /\b(near|column:?|table:?|index|view|trigger|constraint)\s+$/i },
];

/**
 * An SQLite message without the values it may quote.
 * @internal
 */
export function scrubSqliteMessage(text: string): string {
  return scrubMessage(text, SQLITE_VALUE_RULES, SQLITE_QUOTES);
}

/**
 * Maps a better-sqlite3 error (`SqliteError` with an `SQLITE_*` code, or the driver's own `RangeError`/`TypeError`
 * for bad bindings) to `TANDEM_ERR_STORE_QUERY` with the store's redacted URL. The message goes through
 * {@link scrubSqliteMessage}; the cause is a scrubbed copy; `detail.sqliteCode` holds the extended result code.
 * A unique or primary-key violation is marked `detail.violation = 'unique'` (see `isUniqueViolation`).
 * @internal
 */
export function sqliteError(e: unknown, redactedUrl: string): TandemError {
  if (e instanceof TandemError) return e;
  const err = e as { code?: string; message?: string };
  const unique = err.code !== undefined && SQLITE_UNIQUE_CODES.has(err.code);
  return new TandemError(
    'STORE_QUERY',
    `SQLite at ${redactedUrl}: ${scrubSqliteMessage(err.message ?? String(e))}`,
    { sqliteCode: err.code, ...(unique ? { violation: UNIQUE_VIOLATION } : {}) },
    { cause: safeDriverError(e, scrubSqliteMessage) },
  );
}

/**
 * Converts positional parameters to values better-sqlite3 can bind: booleans → 1/0; integral JS numbers →
 * BigInt (bound as INTEGER, so `1` written to a TEXT column reads back `'1'`, not `'1.0'`); `undefined` → NULL;
 * `Date` → ISO-8601 string; other `Uint8Array`s → `Buffer`; plain objects and arrays → JSON text (better-sqlite3
 * would otherwise take an object for named parameters). Strings, bigints, non-integral numbers and Buffers pass.
 * @internal
 */
export function toSqliteParams(params: readonly unknown[]): unknown[] {
  return params.map(toSqliteValue);
}

function toSqliteValue(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  switch (typeof v) {
    case 'boolean':
      return v ? 1 : 0;
    case 'number':
      return Number.isSafeInteger(v) ? BigInt(v) : v;
    case 'string':
    case 'bigint':
      return v;
    case 'object':
      if (Buffer.isBuffer(v)) return v;
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (v instanceof Date) return v.toISOString();
      return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    default:
      return v; // let the driver reject it (functions, symbols)
  }
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Converts one row read with `safeIntegers(true)`: integers become JS numbers when they fit in 2^53 and
 * decimal strings when they do not (lossless either way). REAL stays a number, TEXT a string, BLOB a `Buffer`.
 * @internal
 */
export function fromSqliteRow(row: Row): Row {
  for (const k of Object.keys(row)) {
    const v = row[k];
    if (typeof v === 'bigint') row[k] = v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
  }
  return row;
}
