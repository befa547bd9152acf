import type mysql from 'mysql2/promise';
import { ledgerWins, normalizeLedgerEntries } from '../common.js';
import { canonicalize } from '../../core/canonical.js';
import type { ColumnInfo, Executor, LedgerEntry, LedgerMode, Row, SchemaInfo, Store, UpsertQuery } from '../types.js';
import type { StoreUrl } from '../url.js';
import { mysqlChecksum } from './checksum.js';
import { isFatalMysqlError, mysqlError, mysqlPool, MYSQL_POOL_SIZE } from './connection.js';
import { introspectMysql } from './introspect.js';
import { readOnlyTablesMysql, setReadOnlyMysql } from './read-only.js';
import { advanceSequencesMysql } from './sequences.js';
import { tableStatsMysql } from './stats.js';
import { replicaLagMysql } from './replica-lag.js';
import { classifyMysqlError } from './errors.js';
import {
  LEDGER_READ_CHUNK,
  MysqlNumericLiteral,
  UPSERT_KEY_READ_CHUNK,
  mysqlCapabilities,
  mysqlIdent,
  mysqlLedgerSql,
  mysqlSql,
  mysqlUpsertSql,
} from './sql.js';

/**
 * Prepares positional parameters for mysql2's client-side formatting: `undefined` → NULL, plain objects and
 * arrays → their JSON text (mysql2 would otherwise expand them into `k = v` pairs or lists, or inline whatever an
 * object's `toSqlString` returns). Buffers, Dates (written as UTC), bigints, booleans, numbers, strings and the
 * store's own {@link MysqlNumericLiteral}s are formatted by mysql2 as they are.
 * @internal
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
 * @internal
 */
export async function advanceLedgerMysql(
  tx: Executor,
  ledgerTable: string,
  entity: string,
  entries: LedgerEntry[],
  mode: LedgerMode,
): Promise<Set<string>> {
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
    return ledgerWins(mode, e.version, cur);
  });
  if (winners.length === 0) return won;
  const up = sql.writeWinners(winners);
  await tx.execute(up.sql, up.params);
  for (const e of winners) won.add(e.key);
  return won;
}

/** A key value as text that compares equal for the value written and the value read back (BIGINT as string…). */
function keyText(v: unknown, col: ColumnInfo | undefined): string | null {
  if (col) {
    try {
      return canonicalize(v, col);
    } catch {
      // not readable as its category: compared as written
    }
  }
  if (v === null || v === undefined) return null;
  return Buffer.isBuffer(v) ? `x${v.toString('hex')}` : String(v);
}

/**
 * True when the target row `old` (as read back) already holds every value of `row` (in `q.columns` order): each
 * column compared by its canonical text (src/core/canonical.ts, the encoding verify compares), or by its plain
 * text without `columnInfo`. A value that cannot be read as its category counts as different.
 */
function sameRow(q: UpsertQuery, row: unknown[], old: Row): boolean {
  for (let i = 0; i < q.columns.length; i++) {
    const info = q.columnInfo?.[i];
    const a = row[i] ?? null;
    const b = old[q.columns[i]!] ?? null;
    if (a === null || b === null) {
      if (a !== b) return false;
      continue;
    }
    if (keyText(a, info) !== keyText(b, info)) return false;
  }
  return true;
}

