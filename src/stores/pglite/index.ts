import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { PGlite, Results, Transaction } from '@electric-sql/pglite';
import { TandemError } from '../../core/errors.js';
import { pgError } from '../postgres/connection.js';
import { advanceLedgerPg } from '../postgres/index.js';
import type { Executor, Row, SchemaInfo, Store } from '../types.js';
import { storeIdentity } from '../identity.js';
import type { StoreUrl } from '../url.js';
import { postgresChecksum } from './checksum.js';
import { openPgliteDatabase, pgArrayParam } from './connection.js';
import { introspectPglite, PGLITE_SCHEMA } from './introspect.js';
import { pgUserArrayOids } from '../postgres/introspect.js';
import { parsePgArray } from '../../core/composite.js';
import { classifyPgError } from './errors.js';
import { pgIdent, postgresCapabilities, postgresSql } from './sql.js';
import { readOnlyTablesPg, setReadOnlyPg } from './read-only.js';
import { advanceSequencesPg } from './sequences.js';
import { tableStatsPg } from './stats.js';

type Runs = Pick<Transaction, 'query' | 'exec'>;

/** Extended-protocol statements hold one command; PostgreSQL says so with SQLSTATE 42601 and this text. */
function isMultiStatementError(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '42601' && /multiple commands/.test(err.message ?? '');
}

/**
 * Maps a PGlite error with `pgError`, first dropping the `params` PGlite attaches to its errors so bound values
 * never travel with the TandemError's `cause` (loggers serialize causes).
 */
function pgliteError(e: unknown, redacted: string): TandemError {
  if (e && typeof e === 'object' && 'params' in e) {
    try {
      delete (e as { params?: unknown }).params;
    } catch {
      // frozen: leave it
    }
  }
  return pgError(e, redacted);
}

/**
 * Runs statements on PGlite or one of its transactions, mapping errors with {@link pgliteError}. Array parameters are
 * sent as PostgreSQL array literals ({@link pgArrayParam}). A parameterless string of several statements runs
 * with the simple protocol (`exec`), as `pg` does.
 */
function executor(q: Runs, redacted: string): Executor {
  async function run(sql: string, params: unknown[]): Promise<Results<Row>[]> {
    try {
      return [await q.query<Row>(sql, params.map(pgArrayParam))];
    } catch (e) {
      if (params.length === 0 && isMultiStatementError(e)) {
        try {
          return (await q.exec(sql)) as Results<Row>[];
        } catch (e2) {
          throw pgliteError(e2, redacted);
        }
      }
      throw pgliteError(e, redacted);
    }
  }
  return {
    async query<T extends Row = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
      const res = await run(sql, params);
      return (res[res.length - 1]?.rows ?? []) as T[];
    },
    async execute(sql: string, params: unknown[] = []): Promise<number> {
      const res = await run(sql, params);
      return res.reduce((n, r) => n + (r.rowCount ?? 0), 0);
    },
  };
}

/** State of one `transaction()` call, visible to code running inside its async context. */
interface TxState {
  open: boolean;
  tx: Executor;
}

/**
 * The PGlite store (`@electric-sql/pglite`: PostgreSQL compiled to WASM, in-process). Same SQL, introspection
 * (schema `public`) and ledger advance as the PostgreSQL store; control tables live in schema `tandem`.
 * Values read back like `pg`: int8/numeric/date/time/timestamp(tz) as text, `bytea` as `Buffer`.
 *
 * PGlite is one backend: statements run one at a time, and a `transaction()` holds PGlite's lock until it ends,
 * so `query()`/`execute()` calls from elsewhere wait for it (no interleaving, no deadlock). Calls made on the
 * store (not on `tx`) from inside the transaction's own async context run inside the transaction instead of
 * waiting on themselves; a nested `transaction()` there throws `TANDEM_ERR_INTERNAL`.
 *
 * Throws `TANDEM_ERR_STORE_UNREACHABLE` when PGlite cannot start (see {@link openPgliteDatabase}); statements
 * reject with `TANDEM_ERR_STORE_QUERY`.
 */
