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
  return { tables };
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
