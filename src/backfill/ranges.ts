import type { ResolvedEntity } from '../core/mapping.js';
import type { PlannedRange } from '../control/ranges.js';
import type { Store } from '../stores/types.js';

/**
 * Planning the key ranges of an entity's parallel backfill (docs/backfill.md "Parallel workers").
 *
 * The bounds are source quantiles, found as verify's checksum tier finds its segments (src/verify/checksum.ts):
 * chained probes, each one the key `step` rows past the previous bound — but in the order the backfill's keyset
 * scan reads (the column collation, not verify's byte order), since a range is scanned with that same statement
 * bounded by its upper key. A probe is the keyset statement itself (`sql.keyset`, the entity's `where` included),
 * limited to `step` rows and wrapped in `SELECT … ORDER BY key DESC LIMIT 1`: an index range scan of `step`
 * entries that returns one key. Gaps and skew in the key space do not matter; composite and string keys work the
 * same way. The first range starts before the first key and the last one is open-ended.
 */

/** Above this many rows an entity gets more than one range by default. */
export const SMALL_TABLE_ROWS = 100_000;
/** Rows per range the default aims at. */
export const ROWS_PER_RANGE = 100_000;
/** Most ranges the default plans. */
export const MAX_AUTO_RANGES = 64;

/**
 * How many ranges to plan for `rows` rows: the config's number (`backfill.ranges`), or with `auto` (the default)
 * one range for a table of at most {@link SMALL_TABLE_ROWS} rows — nothing gets slower — and otherwise one per
 * {@link ROWS_PER_RANGE} rows, at least `workers` (this process's), at most {@link MAX_AUTO_RANGES}.
 */
export function rangeCount(rows: number, configured: number | 'auto' | undefined, workers: number): number {
  if (typeof configured === 'number') return Math.max(1, Math.floor(configured));
  if (rows <= SMALL_TABLE_ROWS) return 1;
  return Math.min(MAX_AUTO_RANGES, Math.max(workers, Math.ceil(rows / ROWS_PER_RANGE)));
}

/**
 * The key `step` rows after `after` (null: from the first key) in the backfill's scan order, or null when fewer
 * rows are left (with fewer than `step` but some, the last key). One statement on `source`.
 */
export async function probeKey(
  source: Store,
  entity: ResolvedEntity,
  after: unknown[] | null,
  step: number,
): Promise<unknown[] | null> {
  const st = source.sql.keyset({
    table: entity.source.name,
    columns: entity.key,
    key: entity.key,
    keyCategories: entity.keyColumns.map((c) => c.category),
    after,
    limit: step,
    where: entity.where,
  });
  const cols = entity.key.map((k) => source.sql.ident(k));
  const rows = await source.query<Record<string, unknown>>(
    `SELECT ${cols.join(', ')} FROM (${st.sql}) AS tandem_probe ORDER BY ${cols.map((c) => `${c} DESC`).join(', ')} LIMIT 1`,
    st.params,
  );
  // (a page shorter than `step` ends at the table's last key: the range after it is empty, and open-ended)
  return rows[0] ? entity.key.map((k) => rows[0]![k]) : null;
}

/**
 * The ranges of `entity` for `rows` source rows in `count` parts of about equal size: `count - 1` chained probes.
 * Fewer parts when the table holds fewer rows than counted (a probe finds the end). One range (no probe) when
 * `count` is 1.
 */
export async function planRanges(
  source: Store,
  entity: ResolvedEntity,
  rows: number,
  count: number,
): Promise<PlannedRange[]> {
  if (count <= 1 || rows < 2) return [{ lowerKey: null, upperKey: null, rowsEstimate: rows }];
  const n = Math.min(count, rows);
  const step = Math.ceil(rows / n);
  const bounds: unknown[][] = [];
  let after: unknown[] | null = null;
  for (let i = 0; i < n - 1; i++) {
    const k = await probeKey(source, entity, after, step);
    if (!k) break;
    bounds.push(k);
    after = k;
  }
  const out: PlannedRange[] = [];
  for (let i = 0; i <= bounds.length; i++)
    out.push({
      lowerKey: i === 0 ? null : bounds[i - 1]!,
      upperKey: i === bounds.length ? null : bounds[i]!,
      rowsEstimate: i === bounds.length ? Math.max(0, rows - step * bounds.length) : step,
    });
  return out;
}
