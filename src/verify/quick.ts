import { predicateSql } from '../core/where.js';
import { canonicalDecimal } from '../core/canonical.js';
import type { ColumnSpec } from '../config/schema.js';
import type { ResolvedEntity } from '../core/mapping.js';
import type { ColumnInfo, Row, Store } from '../stores/types.js';
import { canonText } from '../core/encoding.js';

/**
 * The `quick` tier: counts and column aggregates, one scan per side and table plus one `GROUP BY` per
 * low-cardinality column — no keys, no row reads. It finds that something differs, not which key.
 *
 * Per target table of an entity:
 * - `count(*)` of the source table and of the target table;
 * - `sum` of every numeric target column (integer, decimal) mapped by plain rename from a numeric source
 *   column, as exact decimal text on both sides (PostgreSQL `numeric`, MariaDB `DECIMAL`, SQLite an exact JS
 *   aggregate), compared in canonical decimal form;
 * - counts per value of low-cardinality columns (boolean columns, text columns of at most 64 characters, with
 *   at most {@link MAX_VALUES} distinct values on the source; at most {@link MAX_VALUE_COLUMNS} per table),
 *   grouped by exact value (bytes for strings, so a case-insensitive collation cannot merge `Active` and
 *   `active`), compared by canonical text.
 * Columns mapped by a transform, a cast or a constant are not aggregated (listed in `skipped`).
 */
export interface AggregateDifference {
  entity: string;
  table: string;
  /** `(rows)` for the row count. */
  column: string;
  aggregate: 'count' | 'sum' | 'values';
  source: string | null;
  target: string | null;
}

/** Per-entity figures of the quick tier. */
export interface EntityQuickResult {
  entity: string;
  mode: 'quick';
  sourceRows: number;
  targetRows: number;
  /** Aggregates compared (counts, sums, value histograms). */
  aggregates: number;
  /** The same, by kind: row counts (one per target table), sums (one per column), value counts (one per column). */
  aggregatesByKind: { count: number; sum: number; values: number };
  differing: AggregateDifference[];
  /** Target columns not aggregated, with the reason. */
  skipped: string[];
  seconds: number;
  complete: boolean;
}

/** Most distinct source values a column may have to be compared value by value. */
export const MAX_VALUES = 50;
/** Most columns per table compared value by value. */
export const MAX_VALUE_COLUMNS = 4;

const norm = (v: unknown): string | null => (v === null || v === undefined ? null : canonicalDecimal(String(v)));

/**
 * Runs the quick tier over `entities`. Stores without checksum SQL (user adapters) get counts only.
 * Throws what the stores throw.
 */
export async function quickEntities(
  source: Store,
  target: Store,
  entities: ResolvedEntity[],
  shouldStop: () => boolean = () => false,
): Promise<{ entities: EntityQuickResult[]; complete: boolean }> {
  const results: EntityQuickResult[] = [];
  let complete = true;
  for (const e of entities) {
    if (shouldStop()) {
      complete = false;
      break;
    }
    results.push(await quickEntity(source, target, e));
  }
  return { entities: results, complete };
}

