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
