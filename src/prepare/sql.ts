import { createHash } from 'node:crypto';
import { TandemError } from '../core/errors.js';
import type { Dialect, SqlDialect } from '../stores/types.js';

/**
 * SQL text of `tandem prepare`, per dialect: the version counter column, the triggers that maintain it, and their
 * removal. Pure functions, no I/O. Every identifier goes through the store's `ident`/`table` (validated and
 * quoted); no value is ever spliced into the text — the only literals are constants of this file.
 *
 * What the triggers do, on every engine:
 * - UPDATE of a row: the column becomes OLD + 1, whatever the statement wrote into it (an application that sets
 *   the column itself cannot move it backwards, or forwards by more than one);
 * - INSERT: the column keeps what the statement wrote if that is ≥ 1, else 1 (the column default is 1).
 */

/** Default name of the version column (`--column` chooses another). */
export const VERSION_COLUMN_DEFAULT = 'tandem_version';

/** Comment put on the column (MySQL/MariaDB, PostgreSQL, PGlite): marks it as created by `tandem prepare`. */
export const COLUMN_COMMENT = 'tandem prepare: row version counter';

/** PostgreSQL's identifier limit (NAMEDATALEN - 1, in bytes); MySQL allows 64 characters, SQLite has none. */
const NAME_BYTES = 63;

/** Names of the objects `tandem prepare` creates for one table. */
export interface VersionObjectNames {
  /** The UPDATE trigger (PostgreSQL/PGlite: the one trigger, for INSERT OR UPDATE). `tandem_<table>_version`. */
  update: string;
  /** The INSERT trigger of MySQL/MariaDB and SQLite: `tandem_<table>_version_insert`. */
  insert: string;
  /** The trigger function of PostgreSQL/PGlite, in the table's schema: same name as the trigger. */
  fn: string;
}

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
function truncateBytes(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > max) break;
    out += ch;
    bytes += b;
  }
  return out;
}

/**
 * Names of the trigger(s) and function for `table`: `tandem_<table>_version` (and `…_insert`). When the longest
 * name would pass 63 bytes (PostgreSQL would silently truncate it), the table part is shortened and followed by
 * 8 hex digits of its SHA-256, so the names stay unique, stable and within every engine's limit.
 */
export function versionObjectNames(table: string): VersionObjectNames {
  const suffix = '_version_insert';
  let part = table;
  if (Buffer.byteLength(`tandem_${table}${suffix}`) > NAME_BYTES) {
    const hash = createHash('sha256').update(table).digest('hex').slice(0, 8);
    part = `${truncateBytes(table, NAME_BYTES - 'tandem_'.length - suffix.length - 9)}_${hash}`;
  }
  const update = `tandem_${part}_version`;
  return { update, insert: `${update}_insert`, fn: update };
}

/** One DDL statement; on MySQL/MariaDB, with the weaker `ALGORITHM` forms to try when the server refuses it. */
export interface DdlStatement {
  sql: string;
  /** The trigger this statement creates or drops, when it is one (planning runs only what is missing or present). */
  trigger?: string;
  /** Tried in order when the server answers "ALGORITHM=… is not supported" (errno 1845/1846). */
  fallbacks?: { sql: string; /** true when this form blocks writes to the table while it runs (a table copy). */ locking: boolean }[];
}

/** What the builders need to know about the table beyond its name (SQLite: how the trigger finds the row). */
export interface TableShape {
  /** PostgreSQL/PGlite: the table's schema (the trigger function is created there). */
  schema?: string;
  /**
   * SQLite: the condition that finds the row of the trigger in its `UPDATE` — the rowid of rowid tables, the
   * primary key of `WITHOUT ROWID` tables — as column names (`['rowid']`, `['tenant', 'id']`).
   */
  rowMatch?: string[];
}

