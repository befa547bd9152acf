/**
 * The Store interface: one backend (PostgreSQL, MySQL/MariaDB, SQLite, PGlite) seen through the few operations
 * Tandem needs. Every dialect lives in `src/stores/<dialect>/` with the same file set:
 *
 * - `connection.ts` — opening the driver from a parsed URL, mapping driver errors to `TANDEM_ERR_*`
 * - `errors.ts`     — `classifyError`: what an error means ({@link ErrorKind}), from the engine's own codes
 * - `sql.ts`        — SQL text builders: identifier quoting, placeholders, keyset reads, upserts, ledger advance,
 *                     and the control plane's (clock, insert-ignore, DDL types, identity upserts); `capabilities`
 * - `checksum.ts`   — pushed-down segment checksums
 * - `prepare.ts`    — `tandem prepare`'s version column, triggers, catalog reads and lock
 * - `introspect.ts` — tables, columns, types, primary/unique keys, foreign keys
 * - `index.ts`      — the `Store` implementation tying them together
 *
 * Nothing outside `src/stores/` tests the dialect (test/architecture.test.ts): what differs is a capability
 * ({@link StoreCapabilities}), an SQL builder ({@link SqlDialect}) or an error kind ({@link Store.classifyError}),
 * which is also what a user's own store implements.
 *
 * Values crossing this interface are plain JS values chosen to be lossless: integers wider than 2^53, decimals,
 * dates and timestamps are read as strings (never JS `Date`, which would drop microseconds), binary as `Buffer`,
 * JSON as its text (`JSON.parse` would round integers beyond 2^53), arrays as JS arrays of their elements.
 * Timestamps without time zone are read and written in UTC (each connection sets its session time zone to UTC).
 */

/** The dialects Tandem speaks. `pglite` is PostgreSQL compiled to WASM, running in-process. */
export type Dialect = 'postgres' | 'mysql' | 'sqlite' | 'pglite';

/** One row as returned by a driver: column name → value. */
export type Row = Record<string, unknown>;

/**
 * An SQL predicate on a source table (an entity's `where`, checked by `compileWhere` in src/core/where.ts): SQL
 * text with `?` placeholders outside quotes, one value in `params` per `?`. Builders splice it in with
 * `predicateSql`, which rewrites each `?` to the dialect's placeholder.
 */
export interface SourcePredicate {
  sql: string;
  params: unknown[];
}

/**
 * The type families canonical encoding and validation understand. Each column's raw database type is reduced
 * to one of these by the dialect's introspection (`int4` → `integer`, `datetime(6)` → `timestamp`, …).
 */
export type TypeCategory =
  | 'integer'
  | 'decimal'
  | 'float'
  | 'text'
  | 'boolean'
  | 'timestamp'
  | 'timestamptz'
  | 'date'
  | 'time'
  | 'binary'
  | 'json'
  | 'uuid'
  | 'array'
  | 'bit'
  | 'inet'
  | 'macaddr'
  | 'interval'
  | 'geometry'
  | 'other';

/** One column of a table, from introspection. */
export interface ColumnInfo {
  /** Column name exactly as the database spells it. */
  name: string;
  /** Raw type as the database reports it, lower-cased (`varchar(60)`, `numeric(10,2)`, `int`, `datetime(6)`). */
  dataType: string;
  /** The type family used by canonical encoding and validation. */
  category: TypeCategory;
  nullable: boolean;
  /** For character types: the maximum length in characters, when the type has one. */
  maxLength?: number;
  /** For decimals: total digits; for integers: the byte width (2, 4 or 8) is in `intBytes` instead. */
  precision?: number;
  /** For decimals: digits after the point. For timestamps/time: fractional-second digits, when declared. */
  scale?: number;
  /** For integers: 1, 2, 3, 4 or 8 bytes (MySQL has 1- and 3-byte integers); `unsigned` for MySQL unsigned. */
  intBytes?: number;
  unsigned?: boolean;
  /** For float columns: 4 (single precision) or 8 (double). */
  floatBytes?: number;
  /** True when the database fills the column by itself (identity, auto_increment, serial). */
  generated?: boolean;
  /**
   * For arrays (`category: 'array'`, PostgreSQL `text[]`, `int4[]`, …): the element type. Array values cross the
   * Store interface as JS arrays (nested arrays for more dimensions), elements as their category's plain value.
   */
  element?: ColumnInfo;
  /**
   * Fixed-length character types (`char(n)`, PostgreSQL `character(n)`/`bpchar`): trailing spaces are pad, not
   * data, and canonical encoding drops them (docs/canonical-encoding.md).
   */
  padded?: boolean;
  /** ENUM and SET (MySQL/MariaDB) and PostgreSQL enum types: the labels in declaration order. */
  enumValues?: string[];
  /** MySQL/MariaDB `SET(…)`: a value is a comma-separated subset of {@link enumValues}. */
  isSet?: boolean;
  /** The PostgreSQL domain the column is declared with; `dataType`/`category` then describe its base type. */
  domain?: string;
  /** `bit(n)` / `bit varying(n)`: n. */
  bits?: number;
  /** MySQL/MariaDB `DATE`/`DATETIME`/`TIMESTAMP`: the column can hold the zero date `0000-00-00`. */
  zeroDates?: boolean;
  /** The column has a default (DEFAULT, MySQL `ON UPDATE`), so an INSERT may leave it out. */
  hasDefault?: boolean;
  /** A user trigger of the table assigns the column (`NEW.col := …`, `SET NEW.col = …`): the database fills it. */
  filledByTrigger?: boolean;
}

