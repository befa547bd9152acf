import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { TandemError } from '../../core/errors.js';
import { normalizeLedgerEntries } from '../common.js';
import type { Executor, LedgerEntry, LedgerMode, Row, SchemaInfo, Store } from '../types.js';
import { storeIdentity } from '../identity.js';
import type { StoreUrl } from '../url.js';
import { registerChecksumFunctions, sqliteChecksum } from './checksum.js';
import { fromSqliteRow, openSqliteDatabase, sqliteError, toSqliteParams } from './connection.js';
import { introspectSqlite } from './introspect.js';
import { readOnlyTablesSqlite, setReadOnlySqlite } from './read-only.js';
import { advanceSequencesSqlite } from './sequences.js';
import { tableStatsSqlite } from './stats.js';
import { classifySqliteError } from './errors.js';
import { SQLITE_LEDGER_BATCH, sqliteAdvanceLedger, sqliteCapabilities, sqliteIdent, sqliteSql } from './sql.js';

export { SQLITE_MAX_PARAMS, sqliteUpsertMaxRows } from './sql.js';

/** A FIFO async lock: `lock()` resolves with the release function once every earlier holder released. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return ready;
  }
}

const STMT_CACHE_SIZE = 256;

/**
 * Runs statements on one better-sqlite3 connection: prepared statements are cached (LRU), read with
 * `safeIntegers(true)` and converted by {@link fromSqliteRow}; parameters go through {@link toSqliteParams}.
 * A parameterless string of several statements (DDL scripts) runs with `exec`.
 */
class SqliteRunner {
  private readonly cache = new Map<string, Database.Statement>();
  constructor(
    readonly db: Database.Database,
    private readonly redacted: string,
  ) {}

  private prepare(sql: string): Database.Statement | null {
    let stmt = this.cache.get(sql);
    if (stmt) {
      this.cache.delete(sql);
      this.cache.set(sql, stmt);
      return stmt;
    }
    try {
      stmt = this.db.prepare(sql);
    } catch (e) {
      if (e instanceof RangeError && /more than one statement/.test(e.message)) return null;
      throw e;
    }
    if (stmt.reader) stmt.safeIntegers(true);
    this.cache.set(sql, stmt);
    if (this.cache.size > STMT_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    return stmt;
  }

  /** Returns the rows (query) or the number of rows changed/returned (execute). */
  run(sql: string, params: unknown[], want: 'rows'): Row[];
  run(sql: string, params: unknown[], want: 'count'): number;
  run(sql: string, params: unknown[], want: 'rows' | 'count'): Row[] | number {
    try {
      const stmt = this.prepare(sql);
      if (!stmt) {
        if (params.length)
          throw new TandemError(
            'STORE_QUERY',
            `SQLite at ${this.redacted}: a statement with parameters must be a single statement`,
          );
        const before = this.totalChanges();
        this.db.exec(sql);
        return want === 'rows' ? [] : this.totalChanges() - before;
      }
      const bound = toSqliteParams(params);
      if (stmt.reader) {
        const rows = (stmt.all(...bound) as Row[]).map(fromSqliteRow);
        return want === 'rows' ? rows : rows.length;
      }
      const info = stmt.run(...bound);
      return want === 'rows' ? [] : Number(info.changes);
    } catch (e) {
      throw sqliteError(e, this.redacted);
    }
  }

  private totalChanges(): number {
    return Number((this.db.prepare('SELECT total_changes() AS n').pluck().get() as number | bigint) ?? 0);
  }

  close(): void {
    this.cache.clear();
    this.db.close();
  }
}

/** State of one `transaction()` call, visible to code running inside its async context. */
interface TxState {
  open: boolean;
}

/**
 * Shared by the SQLite store: the ledger advance as conditional upserts with `RETURNING entity_key`, in batches of
 * at most {@link SQLITE_LEDGER_BATCH} entries (SQLite's parameter limit). Returns the keys whose entry moved.
 * @internal
 */
export async function advanceLedgerSqlite(
  tx: Executor,
  ledgerTable: string,
  entity: string,
  entries: LedgerEntry[],
  mode: LedgerMode,
): Promise<Set<string>> {
  const list = normalizeLedgerEntries(entries);
  const won = new Set<string>();
  for (let i = 0; i < list.length; i += SQLITE_LEDGER_BATCH) {
    const batch = list.slice(i, i + SQLITE_LEDGER_BATCH);
    const params: unknown[] = [];
    for (const e of batch) params.push(entity, e.key, e.version, e.deleted ? 1 : 0);
    const rows = await tx.query<{ entity_key: string }>(sqliteAdvanceLedger(ledgerTable, mode, batch.length), params);
    for (const r of rows) won.add(String(r.entity_key));
  }
  return won;
}

/**
 * The SQLite store (driver `better-sqlite3`, synchronous, wrapped in promises). Control tables are
 * `tandem_<name>` in the same database (`controlSchema` is null).
 *
 * Integers read back as JS numbers up to 2^53 and as decimal strings beyond; BLOBs as `Buffer`; booleans bound
 * as 1/0. One connection serves the store: `transaction()` runs `BEGIN IMMEDIATE … COMMIT` and holds a lock, so
 * transactions never interleave and `query()`/`execute()` calls from outside wait until it ends. Calls made on
 * the store (not on `tx`) from inside the transaction's own async context run inside the transaction instead of
 * deadlocking; a nested `transaction()` there throws `TANDEM_ERR_INTERNAL`. Other processes writing the same file
 * are waited for up to 5 s (`busy_timeout`), then `TANDEM_ERR_STORE_QUERY` (`SQLITE_BUSY`).
 *
 * Throws `TANDEM_ERR_STORE_UNREACHABLE` when the file cannot be opened (see {@link openSqliteDatabase}).
 */
export async function openSqlite(u: StoreUrl): Promise<Store> {
  const runner = new SqliteRunner(openSqliteDatabase(u), u.redacted);
  const memoryIdentity = `sqlite|memory|${randomUUID()}`;
  registerChecksumFunctions(runner.db);
  const mutex = new Mutex();
  const als = new AsyncLocalStorage<TxState>();
  let closed = false;

  /** Runs now when inside the open transaction's context, else after any running transaction. */
  async function outside<T>(fn: () => T): Promise<T> {
    if (als.getStore()?.open) return fn();
    const release = await mutex.lock();
    try {
      return fn();
    } finally {
      release();
    }
  }

  const base: Executor = {
    query: <T extends Row = Row>(sql: string, params: unknown[] = []) =>
      outside(() => runner.run(sql, params, 'rows') as T[]),
    execute: (sql: string, params: unknown[] = []) => outside(() => runner.run(sql, params, 'count')),
  };

  function txExecutor(state: TxState): Executor {
    const check = () => {
      if (!state.open)
        throw new TandemError('INTERNAL', `SQLite at ${u.redacted}: statement on a transaction that already ended`);
    };
    return {
      async query<T extends Row = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
        check();
        return runner.run(sql, params, 'rows') as T[];
      },
      async execute(sql: string, params: unknown[] = []): Promise<number> {
        check();
        return runner.run(sql, params, 'count');
      },
    };
  }

