import pg from 'pg';
import { normalizeLedgerEntries } from '../common.js';
import type { Executor, LedgerEntry, LedgerMode, Row, SchemaInfo, Store } from '../types.js';
import type { StoreUrl } from '../url.js';
import { postgresChecksum } from './checksum.js';
import { pgCopyFrom, pgStagedUpsert } from './bulk.js';
import { pgError, pgPool, PG_POOL_SIZE } from './connection.js';
import { introspectPostgres, pgUserArrayOids } from './introspect.js';
import { parsePgArray } from '../../core/composite.js';
import { classifyPgError } from './errors.js';
import { pgAdvanceLedger, pgArrayParam, pgIdent, postgresCapabilities, postgresSql } from './sql.js';
import { readOnlyTablesPg, setReadOnlyPg } from './read-only.js';
import { advanceSequencesPg } from './sequences.js';
import { tableStatsPg } from './stats.js';
import { replicaLagPg } from './replica-lag.js';

/** Runs statements on one pg client or pool, mapping errors. */
function executor(q: pg.Pool | pg.PoolClient, redacted: string): Executor {
  return {
    async query<T extends Row = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
      try {
        return (await q.query(sql, params)).rows as T[];
      } catch (e) {
        throw pgError(e, redacted);
      }
    },
    async execute(sql: string, params: unknown[] = []): Promise<number> {
      try {
        return (await q.query(sql, params)).rowCount ?? 0;
      } catch (e) {
        throw pgError(e, redacted);
      }
    },
    // COPY needs one connection: on a checked-out client (a transaction's), not on the pool
    ...(q instanceof pg.Pool ? {} : { copyFrom: (copy: string, data: string) => pgCopyFrom(q, copy, data, redacted) }),
  };
}

/**
 * Shared by PostgreSQL and PGlite: the ledger advance as one conditional upsert with RETURNING.
 * @internal
 */
export async function advanceLedgerPg(
  tx: Executor,
  ledgerTable: string,
  entity: string,
  entries: LedgerEntry[],
  mode: LedgerMode,
): Promise<Set<string>> {
  const list = normalizeLedgerEntries(entries);
  if (list.length === 0) return new Set();
  const rows = await tx.query<{ entity_key: string }>(pgAdvanceLedger(ledgerTable, mode), [
    entity,
    pgArrayParam(list.map((e) => e.key)),
    pgArrayParam(list.map((e) => e.version)),
    pgArrayParam(list.map((e) => e.deleted)),
  ]);
  return new Set(rows.map((r) => r.entity_key));
}

/**
 * The server-side identity of a PostgreSQL (or PGlite) namespace: the postmaster's start time (microseconds,
 * readable by every role) and port, the current database, and the schema Tandem qualifies tables with.
 * @internal
 */
export async function pgServerIdentity(db: Executor, schema: string): Promise<string> {
  const r = await db.query<{ started: string; port: string; db: string }>(
    `SELECT pg_postmaster_start_time()::text AS started, current_setting('port') AS port, current_database() AS db`,
  );
  return ['pg-server', r[0]!.started, r[0]!.port, r[0]!.db, schema].join('|');
}

/** The PostgreSQL store (driver `pg`). Control tables live in schema `tandem`. */
export async function openPostgres(u: StoreUrl): Promise<Store> {
  const { pool, schema, arrayParsers } = pgPool(u);
  const base = executor(pool, u.redacted);
  // fail fast with a clear error when the server cannot be used
  await base.query('SELECT 1');
  const sql = { ...postgresSql(schema), checksum: postgresChecksum(schema), stagedUpsert: pgStagedUpsert(schema) };
  const store: Store = {
    dialect: 'postgres',
    capabilities: postgresCapabilities,
    connections: PG_POOL_SIZE,
    classifyError: classifyPgError,
    url: u.redacted,
    controlSchema: 'tandem',
    sql,
    ...base,
    introspect: async (): Promise<SchemaInfo> => {
      const info = await introspectPostgres(base, schema);
      // arrays of enums and domains come back as literal text: read them as JS arrays from now on
      for (const oid of await pgUserArrayOids(base)) arrayParsers.set(oid, (v: string) => parsePgArray(v));
      return info;
    },
    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw pgError(e, u.redacted);
      }
      const tx = executor(client, u.redacted);
      // a connection that dies between two statements emits 'error' on the checked-out client: without a
      // listener that would crash the process; the next statement reports the failure instead
      let broken: Error | undefined;
      const onError = (e: Error) => {
        broken = e;
      };
      client.on('error', onError);
      try {
        await tx.execute('BEGIN');
        const out = await fn(tx);
        await tx.execute('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch((re: Error) => {
          broken ??= re;
        });
        throw e;
      } finally {
        client.off('error', onError);
        // a broken connection is destroyed, not returned to the pool
        client.release(broken ?? false);
      }
    },
    advanceLedger: advanceLedgerPg,
    controlTable: (name: string) => `${pgIdent('tandem')}.${pgIdent(name)}`,
    serverIdentity: () => pgServerIdentity(base, schema),
    advanceSequences: (tables, o) => advanceSequencesPg(base, schema, u.redacted, tables, o),
    setReadOnly: (tables, on) => setReadOnlyPg(store, schema, tables, on),
    readOnlyTables: (tables) => readOnlyTablesPg(base, schema, tables),
    tableStats: (tables) => tableStatsPg(base, schema, tables),
    replicaLag: (o) => replicaLagPg(base, u.redacted, o?.replicaName),
    close: () => pool.end(),
  };
  return store;
}
