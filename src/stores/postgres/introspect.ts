import type { ColumnInfo, Executor, SchemaInfo, TableInfo, TypeCategory } from '../types.js';

/**
 * Reads tables (ordinary and partitioned), columns with `format_type`, primary keys, unique constraints and
 * unique indexes (non-partial, on plain columns), foreign keys and user triggers of one PostgreSQL schema from
 * `pg_catalog`. Shared by PostgreSQL and PGlite.
 *
 * Partitioned tables: the parent (`relkind 'p'`) is listed with `partitioned: true`; its partitions
 * (`relispartition`) are not listed. Foreign keys declared on a partition are the parent's (deduplicated by
 * columns, referenced table and columns), and a foreign key that references a partition is reported as
 * referencing the root parent. Primary and unique keys of partitions are not folded: `ON CONFLICT` on the parent
 * can only use the parent's own keys.
 *
 * Columns: `hasDefault` when a default expression exists that is not an identity, serial or generated column;
 * `filledByTrigger` when a row-level BEFORE INSERT/UPDATE user trigger's function assigns it — a heuristic on
 * the function's source (`NEW.col := …`, or `NEW.col = …` at the start of a statement, case-insensitive,
 * quoted names too) and on the built-in `tsvector_update_trigger(column, …)`. User triggers are those not
 * `tgisinternal` and not named `tandem_…`.
 * @internal
 */