  const store: Store = {
    dialect: 'sqlite',
    capabilities: sqliteCapabilities,
    // one connection: verify's checksum segments run one at a time
    connections: 1,
    classifyError: classifySqliteError,
    url: u.redacted,
    controlSchema: null,
    sql: { ...sqliteSql, checksum: sqliteChecksum },
    ...base,
    introspect: (): Promise<SchemaInfo> => introspectSqlite(base),
    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      if (als.getStore()?.open)
        throw new TandemError(
          'INTERNAL',
          `SQLite at ${u.redacted}: transaction() called inside a transaction of the same store; use the tx it was given`,
        );
      const release = await mutex.lock();
      const state: TxState = { open: false };
      try {
        runner.run('BEGIN IMMEDIATE', [], 'count');
        state.open = true;
        const out = await als.run(state, () => fn(txExecutor(state)));
        runner.run('COMMIT', [], 'count');
        return out;
      } catch (e) {
        if (!closed && runner.db.open && runner.db.inTransaction) {
          try {
            runner.db.exec('ROLLBACK');
          } catch {
            // the original error matters more
          }
        }
        throw e;
      } finally {
        state.open = false;
        release();
      }
    },
    advanceLedger: advanceLedgerSqlite,
    controlTable: (name: string) => sqliteIdent(`tandem_${name}`),
    // the file is the server: its device and inode (a unique string for an in-memory database)
    serverIdentity: async () => storeIdentity(u) ?? memoryIdentity,
    advanceSequences: (tables, o) => advanceSequencesSqlite(base, u.redacted, tables, o),
    setReadOnly: (tables, on) => setReadOnlySqlite(store, tables, on),
    readOnlyTables: (tables) => readOnlyTablesSqlite(base, u.redacted, tables),
    tableStats: (tables) => tableStatsSqlite(base, tables),
    async close(): Promise<void> {
      if (closed) return;
      const release = await mutex.lock();
      try {
        if (!closed) runner.close();
        closed = true;
      } finally {
        release();
      }
    },
  };
  return store;
}
