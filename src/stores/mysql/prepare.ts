import { TandemError } from '../../core/errors.js';
import { COLUMN_COMMENT, type DdlStatement, type PrepareSql, type TableState, type TriggerState } from '../prepare.js';
import type { Executor, Store } from '../types.js';

const text = (v: unknown): string =>
  Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v);

/**
 * `tandem prepare` on MySQL/MariaDB: `BEFORE UPDATE` and `BEFORE INSERT` triggers; the column is added with
 * `ALGORITHM=INSTANT`, falling back to `INPLACE, LOCK=NONE`, then (allowed by the caller only) a table copy. DDL
 * commits on its own: the run holds a named lock with the session's `lock_wait_timeout` set.
 * @internal
 */
export const mysqlPrepare: PrepareSql = {
  versionDdl(sql, table, column, names) {
    const t = sql.table(table);
    const c = sql.ident(column);
    const add = `ALTER TABLE ${t} ADD COLUMN ${c} BIGINT NOT NULL DEFAULT 1 COMMENT '${COLUMN_COMMENT}'`;
    const drop = `ALTER TABLE ${t} DROP COLUMN ${c}`;
    const online = (s: string): DdlStatement => ({
      sql: `${s}, ALGORITHM=INSTANT`,
      fallbacks: [
        { sql: `${s}, ALGORITHM=INPLACE, LOCK=NONE`, locking: false },
        { sql: s, locking: true },
      ],
    });
    return {
      addColumn: [online(add)],
      createTriggers: [
        {
          sql: `CREATE TRIGGER ${sql.ident(names.update)} BEFORE UPDATE ON ${t} FOR EACH ROW SET NEW.${c} = OLD.${c} + 1`,
          trigger: names.update,
        },
        {
          sql: `CREATE TRIGGER ${sql.ident(names.insert)} BEFORE INSERT ON ${t} FOR EACH ROW SET NEW.${c} = GREATEST(COALESCE(NEW.${c}, 1), 1)`,
          trigger: names.insert,
        },
      ],
      dropTriggers: [
        { sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.update)}`, trigger: names.update },
        { sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.insert)}`, trigger: names.insert },
      ],
      dropColumn: [online(drop)],
      markers: {
        [names.update]: `NEW.${c} = OLD.${c} + 1`,
        [names.insert]: `NEW.${c} = GREATEST(COALESCE(NEW.${c}, 1), 1)`,
      },
    };
  },

  async inspect(db, _sql, table, column, _fnName, sameColumn): Promise<TableState | null> {
    const cols = await db.query<{ tbl: unknown; name: unknown; data_type: unknown; comment: unknown }>(
      `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, COLUMN_TYPE AS data_type, COLUMN_COMMENT AS comment
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
      [table],
    );
    const mine = cols.filter((r) => text(r.tbl) === table);
    if (mine.length === 0) return null;
    const c = mine.find((r) => sameColumn(text(r.name), column));
    const trg = await db.query<{ name: unknown; tbl: unknown; body: unknown; timing: unknown; event: unknown }>(
      `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl, ACTION_STATEMENT AS body, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`,
    );
    const triggers = new Map<string, TriggerState>();
    for (const r of trg) triggers.set(text(r.name), { name: text(r.name), table: text(r.tbl), body: text(r.body) });
    const dataType = c ? text(c.data_type).toLowerCase() : '';
    return {
      shape: {},
      column: c
        ? {
            name: text(c.name),
            dataType,
            integer: /^(tiny|small|medium|big)?int\b/.test(dataType),
            marked: text(c.comment).startsWith(COLUMN_COMMENT),
          }
        : null,
      triggers,
      functionBody: null,
      otherUpdateTriggers: trg
        .filter((r) => text(r.tbl) === table && text(r.timing) === 'BEFORE' && text(r.event) === 'UPDATE')
        .map((r) => text(r.name)),
    };
  },

  expectedTriggers: (names) => [names.update, names.insert],

  runsOurFunction: () => true,

  triggerNotes: (others, table) => [
    `BEFORE UPDATE trigger(s) ${others.map((n) => `"${n}"`).join(', ')} on "${table}" run before Tandem's (created earlier); a BEFORE UPDATE trigger created later would run after it`,
  ],

  withLock<T>(store: Store, seconds: number, fn: (db: Executor) => Promise<T>): Promise<T> {
    return store.transaction(async (tx) => {
      await tx.execute(`SET SESSION lock_wait_timeout = ?`, [seconds]);
      try {
        // one lock per database (MySQL limits lock names to 64 characters)
        const got = await tx.query<{ ok: unknown }>(
          `SELECT GET_LOCK(LEFT(CONCAT('tandem_prepare:', DATABASE()), 64), ?) AS ok`,
          [seconds],
        );
        if (Number(got[0]?.ok) !== 1)
          throw new TandemError(
            'STORE_QUERY',
            `${store.url}: another tandem prepare holds its lock (waited ${seconds}s)`,
          );
        try {
          return await fn(tx);
        } finally {
          await tx.query(`SELECT RELEASE_LOCK(LEFT(CONCAT('tandem_prepare:', DATABASE()), 64)) AS ok`).catch(() => {});
        }
      } finally {
        await tx.execute(`SET SESSION lock_wait_timeout = DEFAULT`).catch(() => {});
      }
    });
  },
};