export async function introspectPostgres(db: Executor, schema: string): Promise<SchemaInfo> {
  const cols = await db.query<{
    table_name: string;
    name: string;
    data_type: string;
    typname: string;
    typtype: string;
    typmod: number;
    nullable: boolean;
    generated: boolean;
    has_default: boolean;
    partitioned: boolean;
  }>(
    `SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS data_type,
            t.typname AS typname, t.typtype AS typtype, a.atttypmod AS typmod, NOT a.attnotnull AS nullable,
            (a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%') AS generated,
            (d.adbin IS NOT NULL AND a.attidentity = '' AND a.attgenerated = ''
              AND pg_get_expr(d.adbin, d.adrelid) NOT LIKE 'nextval(%') AS has_default,
            (c.relkind = 'p') AS partitioned
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0
        AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [schema],
  );
  const tables = new Map<string, TableInfo>();
  for (const c of cols) {
    let t = tables.get(c.table_name);
    if (!t)
      tables.set(
        c.table_name,
        (t = { name: c.table_name, columns: [], primaryKey: [], uniqueKeys: [], foreignKeys: [] }),
      );
    t.columns.push(
      pgColumn(c.name, c.data_type, c.typname, c.typtype, Number(c.typmod), Boolean(c.nullable), Boolean(c.generated)),
    );
    // facts for init, set after pgColumn (the column just pushed)
    const col = t.columns[t.columns.length - 1]!;
    col.hasDefault = Boolean(c.has_default);
    col.filledByTrigger = false;
    if (c.partitioned) t.partitioned = true;
  }
  const cons = await db.query<{
    table_name: string;
    name: string;
    type: string;
    columns: string[];
    ref_table: string | null;
    ref_columns: string[] | null;
    on_partition: boolean;
  }>(
    `SELECT rc.relname AS table_name, con.conname AS name, con.contype AS type, c.relispartition AS on_partition,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
            rfc.relname AS ref_table,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS ref_columns
       FROM pg_constraint con
       JOIN pg_class c ON c.oid = con.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_class rc ON rc.oid = CASE WHEN c.relispartition THEN pg_partition_root(c.oid) ELSE c.oid END
       LEFT JOIN pg_class fc ON fc.oid = con.confrelid
       LEFT JOIN pg_class rfc
              ON rfc.oid = CASE WHEN fc.relispartition THEN pg_partition_root(fc.oid) ELSE fc.oid END
      WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'f')
      ORDER BY c.relispartition, rc.relname, con.conname`,
    [schema],
  );
  for (const k of cons) {
    const t = tables.get(k.table_name);
    if (!t) continue;
    // a partition's own keys are no arbiter for ON CONFLICT on the parent; its foreign keys are the parent's
    if (k.on_partition && k.type !== 'f') continue;
    if (k.type === 'p') t.primaryKey = k.columns;
    else if (k.type === 'u') t.uniqueKeys.push(k.columns);
    else if (k.ref_table) {
      const fk = { name: k.name, columns: k.columns, refTable: k.ref_table, refColumns: k.ref_columns ?? [] };
      const id = (f: typeof fk) => [f.refTable, ...f.columns, '', ...f.refColumns].join('\u0000');
      if (!t.foreignKeys.some((f) => id(f) === id(fk))) t.foreignKeys.push(fk);
    }
  }
  const idx = await db.query<{ table_name: string; columns: string[] }>(
    `SELECT c.relname AS table_name,
            array(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) AS columns
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL AND i.indexprs IS NULL`,
    [schema],
  );
  for (const u of idx) {
    const t = tables.get(u.table_name);
    if (t && !t.uniqueKeys.some((k) => k.join('\u0000') === u.columns.join('\u0000'))) t.uniqueKeys.push(u.columns);
  }
  await readTriggers(db, schema, tables);
  await pgTypeDetails(db, schema, tables);
  return { tables };
}

/** `tgtype` bits (PostgreSQL's `pg_trigger.h`): row-level, BEFORE, INSERT, UPDATE. */
const TRIGGER_ROW = 1,
  TRIGGER_BEFORE = 2,
  TRIGGER_INSERT = 4,
  TRIGGER_UPDATE = 16;

/**
 * Sets `triggers` on every table (user triggers, folded from partitions to their root, Tandem's own left out)
 * and `filledByTrigger` on the columns a row-level BEFORE INSERT/UPDATE trigger assigns (see
 * {@link introspectPostgres} for the heuristic).
 */
async function readTriggers(db: Executor, schema: string, tables: Map<string, TableInfo>): Promise<void> {
  for (const t of tables.values()) t.triggers = [];
  const rows = await db.query<{ table_name: string; name: string; type: number; src: string; def: string }>(
    `SELECT rc.relname AS table_name, tg.tgname AS name, tg.tgtype AS type, p.prosrc AS src,
            pg_get_triggerdef(tg.oid) AS def
       FROM pg_trigger tg
       JOIN pg_class c ON c.oid = tg.tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_class rc ON rc.oid = CASE WHEN c.relispartition THEN pg_partition_root(c.oid) ELSE c.oid END
       JOIN pg_proc p ON p.oid = tg.tgfoid
      WHERE n.nspname = $1 AND NOT tg.tgisinternal AND tg.tgname NOT LIKE 'tandem\\_%'
      ORDER BY rc.relname, tg.tgname`,
    [schema],
  );
  for (const r of rows) {
    const t = tables.get(r.table_name);
    if (!t) continue;
    if (!t.triggers!.includes(r.name)) t.triggers!.push(r.name);
    const type = Number(r.type);
    if (!(type & TRIGGER_ROW) || !(type & TRIGGER_BEFORE) || !(type & (TRIGGER_INSERT | TRIGGER_UPDATE))) continue;
    const src = String(r.src ?? '');
    const tsv =
      /\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\s+(?:[\w.]+\.)?tsvector_update_trigger(?:_column)?\s*\(\s*'((?:[^']|'')*)'/i.exec(
        String(r.def ?? ''),
      );
    for (const c of t.columns) {
      if (c.filledByTrigger) continue;
      if ((tsv && tsv[1]!.replace(/''/g, "'") === c.name) || assignsNew(src, c.name)) c.filledByTrigger = true;
    }
  }
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * True when PL/pgSQL source `src` assigns `NEW.<column>`: `NEW.col := …` anywhere, or `NEW.col = …` at the
 * start of a statement (after `;`, BEGIN, THEN, ELSE, LOOP or the start of the text), so that a comparison
 * such as `IF NEW.col = OLD.col` does not count. Unquoted names match case-insensitively (as PostgreSQL folds
 * them); quoted names exactly. A heuristic: dynamic SQL or assignments through a record variable are not seen.
 */
export function assignsNew(src: string, column: string): boolean {
  const anyCase = (w: string) => w.replace(/[a-z]/gi, (ch) => `[${ch.toLowerCase()}${ch.toUpperCase()}]`);
  const names = [`"${reEscape(column.replace(/"/g, '""'))}"`];
  if (/^[a-z_][a-z0-9_$]*$/.test(column)) names.push(`${anyCase(reEscape(column))}(?![\\w$])`);
  const target = `(?<![\\w$.])${anyCase('new')}\\s*\\.\\s*(?:${names.join('|')})`;
  const start = `(?:^|;|(?<![\\w$])(?:${['begin', 'then', 'else', 'loop'].map(anyCase).join('|')})(?![\\w$]))`;
  return new RegExp(`${target}\\s*:=`).test(src) || new RegExp(`${start}\\s*${target}\\s*=(?!=)`).test(src);
}

