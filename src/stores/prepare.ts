import type { Executor, SqlDialect, Store } from './types.js';

/**
 * The shapes of `tandem prepare`'s per-dialect SQL (src/stores/<dialect>/prepare.ts): the version counter column,
 * the triggers that maintain it, their removal, the catalog reads that tell what exists, and the lock prepare
 * runs under. Planning (what to run, what to refuse) is in src/prepare/, the same for every dialect.
 */

/** Comment put on the column (MySQL/MariaDB, PostgreSQL, PGlite): marks it as created by `tandem prepare`. */
export const COLUMN_COMMENT = 'tandem prepare: row version counter';

/** Names of the objects `tandem prepare` creates for one table. */
export interface VersionObjectNames {
  /** The UPDATE trigger (PostgreSQL/PGlite: the one trigger, for INSERT OR UPDATE). `tandem_<table>_version`. */
  update: string;
  /** The INSERT trigger of MySQL/MariaDB and SQLite: `tandem_<table>_version_insert`. */
  insert: string;
  /** The trigger function of PostgreSQL/PGlite, in the table's schema: same name as the trigger. */
  fn: string;
}

/** One DDL statement; on MySQL/MariaDB, with the weaker `ALGORITHM` forms to try when the server refuses it. */
export interface DdlStatement {
  sql: string;
  /** The trigger this statement creates or drops, when it is one (planning runs only what is missing or present). */
  trigger?: string;
  /** Tried in order when the server refuses the statement's form (an error of kind `unsupported`). */
  fallbacks?: {
    sql: string /** true when this form blocks writes to the table while it runs (a table copy). */;
    locking: boolean;
  }[];
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

/** The version column as found. */
export interface ColumnState {
  /** Name as the database spells it. */
  name: string;
  /** Raw type (`bigint`, `int`, `INTEGER`). */
  dataType: string;
  integer: boolean;
  /** True when its comment says `tandem prepare` created it (MySQL/MariaDB, PostgreSQL, PGlite). */
  marked: boolean;
}

/** A trigger of the schema, as found. */
export interface TriggerState {
  name: string;
  /** The table it is on. */
  table: string;
  /** Its definition: MySQL the trigger statement, SQLite the CREATE TRIGGER text, PostgreSQL the function body. */
  body: string;
  /** PostgreSQL/PGlite: `schema.function` it executes. */
  fn?: string;
}

/** Everything `prepare` reads before it plans. */
export interface TableState {
  shape: TableShape;
  column: ColumnState | null;
  /** Triggers of the schema by exact name (MySQL/SQLite: schema-wide names; PostgreSQL: this table's). */
  triggers: Map<string, TriggerState>;
  /** PostgreSQL/PGlite: the body of the function named like Tandem's trigger function, in the table's schema. */
  functionBody: string | null;
  /**
   * Other row triggers on the table that fire on UPDATE at the same point as Tandem's (PostgreSQL/PGlite:
   * BEFORE; MySQL: BEFORE; SQLite: AFTER), by name, for the notes printed to the user.
   */
  otherUpdateTriggers: string[];
}

/** `tandem prepare`'s SQL of one dialect. */
export interface PrepareSql {
  /**
   * The DDL for `table` and `column` with the store's quoting `sql`. Throws `TANDEM_ERR_CONFIG_INVALID` for an
   * identifier that cannot be quoted or (PostgreSQL) contains `$tandem$`.
   */
  versionDdl(sql: SqlDialect, table: string, column: string, names: VersionObjectNames, shape: TableShape): VersionDdl;
  /**
   * Reads the state of `table` and `column` through `db`; null when the table does not exist. `sameColumn`
   * compares column names the way the engine does. Reads only; values go in as parameters.
   */
  inspect(
    db: Executor,
    sql: SqlDialect,
    table: string,
    column: string,
    fnName: string,
    sameColumn: (a: string, b: string) => boolean,
  ): Promise<TableState | null>;
  /** The trigger names Tandem uses: one on PostgreSQL/PGlite (INSERT OR UPDATE), two elsewhere. */
  expectedTriggers(names: VersionObjectNames): string[];
  /** True when `tr` executes Tandem's trigger function (PostgreSQL/PGlite); true elsewhere (no functions). */
  runsOurFunction(tr: TriggerState, state: TableState, names: VersionObjectNames): boolean;
  /** Notes about other UPDATE triggers `others` on the table that interact with Tandem's. */
  triggerNotes(others: string[], table: string, column: string, names: VersionObjectNames): string[];
  /**
   * Runs `fn` holding prepare's lock on `store` with the DDL lock timeout (`seconds`) set; see
   * src/prepare/prepare.ts. An error of kind `lock_timeout` means the lock could not be had in time.
   */
  withLock<T>(store: Store, seconds: number, fn: (db: Executor) => Promise<T>): Promise<T>;
}