/** A foreign key: `columns` of this table reference `refColumns` of `refTable`. */
export interface ForeignKeyInfo {
  name: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
}

/** One table, from introspection. Column order is the table's own (ordinal position). */
export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  /** Primary key columns in key order; empty when the table has none. */
  primaryKey: string[];
  /** Unique constraints and unique indexes (excluding the primary key), each as its columns in order. */
  uniqueKeys: string[][];
  foreignKeys: ForeignKeyInfo[];
  /**
   * A PostgreSQL partitioned table (`relkind 'p'`). Its partitions are not listed as tables of their own; the
   * foreign keys declared on them are reported as the parent's.
   */
  partitioned?: boolean;
  /** Names of the user triggers on the table (Tandem's own left out), when introspection reads them. */
  triggers?: string[];
}

/** What {@link Store.tableStats} reports of one table. */
export interface TableStats {
  table: string;
  /** Estimated rows (exact where the engine keeps no estimate and the table was counted). */
  rows: number;
  /** True when `rows` is an estimate from statistics, false when counted. */
  estimated: boolean;
  /** Bytes the table and its indexes take, when the engine tells; null otherwise. */
  bytes: number | null;
  /** Names of the triggers on the table (Tandem's own included). */
  triggers: string[];
}

/** All user tables of the store's database/schema, keyed by exact table name. */
export interface SchemaInfo {
  tables: Map<string, TableInfo>;
}

/** Something that runs statements: the store itself (autocommit, pooled) or a transaction. */
export interface Executor {
  /** Runs a statement and returns its rows (empty for statements that return none). Params are positional. */
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement and returns the number of rows it changed. */
  execute(sql: string, params?: unknown[]): Promise<number>;
  /**
   * Bulk load: runs `copySql` (`COPY t (…) FROM STDIN`) and streams `data` (COPY text format) into it; returns
   * the rows loaded. Present on the PostgreSQL store's transaction executor only (absent: no bulk load on this
   * connection, callers use a statement). Errors are the store's, as for `execute`.
   */
  copyFrom?(copySql: string, data: string): Promise<number>;
}

/** A statement with its positional parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/** A keyset position: the values of the key columns of the last row read, in key order. */
export type KeyValues = unknown[];

/** Arguments of a keyset read: rows with key strictly after `after` (or from the start), in key order. */
export interface KeysetQuery {
  table: string;
  /** Columns to read; the key columns must be among them. */
  columns: string[];
  key: string[];
  after: KeyValues | null;
  /** Upper bound (inclusive), for bounded segments; optional. */
  upTo?: KeyValues | null;
  limit: number;
  /**
   * Order strings by their bytes (UTF-8 code points) instead of the column collation, so two engines with
   * different collations produce the same order. Costs the index on MySQL; used by verify, not by backfill.
   */
  byteOrder?: boolean;
  /** Key column categories, in key order; needed by `byteOrder` to know which columns are strings. */
  keyCategories?: TypeCategory[];
  /** Only rows matching this predicate (an entity's `where`, `?` placeholders): ANDed to the key range. */
  where?: SourcePredicate | null;
}

/** Arguments of an upsert: insert rows, and on a key conflict update `update` columns (all non-key by default). */
export interface UpsertQuery {
  table: string;
  columns: string[];
  /** The columns of the primary or unique key the conflict is detected on. */
  key: string[];
  rows: unknown[][];
  /** Target column metadata, in `columns` order (used for typed bulk forms such as PostgreSQL `unnest`). */
  columnInfo?: ColumnInfo[];
}

/**
 * Arguments of {@link SqlDialect.ledgeredUpsert}: an upsert whose rows carry their ledger key and version.
 * `rows[i]` has ledger key `keys[i]` and version `versions[i]`; keys are distinct, and sorted the way
 * `normalizeLedgerEntries` sorts them (so concurrent appliers lock ledger rows in one order).
 */