/**
 * The OIDs of the array types whose elements are enums or domains (or any type of the database's own): `pg`
 * returns their values as array literal text, so the stores register a parser that makes JS arrays of the
 * elements' texts of them (after introspection, before any row is read).
 * @internal
 */
export async function pgUserArrayOids(db: Executor): Promise<number[]> {
  const rows = await db.query<{ oid: string }>(
    `SELECT t.oid::int8::text AS oid FROM pg_type t JOIN pg_type e ON e.oid = t.typelem
      WHERE t.typcategory = 'A' AND (e.typtype IN ('e', 'd') OR e.oid >= 16384)`,
  );
  return rows.map((r) => Number(r.oid));
}

/** One row of `pg_type` as {@link pgTypeDetails} reads it. */
type PgTypeRow = {
  oid: number;
  typname: string;
  typtype: string;
  typcategory: string;
  typelem: number;
  typbasetype: number;
  typtypmod: number;
  /** `format_type(oid, NULL)`: the type's name as SQL spells it (schema-qualified when not on the path). */
  name: string;
  /** For a domain: `format_type(typbasetype, typtypmod)`. */
  base_name: string | null;
  /** For an enum: its labels in declaration order. */
  labels: string[] | null;
};

/**
 * Completes the columns whose types need more than `format_type` and `typname` (issue 13): arrays
 * (`category: 'array'` with the element's {@link ColumnInfo} as `element`), domains (the base type's category and
 * metadata, `dataType` the base type's name, `domain` the domain's), enum types (`text` with `enumValues`) and
 * `character(n)`/`bpchar` (`padded`). Domains over domains and arrays of domains or enums resolve all the way
 * down. One query for the columns and one per level of nesting for their types.
 */
async function pgTypeDetails(db: Executor, schema: string, tables: Map<string, TableInfo>): Promise<void> {
  const cols = await db.query<{ table_name: string; name: string; typid: number; typmod: number }>(
    `SELECT c.relname AS table_name, a.attname AS name, a.atttypid::int8 AS typid, a.atttypmod AS typmod
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
        AND (t.typtype IN ('d', 'e') OR t.typcategory = 'A' OR t.typname = 'bpchar')`,
    [schema],
  );
  if (!cols.length) return;
  const types = new Map<number, PgTypeRow>();
  let want = [...new Set(cols.map((c) => Number(c.typid)))];
  for (let depth = 0; want.length && depth < 8; depth++) {
    const rows = await db.query<PgTypeRow>(
      `SELECT t.oid::int8 AS oid, t.typname, t.typtype, t.typcategory, t.typelem::int8 AS typelem,
              t.typbasetype::int8 AS typbasetype, t.typtypmod, format_type(t.oid, NULL) AS name,
              CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_name,
              CASE WHEN t.typtype = 'e' THEN array(SELECT e.enumlabel::text FROM pg_enum e
                                                    WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels
         FROM pg_type t WHERE t.oid = ANY($1::oid[])`,
      [`{${want.join(',')}}`],
    );
    for (const r of rows) types.set(Number(r.oid), r);
    want = rows.flatMap((r) => [Number(r.typelem), Number(r.typbasetype)]).filter((o) => o > 0 && !types.has(o));
  }
  for (const c of cols) {
    const col = tables.get(c.table_name)?.columns.find((x) => x.name === c.name);
    if (!col) continue;
    const resolved = resolvePgType(col.name, col.dataType, Number(c.typid), Number(c.typmod), types, 0);
    if (!resolved) continue;
    for (const k of DETAIL_KEYS) delete col[k];
    Object.assign(
      col,
      Object.fromEntries(DETAIL_KEYS.filter((k) => resolved[k] !== undefined).map((k) => [k, resolved[k]])),
    );
  }
}

