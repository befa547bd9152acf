import pg from 'pg';
import { TandemError } from '../../core/errors.js';
import { UNIQUE_VIOLATION } from '../common.js';
import type { StoreUrl } from '../url.js';

/** OIDs whose values Tandem reads as the server's text, losslessly: int8, numeric, date, time, timetz, timestamp, timestamptz. */
export const PG_TEXT_OIDS = [20, 1700, 1082, 1083, 1266, 1114, 1184] as const;

const identity = (v: string) => v;

/** Opens a `pg.Pool` for a parsed `postgres://` URL with session time zone UTC and lossless type parsing. */
export function pgPool(u: StoreUrl, max = 4): { pool: pg.Pool; schema: string } {
  const url = new URL(u.raw);
  const schema = url.searchParams.get('schema') ?? 'public';
  url.searchParams.delete('schema');
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max,
    connectionTimeoutMillis: 10_000,
    options: '-c TimeZone=UTC -c DateStyle=ISO',
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        (PG_TEXT_OIDS as readonly number[]).includes(oid) ? identity : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // an idle client that loses its connection must not crash the process; the next query reports it
  pool.on('error', () => {});
  return { pool, schema };
}

/**
 * Maps a `pg` or network error to a TandemError with the store's redacted URL: unreachable, bad credentials,
 * unknown database, or a rejected statement (the server's message, never the statement's values); a unique-key
 * violation (SQLSTATE 23505) is marked `detail.violation = 'unique'` (see `isUniqueViolation`).
 */
export function pgError(e: unknown, redactedUrl: string): TandemError {
  if (e instanceof TandemError) return e;
  const err = e as { code?: string; message?: string; column?: string; table?: string; constraint?: string };
  const code = err.code ?? '';
  // a server error carries a 5-character SQLSTATE (a lock or statement timeout is 55P03 / 57014, not unreachable)
  const sqlstate = /^[0-9A-Z]{5}$/.test(code);
  // the server ended the session (idle-in-transaction timeout 25P03, admin shutdown or crash 57P01-57P03): the
  // connection is gone, as when the network drops it, and the transaction can run again on a new one
  const sessionEnded = ['25P03', '57P01', '57P02', '57P03'].includes(code);
  if (sessionEnded || ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN'].includes(code) || (!sqlstate && /timeout|terminated unexpectedly|Connection terminated|not queryable/i.test(err.message ?? '')))
    return new TandemError('STORE_UNREACHABLE', `cannot reach PostgreSQL at ${redactedUrl} (${code || err.message})`, { cause: code }, { cause: e });
  if (code === '28P01' || code === '28000')
    return new TandemError('STORE_AUTH', `PostgreSQL at ${redactedUrl} refused the credentials (${err.message})`, {}, { cause: e });
  if (code === '3D000')
    return new TandemError('STORE_DATABASE_NOT_FOUND', `PostgreSQL at ${redactedUrl}: ${err.message}`, {}, { cause: e });
  return new TandemError('STORE_QUERY', `PostgreSQL at ${redactedUrl}: ${err.message ?? String(e)}`, { sqlstate: code, column: err.column, table: err.table, constraint: err.constraint, ...(code === '23505' ? { violation: UNIQUE_VIOLATION } : {}) }, { cause: e });
}
