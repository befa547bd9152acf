import type mysql from 'mysql2/promise';
import { normalizeLedgerEntries } from '../common.js';
import type { Executor, LedgerEntry, LedgerMode, Row, SchemaInfo, Store } from '../types.js';
import type { StoreUrl } from '../url.js';
import { mysqlChecksum } from './checksum.js';
import { isFatalMysqlError, mysqlError, mysqlPool } from './connection.js';
import { introspectMysql } from './introspect.js';
import { LEDGER_READ_CHUNK, MysqlNumericLiteral, mysqlIdent, mysqlLedgerSql, mysqlSql } from './sql.js';

/**
 * Prepares positional parameters for mysql2's client-side formatting: `undefined` → NULL, plain objects and
 * arrays → their JSON text (mysql2 would otherwise expand them into `k = v` pairs or lists, or inline whatever an
 * object's `toSqlString` returns). Buffers, Dates (written as UTC), bigints, booleans, numbers, strings and the
 * store's own {@link MysqlNumericLiteral}s are formatted by mysql2 as they are.
 */
export function mysqlParams(params: unknown[]): unknown[] {
  return params.map((v) => {
    if (v === undefined) return null;
    if (v === null || typeof v !== 'object') return v;
    if (v instanceof Uint8Array || v instanceof Date || v instanceof MysqlNumericLiteral) return v;
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  });
}

/** Runs statements on one mysql2 pool or pooled connection, mapping errors; `onError` sees each raw error. */
function executor(q: mysql.Pool | mysql.PoolConnection, redacted: string, onError?: (e: unknown) => void): Executor {
  const run = async (sql: string, params: unknown[]) => {
    try {
      return (await q.query(sql, mysqlParams(params)))[0];
    } catch (e) {
      onError?.(e);
      throw mysqlError(e, redacted);
    }
  };
  return {
    async query<T extends Row = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
      const out = await run(sql, params);
      return (Array.isArray(out) ? out : []) as T[];
    },
    async execute(sql: string, params: unknown[] = []): Promise<number> {
      const out = await run(sql, params);
      return Array.isArray(out) ? out.length : ((out as mysql.ResultSetHeader).affectedRows ?? 0);
    },
  };
}

/**
 * The version-ledger advance on MySQL/MariaDB, with the semantics of `advanceLedgerLocking` (src/stores/common.ts)
 * in a few statements whatever the batch size: lock every key's row (inserting placeholders at version -1 where
 * missing), read the current versions `FOR UPDATE` (one statement per 500 keys), then write every winning entry
 * in one multi-row upsert. Entries are normalized first (one entry per key, sorted, so appliers lock in the same
 * order). Returns the keys whose version moved (`newer`: incoming > current; `last-writer-wins`: incoming ≥
 * current). Must run inside a transaction (`tx`); the rows stay locked until it ends. Throws
 * `TANDEM_ERR_STORE_QUERY` (deadlock — the whole transaction is then rolled back by the server and may be
 * retried —, lock wait timeout, missing ledger table…).
 */
export async function advanceLedgerMysql(tx: Executor, ledgerTable: string, entity: string, entries: LedgerEntry[], mode: LedgerMode): Promise<Set<string>> {
  const list = normalizeLedgerEntries(entries);
  const won = new Set<string>();
  if (list.length === 0) return won;
  const sql = mysqlLedgerSql(ledgerTable, entity);
  const keys = list.map((e) => e.key);
  const lock = sql.lockPlaceholders(keys);
  await tx.execute(lock.sql, lock.params);
  const current = new Map<string, bigint>();
  for (let i = 0; i < keys.length; i += LEDGER_READ_CHUNK) {
    const sel = sql.selectForUpdate(keys.slice(i, i + LEDGER_READ_CHUNK));
    for (const r of await tx.query<{ key: unknown; version: unknown }>(sel.sql, sel.params)) {
      current.set(Buffer.isBuffer(r.key) ? r.key.toString('utf8') : String(r.key), BigInt(r.version as string));
    }
  }
  const winners = list.filter((e) => {
    const cur = current.get(e.key) ?? -1n;
    return mode === 'newer' ? e.version > cur : e.version >= cur;
  });
  if (winners.length === 0) return won;
  const up = sql.writeWinners(winners);
  await tx.execute(up.sql, up.params);
  for (const e of winners) won.add(e.key);
  return won;
}

/**
 * The MySQL/MariaDB store (driver `mysql2`), for `mysql://` and `mariadb://` URLs. Control tables live in the
 * same database, named `tandem_<name>`. Checks the server on open: throws `TANDEM_ERR_STORE_UNREACHABLE`,
 * `TANDEM_ERR_STORE_AUTH` or `TANDEM_ERR_STORE_DATABASE_NOT_FOUND` (the pool is closed again in that case).
 */
export async function openMysql(u: StoreUrl): Promise<Store> {
  const pool = mysqlPool(u);
  const base = executor(pool, u.redacted);
  try {
    // fail fast with a clear error when the server cannot be used
    await base.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => {});
    throw e;
  }
  const sql = { ...mysqlSql(), checksum: mysqlChecksum() };
  return {
    dialect: 'mysql',
    url: u.redacted,
    controlSchema: null,
    sql,
    ...base,
    introspect: (): Promise<SchemaInfo> => introspectMysql(base),
    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      let conn: mysql.PoolConnection;
      try {
        conn = await pool.getConnection();
      } catch (e) {
        throw mysqlError(e, u.redacted);
      }
      let broken = false;
      const tx = executor(conn, u.redacted, (e) => {
        if (isFatalMysqlError(e)) broken = true;
      });
      try {
        await tx.execute('BEGIN');
        const out = await fn(tx);
        await tx.execute('COMMIT');
        return out;
      } catch (e) {
        if (isFatalMysqlError(e)) broken = true;
        if (!broken) {
          await conn.query('ROLLBACK').catch(() => {
            broken = true;
          });
        }
        throw e;
      } finally {
        // a connection whose state is unknown must not go back to the pool (it could hold an open transaction)
        if (broken) conn.destroy();
        else conn.release();
      }
    },
    advanceLedger: advanceLedgerMysql,
    controlTable: (name: string) => mysqlIdent(`tandem_${name}`),
    async serverIdentity(): Promise<string> {
      const r = await base.query<{ h: string; p: unknown; d: string; db: string }>('SELECT @@hostname AS h, @@port AS p, @@datadir AS d, DATABASE() AS db');
      return ['mysql-server', r[0]!.h, String(r[0]!.p), r[0]!.d, String(r[0]!.db).toLowerCase()].join('|');
    },
    close: () => pool.end(),
  };
}
