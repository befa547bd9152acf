import pg from 'pg';
import { TandemError } from '../../core/errors.js';
import { UNIQUE_VIOLATION } from '../common.js';
import { parsePgArray } from '../../core/composite.js';
import { type QuoteRule, type ValueRule, VALUE_MASK, safeDriverError, scrubMessage } from '../../core/redact.js';
import type { StoreUrl } from '../url.js';

/**
 * OIDs whose values Tandem reads as the server's text, losslessly: int8, numeric, date, time, timetz, timestamp,
 * timestamptz.
 * @internal
 */
export const PG_TEXT_OIDS = [20, 1700, 1082, 1083, 1266, 1114, 1184, 1186] as const;

/** OID of `money`, read as plain decimal text by {@link moneyText}. @internal */
export const MONEY_OID = 790;

/**
 * `money` as PostgreSQL prints it under `lc_monetary` (`$1,234.56`, `-$0.50`, `($1.00)`) → plain decimal text
 * (`1234.56`, `-0.50`, `-1.00`): currency symbols and group separators dropped, exact. The decimal point is `.`
 * (the C and English locales; a locale that writes `,` for it is not read).
 * @internal
 */
export function moneyText(v: string): string {
  const neg = /^\s*-|^\s*\(.*\)\s*$|-\s*$/.test(v);
  const body = v.replace(/[^0-9.]/g, '');
  return neg ? `-${body}` : body;
}

const identity = (v: string) => v;

/**
 * Parsers of issue 13: json and jsonb as their text (`JSON.parse` would round integers beyond 2^53; canonical
 * encoding reads the text exactly), and arrays of the {@link PG_TEXT_OIDS} types (int8[], numeric[], date[],
 * time[], timetz[], timestamp[], timestamptz[]) and of json/jsonb as JS arrays of the elements' texts (`pg` would
 * make doubles and `Date`s of them).
 * @internal
 */
export const PG_EXTRA_PARSERS: ReadonlyMap<number, (v: string) => unknown> = new Map<number, (v: string) => unknown>([
  [114, identity],
  [3802, identity],
  ...[1016, 1231, 1182, 1183, 1270, 1115, 1185, 199, 3807].map((oid) => [oid, (v: string) => parsePgArray(v)] as const),
]);

/**
 * Connections of a PostgreSQL store's pool (the store's `connections`): room for verify's concurrent checksum
 * segments (`verify.concurrency`, default 4, plus its key probes) next to the relay and backfill of the same
 * process. Connections open lazily, so an idle pool holds few.
 * @internal
 */
export const PG_POOL_SIZE = 10;

/**
 * Opens a `pg.Pool` for a parsed `postgres://` URL with session time zone UTC and lossless type parsing.
 * @internal
 */
export function pgPool(
  u: StoreUrl,
  max = PG_POOL_SIZE,
): { pool: pg.Pool; schema: string; arrayParsers: Map<number, (v: string) => unknown> } {
  // arrays of enums and domains (their OIDs are the database's own): registered by introspection
  const arrayParsers = new Map<number, (v: string) => unknown>();
  const url = new URL(u.raw);
  const schema = url.searchParams.get('schema') ?? 'public';
  url.searchParams.delete('schema');
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max,
    connectionTimeoutMillis: 10_000,
    options: '-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601',
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        (PG_TEXT_OIDS as readonly number[]).includes(oid)
          ? identity
          : oid === MONEY_OID
            ? moneyText
            : (PG_EXTRA_PARSERS.get(oid) ??
              arrayParsers.get(oid) ??
              pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
    },
  });
  // an idle client that loses its connection must not crash the process; the next query reports it
  pool.on('error', () => {});
  return { pool, schema, arrayParsers };
}

/**
 * The shapes in which PostgreSQL (and PGlite) echo a refused value, most specific first; the quoted-text fallback
 * of {@link PG_QUOTES} takes the rest (`invalid input syntax for type uuid: "…"`, `invalid input value for enum
 * mood: "…"`, `value "…" is out of range for type integer`, `date/time field value out of range: "…"`,
 * `malformed array literal: "…"`, `Token "…" is invalid.`, `COPY t, line 1, column c: "…"`,
 * `SQL statement "…"`).
 * @internal
 */