export interface LedgeredUpsertQuery extends UpsertQuery {
  /** The version ledger's table, quoted (`Store.controlTable('version_ledger')`). */
  ledgerTable: string;
  entity: string;
  mode: LedgerMode;
  keys: string[];
  versions: bigint[];
}

/** The statements of {@link SqlDialect.stagedUpsert}, in the order they run. */
export interface StagedUpsert {
  /** Creates the staging table where this connection has none yet, and empties it. No parameters. */
  setup: string;
  /** The bulk-load statement (`COPY … FROM STDIN`). */
  copy: string;
  /** The rows, ledger keys and versions in the bulk load's text format. */
  data: string;
  /** Ledger advance and upsert from the staging table; one row `{ won }`. */
  apply: Statement;
}

/** One version-ledger entry for the guarded apply: entity, canonical key string, version, tombstone flag. */
export interface LedgerEntry {
  key: string;
  version: bigint;
  deleted: boolean;
}

/**
 * How the guarded apply compares versions: `newer` applies only when the incoming version is strictly greater
 * than the ledger's (entities with a version column); `last-writer-wins` applies when it is greater or equal
 * (entities without one — the apply warns once per run); `if-absent` applies only where the ledger holds no entry
 * for the key yet (or a placeholder / rewound one, version < 0) — the backfill of an entity without a version,
 * whose chunk read may be older than what a relay applied meanwhile (issue 9).
 */
export type LedgerMode = 'newer' | 'last-writer-wins' | 'if-absent';

/**
 * What a store's error means, whatever engine raised it ({@link Store.classifyError}): callers branch on the kind,
 * never on driver codes (those are read only in `src/stores/<dialect>/errors.ts`).
 *
 * - `unique`: a row would duplicate a primary or unique key value (also `detail.violation = 'unique'`)
 * - `deadlock`: the server chose this transaction as a deadlock victim; it was rolled back and can run again
 * - `serialization`: a serialization failure; the transaction can run again
 * - `lock_timeout`: gave up waiting for a lock (`lock_timeout`, `lock_wait_timeout`, `SQLITE_BUSY`)
 * - `connection`: the server could not be reached or the connection broke (`TANDEM_ERR_STORE_UNREACHABLE`)
 * - `auth`: the credentials were refused; `not_found`: the database does not exist
 * - `value`: a written value was refused (type, range, length, NOT NULL, CHECK)
 * - `unsupported`: the server refused a form of the statement it cannot run (MySQL `ALGORITHM=INSTANT`)
 * - `read_only`: the database refused a write because the table (or the server, or the transaction) is read-only:
 *   the triggers of {@link Store.setReadOnly} (PostgreSQL/PGlite SQLSTATE 25006, MySQL/MariaDB `SIGNAL SQLSTATE
 *   '45000'` with Tandem's message, SQLite `RAISE(ABORT, …)` with it), a read-only transaction or server
 * - `reference`: a written row refers through a foreign key to a row that is not there (PostgreSQL 23503,
 *   MySQL/MariaDB 1452/1216, SQLite `SQLITE_CONSTRAINT_FOREIGNKEY`), or a delete/update would orphan one (1451/1217)
 * - `other`: anything else (a syntax error, a missing table, a non-store error)
 */
export type ErrorKind =
  | 'unique'
  | 'deadlock'
  | 'serialization'
  | 'lock_timeout'
  | 'connection'
  | 'auth'
  | 'not_found'
  | 'value'
  | 'unsupported'
  | 'read_only'
  | 'reference'
  | 'other';

/**
 * What became of one column's sequence in {@link Store.advanceSequences}. Values are decimal strings (sequences
 * and keys may exceed 2^53).
 */
export interface SequenceAdvance {
  table: string;
  /** The column the sequence fills, or null when the table has none (`kind: 'none'`). */
  column: string | null;
  /**
   * How the engine numbers the column: `sequence` (PostgreSQL/PGlite serial, or a default `nextval` of a
   * sequence), `identity` (`GENERATED … AS IDENTITY`), `auto_increment` (MySQL/MariaDB), `autoincrement`
   * (SQLite `AUTOINCREMENT`: `sqlite_sequence`), `rowid` (SQLite `INTEGER PRIMARY KEY` without AUTOINCREMENT:
   * the next rowid is always max + 1, nothing to advance), `none` (no sequence on the table).
   */
  kind: 'sequence' | 'identity' | 'auto_increment' | 'autoincrement' | 'rowid' | 'none';
  /** The sequence's name as the engine spells it (`public.users_id_seq`), the table's for AUTO_INCREMENT, or null. */
  sequence: string | null;
  /** The largest value of the column, or null for an empty table (or no column). */
  max: string | null;
  /** The next value the sequence would hand out before the call, or null where there is none. */
  from: string | null;
  /** The next value it hands out after the call (= `from` when nothing changed), or null. */
  to: string | null;
  /** True when the call moved it (false in a dry run: `to` is then what it would be). */
  changed: boolean;
  /** Why nothing was (or could be) done, when that is not plain (`already past the keys`, `descending sequence`). */
  note?: string;
}