async function quickEntity(source: Store, target: Store, e: ResolvedEntity): Promise<EntityQuickResult> {
  const started = performance.now();
  const differing: AggregateDifference[] = [];
  const skipped: string[] = [];
  let aggregates = 0;
  const aggregatesByKind = { count: 0, sum: 0, values: 0 };
  let sourceRows = 0;
  let targetRows = 0;
  const col = (name: string) => e.source.columns.find((c) => c.name === name)!;
  for (const [ti, t] of e.targets.entries()) {
    const specs = Object.values(t.config.columns) as ColumnSpec[];
    const sums: { src: ColumnInfo; tgt: ColumnInfo }[] = [];
    const values: { src: ColumnInfo; tgt: ColumnInfo }[] = [];
    t.columns.forEach((c, i) => {
      const spec = specs[i]!;
      const from = typeof spec === 'string' ? spec : 'from' in spec && !spec.cast ? spec.from : null;
      if (t.config.transform || from === null) {
        if (!t.keyColumns.includes(c.name))
          skipped.push(
            `${t.table.name}.${c.name} (${typeof spec === 'object' && 'value' in spec ? 'constant' : typeof spec === 'object' && 'cast' in spec ? 'cast' : 'transform'})`,
          );
        return;
      }
      const s = col(from);
      const numeric = (x: ColumnInfo) => x.category === 'integer' || x.category === 'decimal';
      if (numeric(c) && numeric(s)) sums.push({ src: s, tgt: c });
      else if (
        !t.keyColumns.includes(c.name) &&
        s.category === c.category &&
        (c.category === 'boolean' || (c.category === 'text' && c.maxLength !== undefined && c.maxLength <= 64))
      )
        values.push({ src: s, tgt: c });
    });
    const srcCs = source.sql.checksum;
    const tgtCs = target.sql.checksum;
    // the source side reads only the rows the entity's `where` keeps
    const filter = (store: Store, table: string) => {
      const params: unknown[] = [];
      const sql =
        store === source && table === e.source.name && e.where
          ? ` WHERE ${predicateSql(e.where, (i) => store.sql.param(i), params)}`
          : '';
      return { sql, params };
    };
    const agg = async (store: Store, table: string, cols: ColumnInfo[]) => {
      const cs = store.sql.checksum;
      const exprs = cs ? cols.map((c, i) => `${cs.sumExpr(c.name)} AS s${i}`) : [];
      const f = filter(store, table);
      const r = (
        await store.query<Row>(
          `SELECT count(*) AS n${exprs.length ? `, ${exprs.join(', ')}` : ''} FROM ${store.sql.table(table)}${f.sql}`,
          f.params,
        )
      )[0]!;
      return { n: Number(r.n), sums: cols.map((_, i) => (cs ? norm(r[`s${i}`]) : null)) };
    };
    const withSums = srcCs && tgtCs ? sums : [];
    const [sa, ta] = await Promise.all([
      agg(
        source,
        e.source.name,
        withSums.map((x) => x.src),
      ),
      agg(
        target,
        t.table.name,
        withSums.map((x) => x.tgt),
      ),
    ]);
    if (ti === 0) {
      sourceRows = sa.n;
      targetRows = ta.n;
    }
    aggregates++;
    aggregatesByKind.count++;
    if (sa.n !== ta.n)
      differing.push({
        entity: e.name,
        table: t.table.name,
        column: '(rows)',
        aggregate: 'count',
        source: String(sa.n),
        target: String(ta.n),
      });
    withSums.forEach((x, i) => {
      aggregates++;
      aggregatesByKind.sum++;
      if (sa.sums[i] !== ta.sums[i])
        differing.push({
          entity: e.name,
          table: t.table.name,
          column: x.tgt.name,
          aggregate: 'sum',
          source: sa.sums[i]!,
          target: ta.sums[i]!,
        });
    });
    if (!srcCs || !tgtCs) continue;
    // low-cardinality columns: booleans first, then the shortest text columns
    values.sort(
      (a, b) =>
        (a.tgt.category === 'boolean' ? 0 : (a.tgt.maxLength ?? 64)) -
        (b.tgt.category === 'boolean' ? 0 : (b.tgt.maxLength ?? 64)),
    );
    let used = 0;
    for (const x of values) {
      if (used >= MAX_VALUE_COLUMNS) break;
      const hist = async (store: Store, table: string, c: ColumnInfo) => {
        const g = store.sql.checksum!.exactGroupExpr(c.name, c.category);
        const f = filter(store, table);
        const rows = await store.query<Row>(
          `SELECT ${g} AS v, count(*) AS n FROM ${store.sql.table(table)}${f.sql} GROUP BY ${g} ORDER BY 2 DESC LIMIT ${MAX_VALUES + 1}`,
          f.params,
        );
        return rows;
      };
      const srows = await hist(source, e.source.name, x.src);
      if (srows.length > MAX_VALUES) continue;
      used++;
      aggregates++;
      aggregatesByKind.values++;
      const trows = await hist(target, t.table.name, x.tgt);
      const text = (v: unknown) => (v === null || v === undefined ? '∅' : canonText(v, x.tgt)!);
      const sm = new Map(srows.map((r) => [text(r.v), Number(r.n)]));
      const tm = new Map(trows.map((r) => [text(r.v), Number(r.n)]));
      const show = (m: Map<string, number>) =>
        [...m]
          .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          .map(([v, n]) => `${v}=${n}`)
          .join(', ');
      const same = sm.size === tm.size && [...sm].every(([v, n]) => tm.get(v) === n);
      if (!same)
        differing.push({
          entity: e.name,
          table: t.table.name,
          column: x.tgt.name,
          aggregate: 'values',
          source: show(sm),
          target: show(tm),
        });
    }
  }
  return {
    entity: e.name,
    mode: 'quick',
    sourceRows,
    targetRows,
    aggregates,
    aggregatesByKind,
    differing,
    skipped,
    seconds: (performance.now() - started) / 1000,
    complete: true,
  };
}