/** The statements of `tandem prepare` for one table, in the order they run. */
export interface VersionDdl {
  /** Adds the column (`BIGINT NOT NULL DEFAULT 1`; existing rows read 1). */
  addColumn: DdlStatement[];
  /** Creates the trigger(s) (and, on PostgreSQL/PGlite, the trigger function and the column comment). */
  createTriggers: DdlStatement[];
  /** Drops the trigger(s) (and function); safe when they are absent (`IF EXISTS`). */
  dropTriggers: DdlStatement[];
  /** Drops the column. */
  dropColumn: DdlStatement[];
  /**
   * Per trigger name (PostgreSQL/PGlite: per function name): a piece of text found in its definition (the
   * trigger's statement, the function's body) exactly when it maintains `column` the way `tandem prepare` wrote
   * it; compared case-insensitively where the engine's column names are (MySQL, SQLite).
   */
  markers: Record<string, string>;
}

/** Whether column names compare case-insensitively on this dialect (MySQL/MariaDB and SQLite: yes). */
export function columnNamesFoldCase(dialect: Dialect): boolean {
  return dialect === 'mysql' || dialect === 'sqlite';
}

/**
 * Builds the DDL of `tandem prepare` for `table` and `column` on `dialect`, with the store's quoting `sql`.
 * Throws `TANDEM_ERR_CONFIG_INVALID` for an identifier that cannot be quoted (empty, NUL, over 128 characters)
 * or, on PostgreSQL, one containing `$tandem$` (the dollar-quote tag of the trigger function's body).
 */
export function versionDdl(dialect: Dialect, sql: SqlDialect, table: string, column: string, shape: TableShape = {}): VersionDdl {
  const t = sql.table(table);
  const c = sql.ident(column);
  const names = versionObjectNames(table);
  switch (dialect) {
    case 'mysql': {
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
          { sql: `CREATE TRIGGER ${sql.ident(names.update)} BEFORE UPDATE ON ${t} FOR EACH ROW SET NEW.${c} = OLD.${c} + 1`, trigger: names.update },
          { sql: `CREATE TRIGGER ${sql.ident(names.insert)} BEFORE INSERT ON ${t} FOR EACH ROW SET NEW.${c} = GREATEST(COALESCE(NEW.${c}, 1), 1)`, trigger: names.insert },
        ],
        dropTriggers: [{ sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.update)}`, trigger: names.update }, { sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.insert)}`, trigger: names.insert }],
        dropColumn: [online(drop)],
        markers: { [names.update]: `NEW.${c} = OLD.${c} + 1`, [names.insert]: `NEW.${c} = GREATEST(COALESCE(NEW.${c}, 1), 1)` },
      };
    }
    case 'postgres':
    case 'pglite': {
      if (!shape.schema) throw new TandemError('INTERNAL', `prepare: schema of table ${table} unknown`);
      const fn = `${sql.ident(shape.schema)}.${sql.ident(names.fn)}`;
      const tag = '$tandem$';
      if (table.includes(tag) || column.includes(tag) || shape.schema.includes(tag))
        throw new TandemError('CONFIG_INVALID', `prepare: identifiers must not contain "${tag}" (table ${JSON.stringify(table)}, column ${JSON.stringify(column)})`);
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
          { sql: `CREATE TRIGGER ${sql.ident(names.update)} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn}()`, trigger: names.update },
        ],
        dropTriggers: [{ sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.update)} ON ${t}`, trigger: names.update }, { sql: `DROP FUNCTION IF EXISTS ${fn}()` }],
        dropColumn: [{ sql: `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${c}` }],
        markers: { [names.fn]: `NEW.${c} := OLD.${c} + 1` },
      };
    }
    case 'sqlite': {
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
        dropTriggers: [{ sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.update)}`, trigger: names.update }, { sql: `DROP TRIGGER IF EXISTS ${sql.ident(names.insert)}`, trigger: names.insert }],
        dropColumn: [{ sql: `ALTER TABLE ${t} DROP COLUMN ${c}` }],
        markers: { [names.update]: `SET ${c} = OLD.${c} + 1 WHERE`, [names.insert]: `SET ${c} = 1 WHERE` },
      };
    }
  }
}