/** Options of {@link Store.advanceSequences}. */
export interface AdvanceSequencesOptions {
  /**
   * Values to leave unused past the largest key (default 0): the next value handed out is at least
   * `max + 1 + margin`. A margin leaves room for rows that arrive late (the reverse relay after a rollback).
   */
  margin?: number | bigint;
  /** Read and report only: change nothing. */
  dryRun?: boolean;
}

/** What {@link Store.setReadOnly} did to one table. */
export interface ReadOnlyChange {
  table: string;
  /** Whether the table refuses writes after the call. */
  readOnly: boolean;
  /** Tandem's triggers (and PostgreSQL/PGlite functions) created by the call. */
  created: string[];
  /** Tandem's triggers dropped by the call. */
  dropped: string[];
  /**
   * Triggers with one of Tandem's names that Tandem did not create (their definition is not Tandem's): left alone,
   * never dropped; a table with one cannot be made read-only by Tandem (the call throws).
   */
  foreign: string[];
}

/** The kinds after which a whole transaction can simply run again (it was rolled back, nothing is half-written). */
export const TRANSIENT_KINDS: readonly ErrorKind[] = ['deadlock', 'serialization', 'lock_timeout', 'connection'];

/**
 * What a store's engine can do, as flags callers test instead of the dialect (`src/stores/<dialect>/control.ts`).
 */
export interface StoreCapabilities {
  /**
   * `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL, MySQL/MariaDB). SQLite has one writer: its write transaction is the
   * claim.
   */
  readonly skipLocked: boolean;
  /** The most bound parameters one statement may carry (PostgreSQL 65535, MySQL 65535, SQLite 32766). */
  readonly maxParams: number;
  /** `INSERT/UPDATE … RETURNING` (PostgreSQL, PGlite, SQLite). */
  readonly returning: boolean;
  /** `sql.upsert` binds one array per column (PostgreSQL `unnest`): any number of rows fit in one statement. */
  readonly arrayParams: boolean;
  /** A failed statement aborts the whole transaction (PostgreSQL): a savepoint keeps it usable. */
  readonly abortsTransactionOnError: boolean;
  /** DDL runs inside a transaction and rolls back with it (PostgreSQL, PGlite, SQLite; not MySQL/MariaDB). */
  readonly transactionalDdl: boolean;
  /** Control tables live in a schema (`tandem.<name>`); false: in the same namespace with a `tandem_` prefix. */
  readonly schemas: boolean;
  /**
   * How table names compare: `sensitive` (PostgreSQL), `insensitive` (SQLite), or `server` — it depends on the
   * server's settings (MySQL/MariaDB `lower_case_table_names`), so checks that must not miss a clash fold case.
   */
  readonly tableNameCase: 'sensitive' | 'insensitive' | 'server';
  /** Column names compare case-insensitively (MySQL/MariaDB, SQLite). */
  readonly columnNamesFoldCase: boolean;
  /** The engine enforces declared column types on write (false on SQLite: values are checked by Tandem). */
  readonly enforcesTypes: boolean;
  /**
   * DATE/DATETIME/TIMESTAMP columns may hold zero dates (`0000-00-00`, MySQL/MariaDB without `NO_ZERO_DATE`),
   * which no other engine accepts. Absent: false.
   */
  readonly zeroDates?: boolean;
}

/** Column types and table options of the control-plane DDL on one dialect (src/control/schema.ts). */
export interface ControlDdl {
  /** A bounded string column (`varchar(n)`; SQLite `text`). */
  text(n: number): string;
  bigint: string;
  bool: string;
  /** A timestamp column (`timestamptz`, `datetime(6)`, ISO-8601 `text` on SQLite). */
  ts: string;
  /** An auto-increment primary key column. */
  serial: string;
  longtext: string;
  /** Appended to every CREATE TABLE (MySQL: engine and collation). */
  tableSuffix: string;
  /** Secondary indexes are declared inside CREATE TABLE (MySQL) rather than by CREATE INDEX. */
  inlineIndexes: boolean;
  /** An index's name as created in this dialect (`tandem_` prefix where index names are per database). */
  indexName(name: string): string;
  /**
   * Creates the control namespace before the first table (PostgreSQL `CREATE SCHEMA IF NOT EXISTS tandem`), or null.
   */
  createNamespace: string | null;
  /**
   * The statements that serialize schema upgrades from several processes: PostgreSQL a transaction-scoped advisory
   * lock, MySQL a named lock (released after), SQLite none (its immediate transaction is the lock).
   */
  lock: { acquire: string; release: string | null } | null;
}

