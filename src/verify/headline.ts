import type { EntityChecksumResult } from './checksum.js';
import type { EntityQuickResult } from './quick.js';
import type { EntityReport, VerifyMode } from './run.js';
import type { EntitySampleResult } from './sample.js';

/**
 * What a verification proved, in one line and a few fields (DESIGN.md guarantee 8: a report says how much it
 * compared; only an exhaustive comparison may say "match").
 *
 * - `full` and `checksum` compare every row (checksum by pushed-down segment checksums, then row by row where
 *   they differ): they are **exhaustive**. Complete and without differences, and only then, the headline says
 *   `parity: 100% — source and target match`.
 * - A run stopped early (a budget or SIGINT) is **partial**: `partial: compared N of M rows (X %), K differences
 *   so far — not a proof of parity`.
 * - `sample` compares random rows: `sample of 1,000 rows: 0 differences; parity ≥ 99.70 % at 95 % confidence`
 *   (the exact one-sided Clopper–Pearson bound, src/verify/confidence.ts).
 * - `quick` compares counts and aggregates, not rows: `counts equal (5 tables); sums equal (3 columns) — rows
 *   not compared one by one`, naming what it compared.
 */
export interface Assessment {
  /** The mode compares every row (full, checksum). */
  exhaustive: boolean;
  /** Source rows compared key by key (sampled rows for `sample`, 0 for `quick`). */
  compared: number;
  /** Source rows of the verified entities, counted when the run started (null when not counted). */
  rowsTotal: number | null;
  /** Differing keys found (every one, not only the listed ones); differing aggregates for `quick`. */
  differenceCount: number;
  /** The one line that states what was proven. */
  headline: string;
  /** `sample` only: the lowest per-entity lower bound of parity at 95 % confidence, in percent. */
  parityLowerBound?: number;
}

const num = (v: number) => v.toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;

/** A percentage floored to `digits` decimals (a bound or a share is never rounded up). */
export function floorPercent(p: number, digits = 2): string {
  const f = 10 ** digits;
  return (Math.floor(p * f + 1e-9) / f).toFixed(digits);
}

/** The modes that compare every row. */
export function isExhaustive(mode: VerifyMode): boolean {
  return mode === 'full' || mode === 'checksum';
}

/**
 * Assesses a finished (or stopped) run: `entities` as the tier returned them, `complete` false when a budget or
 * a signal stopped it, `entityCount` the entities asked for, `totals` the source rows per entity counted at the
 * start (full and checksum).
 */
export function assess(
  mode: VerifyMode,
  entities: EntityReport[],
  complete: boolean,
  entityCount: number,
  totals: Map<string, number> | null,
): Assessment {
  const exhaustive = isExhaustive(mode);
  if (mode === 'quick') return assessQuick(entities as EntityQuickResult[], complete, entityCount);
  if (mode === 'sample') return assessSample(entities as EntitySampleResult[], complete, entityCount);
  const rows = entities as (
    | EntityChecksumResult
    | (EntityReport & { sourceRows: number; missing: number; extra: number; different: number })
  )[];
  const compared = rows.reduce((s, e) => s + e.sourceRows, 0);
  const differenceCount = rows.reduce((s, e) => s + e.missing + e.extra + e.different, 0);
  const rowsTotal = totals ? [...totals.values()].reduce((s, n) => s + n, 0) : null;
  let headline: string;
  if (!complete) headline = partialLine(compared, rowsTotal, differenceCount);
  else if (differenceCount === 0)
    headline = `parity: 100% — source and target match (every row compared: ${plural(compared, 'source row')})`;
  else
    headline = `parity: differences found — ${plural(differenceCount, 'differing key')} in ${plural(compared, 'source row')} compared (every row)`;
  return { exhaustive, compared, rowsTotal, differenceCount, headline };
}

/** `partial: compared N of M rows (X %), K differences so far — not a proof of parity`. */
export function partialLine(compared: number, total: number | null, differences: number): string {
  const of = total === null ? '' : ` of ${num(Math.max(total, compared))}`;
  const pct =
    total === null
      ? ''
      : ` (${floorPercent(Math.max(total, compared) === 0 ? 0 : (compared / Math.max(total, compared)) * 100, 1)} %)`;
  return `partial: compared ${num(compared)}${of} rows${pct}, ${plural(differences, 'difference')} so far — not a proof of parity`;
}

function assessSample(entities: EntitySampleResult[], complete: boolean, entityCount: number): Assessment {
  const compared = entities.reduce((s, e) => s + e.sampled, 0);
  const differenceCount = entities.reduce((s, e) => s + e.missing + e.extra + e.different, 0);
  const rowsTotal = entities.reduce((s, e) => s + e.sourceRows, 0);
  const lowest = entities.length ? entities.reduce((a, b) => (b.parityLowerBound < a.parityLowerBound ? b : a)) : null;
  const base = {
    exhaustive: false,
    compared,
    rowsTotal,
    differenceCount,
    ...(lowest ? { parityLowerBound: lowest.parityLowerBound } : {}),
  };
  if (!complete)
    return {
      ...base,
      headline: `partial: sampled ${num(compared)} rows in ${num(entities.length)} of ${num(entityCount)} entities, ${plural(differenceCount, 'difference')} so far — not a proof of parity`,
    };
  const bound = lowest ? `parity ≥ ${floorPercent(lowest.parityLowerBound)} % at 95 % confidence` : 'nothing sampled';
  const scope = entities.length > 1 ? ` (${num(entities.length)} entities)` : '';
  const which =
    entities.length > 1 && lowest ? ` per entity (lowest: ${lowest.entity}, ${plural(lowest.sampled, 'row')})` : '';
  return {
    ...base,
    headline: `sample of ${plural(compared, 'row')}${scope}: ${plural(differenceCount, 'difference')}; ${bound}${which}`,
  };
}

function assessQuick(entities: EntityQuickResult[], complete: boolean, entityCount: number): Assessment {
  const differing = entities.flatMap((e) => e.differing);
  const base = {
    exhaustive: false,
    compared: 0,
    rowsTotal: entities.reduce((s, e) => s + e.sourceRows, 0),
    differenceCount: differing.length,
  };
  if (!complete)
    return {
      ...base,
      headline: `partial: aggregates of ${num(entities.length)} of ${num(entityCount)} entities compared, ${plural(differing.length, 'differing aggregate')} so far — not a proof of parity`,
    };
  const total = (k: 'count' | 'sum' | 'values') => entities.reduce((s, e) => s + e.aggregatesByKind[k], 0);
  const bad = (k: 'count' | 'sum' | 'values') => differing.filter((d) => d.aggregate === k).length;
  const part = (k: 'count' | 'sum' | 'values', what: string, unit: string) => {
    const n = total(k);
    if (!n) return null;
    const b = bad(k);
    return b ? `${what} differ (${num(b)} of ${plural(n, unit)})` : `${what} equal (${plural(n, unit)})`;
  };
  const parts = [
    part('count', 'counts', 'table'),
    part('sum', 'sums', 'column'),
    part('values', 'value counts', 'column'),
  ].filter(Boolean);
  return { ...base, headline: `${parts.join('; ')} — rows not compared one by one, not a proof of parity` };
}
