import { TandemError } from './errors.js';
import { canonicalize } from './canonical.js';
import type { ResolvedEntity, ResolvedTarget } from './mapping.js';
import type { ColumnInfo, Executor, Row, Store } from '../stores/types.js';
import { specSource, unpad } from './mapping.js';
import { joinDelimited } from './composite.js';
import type { ColumnSpec } from '../config/schema.js';

/**
 * How a legacy column copied forward by `spec` into new column `from` is read back from the combined new row:
 * an `array` cast is undone when the legacy column is no array (a SET or delimited string: the elements joined
 * with the cast's `separator`, `,` by default); a `char(n)` new column's pad is dropped (not data); anything else
 * as it is (the legacy store converts on write).
 */
function reverseValue(name: string, spec: ColumnSpec, from: ColumnInfo, legacy: ColumnInfo): (row: Row) => unknown {
  if (typeof spec === 'object' && 'cast' in spec && spec.cast === 'array' && legacy.category !== 'array') {
    const sep = spec.separator ?? ',';
    // a JSON legacy column takes the array itself (its store writes JSON text of it)
    if (legacy.category === 'json') return (row) => row[name];
    return (row) => joinDelimited(row[name], sep);
  }
  if (from.padded && !legacy.padded) return (row) => unpad(row[name]);
  return (row) => row[name];
}

/**
 * The reverse of an entity, for the reverse relay after write cutover (`new_primary`): the new store is the
 * primary, the legacy table the one target. A legacy row is rebuilt from the new rows of its key:
 * - a legacy column that the forward mapping copied by rename (or cast) into a new column reads that column
 *   back (the first target table that has it; a cast is not undone: the legacy store converts on write);
 * - `reverse.columns` of the entity computes any other legacy column from `{ targetTable: row }`;
 * - legacy columns neither covers are left out of the write (an insert gives them their default; an update
 *   keeps them).
 * The version is the new column the legacy version column was copied to, if any (else last-writer-wins).
 * Keys are the same values on both sides, so the reverse ledger uses the same key strings.
 * Throws TANDEM_ERR_MAPPING_INVALID when the legacy key cannot be rebuilt.
 */
export function reverseEntity(e: ResolvedEntity): ResolvedEntity {
  const legacy = e.source;
  const first = e.targets[0]!;
  // where each legacy column can be read back from: `table.column` of the combined new row
  const origin = new Map<string, { target: ResolvedTarget; column: ColumnInfo; spec: ColumnSpec }>();
  for (const t of e.targets) {
    Object.entries(t.config.columns).forEach(([targetCol, spec]) => {
      const src = specSource(spec);
      if (src && !origin.has(src))
        origin.set(src, { target: t, column: t.columns.find((c) => c.name === targetCol)!, spec });
    });
  }
  const custom = e.config.reverse?.columns ?? {};
  for (const name of Object.keys(custom))
    if (!legacy.columns.some((c) => c.name === name))
      throw new TandemError(
        'MAPPING_COLUMN_NOT_FOUND',
        `entity ${e.name}: reverse.columns writes "${name}" but legacy table "${legacy.name}" has no such column`,
      );
  const combined = (t: ResolvedTarget, col: string) => `${t.table.name}.${col}`;
  const key = e.key.map((k) => {
    const o = origin.get(k);
    if (!o)
      throw new TandemError(
        'MAPPING_INVALID',
        `entity ${e.name}: legacy key column "${k}" is not copied to the new store, so the reverse relay cannot find its rows`,
      );
    return combined(o.target, o.column.name);
  });
  const columns: ColumnInfo[] = [];
  const valueOf: ((row: Row) => unknown)[] = [];
  const byTable = (row: Row) => {
    const out: Record<string, Row> = {};
    for (const t of e.targets) {
      const r: Row = {};
      for (const c of t.columns) r[c.name] = row[combined(t, c.name)];
      out[t.table.name] = r;
    }
    return out;
  };
  for (const c of legacy.columns) {
    const f = custom[c.name];
    const o = origin.get(c.name);
    if (f) {
      columns.push(c);
      valueOf.push((row) => f(byTable(row)));
    } else if (o) {
      const name = combined(o.target, o.column.name);
      columns.push(c);
      valueOf.push(reverseValue(name, o.spec, o.column, c));
    }
  }
  const version = e.version ? origin.get(e.version.name) : undefined;
  const readPerTable = e.targets.map((t) => ({
    t,
    cols: [...new Set([...t.keyColumns, ...t.columns.map((c) => c.name)])],
    keyInfo: t.keyColumns.map((k) => t.table.columns.find((c) => c.name === k)!),
  }));
  const keyString = (values: unknown[], info: ColumnInfo[]) =>
    JSON.stringify(values.map((v, i) => canonicalize(v, info[i]!)));

  /** Reads every new table for the keys and merges each key's rows into one `table.column` row. */
  const read = async (store: Store, keys: unknown[][], via: Executor): Promise<Row[]> => {
    const merged = new Map<string, Row>();
    for (const [i, { t, cols, keyInfo }] of readPerTable.entries()) {
      const params: unknown[] = [];
      const ph = (v: unknown) => (params.push(v), store.sql.param(params.length));
      const where =
        t.keyColumns.length === 1
          ? `${store.sql.ident(t.keyColumns[0]!)} IN (${keys.map((k) => ph(k[0])).join(', ')})`
          : keys
              .map((k) => `(${t.keyColumns.map((c, j) => `${store.sql.ident(c)} = ${ph(k[j])}`).join(' AND ')})`)
              .join(' OR ');
      const rows = await via.query<Row>(
        `SELECT ${cols.map((c) => store.sql.ident(c)).join(', ')} FROM ${store.sql.table(t.table.name)} WHERE ${where}`,
        params,
      );
      for (const r of rows) {
        const ks = keyString(
          t.keyColumns.map((k) => r[k]),
          keyInfo,
        );
        // the first (parent) table decides whether the key exists
        if (i > 0 && !merged.has(ks)) continue;
        const m = merged.get(ks) ?? {};
        for (const c of cols) m[combined(t, c)] = r[c];
        merged.set(ks, m);
      }
    }
    return [...merged.values()];
  };

  const keyColumns = e.keyColumns;
  const target: ResolvedTarget = {
    table: legacy,
    columns,
    keyColumns: e.key,
    valueOf,
    config: { table: legacy.name, columns: Object.fromEntries(columns.map((c) => [c.name, c.name])) },
  };
  return {
    name: e.name,
    config: e.config,
    source: first.table,
    key,
    keyColumns,
    version: version ? { ...version.column, name: combined(version.target, version.column.name) } : null,
    readColumns: readPerTable.flatMap(({ t, cols }) => cols.map((c) => combined(t, c))),
    declarative: !e.config.reverse,
    targets: [target],
    sensitive: e.sensitive,
    read,
  };
}
