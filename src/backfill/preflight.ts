import { findMisfits } from '../apply/apply.js';
import { isTandemError } from '../core/errors.js';
import { mapRow, shownKey, type MappedRow, type ResolvedEntity } from '../core/mapping.js';
import { type Problem, problemsError } from '../core/problems.js';
import type { ColumnInfo, Row, Store } from '../stores/types.js';

/**
 * Maps the first `rows` source rows of every entity (those its `where` keeps) and checks they fit the target
 * columns, before anything is written anywhere (not even the control plane). A mapping that cannot work — a
 * transform that throws, a type that does not fit — fails here instead of after hours of backfill. Values
 * further into a table are checked chunk by chunk as the backfill reaches them. Every entity and column is
 * checked first; then one error lists every problem (see {@link problemsError}): TANDEM_ERR_VALUE_DOES_NOT_FIT /
 * _MAPPING_INVALID for one problem, TANDEM_ERR_PREFLIGHT_FAILED for several, `detail.problems` either way.
 */
export async function preflight(source: Store, entities: ResolvedEntity[], rows = 1000): Promise<void> {
  const problems = await dataProblems(source, entities, rows);
  if (problems.length) throw problemsError(problems);
}

/**
 * The problems of the first `rows` source rows of each entity: one per target column whose values do not fit
 * (with how many sample rows and the first key), one per target table whose transform throws. Value-free.
 */
export async function dataProblems(source: Store, entities: ResolvedEntity[], rows = 1000): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const e of entities) {
    const st = source.sql.keyset({
      table: e.source.name,
      columns: e.readColumns,
      key: e.key,
      keyCategories: e.keyColumns.map((c) => c.category),
      after: null,
      limit: rows,
      where: e.where,
    });
    const sample = await source.query<Row>(st.sql, st.params);
    const mapped: MappedRow[] = [];
    const thrown = new Map<string, { n: number; message: string; detail: Record<string, unknown> }>();
    for (const r of sample) {
      try {
        mapped.push(mapRow(e, r));
      } catch (err) {
        if (!isTandemError(err, 'MAPPING_INVALID')) throw err;
        const table = String((err.detail as { table?: unknown }).table ?? '');
        const seen = thrown.get(table);
        if (seen) seen.n++;
        else thrown.set(table, { n: 1, message: err.message, detail: err.detail });
      }
    }
    for (const [table, t] of thrown)
      problems.push({
        entity: e.name,
        table,
        column: '',
        problem: `a transform throws (${t.n} of ${sample.length} sample rows)`,
        fix: 'fix the transform, or return SKIP for such rows',
        code: 'MAPPING_INVALID',
        message: t.message,
        detail: t.detail,
      });
    const byColumn = new Map<string, { n: number; first: ReturnType<typeof findMisfits>[number] }>();
    for (const m of findMisfits(e, mapped)) {
      // one problem per column and kind of misfit (lengths and digit counts vary from row to row)
      const id = `${m.ti}/${m.ci}/${m.why.replace(/\d+/g, '#')}`;
      const seen = byColumn.get(id);
      if (seen) seen.n++;
      else byColumn.set(id, { n: 1, first: m });
    }
    for (const { n, first } of byColumn.values()) {
      const t = e.targets[first.ti]!;
      const col = t.columns[first.ci]!;
      const key = shownKey(e, first.row.key);
      problems.push({
        entity: e.name,
        table: t.table.name,
        column: col.name,
        problem: `the value ${first.why} (${n} of ${sample.length} sample rows, first key ${key})`,
        fix: fixFor(first.why, col, t.config.columns[col.name]),
        code: 'VALUE_DOES_NOT_FIT',
        message: `entity ${e.name} key ${key}: the value for ${t.table.name}.${col.name} ${first.why}`,
        detail: { key, table: t.table.name, column: col.name },
      });
    }
  }
  return problems;
}

/** The cast that reads text into a target column of this category, if there is one. */
const CAST_FOR: Partial<Record<ColumnInfo['category'], string>> = {
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamp',
  integer: 'integer',
  decimal: 'decimal',
  float: 'float',
  boolean: 'boolean',
  json: 'json',
};

/** The change to the config that fixes a misfit of `col` (mapped by `spec`), from its reason. */
function fixFor(why: string, col: ColumnInfo, spec: unknown): string {
  const src =
    typeof spec === 'string'
      ? spec
      : spec && typeof spec === 'object' && 'from' in spec
        ? String((spec as { from: unknown }).from)
        : null;
  if (why.startsWith('is NULL'))
    return src
      ? `where: '${src} IS NOT NULL', or ${JSON.stringify(col.name)}: { value: … }`
      : `${JSON.stringify(col.name)}: { value: … }, or return SKIP for such rows`;
  if (why.startsWith('cannot be read as') && CAST_FOR[col.category])
    return src
      ? `${JSON.stringify(col.name)}: { from: ${JSON.stringify(src)}, cast: '${CAST_FOR[col.category]}' }`
      : `cast: '${CAST_FOR[col.category]}'`;
  if (why.includes('characters long')) return `widen ${col.dataType}, or a transform that shortens the value`;
  if (why.includes('out of range') || why.includes('integer digits')) return `widen ${col.dataType}`;
  return `${JSON.stringify(col.name)}: { transform: (row) => … } producing a ${col.dataType}`;
}