export async function openPglite(u: StoreUrl): Promise<Store> {
  const db: PGlite = await openPgliteDatabase(u);
  const memoryIdentity = `pglite|memory|${randomUUID()}`;
  const direct = executor(db, u.redacted);
  const als = new AsyncLocalStorage<TxState>();
  const current = (): Executor => {
    const s = als.getStore();
    return s?.open ? s.tx : direct;
  };
  const base: Executor = {
    query: <T extends Row = Row>(sql: string, params?: unknown[]) => current().query<T>(sql, params),
    execute: (sql: string, params?: unknown[]) => current().execute(sql, params),
  };
  const store: Store = {
    dialect: 'pglite',
    capabilities: postgresCapabilities,
    // one connection: verify's checksum segments run one at a time
    connections: 1,
    classifyError: classifyPgError,
    url: u.redacted,
    controlSchema: 'tandem',
    // one backend in-process: no log flush worth skipping
    sql: { ...postgresSql(PGLITE_SCHEMA), asyncCommit: null, checksum: postgresChecksum(PGLITE_SCHEMA) },
    ...base,
    introspect: async (): Promise<SchemaInfo> => {
      const info = await introspectPglite(base);
      // array types created after PGlite started (arrays of enums and domains) are read as JS arrays from now on
      await db.refreshArrayTypes();
      for (const oid of await pgUserArrayOids(base))
        if (!(oid in db.parsers)) db.parsers[oid] = (v: string) => parsePgArray(v);
      return info;
    },
    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      if (als.getStore()?.open)
        throw new TandemError(
          'INTERNAL',
          `PGlite at ${u.redacted}: transaction() called inside a transaction of the same store; use the tx it was given`,
        );
      let fnFailed = false;
      let fnError: unknown;
      try {
        return await db.transaction(async (t) => {
          const inner = executor(t, u.redacted);
          const state: TxState = { open: true, tx: inner };
          const tx: Executor = {
            query: <R extends Row = Row>(sql: string, params?: unknown[]) => {
              if (!state.open)
                return Promise.reject(
                  new TandemError('INTERNAL', `PGlite at ${u.redacted}: statement on a transaction that already ended`),
                );
              return inner.query<R>(sql, params);
            },
            execute: (sql: string, params?: unknown[]) => {
              if (!state.open)
                return Promise.reject(
                  new TandemError('INTERNAL', `PGlite at ${u.redacted}: statement on a transaction that already ended`),
                );
              return inner.execute(sql, params);
            },
          };
          try {
            return await als.run(state, () => fn(tx));
          } catch (e) {
            fnFailed = true;
            fnError = e;
            throw e;
          } finally {
            state.open = false;
          }
        });
      } catch (e) {
        // the caller's own error passes unchanged; BEGIN/COMMIT/ROLLBACK failures are the store's
        if (fnFailed && e === fnError) throw e;
        throw pgliteError(e, u.redacted);
      }
    },
    advanceLedger: advanceLedgerPg,
    controlTable: (name: string) => `${pgIdent('tandem')}.${pgIdent(name)}`,
    // the data folder is the server: its device and inode (a unique string in memory)
    serverIdentity: async () => storeIdentity(u) ?? memoryIdentity,
    advanceSequences: (tables, o) => advanceSequencesPg(base, PGLITE_SCHEMA, u.redacted, tables, o),
    setReadOnly: (tables, on) => setReadOnlyPg(store, PGLITE_SCHEMA, tables, on),
    readOnlyTables: (tables) => readOnlyTablesPg(base, PGLITE_SCHEMA, tables),
    tableStats: (tables) => tableStatsPg(base, PGLITE_SCHEMA, tables),
    async close(): Promise<void> {
      if (!db.closed) await db.close();
    },
  };
  return store;
}
