import mysql from 'mysql2/promise';
import { TandemError } from '../../core/errors.js';
import { ewkbFromMysql } from '../../core/extra-types.js';
import { UNIQUE_VIOLATION } from '../common.js';
import { MYSQL_DUPLICATE_KEY } from './errors.js';
import { type QuoteRule, type ValueRule, VALUE_MASK, safeDriverError, scrubMessage } from '../../core/redact.js';
import type { StoreUrl } from '../url.js';

/**
 * Statement run on every new pooled connection before anything else: session time zone UTC (so `TIMESTAMP`
 * columns and `CURRENT_TIMESTAMP` read and write UTC), and `NO_BACKSLASH_ESCAPES` removed from `sql_mode`
 * (mysql2 escapes parameters client-side with backslashes; that mode would make its escaping unsafe), and
 * READ COMMITTED isolation: Tandem's transactions lock exactly the rows they touch (the ledger, claimed outbox
 * rows) and no gaps, so the relay's `FOR UPDATE SKIP LOCKED` claims never block or deadlock the application's
 * outbox inserts (REPEATABLE READ would take next-key locks on the outbox index).
 * @internal
 */
export const MYSQL_SESSION_INIT =
  "SET SESSION time_zone = '+00:00', SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";

/**
 * Connections of a MySQL/MariaDB store's pool (the store's `connections`): room for verify's concurrent
 * checksum segments (`verify.concurrency`, default 4, plus its key probes) next to the relay and backfill of
 * the same process. Connections open lazily.
 * @internal
 */
export const MYSQL_POOL_SIZE = 10;

/**
 * Opens a `mysql2/promise` pool for a parsed `mysql://` or `mariadb://` URL (user, password and database are
 * URL-decoded; the query parameters `ssl` — `true` or a JSON object of TLS options — and `connectTimeout` are
 * honoured, others ignored). Values are read losslessly: `DATETIME`/`TIMESTAMP`/`DATE` as strings (microseconds
 * kept), `BIGINT` and `DECIMAL` as strings, binary as `Buffer`, spatial values as EWKB `Buffer`s (MySQL's internal
 * SRID + WKB converted by `ewkbFromMysql`, src/core/extra-types.ts). JS `Date` parameters are written as UTC.
 * Does not connect: the first query does (see {@link mysqlError} for its failures).
 * @internal
 */
export function mysqlPool(u: StoreUrl, connectionLimit = MYSQL_POOL_SIZE): mysql.Pool {
  const url = new URL(u.raw.replace(/^mariadb:/i, 'mysql:'));
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const options: mysql.PoolOptions = {
    host: decodeURIComponent(host),
    port: url.port ? Number(url.port) : 3306,
    user: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    connectionLimit,
    maxIdle: connectionLimit,
    idleTimeout: 60_000,
    connectTimeout: Number(url.searchParams.get('connectTimeout')) || 10_000,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    // JSON as its exact text (JSON.parse on Node 20 rounds integers beyond 2^53; canonical encoding reads it)
    jsonStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4',
    multipleStatements: false,
    namedPlaceholders: false,
    // spatial values as EWKB bytes (SRID kept), not mysql2's parsed objects (which drop the SRID)
    typeCast: (field, next) => {
      if (field.type !== 'GEOMETRY') return next();
      const b = field.buffer();
      return b === null ? null : ewkbFromMysql(b);
    },
  };
  const ssl = url.searchParams.get('ssl');
  if (ssl && ssl !== 'false' && ssl !== '0') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(ssl);
    } catch {
      parsed = {};
    }
    options.ssl = parsed && typeof parsed === 'object' ? (parsed as mysql.SslOptions) : {};
  }
  const pool = mysql.createPool(options);
  // the core pool's `connection` event hands over the new (callback) connection before its first use: the SET
  // is queued ahead of any other statement on it
  pool.pool.on('connection', (conn) => {
    // an idle connection that breaks must not crash the process (the pool drops it; the next query reports it)
    conn.on('error', () => {});
    conn.query(MYSQL_SESSION_INIT, (err) => {
      // never run statements on a session whose time zone is not UTC
      if (err) conn.destroy();
    });
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => {
      if (err) conn.destroy();
    });
  });
  return pool;
}

/** Error codes (mysql2's `code`) meaning the server could not be reached or the connection broke. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
]);
/** Server error numbers meaning the credentials were refused (bad password, host or database not allowed). */
const AUTH = new Set([1044, 1045, 1130, 1251, 1698]);

/** The fields of a mysql2 error Tandem reads. `sql` (the statement with its values inlined) is never used. */
interface MysqlDriverError {
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  message?: string;
  fatal?: boolean;
  sql?: string;
}

