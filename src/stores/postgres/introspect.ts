import type { ColumnInfo, Executor, SchemaInfo, TableInfo, TypeCategory } from '../types.js';

/**
 * Reads tables (ordinary and partitioned), columns with `format_type`, primary keys, unique constraints and
 * unique indexes (non-partial, on plain columns), and foreign keys of one PostgreSQL schema from `pg_catalog`.
 * Shared by PostgreSQL and PGlite.
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
  }>(
    `SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS data_type,
            t.typname AS typname, t.typtype AS typtype, a.atttypmod AS typmod, NOT a.attnotnull AS nullable,
            (a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%') AS generated
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
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
  }
  const cons = await db.query<{
    table_name: string;
    name: string;
    type: string;
    columns: string[];
    ref_table: string | null;
    ref_columns: string[] | null;
  }>(
    `SELECT c.relname AS table_name, con.conname AS name, con.contype AS type,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
            fc.relname AS ref_table,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS ref_columns
       FROM pg_constraint con
       JOIN pg_class c ON c.oid = con.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_class fc ON fc.oid = con.confrelid
      WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'f')
      ORDER BY c.relname, con.conname`,
    [schema],
  );
  for (const k of cons) {
    const t = tables.get(k.table_name);
    if (!t) continue;
    if (k.type === 'p') t.primaryKey = k.columns;
    else if (k.type === 'u') t.uniqueKeys.push(k.columns);
    else if (k.ref_table)
      t.foreignKeys.push({ name: k.name, columns: k.columns, refTable: k.ref_table, refColumns: k.ref_columns ?? [] });
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
  await pgTypeDetails(db, schema, tables);
  return { tables };
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
  col.category = category;
  return col;
}
