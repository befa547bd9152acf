/**
 * The databases of a chaos seed, per direction: legacy and new created under a unique name, their tables, the
 * application's own connections (the writers' and the fault injector's), and clean-up. The new store of a server
 * direction is reached by Tandem through a TCP proxy the schedule cuts; the judge and the watcher read it directly.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { fromMysql, fromPg, fromSqlite, type TxAdapter } from '../src/capture/adapters.js';
import { TcpProxy } from '../test/proxy.js';
import type { Direction } from './schedule.js';
import { sourceDdl, targetDdl, type SourceDialect } from './entities.js';

const PG_BASE = process.env.TANDEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
const MYSQL_BASE = process.env.TANDEM_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

type Row = Record<string, unknown>;

/** An application connection to the legacy store: the adapter for the dual writer, and plain `?` SQL. */
export interface AppConn {
  adapter: TxAdapter;
  /** Runs `sql` with `?` placeholders; returns the rows of a SELECT (else []). */
  q(sql: string, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

/** The stores of one seed. */
export interface SeedStores {
  direction: Direction;
  sourceDialect: SourceDialect;
  /** Tandem's URL of the legacy store. */
  sourceUrl: string;
  /** Tandem's URL of the new store (through the proxy for servers). */
  targetUrl: string;
  /** The judge's URL of the new store (direct; for PGlite the same directory, read after the worker stopped). */
  targetDirect: string;
  /** For sqlite→pglite: a PGlite directory with the new tables only, for the application's dual writer. */
  twinUrl?: string;
  proxy?: TcpProxy;
  dir: string;
  connect(): Promise<AppConn>;
  drop(): Promise<void>;
}

const toPg = (sql: string) => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

/** Creates the legacy and new databases of `direction` with their tables. */
export async function createStores(direction: Direction, seed: number): Promise<SeedStores> {
  const name = `tandem_chaos_${seed}_${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-chaos-'));
  if (direction === 'sqlite-pglite') {
    const file = join(dir, 'legacy.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    for (const s of sourceDdl('sqlite')) db.exec(s);
    db.close();
    const { PGlite } = await import('@electric-sql/pglite');
    for (const d of ['new', 'twin']) {
      const p = await PGlite.create(join(dir, d));
      for (const s of targetDdl('postgres')) await p.exec(s);
      await p.close();
    }
    return {
      direction,
      sourceDialect: 'sqlite',
      sourceUrl: `sqlite:${file}`,
      targetUrl: `pglite:${join(dir, 'new')}`,
      targetDirect: `pglite:${join(dir, 'new')}`,
      twinUrl: `pglite:${join(dir, 'twin')}`,
      dir,
      connect: async () => {
        // no busy wait in the harness's own thread (it would stop its clock, watcher and schedule): a BEGIN that
        // finds the worker holding the write lock is retried asynchronously
        const c = new Database(file);
        c.pragma('busy_timeout = 0');
        const base = fromSqlite(c);
        const adapter: TxAdapter = {
          ...base,
          async query(sql, params) {
            for (let i = 0; ; i++) {
              try {
                return await base.query(sql, params);
              } catch (e) {
                if (!/^BEGIN/.test(sql) || (e as { code?: string }).code !== 'SQLITE_BUSY' || i > 20_000) throw e;
                await new Promise((r) => setTimeout(r, 3));
              }
            }
          },
        };
        return {
          adapter,
          q: async (sql, params = []) => {
            if (/^BEGIN/.test(sql)) return adapter.query(sql, params);
            const st = c.prepare(sql);
            if (st.reader) return st.all(...params) as Row[];
            st.run(...params);
            return [];
          },
          close: async () => {
            c.close();
          },
        };
      },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  // server directions: legacy and new are each a database on the machine's server
  const pgAdmin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await pgAdmin.connect();
  await pgAdmin.query(`CREATE DATABASE "${name}"`);
  await pgAdmin.end();
  const my = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  await my.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await my.end();
  const pgUrl = `${PG_BASE}/${name}`,
    myUrl = `${MYSQL_BASE}/${name}`;
  const pgc = new pg.Client({ connectionString: pgUrl });
  await pgc.connect();
  const myc = await mysql.createConnection({ uri: myUrl });
  const sourceIsPg = direction === 'postgres-mariadb';
  for (const s of sourceDdl(sourceIsPg ? 'postgres' : 'mysql')) await (sourceIsPg ? pgc.query(s) : myc.query(s));
  for (const s of targetDdl(sourceIsPg ? 'mysql' : 'postgres')) await (sourceIsPg ? myc.query(s) : pgc.query(s));
  await pgc.end();
  await myc.end();
  const targetBase = new URL(sourceIsPg ? MYSQL_BASE : PG_BASE);
  const proxy = new TcpProxy(Number(targetBase.port || (sourceIsPg ? 3306 : 5432)), targetBase.hostname);
  const port = await proxy.start();
  const targetDirect = sourceIsPg ? myUrl : pgUrl;
  const u = new URL(targetDirect);
  u.host = `127.0.0.1:${port}`;
  return {
    direction,
    sourceDialect: sourceIsPg ? 'postgres' : 'mysql',
    sourceUrl: sourceIsPg ? pgUrl : myUrl,
    targetUrl: u.toString(),
    targetDirect,
    proxy,
    dir,
    connect: async () => {
      if (sourceIsPg) {
        const c = new pg.Client({ connectionString: pgUrl });
        await c.connect();
        c.on('error', () => {});
        return {
          adapter: fromPg(c),
          q: async (sql, params = []) => (await c.query(toPg(sql), params)).rows,
          close: () => c.end(),
        };
      }
      const c = await mysql.createConnection({ uri: myUrl });
      c.on('error', () => {});
      return {
        adapter: fromMysql(c),
        q: async (sql, params = []) => {
          const [rows] = await c.query(sql, params);
          return Array.isArray(rows) ? (rows as Row[]) : [];
        },
        close: () => c.end(),
      };
    },
    drop: async () => {
      await proxy.close();
      const a = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
      await a.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await a.end();
      const p = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
      await p.connect();
      await p.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await p.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SQL for the age in ms of the oldest change in the legacy outbox (`ms`, null when empty). */
export function outboxAgeSql(d: SourceDialect): string {
  if (d === 'mysql')
    return 'SELECT TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) / 1000 AS ms FROM tandem_outbox';
  if (d === 'postgres')
    return 'SELECT extract(epoch from clock_timestamp() - min(created_at)) * 1000 AS ms FROM tandem.outbox';
  return "SELECT (julianday('now') - julianday(min(created_at))) * 86400000 AS ms FROM tandem_outbox";
}
