import {
  READ_ONLY_MARKER,
  foreignTriggerError,
  readOnlyChange,
  readOnlyMessage,
  readOnlyTriggerNames,
} from '../read-only.js';
import { missingTable } from '../sequences.js';
import type { Executor, ReadOnlyChange, Store } from '../types.js';
import { mysqlIdent } from './sql.js';

const text = (v: unknown): string =>
  Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v);

/** How long cutover's DDL waits for a table's metadata lock (the server's default is a year), seconds. */
export const MYSQL_DDL_LOCK_WAIT_SECONDS = 10;

/**
 * Runs `fn` on one connection of `store` with `lock_wait_timeout` set to {@link MYSQL_DDL_LOCK_WAIT_SECONDS}, so a
 * long transaction holding a table cannot stall cutover's DDL (`CREATE TRIGGER`, `ALTER TABLE … AUTO_INCREMENT`)
 * for long: it fails with kind `lock_timeout` instead. DDL commits on its own inside it.
 * @internal
 */
export function withDdlLockWait<T>(store: Pick<Store, 'transaction'>, fn: (db: Executor) => Promise<T>): Promise<T> {
  return store.transaction(async (tx) => {
    await tx.execute(`SET SESSION lock_wait_timeout = ?`, [MYSQL_DDL_LOCK_WAIT_SECONDS]);
    try {
      return await fn(tx);
    } finally {
      await tx.execute('SET SESSION lock_wait_timeout = DEFAULT').catch(() => {});
    }
  });
}

/** Tandem's three triggers of `table` with their events, and which exist (ours or not). */
async function inspect(db: Executor, url: string, table: string) {
  const found = await db.query<{ t: unknown }>(
    `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`,
    [table],
  );
  if (!found.some((r) => text(r.t) === table)) throw missingTable(url, table);
  const names = readOnlyTriggerNames(table);
  const wanted = [
    { name: names.insert, event: 'INSERT' },
    { name: names.update, event: 'UPDATE' },
    { name: names.delete, event: 'DELETE' },
  ];
  const rows = await db.query<{ name: unknown; tbl: unknown; body: unknown }>(
    `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl, ACTION_STATEMENT AS body FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME IN (?, ?, ?)`,
    wanted.map((w) => w.name),
  );
  const state = new Map<string, 'ours' | 'foreign'>();
  for (const r of rows)
    state.set(text(r.name), text(r.tbl) === table && text(r.body).includes(READ_ONLY_MARKER) ? 'ours' : 'foreign');
  return { wanted, state };
}

/**
 * {@link Store.setReadOnly} on MySQL/MariaDB: on, creates `BEFORE INSERT|UPDATE|DELETE … FOR EACH ROW SIGNAL
 * SQLSTATE '45000' SET MESSAGE_TEXT = 'tandem read-only: …'` under Tandem's names (src/stores/read-only.ts); off,
 * drops those of the names whose table and statement are Tandem's. DDL commits statement by statement here: a
 * call that fails half-way leaves some tables done, and running it again finishes the job (it is idempotent).
 * `TRUNCATE TABLE` does not fire triggers: it is not refused. Runs under {@link withDdlLockWait}.
 * @internal
 */
export function setReadOnlyMysql(
  store: Pick<Store, 'transaction' | 'url'>,
  tables: string[],
  on: boolean,
): Promise<ReadOnlyChange[]> {
  return withDdlLockWait(store, (db) => setReadOnlyOn(db, store.url, tables, on));
}

async function setReadOnlyOn(db: Executor, url: string, tables: string[], on: boolean): Promise<ReadOnlyChange[]> {
  const out: ReadOnlyChange[] = [];
  // every table is checked before the first change
  const plans = [];
  for (const table of tables) {
    const s = await inspect(db, url, table);
    const foreign = s.wanted.filter((w) => s.state.get(w.name) === 'foreign').map((w) => w.name);
    if (on && foreign.length) throw foreignTriggerError(url, table, foreign);
    plans.push({ table, ...s, foreign });
  }
  for (const p of plans) {
    const change = readOnlyChange(p.table, on);
    change.foreign.push(...p.foreign);
    for (const w of p.wanted) {
      const st = p.state.get(w.name);
      if (on && !st) {
        await db.execute(
          `CREATE TRIGGER ${mysqlIdent(w.name)} BEFORE ${w.event} ON ${mysqlIdent(p.table)} FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${readOnlyMessage(p.table)}'`,
        );
        change.created.push(w.name);
      } else if (!on && st === 'ours') {
        await db.execute(`DROP TRIGGER IF EXISTS ${mysqlIdent(w.name)}`);
        change.dropped.push(w.name);
      }
    }
    out.push(change);
  }
  return out;
}

/**
 * {@link Store.readOnlyTables} on MySQL/MariaDB: the tables holding all three of Tandem's triggers.
 * @internal
 */
export async function readOnlyTablesMysql(db: Executor, url: string, tables: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const table of tables) {
    const s = await inspect(db, url, table);
    if (s.wanted.every((w) => s.state.get(w.name) === 'ours')) out.push(table);
  }
  return out;
}