/** Upsert builders of the identity bridge's control tables (src/identity/ledger.ts). */
export interface IdentitySql {
  /**
   * The write of one identity-ledger row, parameters (entity, entity_key, identifier, state, scheme, updated_ms,
   * migrated_ms). `overwrite` replaces the row (scheme and migrated_ms kept when the new ones are NULL),
   * `unless-migrated` leaves a `migrated` row alone, `insert-only` leaves any existing row alone.
   */
  ledgerWrite(table: string, mode: 'overwrite' | 'unless-migrated' | 'insert-only'): string;
  /**
   * Counts one login failure, parameters (id, now_ms, stale_before_ms): a new row starts at 1, a row whose last
   * failure is older than `stale_before_ms` starts again at 1, any other row counts one more.
   */
  failureCount(table: string): string;
  /**
   * Reads the collation of a column as one row `{ c }`, where a collation can make lookups case-insensitive by
   * itself (MySQL/MariaDB `_ci` collations); absent where there is none to read.
   */
  columnCollation?(table: string, column: string): Statement;
}

/** SQL text builders of one dialect. Pure functions: no I/O. Identifiers are validated and quoted here. */
export interface SqlDialect {
  /** Current timestamp for timestamp columns of the control tables (SQLite: ISO-8601 text in UTC). */
  now(): string;
  /**
   * Current UTC timestamp whatever the session's time zone, for statements run on the application's own
   * connections (MySQL `UTC_TIMESTAMP(6)`; elsewhere as {@link now}).
   */
  utcNow(): string;
  /** The timestamp `ms` milliseconds from now, as {@link now}. */
  nowPlus(ms: number): string;
  /** Now as epoch milliseconds (an integer) on the database's clock (leases, heartbeats). */
  nowMs(): string;
  /**
   * `INSERT INTO table (columns) VALUES (params 1..n)` that does nothing when a row with the same `conflict` key
   * exists (PostgreSQL/SQLite `ON CONFLICT … DO NOTHING`, MySQL `ON DUPLICATE KEY UPDATE c = c`). `table` is
   * already quoted; columns are quoted here.
   */
  insertIgnore(table: string, columns: string[], conflict: string[]): string;
  /** A random number expression for `ORDER BY` (`random()`, `RAND()`). */
  random(): string;
  /** Integer division of two integer expressions (`a / b`, MySQL `a DIV b`). */
  intDiv(a: string, b: string): string;
  /** The statement that opens a transaction meant to write (SQLite `BEGIN IMMEDIATE`: takes the write lock at once). */
  beginWrite: string;
  /**
   * The clause appended to a `SELECT` that takes a shared row lock on the rows it reads until the transaction
   * ends: PostgreSQL/PGlite ` FOR SHARE`, MySQL/MariaDB ` LOCK IN SHARE MODE`, SQLite `''` (its write transaction,
   * `BEGIN IMMEDIATE`, already excludes every other writer). Used by the write fence (src/cutover/fence.ts).
   * Absent (a user's own store): `''`.
   */
  shareLock?: string;
  /**
   * A statement that lets the current transaction commit without waiting for the log flush, or null (PostgreSQL only).
   */
  asyncCommit: string | null;
  /**
   * The statement that turns user triggers off for the rest of the current transaction (PostgreSQL/PGlite
   * `SET LOCAL session_replication_role = replica`: user triggers and foreign-key triggers do not fire), for
   * `apply.userTriggers: 'replica'` (src/apply/triggers.ts). Absent where the engine has no per-session switch
   * (MySQL/MariaDB, SQLite).
   */
  userTriggersOff?: string;
  /** Column types and options of the control-plane DDL. */
  ddl: ControlDdl;
  /** The identity bridge's upserts. */
  identity: IdentitySql;
  /**
   * `tandem prepare`'s DDL, catalog reads and lock (src/stores/<dialect>/prepare.ts); absent: prepare refuses the
   * store.
   */
  prepare?: import('./prepare.js').PrepareSql;

