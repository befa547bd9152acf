import { createHash } from 'node:crypto';
import { TandemError } from '../core/errors.js';
import { capabilitiesFor, sqlFor } from '../stores/dialects.js';
import type { PrepareSql, TableShape, VersionDdl, VersionObjectNames } from '../stores/prepare.js';
import type { Dialect, SqlDialect } from '../stores/types.js';

/**
 * SQL text of `tandem prepare`: the version counter column, the triggers that maintain it, and their removal,
 * built by each dialect's `sql.prepare` (src/stores/<dialect>/prepare.ts). Pure functions, no I/O. Every identifier
 * goes through the store's `ident`/`table` (validated and
 * quoted); no value is ever spliced into the text — the only literals are constants of this file.
 *
 * What the triggers do, on every engine:
 * - UPDATE of a row: the column becomes OLD + 1, whatever the statement wrote into it (an application that sets
 *   the column itself cannot move it backwards, or forwards by more than one);
 * - INSERT: the column keeps what the statement wrote if that is ≥ 1, else 1 (the column default is 1).
 */

/** Default name of the version column (`--column` chooses another). */
export const VERSION_COLUMN_DEFAULT = 'tandem_version';

/** @internal Re-exported: the shapes of prepare's SQL live with the stores (src/stores/prepare.ts). */
export {
  COLUMN_COMMENT,
  type DdlStatement,
  type TableShape,
  type VersionDdl,
  type VersionObjectNames,
} from '../stores/prepare.js';

/** PostgreSQL's identifier limit (NAMEDATALEN - 1, in bytes); MySQL allows 64 characters, SQLite has none. */
const NAME_BYTES = 63;

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

/**
 * Whether column names compare case-insensitively on this dialect (MySQL/MariaDB and SQLite: yes).
 * @deprecated Use `store.capabilities.columnNamesFoldCase`.
 * @internal
 */
export function columnNamesFoldCase(dialect: Dialect): boolean {
  return capabilitiesFor(dialect).columnNamesFoldCase;
}

/** The `tandem prepare` SQL of a store (`sql.prepare`); throws `TANDEM_ERR_CONFIG_INVALID` when it has none. */
export function prepareSqlOf(sql: SqlDialect, what: string): PrepareSql {
  if (!sql.prepare)
    throw new TandemError(
      'CONFIG_INVALID',
      `tandem prepare cannot add a version column to ${what}: the store has no prepare SQL (add a version column and its trigger by hand)`,
    );
  return sql.prepare;
}

/**
 * Builds the DDL of `tandem prepare` for `table` and `column` with the store's builders `sql` (its quoting and
 * `sql.prepare`, src/stores/<dialect>/prepare.ts; `dialect`'s own when `sql` has none).
 * Throws `TANDEM_ERR_CONFIG_INVALID` for an identifier that cannot be quoted (empty, NUL, over 128 characters)
 * or, on PostgreSQL, one containing `$tandem$` (the dollar-quote tag of the trigger function's body).
 */
export function versionDdl(
  dialect: Dialect,
  sql: SqlDialect,
  table: string,
  column: string,
  shape: TableShape = {},
): VersionDdl {
  const prepare = sql.prepare ?? sqlFor(dialect).prepare;
  return prepareSqlOf({ ...sql, prepare }, `table ${table}`).versionDdl(
    sql,
    table,
    column,
    versionObjectNames(table),
    shape,
  );
}
