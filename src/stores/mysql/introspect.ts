import type { ColumnInfo, Executor, SchemaInfo, TableInfo, TypeCategory } from '../types.js';

/** Tables Tandem creates itself in a MySQL database (control plane, outbox): never user tables. */
const CONTROL_PREFIX = 'tandem_';

/**
 * Reads the base tables of the connection's database (`DATABASE()`) from `information_schema`: columns in
 * ordinal order with their lower-cased `COLUMN_TYPE`, the primary key, unique indexes (full-column, non-primary,
 * in `SEQ_IN_INDEX` order; prefix and functional indexes are left out) and foreign keys (grouped by constraint,
 * in `ORDINAL_POSITION` order). Tables named `tandem_…` (Tandem's control tables, which live in the same
 * database on MySQL) are left out. MariaDB `JSON` columns (`longtext` with a `json_valid` check) are reported
 * as `json`. Throws what the executor throws (`TANDEM_ERR_STORE_*`).
 * @internal
 */
export async function introspectMysql(db: Executor): Promise<SchemaInfo> {
  const cols = await db.query<{
    table_name: string;
    name: string;
    column_type: string;
    data_type: string;
    nullable: string;
    extra: string | null;
    max_length: unknown;
    num_precision: unknown;
    num_scale: unknown;
    dt_precision: unknown;
    column_default: string | null;
  }>(
    `SELECT c.TABLE_NAME AS table_name, c.COLUMN_NAME AS name, c.COLUMN_TYPE AS column_type, c.DATA_TYPE AS data_type,
            c.IS_NULLABLE AS nullable, c.EXTRA AS extra, c.CHARACTER_MAXIMUM_LENGTH AS max_length,
            c.NUMERIC_PRECISION AS num_precision, c.NUMERIC_SCALE AS num_scale, c.DATETIME_PRECISION AS dt_precision,
            c.COLUMN_DEFAULT AS column_default
       FROM information_schema.COLUMNS c
       JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
      WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
      ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
  );
  const jsonColumns = await jsonCheckedColumns(db);
  const tables = new Map<string, TableInfo>();
  for (const c of cols) {
    const tableName = String(c.table_name);
    if (tableName.startsWith(CONTROL_PREFIX)) continue;
    let t = tables.get(tableName);
    if (!t)
      tables.set(tableName, (t = { name: tableName, columns: [], primaryKey: [], uniqueKeys: [], foreignKeys: [] }));
    const col = mysqlColumn({
      name: String(c.name),
      columnType: String(c.column_type),
      dataType: String(c.data_type),
      nullable: c.nullable === 'YES',
      extra: c.extra ?? '',
      maxLength: num(c.max_length),
      precision: num(c.num_precision),
      scale: num(c.num_scale),
      datetimePrecision: num(c.dt_precision),
    });
    if (col.category === 'text' && jsonColumns.has(`${tableName}\u0000${col.name}`)) {
      col.category = 'json';
      delete col.maxLength;
    }
    const extra = String(c.extra ?? '').toLowerCase();
    // MariaDB reports a column without a default as NULL and `DEFAULT NULL` as the text 'NULL'
    col.hasDefault =
      (c.column_default !== null && c.column_default !== undefined && String(c.column_default) !== 'NULL') ||
      extra.includes('on update') ||
      extra.includes('default_generated');
    col.filledByTrigger = false;
    t.columns.push(col);
  }

  const idx = await db.query<{ table_name: string; index_name: string; column_name: string | null; sub_part: unknown }>(
    `SELECT TABLE_NAME AS table_name, INDEX_NAME AS index_name, COLUMN_NAME AS column_name, SUB_PART AS sub_part
       FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0
      ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`,
  );
  const indexes = new Map<string, { table: string; name: string; columns: string[]; usable: boolean }>();
  for (const r of idx) {
    const id = `${r.table_name}\u0000${r.index_name}`;
    let ix = indexes.get(id);
    if (!ix)
      indexes.set(id, (ix = { table: String(r.table_name), name: String(r.index_name), columns: [], usable: true }));
    // a prefix (`SUB_PART`) or functional (no column) part does not make the column itself unique
    if (r.column_name === null || r.sub_part !== null) ix.usable = false;
    else ix.columns.push(String(r.column_name));
  }
  for (const ix of indexes.values()) {
    const t = tables.get(ix.table);
    if (!t) continue;
    if (ix.name === 'PRIMARY') t.primaryKey = ix.columns;
    else if (ix.usable && !t.uniqueKeys.some((k) => k.join('\u0000') === ix.columns.join('\u0000')))
      t.uniqueKeys.push(ix.columns);
  }

  const fks = await db.query<{
    table_name: string;
    name: string;
    column_name: string;
    ref_table: string;
    ref_column: string;
  }>(
    `SELECT TABLE_NAME AS table_name, CONSTRAINT_NAME AS name, COLUMN_NAME AS column_name,
            REFERENCED_TABLE_NAME AS ref_table, REFERENCED_COLUMN_NAME AS ref_column
       FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`,
  );
  const byConstraint = new Map<string, { table: string; fk: TableInfo['foreignKeys'][number] }>();
  for (const r of fks) {
    const id = `${r.table_name}\u0000${r.name}`;
    let entry = byConstraint.get(id);
    if (!entry)
      byConstraint.set(
        id,
        (entry = {
          table: String(r.table_name),
          fk: { name: String(r.name), columns: [], refTable: String(r.ref_table), refColumns: [] },
        }),
      );
    entry.fk.columns.push(String(r.column_name));
    entry.fk.refColumns.push(String(r.ref_column));
  }
  for (const { table, fk } of byConstraint.values()) tables.get(table)?.foreignKeys.push(fk);
  await readTriggers(db, tables);
  return { tables };
}

/**
 * Sets `triggers` on every table (`information_schema.TRIGGERS`; Tandem's own `tandem_…` left out) and
 * `filledByTrigger` on the columns a BEFORE INSERT/UPDATE trigger assigns with `SET NEW.col = …` (also
 * `, NEW.col = …` in one SET list; backquoted names too; case-insensitive as MySQL column names are). A
 * heuristic on the trigger body: a call to a procedure that assigns the column is not seen.
 */
async function readTriggers(db: Executor, tables: Map<string, TableInfo>): Promise<void> {
  for (const t of tables.values()) t.triggers = [];
  const rows = await db.query<{ table_name: string; name: string; timing: string; event: string; body: string }>(
    `SELECT EVENT_OBJECT_TABLE AS table_name, TRIGGER_NAME AS name, ACTION_TIMING AS timing,
            EVENT_MANIPULATION AS event, ACTION_STATEMENT AS body
       FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = DATABASE()
      ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME`,
  );
  for (const r of rows) {
    const name = String(r.name);
    const t = tables.get(String(r.table_name));
    if (!t || name.toLowerCase().startsWith(CONTROL_PREFIX)) continue;
    t.triggers!.push(name);
    const event = String(r.event).toUpperCase();
    if (String(r.timing).toUpperCase() !== 'BEFORE' || (event !== 'INSERT' && event !== 'UPDATE')) continue;
    const body = String(r.body ?? '');
    for (const c of t.columns) if (!c.filledByTrigger && setsNew(body, c.name)) c.filledByTrigger = true;
  }
}

/** True when a MySQL trigger body assigns `NEW.<column>` (`SET NEW.col = …` or `, NEW.col := …` in a SET list). */
export function setsNew(body: string, column: string): boolean {
  const esc = column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const name = `(?:\`${esc.replace(/`/g, '``')}\`|${esc}(?![\\w$]))`;
  return new RegExp(`(?:\\bSET|,)\\s*NEW\\s*\\.\\s*${name}\\s*:?=`, 'i').test(body);
}