  /** Quotes one identifier (`"a""b"`, `` `a` ``); throws TANDEM_ERR_CONFIG_INVALID on NUL or empty names. */
  ident(name: string): string;
  /** Quotes a table name, optionally inside the store's schema. */
  table(name: string): string;
  /** Placeholder for the 1-based parameter `i` (`$1` or `?`). */
  param(i: number): string;
  /** SELECT of `columns` after a keyset position, ordered by key, with LIMIT. Never OFFSET. */
  keyset(q: KeysetQuery): Statement;
  /**
   * INSERT … ON CONFLICT/ON DUPLICATE KEY UPDATE of many rows in one statement. PostgreSQL, PGlite and SQLite
   * detect the conflict on `key` only (a clash on another unique key raises a unique violation); MySQL/MariaDB
   * on any primary or unique key, so there {@link Store.upsert} must be used to write rows.
   */
  upsert(q: UpsertQuery): Statement;
  /**
   * The version-ledger advance and the upsert of the rows whose version won, as ONE statement (PostgreSQL: a
   * data-modifying CTE — the ledger's conditional upsert `RETURNING` the keys that moved, joined to the rows, then
   * the target's `INSERT … ON CONFLICT (key) DO UPDATE … WHERE <a value differs>`). Same semantics as
   * `advanceLedger` followed by `upsert` of the winners, in one round trip and without the winners' keys coming
   * back to the client. The statement returns one row `{ won }`: how many keys moved in the ledger. A unique or
   * value refusal aborts the whole statement (nothing of it stays once the caller rolls back to a savepoint).
   * Absent: the caller runs `advanceLedger` and then `upsert` (SQLite, MySQL/MariaDB, user adapters).
   */
  ledgeredUpsert?(q: LedgeredUpsertQuery): Statement;
  /**
   * The same write as {@link ledgeredUpsert} through a bulk load (src/stores/<dialect>/bulk.ts; PostgreSQL: COPY
   * text into a temporary staging table of this connection, then one data-modifying statement from it). Run
   * `setup` (no parameters; may hold several statements), then `Executor.copyFrom(copy, data)`, then `apply`,
   * which returns one row `{ won }`. Absent, or when the executor has no `copyFrom`: use `ledgeredUpsert`.
   */
  stagedUpsert?(q: LedgeredUpsertQuery): StagedUpsert;
  /** `SELECT count(*) AS n FROM table`. */
  count(table: string): Statement;
  /**
   * Pushed-down checksums (`src/stores/<dialect>/checksum.ts`): per key segment, `count` and the sum of per-row
   * hashes of the canonical encoding, computed inside the engine. Absent on dialects (or user adapters) that
   * cannot: verify then streams that side and hashes it in JS (same hashes, more traffic).
   */
  checksum?: ChecksumSql;
}

/**
 * One value of a checksummed row. The row hash encoding is in `src/core/encoding.ts` (docs/verify.md): the
 * canonical text of each value by the category of `as` (the target column), NULL as `~`, values joined by `|`,
 * then the character lengths of the free-text values; MD5 of that; the first 64 bits as an unsigned integer.
 */
export interface HashColumn {
  /** The column read on this side of the comparison; null for a constant. */
  column: ColumnInfo | null;
  /** For a constant (`column` null): its canonical text already in hash form (null for SQL NULL). */
  constant?: string | null;
  /** The type the value is encoded as: the target column's category, scale and float width. */
  as: Pick<ColumnInfo, 'category' | 'scale' | 'floatBytes'> & Partial<Pick<ColumnInfo, 'padded' | 'element'>>;
  /** A declarative cast of the mapping (`{ from, cast }`), applied before encoding (source side only). */
  cast?: string;
  /** The `separator` of an `array` cast (`{ from, cast: 'array', separator }`); `,` when absent. */
  separator?: string;
}

/** Arguments of a pushed-down checksum over the key range (`after`, `upTo`] of one table. */
export interface ChecksumQuery {
  table: string;
  key: string[];
  /** Key column categories in key order: string keys compare by UTF-8 bytes. */
  keyCategories: TypeCategory[];
  /** Exclusive lower bound, or null from the first key. */
  after: KeyValues | null;
  /** Inclusive upper bound, or null to the last key. */
  upTo: KeyValues | null;
  /**
   * Inclusive upper bounds of the cells the range is split into, ascending in key (byte) order, all but the
   * last cell's: cell `i` holds keys in (`cells[i-1]`, `cells[i]`], the last cell the keys above the last bound.
   * Empty: one cell (a plain aggregate, which PostgreSQL can run with parallel workers).
   */
  cells: KeyValues[];
  /** The row hashes summed per cell; one list of columns each (the source side computes one per target table). */
  hashes: HashColumn[][];
  /** Only rows matching this predicate (the source side of an entity with a `where`). */
  where?: SourcePredicate | null;
}

/** One cell of a checksum result: rows in the cell and, per hash of the query, the sum of row hashes mod 2^64. */
export interface ChecksumCell {
  cell: number;
  count: number;
  sums: bigint[];
}

