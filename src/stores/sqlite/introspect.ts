import type { ColumnInfo, Executor, SchemaInfo, TableInfo, TypeCategory } from '../types.js';

/**
 * Reads the tables of the `main` database of an SQLite store through the pragma table-valued functions:
 * - tables: `pragma_table_list` (ordinary tables only; `sqlite_*`, virtual and shadow tables are left out);
 * - columns: `pragma_table_xinfo` in declaration order (hidden columns of virtual tables left out; generated
 *   columns and the `INTEGER PRIMARY KEY` rowid alias are `generated`), categories by {@link sqliteColumn};
 * - primary key: the `pk` positions of `pragma_table_xinfo`;
 * - unique keys: `pragma_index_list` indexes with `unique = 1`, origin other than `pk`, not partial and on plain
 *   columns only (`pragma_index_info`), de-duplicated;
 * - foreign keys: `pragma_foreign_key_list` grouped by id, named `fk_<table>_<id>`; a reference without a
 *   column list resolves to the parent's primary key.
 * @internal
 */
export async function introspectSqlite(db: Executor): Promise<SchemaInfo> {
  const list = await db.query<{ name: string; wr: number }>(
    `SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
  );
  const tables = new Map<string, TableInfo>();
  const pendingFks: { table: TableInfo; refTable: string; fkIndex: number }[] = [];
  for (const { name, wr } of list) {
    const cols = await db.query<{
      name: string;
      type: string | null;
      notnull: number;
      pk: number;
      hidden: number;
      dflt_value: string | null;
    }>(`SELECT name, type, "notnull", pk, hidden, dflt_value FROM pragma_table_xinfo(?) ORDER BY cid`, [name]);
    const visible = cols.filter((c) => Number(c.hidden) !== 1);
    const pkCols = visible.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk));
    const withoutRowid = Number(wr) === 1;
    // a single-column INTEGER PRIMARY KEY of a rowid table is the rowid itself: SQLite fills it
    const rowidAlias =
      !withoutRowid && pkCols.length === 1 && (pkCols[0]!.type ?? '').trim().toUpperCase() === 'INTEGER'
        ? pkCols[0]!.name
        : null;
    const t: TableInfo = {
      name,
      columns: visible.map((c) => {
        const isPk = Number(c.pk) > 0;
        const col = sqliteColumn(
          c.name,
          c.type ?? '',
          Number(c.notnull) === 0 && !(isPk && (withoutRowid || rowidAlias === c.name)),
          rowidAlias === c.name || Number(c.hidden) === 2 || Number(c.hidden) === 3,
        );
        col.hasDefault = c.dflt_value !== null && c.dflt_value !== undefined && !col.generated;
        col.filledByTrigger = false;
        return col;
      }),
      primaryKey: pkCols.map((c) => c.name),
      uniqueKeys: [],
      foreignKeys: [],
    };
    tables.set(name, t);

    const idx = await db.query<{ name: string; unique: number; origin: string; partial: number }>(
      `SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY seq DESC`,
      [name],
    );
    for (const i of idx) {
      if (Number(i.unique) !== 1 || i.origin === 'pk' || Number(i.partial) !== 0) continue;
      const parts = await db.query<{ seqno: number; cid: number; name: string | null }>(
        `SELECT seqno, cid, name FROM pragma_index_info(?) ORDER BY seqno`,
        [i.name],
      );
      // expression or rowid
      if (parts.length === 0 || parts.some((p) => p.name === null || Number(p.cid) < 0)) continue;
      const columns = parts.map((p) => p.name!);
      if (!t.uniqueKeys.some((k) => k.join('\u0000') === columns.join('\u0000'))) t.uniqueKeys.push(columns);
    }

    const fks = await db.query<{ id: number; seq: number; table: string; from: string; to: string | null }>(
      `SELECT id, seq, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq`,
      [name],
    );
    const byId = new Map<number, { table: string; from: string[]; to: (string | null)[] }>();
    for (const f of fks) {
      const id = Number(f.id);
      let g = byId.get(id);
      if (!g) byId.set(id, (g = { table: f.table, from: [], to: [] }));
      g.from.push(f.from);
      g.to.push(f.to);
    }
    for (const [id, g] of byId) {
      const implicit = g.to.some((c) => c === null);
      t.foreignKeys.push({
        name: `fk_${name}_${id}`,
        columns: g.from,
        refTable: g.table,
        refColumns: implicit ? [] : (g.to as string[]),
      });
      if (implicit) pendingFks.push({ table: t, refTable: g.table, fkIndex: t.foreignKeys.length - 1 });
    }
  }
  // `REFERENCES parent` without columns means the parent's primary key
  for (const p of pendingFks) {
    const parent =
      tables.get(p.refTable) ?? [...tables.values()].find((x) => x.name.toLowerCase() === p.refTable.toLowerCase());
    p.table.foreignKeys[p.fkIndex]!.refColumns = parent ? [...parent.primaryKey] : [];
  }
  await readTriggers(db, tables);
  return { tables };
}

/**
 * Sets `triggers` on every table (`sqlite_master` type 'trigger'; Tandem's own `tandem_…` left out) and
 * `filledByTrigger` on the columns an AFTER INSERT/UPDATE trigger sets with `UPDATE <same table> SET col = …`
 * (SQLite triggers cannot assign NEW). A heuristic on the trigger's SQL text: the columns are read from the SET
 * list up to WHERE, FROM, RETURNING, `;` or END, one per `name =` that starts the list or follows a comma.
 */
async function readTriggers(db: Executor, tables: Map<string, TableInfo>): Promise<void> {
  for (const t of tables.values()) t.triggers = [];
  const rows = await db.query<{ name: string; tbl_name: string; sql: string | null }>(
    `SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY tbl_name, name`,
  );
  const byLower = new Map([...tables.values()].map((t) => [t.name.toLowerCase(), t]));
  for (const r of rows) {
    const t = byLower.get(String(r.tbl_name).toLowerCase());
    if (!t || String(r.name).toLowerCase().startsWith('tandem_')) continue;
    t.triggers!.push(String(r.name));
    const sql = String(r.sql ?? '');
    if (!/\bAFTER\s+(?:INSERT|UPDATE)\b/i.test(sql)) continue;
    for (const c of updatedColumns(sql, t.name)) {
      const col = t.columns.find((x) => x.name.toLowerCase() === c.toLowerCase());
      if (col) col.filledByTrigger = true;
    }
  }
}

/** The columns `UPDATE <table> SET a = …, b = …` statements of trigger SQL `sql` assign (see readTriggers). */
export function updatedColumns(sql: string, table: string): string[] {
  const ident = `(?:"(?:[^"]|"")+"|\`(?:[^\`]|\`\`)+\`|\\[[^\\]]+\\]|[\\w$]+)`;
  const unq = (s: string) => (/^["`[]/.test(s) ? s.slice(1, -1).replace(/""|``/g, (q) => q[0]!) : s);
  const out: string[] = [];
  const stmt = new RegExp(
    `\\bUPDATE\\s+(?:OR\\s+\\w+\\s+)?(?:${ident}\\s*\\.\\s*)?(${ident})\\s+SET\\s+([\\s\\S]*?)(?=\\bWHERE\\b|\\bFROM\\b|\\bRETURNING\\b|;|\\bEND\\b|$)`,
    'gi',
  );
  for (const m of sql.matchAll(stmt)) {
    if (unq(m[1]!).toLowerCase() !== table.toLowerCase()) continue;
    for (const a of m[2]!.matchAll(new RegExp(`(?:^|,)\\s*(${ident})\\s*=(?!=)`, 'g'))) out.push(unq(a[1]!));
  }
  return out;
}

const DATE_TIME: Record<string, TypeCategory> = {
  date: 'date',
  datetime: 'timestamp',
  timestamp: 'timestamp',
  'timestamp without time zone': 'timestamp',
  timestamptz: 'timestamptz',
  'timestamp with time zone': 'timestamptz',
  time: 'time',
  'time without time zone': 'time',
  timetz: 'time',
  'time with time zone': 'time',
};

/**
 * Reduces an SQLite column's declared type to Tandem's type category. `dataType` is the declared type
 * lower-cased (`varchar(60)`, `decimal(10,2)`, `` for none). Well-known names come first: `bool`/`boolean`,
 * `date`, `datetime`/`timestamp`, `time`, `json`/`jsonb`, `uuid`, `decimal`/`numeric` (with precision/scale);
 * then SQLite's affinity rules in SQLite's order: contains `int` → integer (8 bytes, as SQLite stores it);
 * `char`/`clob`/`text` → text (`maxLength` from `(n)`); `blob` → binary; `real`/`floa`/`doub` → float (8 bytes);
 * no type → other (BLOB affinity, any value); anything else (NUMERIC affinity) → other.
 * @internal
 */
export function sqliteColumn(name: string, declared: string, nullable: boolean, generated: boolean): ColumnInfo {
  const dataType = declared.trim().toLowerCase();
  const col: ColumnInfo = { name, dataType, category: 'other', nullable, generated };
  const m = /^([^(]*?)\s*\(\s*([+-]?\d+)\s*(?:,\s*([+-]?\d+)\s*)?\)/.exec(dataType);
  const base = (m ? m[1]! : dataType).replace(/\s+/g, ' ').trim();
  const a1 = m ? Number(m[2]) : undefined;
  const a2 = m && m[3] !== undefined ? Number(m[3]) : undefined;
  let category: TypeCategory = 'other';
  if (base === 'bool' || base === 'boolean') category = 'boolean';
  else if (base in DATE_TIME) {
    category = DATE_TIME[base]!;
    if (category !== 'date' && a1 !== undefined) col.scale = a1;
  } else if (base === 'json' || base === 'jsonb') category = 'json';
  else if (base === 'uuid') category = 'uuid';
  else if (base === 'decimal' || base === 'numeric') {
    category = 'decimal';
    if (a1 !== undefined) {
      col.precision = a1;
      col.scale = a2 ?? 0;
    }
  } else if (base.includes('int')) {
    category = 'integer';
    col.intBytes = 8;
  } else if (base.includes('char') || base.includes('clob') || base.includes('text')) {
    category = 'text';
    if (a1 !== undefined && a1 > 0) col.maxLength = a1;
  } else if (base.includes('blob')) category = 'binary';
  else if (base.includes('real') || base.includes('floa') || base.includes('doub')) {
    category = 'float';
    col.floatBytes = 8;
  }
  col.category = category;
  return col;
}
