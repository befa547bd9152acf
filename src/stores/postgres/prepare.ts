import { TandemError } from '../../core/errors.js';
import { COLUMN_COMMENT, type PrepareSql, type TableState, type TriggerState } from '../prepare.js';
import type { Executor, Store } from '../types.js';

const text = (v: unknown): string =>
  Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v);

/**
 * `tandem prepare` on PostgreSQL (and PGlite): one `BEFORE INSERT OR UPDATE` trigger running a plpgsql function
 * in the table's schema; the DDL is transactional, run under `lock_timeout` and a transaction-scoped advisory lock.
 * @internal
 */
export const postgresPrepare: PrepareSql = {
  versionDdl(sql, table, column, names, shape) {
    const t = sql.table(table);
    const c = sql.ident(column);
    if (!shape.schema) throw new TandemError('INTERNAL', `prepare: schema of table ${table} unknown`);
    const fn = `${sql.ident(shape.schema)}.${sql.ident(names.fn)}`;
    const tag = '$tandem$';
    if (table.includes(tag) || column.includes(tag) || shape.schema.includes(tag))
      throw new TandemError(
        'CONFIG_INVALID',
        `prepare: identifiers must not contain "${tag}" (table ${JSON.stringify(table)}, column ${JSON.stringify(column)})`,
      );
    const body = [
      'BEGIN',
      `  IF TG_OP = 'UPDATE' THEN`,
      `    NEW.${c} := OLD.${c} + 1;`,
      '  ELSE',
      `    NEW.${c} := GREATEST(COALESCE(NEW.${c}, 1), 1);`,
      '  END IF;',
      '  RETURN NEW;',
      'END',
    ].join('\n');
    return {
      addColumn: [{ sql: `ALTER TABLE ${t} ADD COLUMN ${c} bigint NOT NULL DEFAULT 1` }],
      createTriggers: [
        { sql: `COMMENT ON COLUMN ${t}.${c} IS '${COLUMN_COMMENT}'` },
        { sql: `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${tag}\n${body}\n${tag}` },
        {
          sql: `CREATE TRIGGER ${sql.ident(names.update)} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
          trigger: names.update,
        },
      ],
      dropTriggers: [
        { sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.update)} ON ${t}`, trigger: names.update },
        { sql: `DROP FUNCTION IF EXISTS ${fn}()` },
      ],
      dropColumn: [{ sql: `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${c}` }],
      markers: { [names.fn]: `NEW.${c} := OLD.${c} + 1` },
    };
  },

  async inspect(db, sql, table, column, fnName): Promise<TableState | null> {
    const qualified = sql.table(table);
    const rel = await db.query<{ schema: string }>(
      `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`,
      [qualified],
    );
    if (!rel[0]) return null;
    const schema = rel[0].schema;
    const cols = await db.query<{ name: string; data_type: string; typname: string; comment: string | null }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS data_type, t.typname AS typname, col_description(a.attrelid, a.attnum) AS comment
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
      [qualified, column],
    );
    const c = cols[0];
    const trg = await db.query<{
      name: string;
      fn: string;
      fn_schema: string;
      body: string;
      before: boolean;
      on_update: boolean;
    }>(
      `SELECT t.tgname AS name, p.proname AS fn, n.nspname AS fn_schema, p.prosrc AS body,
              (t.tgtype & 2) <> 0 AS before, (t.tgtype & 16) <> 0 AS on_update
         FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE t.tgrelid = to_regclass($1) AND NOT t.tgisinternal AND (t.tgtype & 1) <> 0`,
      [qualified],
    );
    const fn = await db.query<{ body: string }>(
      `SELECT p.prosrc AS body FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0`,
      [schema, fnName],
    );
    const triggers = new Map<string, TriggerState>();
    for (const r of trg)
      triggers.set(r.name, { name: r.name, table, body: text(r.body), fn: `${r.fn_schema}.${r.fn}` });
    return {
      shape: { schema },
      column: c
        ? {
            name: c.name,
            dataType: c.data_type,
            integer: ['int2', 'int4', 'int8'].includes(c.typname),
            marked: text(c.comment).startsWith(COLUMN_COMMENT),
          }
        : null,
      triggers,
      functionBody: fn[0] ? text(fn[0].body) : null,
      otherUpdateTriggers: trg.filter((r) => r.before && r.on_update).map((r) => r.name),
    };
  },

  expectedTriggers: (names) => [names.update],

  runsOurFunction: (tr, state, names) => tr.fn === `${state.shape.schema}.${names.fn}`,

  triggerNotes(others, table, column, names) {
    const later = others.filter((n) => n > names.update);
    return later.length
      ? [
          `BEFORE UPDATE trigger(s) ${later.map((n) => `"${n}"`).join(', ')} on "${table}" fire after Tandem's (PostgreSQL fires them in name order): if one writes "${column}", the counter is no longer OLD + 1`,
        ]
      : [];
  },

  withLock<T>(store: Store, seconds: number, fn: (db: Executor) => Promise<T>): Promise<T> {
    return store.transaction(async (tx) => {
      await tx.query(`SELECT set_config('lock_timeout', $1, true)`, [`${seconds}s`]);
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, ['tandem_prepare']);
      return fn(tx);
    });
  },
};