/**
 * Arguments of a key probe: the key of the row `offset` rows past the start of the key range (`after`, `upTo`]
 * in key (byte) order — `ORDER BY key LIMIT 1 OFFSET offset`. Chained probes give a range's quantiles.
 */
export interface ProbeQuery {
  table: string;
  key: string[];
  keyCategories: TypeCategory[];
  after: KeyValues | null;
  upTo: KeyValues | null;
  offset: number;
  /** Only rows matching this predicate (the source side of an entity with a `where`). */
  where?: SourcePredicate | null;
}

/** A statement whose result rows are turned into a value by `parse`. */
export interface ParsedStatement<T> extends Statement {
  parse(rows: Row[]): T;
}

/**
 * Checksum SQL of one dialect (pure builders, no I/O). See `src/stores/<dialect>/checksum.ts` and docs/verify.md.
 */
export interface ChecksumSql {
  /** True when this dialect can encode `h` inside the engine exactly as the JS encoder does. */
  supports(h: HashColumn): boolean;
  /**
   * True when grouping a range by cells costs little next to hashing it (MariaDB, SQLite): verify then asks for
   * cells from the first pass, so a differing segment needs no second scan. False where a plain aggregate runs
   * in parallel and a grouped one does not (PostgreSQL).
   */
  readonly cheapCells: boolean;
  /** `count` and sums of row hashes per cell of a key range. */
  checksum(q: ChecksumQuery): ParsedStatement<ChecksumCell[]>;
  /**
   * The key `offset` rows into a key range, or null past its end: an index range scan that reads `offset` index
   * entries and returns one row (on MariaDB 32 chained probes over 250,000 rows cost a third of one window-function
   * query over them).
   */
  nth(q: ProbeQuery): ParsedStatement<KeyValues | null>;
  /** `sum(column)` as exact decimal text (quick tier). */
  sumExpr(column: string): string;
  /** `column` as an expression that groups by exact value (bytes for strings: collations do not merge values). */
  exactGroupExpr(column: string, category: TypeCategory): string;
}

/**
 * One backend. Opened by {@link openStore} from a URL: `postgres://…`, `mysql://…`/`mariadb://…`,
 * `sqlite:<file>`, `pglite:<dir>` or `pglite:memory`.
 */