/** The fields {@link resolvePgType} decides (the others of a column — nullable, generated, … — stay). */
const DETAIL_KEYS = [
  'dataType',
  'category',
  'maxLength',
  'precision',
  'scale',
  'intBytes',
  'floatBytes',
  'element',
  'padded',
  'enumValues',
  'domain',
] as const satisfies readonly (keyof ColumnInfo)[];

/** The column facts of type `oid` with `typmod`, named `dataType`; null when the type is unknown. */
function resolvePgType(
  name: string,
  dataType: string,
  oid: number,
  typmod: number,
  types: Map<number, PgTypeRow>,
  depth: number,
): ColumnInfo | null {
  const t = types.get(oid);
  if (!t || depth > 8) return null;
  if (t.typtype === 'd') {
    const base = resolvePgType(
      name,
      t.base_name ?? dataType,
      Number(t.typbasetype),
      t.typtypmod >= 0 ? t.typtypmod : typmod,
      types,
      depth + 1,
    );
    // the outermost domain names the column's type; the base type says what its values are
    return base ? { ...base, domain: t.name } : null;
  }
  if (t.typcategory === 'A' && Number(t.typelem) > 0) {
    const elemName = dataType.replace(/(\[\d*\])+$/, '');
    const element =
      resolvePgType(name, elemName, Number(t.typelem), typmod, types, depth + 1) ??
      pgColumn(name, elemName, '', '', typmod, true, false);
    element.nullable = true;
    delete element.generated;
    const col: ColumnInfo = { name, dataType, category: 'array', nullable: true, element };
    return col;
  }
  const col = pgColumn(name, dataType, t.typname, t.typtype, typmod, true, false);
  if (t.typtype === 'e') col.enumValues = t.labels ?? [];
  if (t.typname === 'bpchar') col.padded = true;
  return col;
}

const intBytes: Record<string, number> = { int2: 2, int4: 4, int8: 8 };

/**
 * Reduces a PostgreSQL column type to Tandem's type category, with length/precision/scale from the typmod.
 * @internal
 */
export function pgColumn(
  name: string,
  dataType: string,
  typname: string,
  typtype: string,
  typmod: number,
  nullable: boolean,
  generated: boolean,
): ColumnInfo {
  const col: ColumnInfo = { name, dataType, category: 'other', nullable, generated };
  let category: TypeCategory = 'other';
  if (typname in intBytes) {
    category = 'integer';
    col.intBytes = intBytes[typname];
  } else if (typname === 'numeric') {
    category = 'decimal';
    if (typmod >= 4) {
      col.precision = ((typmod - 4) >> 16) & 0xffff;
      col.scale = (typmod - 4) & 0xffff;
    }
  } else if (typname === 'float4' || typname === 'float8') {
    category = 'float';
    col.floatBytes = typname === 'float4' ? 4 : 8;
  } else if (
    typname === 'varchar' ||
    typname === 'bpchar' ||
    typname === 'text' ||
    typname === 'citext' ||
    typname === 'name' ||
    typtype === 'e'
  ) {
    category = 'text';
    if ((typname === 'varchar' || typname === 'bpchar') && typmod >= 4) col.maxLength = typmod - 4;
  } else if (typname === 'bool') category = 'boolean';
  else if (typname === 'timestamp' || typname === 'timestamptz' || typname === 'time' || typname === 'timetz') {
    category = typname === 'timestamp' ? 'timestamp' : typname === 'timestamptz' ? 'timestamptz' : 'time';
    if (typmod >= 0) col.scale = typmod;
  } else if (typname === 'date') category = 'date';
  else if (typname === 'bytea') category = 'binary';
  else if (typname === 'json' || typname === 'jsonb') category = 'json';
  else if (typname === 'uuid') category = 'uuid';
  // issue 13 (types-b): bit strings, network and MAC addresses, intervals, money
  else if (typname === 'bit' || typname === 'varbit') {
    category = 'bit';
    if (typmod > 0) col.bits = typmod;
  } else if (typname === 'inet' || typname === 'cidr') category = 'inet';
  else if (typname === 'macaddr' || typname === 'macaddr8') category = 'macaddr';
  else if (typname === 'interval') category = 'interval';
  else if (typname === 'money') {
    // read as plain decimal text by the pg store (connection.ts); lc_monetary's 2 fractional digits
    category = 'decimal';
    col.scale = 2;
  }
  col.category = category;
  return col;
}
