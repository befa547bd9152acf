import { TandemError } from '../../core/errors.js';
import type { PrepareSql, TableState, TriggerState } from '../prepare.js';
import type { Executor, Store } from '../types.js';

const text = (v: unknown): string =>
  Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v);

/**
 * `tandem prepare` on SQLite: `AFTER UPDATE` and `AFTER INSERT` triggers that rewrite the row (SQLite cannot
 * assign NEW), found by rowid or, for `WITHOUT ROWID` tables, the primary key. The DDL runs in one
 * `BEGIN IMMEDIATE` transaction.
 * @internal
 */
export const sqlitePrepare: PrepareSql = {
  versionDdl(sql, table, column, names, shape) {
    const t = sql.table(table);
    const c = sql.ident(column);
    const match = (shape.rowMatch ?? ['rowid']).map((k) => `${sql.ident(k)} = NEW.${sql.ident(k)}`).join(' AND ');
    return {
      addColumn: [{ sql: `ALTER TABLE ${t} ADD COLUMN ${c} INTEGER NOT NULL DEFAULT 1` }],
      createTriggers: [
        // SQLite cannot assign NEW in a BEFORE trigger: an AFTER trigger rewrites the row. The WHEN clause makes
        // it a no-op when the row already holds OLD + 1, which also stops it from firing on its own write.
        {
          sql: `CREATE TRIGGER ${sql.ident(names.update)} AFTER UPDATE ON ${t} FOR EACH ROW WHEN NEW.${c} IS NOT OLD.${c} + 1 AND OLD.${c} >= 1\nBEGIN\n  UPDATE ${t} SET ${c} = OLD.${c} + 1 WHERE ${match};\nEND`,
          trigger: names.update,
        },
        {
          sql: `CREATE TRIGGER ${sql.ident(names.insert)} AFTER INSERT ON ${t} FOR EACH ROW WHEN typeof(NEW.${c}) <> 'integer' OR NEW.${c} < 1\nBEGIN\n  UPDATE ${t} SET ${c} = 1 WHERE ${match};\nEND`,
          trigger: names.insert,
        },
      ],
      dropTriggers: [
        { sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.update)}`, trigger: names.update },
        { sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.insert)}`, trigger: names.insert },
      ],
      dropColumn: [{ sql: `ALTER TABLE ${t} DROP COLUMN ${c}` }],
      markers: { [names.update]: `SET ${c} = OLD.${c} + 1 WHERE`, [names.insert]: `SET ${c} = 1 WHERE` },
    };
  },

  async inspect(db, _sql, table, column, _fnName, sameColumn): Promise<TableState | null> {
    const exists = await db.query<{ wr: number }>(
      `SELECT wr FROM pragma_table_list(?) WHERE schema = 'main' AND type = 'table'`,
      [table],
    );
    if (!exists[0]) return null;
    const cols = await db.query<{ name: string; type: string; pk: number }>(
      `SELECT name, type, pk FROM pragma_table_info(?)`,
      [table],
    );
    const c = cols.find((r) => sameColumn(r.name, column));
    let rowMatch: string[];
    if (Number(exists[0].wr) === 1) {
      rowMatch = cols
        .filter((r) => Number(r.pk) > 0)
        .sort((a, b) => Number(a.pk) - Number(b.pk))
        .map((r) => r.name);
    } else {
      // the rowid under a name no column shadows
      const alias = ['rowid', '_rowid_', 'oid'].find((a) => !cols.some((r) => r.name.toLowerCase() === a));
      if (!alias)
        throw new TandemError(
          'CONFIG_INVALID',
          `source table "${table}" has columns named rowid, _rowid_ and oid: Tandem's trigger cannot find its rows`,
          { table },
        );
      rowMatch = [alias];
    }
    const trg = await db.query<{ name: string; tbl: string; body: string | null }>(
      `SELECT name, tbl_name AS tbl, sql AS body FROM sqlite_master WHERE type = 'trigger'`,
    );
    const triggers = new Map<string, TriggerState>();
    for (const r of trg) triggers.set(r.name, { name: r.name, table: r.tbl, body: text(r.body) });
    const dataType = c ? String(c.type ?? '') : '';
    return {
      shape: { rowMatch },
      column: c ? { name: c.name, dataType, integer: /int/i.test(dataType), marked: false } : null,
      triggers,
      functionBody: null,
      otherUpdateTriggers: trg
        .filter((r) => r.tbl.toLowerCase() === table.toLowerCase() && /\bAFTER\s+UPDATE\b/i.test(text(r.body)))
        .map((r) => r.name),
    };
  },

  expectedTriggers: (names) => [names.update, names.insert],

  runsOurFunction: () => true,

  triggerNotes: (others, table) => [
    `AFTER UPDATE trigger(s) ${others.map((n) => `"${n}"`).join(', ')} on "${table}" also fire for the row write of Tandem's trigger (SQLite cannot change NEW; Tandem's AFTER UPDATE trigger writes the row again)`,
  ],

  withLock<T>(store: Store, _seconds: number, fn: (db: Executor) => Promise<T>): Promise<T> {
    return store.transaction(fn);
  },
};