export interface Store extends Executor {
  readonly dialect: Dialect;
  /** What the engine can do; test these instead of `dialect`. */
  readonly capabilities: StoreCapabilities;
  /**
   * How many queries this store can run at the same time: the size of its connection pool (PostgreSQL,
   * MySQL/MariaDB: 10). 1 or absent: one connection, queries queue one after another (SQLite, PGlite, a user's
   * store that does not say). Verify's checksum tier bounds its concurrent segments by it.
   */
  readonly connections?: number;
  /**
   * What an error raised by this store (or by its driver) means: see {@link ErrorKind}. Never throws; a
   * non-store error is `other`. A user's own store returns its own kinds (or sets `detail.kind`).
   */
  classifyError(e: unknown): ErrorKind;
  /** The URL with any password replaced by `***`. */
  readonly url: string;
  /** Schema used for Tandem's control tables in this store (`tandem`), or null where tables get a `tandem_` prefix. */
  readonly controlSchema: string | null;
  readonly sql: SqlDialect;
  /**
   * Reads tables, columns, keys and foreign keys of the database (PostgreSQL: the `public` schema or the URL's
   * `schema`).
   */
  introspect(): Promise<SchemaInfo>;
  /** Runs `fn` in one transaction: committed when `fn` resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
  /**
   * Advances the version ledger for `entries` inside `tx` and returns the keys whose entry moved (the rows the
   * caller must now write). Concurrent callers on the same key serialize on the ledger row until commit.
   */
  advanceLedger(
    tx: Executor,
    ledgerTable: string,
    entity: string,
    entries: LedgerEntry[],
    mode: LedgerMode,
  ): Promise<Set<string>>;
  /**
   * Writes rows by key inside `tx`: updates in place the rows whose `key` is present, inserts the others, and
   * touches no other row. A row whose value of another primary or unique key is held by a different row (or by
   * another row of the batch) is refused with a unique violation (`isUniqueViolation` in src/stores/common.ts),
   * as `ON CONFLICT (key) DO UPDATE` does, so the caller can resolve the conflict. Rows of the call may already
   * have been written when it throws: the caller rolls back to a savepoint taken before the call.
   * Present where {@link SqlDialect.upsert} alone could write over another row than the key's (MySQL/MariaDB:
   * `ON DUPLICATE KEY UPDATE` matches any unique key); absent, callers run `sql.upsert`'s statement.
   * Throws `TypeError` when a row's length differs from `columns` or a key column is not among them.
   */
  upsert?(tx: Executor, q: UpsertQuery): Promise<void>;
  /** Name of a control table in this store: `tandem.<name>` quoted, or `tandem_<name>` where there are no schemas. */
  controlTable(name: string): string;
  /**
   * The namespace of table names this store reaches, as the server itself reports it (not as the URL spells
   * it), so that two stores reached through different host names, DNS aliases or port forwards still compare
   * equal when they are one: PostgreSQL `pg-server|<postmaster start time>|<port>|<database>|<schema>`,
   * MySQL/MariaDB `mysql-server|<@@hostname>|<@@port>|<@@datadir>|<database>`, SQLite and PGlite the file
   * identity of `storeIdentity` (a unique string for in-memory stores). Optional: a user adapter without it is
   * compared by URL only (src/config/overlap.ts). Writes nothing.
   */
  serverIdentity?(): Promise<string>;
  /**
   * Moves every sequence, identity and AUTO_INCREMENT counter that numbers a column of `tables` past the largest
   * value the column holds (plus `margin`), so that the application's next insert without an explicit key does
   * not collide with a copied row. Never lowers one. Reports one entry per numbered column (one `kind: 'none'`
   * entry for a table without any). Run it while nothing inserts into the tables (behind the cutover's fence):
   * engines move sequences outside transactions. Throws `TANDEM_ERR_TABLE_NOT_FOUND` for a missing table,
   * `TANDEM_ERR_STORE_QUERY` when the engine refuses (a value past the sequence's MAXVALUE). Optional: a user's
   * own store without it cannot be cut over to.
   */
  advanceSequences?(tables: string[], o?: AdvanceSequencesOptions): Promise<SequenceAdvance[]>;
  /**
   * Makes `tables` refuse writes in the database itself (`on`), or undoes it (`!on`), with triggers under
   * Tandem-owned names (src/stores/read-only.ts): a refused write raises an error of kind `read_only` with the
   * message `tandem read-only: …`. Undo drops only triggers Tandem created (recognised by name and definition).
   * Idempotent. Throws `TANDEM_ERR_TABLE_NOT_FOUND` for a missing table, `TANDEM_ERR_PREPARE_CONFLICT` when a
   * trigger of Tandem's name exists that Tandem did not create.
   */
  setReadOnly?(tables: string[], on: boolean): Promise<ReadOnlyChange[]>;
  /** The tables among `tables` on which Tandem's read-only triggers are in place (all of them). Reads only. */
  readOnlyTables?(tables: string[]): Promise<string[]>;
  /**
   * Size figures of `tables` for planning (`tandem plan`): estimated rows and bytes from the engine's statistics
   * (PostgreSQL/PGlite `pg_class.reltuples` and `pg_total_relation_size`, MySQL/MariaDB `information_schema.TABLES`;
   * SQLite counts the rows and sums `dbstat` pages where it is compiled in), and the names of the triggers on
   * each table. Reads only; a table that does not exist is left out. Optional: a user's adapter without it is
   * planned from a count.
   */
  tableStats?(tables: string[]): Promise<TableStats[]>;
  /**
   * How far a replica lags, for the backfill's throttle (src/backfill/throttle.ts), read on the store the
   * throttle's `replicaUrl` names. MySQL/MariaDB: this store is the replica; `SHOW REPLICA STATUS` (falling back
   * to `SHOW SLAVE STATUS`), `Seconds_Behind_Source` / `Seconds_Behind_Master`, the largest over its channels.
   * PostgreSQL with `replicaName`: this store is the primary; `pg_stat_replication.replay_lag` of the standby whose
   * `application_name` is `replicaName` (a null `replay_lag` while `streaming`: caught up, 0). PostgreSQL without
   * it: this store is a standby; `now() - pg_last_xact_replay_timestamp()`, 0 when everything received is replayed.
   * Reads only. Throws TANDEM_ERR_THROTTLE_CHECK_FAILED when the lag is unknown (not a replica, replication
   * stopped, no standby of that name), or what the store throws. Optional: absent on SQLite and PGlite (no
   * replicas), where a configured replica check fails.
   */
  replicaLag?(o?: { replicaName?: string }): Promise<ReplicaLag>;
  close(): Promise<void>;
}

/** A replica's lag as {@link Store.replicaLag} reads it. */
export interface ReplicaLag {
  /** Seconds behind its primary (fractional on PostgreSQL, whole on MySQL/MariaDB). */
  seconds: number;
  /** Which replica: the `replicaName`, or the replica's own URL (password redacted). */
  replica: string;
}
