import type { CompiledQuery } from 'kysely';
import type { Row } from '../stores/types.js';

/**
 * A connection of the application's, seen structurally, so Tandem joins the application's own transaction
 * instead of opening a second one (the way pg-boss's `fromKysely(trx)` does). Adapters never import the
 * driver: any object with the right methods works.
 *
 * `managed` adapters wrap a plain connection: Tandem's `write()` runs BEGIN/COMMIT/ROLLBACK on it. Unmanaged
 * adapters (Kysely transactions) wrap a transaction the application already opened: only `record()` applies.
 */
export interface TxAdapter {
  readonly dialect: 'postgres' | 'mysql' | 'sqlite';
  readonly managed: boolean;
  query(sql: string, params: unknown[]): Promise<Row[]>;
}

/** The part of `pg.Client` / `pg.PoolClient` Tandem uses. */
export interface PgLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
}

/** The part of a `mysql2/promise` connection Tandem uses. */
export interface MysqlLike {
  query(sql: string, values?: unknown): Promise<[unknown, unknown]>;
}

/** The part of a `better-sqlite3` Database Tandem uses. */
export interface SqliteLike {
  prepare(sql: string): { reader: boolean; all(...params: unknown[]): unknown[]; run(...params: unknown[]): unknown };
}

/** The part of a Kysely `Transaction` (or `Kysely`) Tandem uses: `executeQuery(CompiledQuery.raw(…))`. */
export interface KyselyLike {
  executeQuery(query: CompiledQuery): Promise<{ rows: unknown[] }>;
}

/** A raw `pg` client (not a Pool: a transaction needs one connection). */
export function fromPg(client: PgLike): TxAdapter {
  return { dialect: 'postgres', managed: true, query: async (sql, params) => (await client.query(sql, params)).rows };
}

/** A raw `mysql2/promise` connection (from `createConnection` or `pool.getConnection()`). */
export function fromMysql(conn: MysqlLike): TxAdapter {
  return {
    dialect: 'mysql',
    managed: true,
    async query(sql, params) {
      const [rows] = await conn.query(sql, params);
      return Array.isArray(rows) ? (rows as Row[]) : [];
    },
  };
}

/** A `better-sqlite3` Database (synchronous; wrapped). */
export function fromSqlite(db: SqliteLike): TxAdapter {
  return {
    dialect: 'sqlite',
    managed: true,
    async query(sql, params) {
      const st = db.prepare(sql);
      const p = params.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
      if (st.reader) return st.all(...p) as Row[];
      st.run(...p);
      return [];
    },
  };
}

/**
 * A Kysely transaction the application opened (`db.transaction().execute(async (trx) => …)`): Tandem's outbox
 * rows are written through `trx`, so they commit or roll back with the application's write. `dialect` names the
 * database behind it.
 */
export function fromKysely(trx: KyselyLike, dialect: 'postgres' | 'mysql' | 'sqlite'): TxAdapter {
  return {
    dialect,
    managed: false,
    query: async (sql, params) => {
      const { CompiledQuery } = await loadKysely();
      return (await trx.executeQuery(CompiledQuery.raw(sql, params))).rows as Row[];
    },
  };
}

let kysely: Promise<typeof import('kysely')> | undefined;

/**
 * Kysely, imported on first use: it is ~260 modules, and every CLI command loads this library (through the
 * config's `import { defineConfig } from 'tandem'`), so a static import would cost each command ~150 ms.
 */
function loadKysely(): Promise<typeof import('kysely')> {
  kysely ??= import('kysely');
  return kysely;
}