/**
 * The MySQL/MariaDB row write by key ({@link Store.upsert}): rows whose key is in the table are updated in place,
 * the others inserted with a plain `INSERT`, so a value of another unique key held by another row raises 1062
 * (a unique violation) and never writes over that row. Why not the one `INSERT … ON DUPLICATE KEY UPDATE` the
 * other dialects' `ON CONFLICT (key)` resembles: MySQL applies it to whichever row clashes on *any* unique key, so
 * a new user taking an email still held by a row whose change has not arrived overwrote that row and was never
 * inserted (issue 9).
 *
 * The approaches weighed: (a) this one — read which keys exist, then update those and plain-insert the rest —
 * costs one indexed key read per 500 rows and one UPDATE per changed existing row; it is exact, whatever the order MySQL checks
 * unique indexes in, and race-free: the keys of the batch are locked in the version ledger by the caller, and a
 * concurrent writer taking the same email on another key makes the plain `INSERT` (or the update) fail with 1062.
 * (b) Looking for rows that hold the batch's other unique values before writing needs every unique key from
 * introspection, a read per unique key, and leaves a window between the check and the write in which a
 * concurrent apply takes the value, the upsert then writing over it. (c) A guard on every column of the
 * `ON DUPLICATE KEY UPDATE` (`c = IF(k <=> VALUES(k), VALUES(c), c)`) stops the overwrite but leaves the new row
 * uninserted and raises nothing, so the conflict resolution never runs. Rows whose key exists are updated by key
 * (`UPDATE … WHERE key`, {@link mysqlUpsertSql}), so a clash on another unique index can only raise 1062, and the
 * table's BEFORE INSERT triggers never touch an update.
 *
 * Keys read back are matched to the batch by their canonical text (`columnInfo` given) or their plain text.
 * The read returns the rows' written columns too: a row whose values all equal the target's (by the same texts)
 * is left out of the update, so re-applying unchanged rows writes nothing and fires no trigger.
 * Must run in the caller's transaction; on a unique violation the rows already written by this call are undone
 * only by the caller's rollback (to a savepoint). Throws `TANDEM_ERR_STORE_QUERY` (a unique violation is marked
 * so, see `isUniqueViolation`), `TypeError` for a row of the wrong length or a key not among the columns.
 * @internal
 */
export async function upsertMysql(tx: Executor, q: UpsertQuery): Promise<void> {
  if (q.rows.length === 0) return;
  const sql = mysqlUpsertSql(q);
  const keyInfo = sql.keyIndexes.map((i) => q.columnInfo?.[i]);
  const text = (values: unknown[]) => JSON.stringify(values.map((v, j) => keyText(v, keyInfo[j])));
  const present = new Map<string, Row>();
  for (let i = 0; i < q.rows.length; i += UPSERT_KEY_READ_CHUNK) {
    const st = sql.existing(q.rows.slice(i, i + UPSERT_KEY_READ_CHUNK));
    for (const r of await tx.query(st.sql, st.params)) present.set(text(q.key.map((k) => r[k])), r);
  }
  const existing: unknown[][] = [];
  const fresh: unknown[][] = [];
  for (const r of q.rows) {
    const old = present.get(text(sql.keyIndexes.map((i) => r[i])));
    if (!old) fresh.push(r);
    // a row whose every value is there already is not written: MySQL/MariaDB fire UPDATE triggers (a
    // `last_update = now()`) even for an update that changes nothing (docs/mapping.md)
    else if (!sameRow(q, r, old)) existing.push(r);
  }
  // updates first: a row that moves away from a value frees it for a new row of the same batch
  for (const up of sql.updates(existing)) await tx.execute(up.sql, up.params);
  if (fresh.length) {
    const ins = sql.insert(fresh);
    await tx.execute(ins.sql, ins.params);
  }
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
  const store: Store = {
    dialect: 'mysql',
    capabilities: mysqlCapabilities,
    connections: MYSQL_POOL_SIZE,
    classifyError: classifyMysqlError,
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
    upsert: upsertMysql,
    controlTable: (name: string) => mysqlIdent(`tandem_${name}`),
    async serverIdentity(): Promise<string> {
      const r = await base.query<{ h: string; p: unknown; d: string; db: string }>(
        'SELECT @@hostname AS h, @@port AS p, @@datadir AS d, DATABASE() AS db',
      );
      return ['mysql-server', r[0]!.h, String(r[0]!.p), r[0]!.d, String(r[0]!.db).toLowerCase()].join('|');
    },
    advanceSequences: (tables, o) => advanceSequencesMysql(store, tables, o),
    setReadOnly: (tables, on) => setReadOnlyMysql(store, tables, on),
    readOnlyTables: (tables) => readOnlyTablesMysql(base, u.redacted, tables),
    tableStats: (tables) => tableStatsMysql(base, tables),
    replicaLag: () => replicaLagMysql(base, u.redacted),
    close: () => pool.end(),
  };
  return store;
}