/**
 * True when `e` left its connection unusable (mysql2 marks such errors `fatal`; network errors count too):
 * a transaction's connection is then destroyed instead of being returned to the pool.
 * @internal
 */
export function isFatalMysqlError(e: unknown): boolean {
  const err = (e instanceof TandemError ? e.cause : e) as MysqlDriverError | undefined;
  return Boolean(
    err && (err.fatal || (err.code && UNREACHABLE.has(err.code)) || /closed state/.test(err.message ?? '')),
  );
}

/**
 * The shapes in which MySQL/MariaDB echo a refused value, most specific first (a value may hold a quote, so each
 * rule runs to the fixed text after it); the quoted-text fallback of {@link MYSQL_QUOTES} takes the rest
 * (`Incorrect string value: '\xF0…' for column`, `Truncated incorrect DOUBLE value: '…'`, `Invalid utf8mb4
 * character string: '…'`, `Cannot convert string '…' from binary`, `near '…' at line 1`).
 * @internal
 */
export const MYSQL_VALUE_RULES: readonly ValueRule[] = [
  { re: /^(Duplicate entry ')[\s\S]*(' for key )/, replace: `$1${VALUE_MASK}$2` },
  {
    re: /^((?:Incorrect|Truncated incorrect|Invalid) [\w ]*?value: ')[\s\S]*(' for column )/,
    replace: `$1${VALUE_MASK}$2`,
  },
];

/**
 * In MySQL/MariaDB messages, single-quoted text after these words (or `@`) is a name (kept); any other is a value.
 * @internal
 */
export const MYSQL_QUOTES: readonly QuoteRule[] = [
  {
    quote: "'",
    nameBefore:
      /(\b(column|key|table|database|user|in|function|procedure|index|constraint|field|variable|schema|trigger|view|engine|set|collation|savepoint|sequence|event|server|plugin|partition|role|definer|storage engine|clause)\s+|@)$/i,
  },
];

/**
 * Removes the values a server message echoes back (`Duplicate entry '…' for key`, `Incorrect integer value:
 * '…' for column`, …), so a message never carries row data such as a key or a password hash.
 * @internal
 */
export function redactServerMessage(message: string): string {
  return scrubMessage(message, MYSQL_VALUE_RULES, MYSQL_QUOTES);
}

/**
 * Maps a `mysql2` or network error to a TandemError with the store's redacted URL:
 * `TANDEM_ERR_STORE_UNREACHABLE` (connection refused, unknown host, timeout, connection lost),
 * `TANDEM_ERR_STORE_AUTH` (1045 access denied and kin), `TANDEM_ERR_STORE_DATABASE_NOT_FOUND` (1049), else
 * `TANDEM_ERR_STORE_QUERY` with the server's message (values it echoes are redacted; the statement and its
 * parameters are never included, in the message or in the attached cause). A duplicate key (1062, 1586) is marked
 * `detail.violation = 'unique'` (see `isUniqueViolation` in src/stores/common.ts).
 * @internal
 */
export function mysqlError(e: unknown, redactedUrl: string): TandemError {
  if (e instanceof TandemError) return e;
  const err = (e ?? {}) as MysqlDriverError;
  const code = err.code ?? '';
  const errno = typeof err.errno === 'number' ? err.errno : undefined;
  const raw = err.sqlMessage ?? err.message ?? String(e);
  const message = redactServerMessage(raw);
  const cause = safeDriverError(e, redactServerMessage);
  if (UNREACHABLE.has(code) || /^connect ETIMEDOUT|Connection lost|closed state/i.test(err.message ?? ''))
    return new TandemError(
      'STORE_UNREACHABLE',
      `cannot reach MySQL at ${redactedUrl} (${code || message})`,
      { cause: code },
      { cause },
    );
  if (errno !== undefined && AUTH.has(errno))
    return new TandemError(
      'STORE_AUTH',
      `MySQL at ${redactedUrl} refused the credentials (${message})`,
      { errno },
      { cause },
    );
  if (errno === 1049)
    return new TandemError('STORE_DATABASE_NOT_FOUND', `MySQL at ${redactedUrl}: ${message}`, { errno }, { cause });
  const unique = errno !== undefined && MYSQL_DUPLICATE_KEY.has(errno);
  return new TandemError(
    'STORE_QUERY',
    `MySQL at ${redactedUrl}: ${message}`,
    { errno, sqlstate: err.sqlState, code: code || undefined, ...(unique ? { violation: UNIQUE_VIOLATION } : {}) },
    { cause },
  );
}