export const PG_VALUE_RULES: readonly ValueRule[] = [
  // unique, foreign-key and exclusion violations (detail): Key (email)=(a@b) already exists.
  {
    re: /\b([Kk]ey \((?:[^()]|\([^()]*\))*\)=\()[\s\S]*?(\))(?= already exists| is not present| is still referenced| conflicts with|\.?\s*$)/g,
    replace: `$1${VALUE_MASK}$2`,
  },
  // a row no partition takes (detail): Partition key of the failing row contains (region) = (mars).
  {
    re: /(Partition key of the failing row contains \((?:[^()]|\([^()]*\))*\) = \()[\s\S]*?(\)\.?)\s*$/g,
    replace: `$1${VALUE_MASK}$2`,
  },
  // not-null and check violations (detail): Failing row contains (1, a@b, …).
  { re: /(Failing row contains )[\s\S]*/g, replace: `$1(${VALUE_MASK}).` },
  // JSON input errors (where): JSON data, line 1: {"password": …
  { re: /(JSON data, line \d+: )[^\n]*/g, replace: `$1${VALUE_MASK}` },
  // bytes of a value: invalid byte sequence for encoding "UTF8": 0xe9 0x20
  { re: /\b0x[0-9a-f]{2}(?:\s+0x[0-9a-f]{2})*/gi, replace: `0x${VALUE_MASK}` },
];

/**
 * In PostgreSQL messages, double-quoted text after these words is a name (kept); any other is a value.
 * @internal
 */
export const PG_QUOTES: readonly QuoteRule[] = [
  {
    quote: '"',
    nameBefore:
      /\b(column|relation|constraint|table|type|schema|database|role|user|index|sequence|view|function|procedure|trigger|encoding|extension|domain|parameter|tablespace|cursor|savepoint|publication|subscription|collation|operator|near|portal|policy|rule|server|language|attribute|prepared statement|channel|slot)\s+$/i,
  },
];

/**
 * A PostgreSQL or PGlite message (message, detail, hint, where) without the values it echoes.
 * @internal
 */
export function scrubPgMessage(text: string): string {
  return scrubMessage(text, PG_VALUE_RULES, PG_QUOTES);
}

/**
 * Maps a `pg` or network error to a TandemError with the store's redacted URL: unreachable, bad credentials,
 * unknown database, or a rejected statement. The server's message and detail are passed through
 * {@link scrubPgMessage} (never a value, never the statement), and the attached `cause` is a scrubbed copy
 * without the query or parameters ({@link safeDriverError}). `detail` holds sqlstate, table, column,
 * constraint and data type when the server named them.
 * A unique-key violation (SQLSTATE 23505) is marked `detail.violation = 'unique'` (see `isUniqueViolation`).
 * @internal
 */
export function pgError(e: unknown, redactedUrl: string): TandemError {
  if (e instanceof TandemError) return e;
  const err = (e ?? {}) as {
    code?: string;
    message?: string;
    detail?: string;
    column?: string;
    table?: string;
    constraint?: string;
    dataType?: string;
  };
  const code = err.code ?? '';
  const message = scrubPgMessage(err.message ?? String(e));
  const cause = safeDriverError(e, scrubPgMessage);
  // a server error carries a 5-character SQLSTATE (a lock or statement timeout is 55P03 / 57014, not unreachable)
  const sqlstate = /^[0-9A-Z]{5}$/.test(code);
  // the server ended the session (idle-in-transaction timeout 25P03, admin shutdown or crash 57P01-57P03): the
  // connection is gone, as when the network drops it, and the transaction can run again on a new one
  const sessionEnded = ['25P03', '57P01', '57P02', '57P03'].includes(code);
  if (
    sessionEnded ||
    ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN'].includes(code) ||
    (!sqlstate && /timeout|terminated unexpectedly|Connection terminated|not queryable/i.test(err.message ?? ''))
  )
    return new TandemError(
      'STORE_UNREACHABLE',
      `cannot reach PostgreSQL at ${redactedUrl} (${code || message})`,
      { cause: code },
      { cause },
    );
  if (code === '28P01' || code === '28000')
    return new TandemError(
      'STORE_AUTH',
      `PostgreSQL at ${redactedUrl} refused the credentials (${message})`,
      {},
      { cause },
    );
  if (code === '3D000')
    return new TandemError('STORE_DATABASE_NOT_FOUND', `PostgreSQL at ${redactedUrl}: ${message}`, {}, { cause });
  const detail = typeof err.detail === 'string' && err.detail ? ` (${scrubPgMessage(err.detail)})` : '';
  return new TandemError(
    'STORE_QUERY',
    `PostgreSQL at ${redactedUrl}: ${message}${detail}`,
    {
      sqlstate: code,
      column: err.column,
      table: err.table,
      constraint: err.constraint,
      dataType: err.dataType,
      ...(code === '23505' ? { violation: UNIQUE_VIOLATION } : {}),
    },
    { cause },
  );
}