/**
 * `table\0column` of the columns a `json_valid(col)` CHECK constraint guards: how MariaDB stores a `JSON`
 * column (as `longtext`). Empty where `information_schema.CHECK_CONSTRAINTS` is missing (MySQL < 8.0.16) or has
 * no `TABLE_NAME` (MySQL, where JSON is a type of its own anyway).
 */
async function jsonCheckedColumns(db: Executor): Promise<Set<string>> {
  const out = new Set<string>();
  let rows: { table_name: string; clause: string }[];
  try {
    rows = await db.query<{ table_name: string; clause: string }>(
      `SELECT TABLE_NAME AS table_name, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
        WHERE CONSTRAINT_SCHEMA = DATABASE() AND CHECK_CLAUSE LIKE '%json_valid%'`,
    );
  } catch {
    return out;
  }
  for (const r of rows) {
    const m = /^\s*json_valid\s*\(\s*(`(?:[^`]|``)+`|\w+)\s*\)\s*$/i.exec(String(r.clause));
    if (!m) continue;
    const col = m[1]!.startsWith('`') ? m[1]!.slice(1, -1).replace(/``/g, '`') : m[1]!;
    out.add(`${r.table_name}\u0000${col}`);
  }
  return out;
}

function num(v: unknown): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

const intBytes: Record<string, number> = { tinyint: 1, smallint: 2, mediumint: 3, int: 4, integer: 4, bigint: 8 };
const textTypes = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set']);
/** MySQL/MariaDB spatial types (category `geometry`, read as EWKB: see src/stores/mysql/connection.ts). */
const GEOMETRY_TYPES = new Set([
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
]);
const binaryTypes = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);

/**
 * The labels of an `enum('a','b')` / `set('x','y')` COLUMN_TYPE, in declaration order: single-quoted, `''` for a
 * quote inside a label (and a backslash escape, as some servers print them). Case is kept (COLUMN_TYPE is read
 * as the server prints it).
 * @internal
 */
export function enumLabels(columnType: string): string[] {
  const open = columnType.indexOf('(');
  const out: string[] = [];
  let i = open + 1;
  while (open >= 0 && i < columnType.length) {
    if (columnType[i] !== "'") {
      i++;
      continue;
    }
    let v = '';
    i++;
    for (; i < columnType.length; i++) {
      const ch = columnType[i]!;
      if (ch === "'" && columnType[i + 1] === "'") {
        v += "'";
        i++;
      } else if (ch === '\\' && i + 1 < columnType.length) {
        v += columnType[++i];
      } else if (ch === "'") break;
      else v += ch;
    }
    out.push(v);
    i++;
  }
  return out;
}

/** One row of `information_schema.COLUMNS`, as {@link mysqlColumn} reads it. */
export interface MysqlColumnRow {
  name: string;
  /** `COLUMN_TYPE`: `int(10) unsigned`, `decimal(12,2)`, `datetime(6)`, `tinyint(1)`. */
  columnType: string;
  /** `DATA_TYPE`: `int`, `decimal`, `datetime`. */
  dataType: string;
  nullable: boolean;
  /** `EXTRA`: `auto_increment`, `VIRTUAL GENERATED`, `STORED GENERATED`, `on update current_timestamp()`. */
  extra: string;
  maxLength?: number;
  precision?: number;
  scale?: number;
  datetimePrecision?: number;
}

/**
 * Reduces a MySQL/MariaDB column to Tandem's type category: `tinyint(1)`/`bool` → boolean; integers with their
 * byte width and signedness; `decimal(p,s)`; `float` (4 bytes) / `double` (8); character types, `enum`, `set`
 * → text (`maxLength` for char/varchar); `datetime(n)` → timestamp and `timestamp(n)` → timestamptz (stored in
 * UTC) with `scale` n; date; `time(n)`; binary strings and blobs → binary; `json` → json; MariaDB `uuid` → uuid;
 * `year` → integer (2 bytes; 0 or 1901–2155); `bit(n)` → bit with `bits` n; spatial types → geometry; MariaDB
 * `inet4`/`inet6` → inet; `date`/`datetime`/`timestamp` are marked `zeroDates`; anything else → other. `generated` marks auto_increment and computed columns.
 * @internal
 */
export function mysqlColumn(r: MysqlColumnRow): ColumnInfo {
  const columnType = r.columnType.toLowerCase();
  const type = r.dataType.toLowerCase();
  const extra = r.extra.toLowerCase();
  const col: ColumnInfo = { name: r.name, dataType: columnType, category: 'other', nullable: r.nullable };
  if (extra.includes('auto_increment') || extra.includes('generated')) col.generated = true;
  else col.generated = false;
  let category: TypeCategory = 'other';
  if (
    type === 'bool' ||
    type === 'boolean' ||
    (/^tinyint\(1\)(\s|$)/.test(columnType) && !columnType.includes('unsigned'))
  )
    category = 'boolean';
  else if (type in intBytes) {
    category = 'integer';
    col.intBytes = intBytes[type];
    col.unsigned = /\bunsigned\b/.test(columnType);
  } else if (type === 'decimal' || type === 'numeric' || type === 'dec' || type === 'fixed') {
    category = 'decimal';
    if (r.precision !== undefined) col.precision = r.precision;
    if (r.scale !== undefined) col.scale = r.scale;
  } else if (type === 'float' || type === 'double' || type === 'real' || type === 'double precision') {
    category = 'float';
    col.floatBytes = type === 'float' ? 4 : 8;
  } else if (textTypes.has(type)) {
    category = 'text';
    if ((type === 'char' || type === 'varchar') && r.maxLength !== undefined) col.maxLength = r.maxLength;
    // CHAR(n) pads with spaces (and MySQL/MariaDB strip them on read): trailing spaces are not data
    if (type === 'char') col.padded = true;
    if (type === 'enum' || type === 'set') {
      col.enumValues = enumLabels(r.columnType);
      if (type === 'set') col.isSet = true;
    }
  } else if (type === 'datetime' || type === 'timestamp' || type === 'time') {
    category = type === 'datetime' ? 'timestamp' : type === 'timestamp' ? 'timestamptz' : 'time';
    const fsp = r.datetimePrecision ?? Number(/\((\d+)\)/.exec(columnType)?.[1] ?? 0);
    col.scale = fsp;
  } else if (type === 'date') category = 'date';
  else if (binaryTypes.has(type)) category = 'binary';
  else if (type === 'json') category = 'json';
  else if (type === 'uuid') category = 'uuid';
  // issue 13 (types-b): YEAR, BIT(n), spatial types, MariaDB INET4/INET6
  else if (type === 'year') {
    category = 'integer';
    col.intBytes = 2;
  } else if (type === 'bit') {
    category = 'bit';
    col.bits = Number(/\((\d+)\)/.exec(columnType)?.[1] ?? r.precision ?? 1);
  } else if (GEOMETRY_TYPES.has(type)) category = 'geometry';
  else if (type === 'inet4' || type === 'inet6') category = 'inet';
  if (type === 'date' || type === 'datetime' || type === 'timestamp') col.zeroDates = true;
  col.category = category;
  return col;
}
