import { Pacer } from '../backfill/pacer.js';
import { sleep } from '../core/async.js';
import { mapRow } from '../core/mapping.js';
import type { ChecksumCell, KeyValues, Row, Store, TypeCategory } from '../stores/types.js';
import { canonText, encodeRow, rowHash, addMod64 } from '../core/encoding.js';
import { planEntity, type EntityPlan, type SideMode } from './plan.js';
import { compareKeys, keysetStream } from './stream.js';
import { verifyEntity, type DifferenceSink, type KeyDifference } from './verify.js';

/**
 * Segment checksums with recursive splitting — the `checksum` tier of `tandem verify` (docs/verify.md).
 *
 * For each entity:
 * 1. **Segments from quantiles.** The source's keys are read in byte order (`COLLATE "C"`, binary, `BINARY`) a
 *    segment at a time: chained probes (`ORDER BY key LIMIT 1 OFFSET step-1` from the previous key, an index
 *    range scan) return the key every `step` rows of the next `size` rows — the segment's cell bounds and, last,
 *    its upper bound. Gaps and skew in the key space do not matter; composite and string keys work the same
 *    way. The first segment starts before the first key and the last one ends after the last, so rows only in
 *    the target are covered too. The next segment's probes run while the current one is checksummed.
 * 2. **Checksums pushed down.** Source and target compute, in parallel, `count` and the sum of row hashes of
 *    the canonical encoding over the segment (`src/core/encoding.ts`; SQL per dialect in
 *    `src/stores/<dialect>/checksum.ts`), per cell where grouping is cheap (MariaDB, SQLite, JS) or as one
 *    aggregate (PostgreSQL, whose plain aggregate runs with parallel workers). The source computes one hash
 *    per target table in the same scan. A side that cannot be pushed down (a TypeScript transform, a type the
 *    dialect cannot encode) streams the segment and hashes it in JS with the same encoding.
 * 3. **Chunk-time targeting.** The segment size adapts so one segment takes about `chunkSeconds` (the backfill's
 *    pacer: ×2 / ÷2 per step); `maxRowsPerSecond` throttles.
 * 4. **Recursive splitting.** A segment whose checksums differ is split into its cells (grouped checksums on
 *    both sides; a side that ran the plain aggregate runs the grouped one), cells that differ are split again
 *    into `factor` parts by source quantiles, down to `rowThreshold` source rows; those ranges are compared row
 *    by row and column by column with the full verify's canonical compare. This is data-diff's bisection
 *    (factor 32) with the first level of cells computed in the first pass where that is cheap.
 * 5. **Budgets.** `maxDifferences` and `maxSeconds` stop the run early with a partial report (`complete: false`).
 *
 * With 64-bit row hashes, a differing segment or cell goes unnoticed with probability about 2^-64 per compared
 * checksum (5.4e-20), the counts being compared as well (docs/verify.md).
 */
export interface ChecksumOptions {
  /** Seconds one segment should take; the size adapts to it. Default 0.5. */
  chunkSeconds: number;
  /** Rows of the first segment. Default 10,000. */
  initialSegmentRows: number;
  /** Largest segment. Default 2,000,000. */
  maxSegmentRows: number;
  /** Smallest segment. Default 1,000. */
  minSegmentRows: number;
  /** Parts a differing range is split into. Default 32. */
  factor: number;
  /** Ranges of at most this many source rows are compared row by row. Default 1,000. */
  rowThreshold: number;
  /** Keyset page size for streamed sides and row comparisons. */
  pageRows: number;
  /** Throttle: source rows per second, across the run. */
  maxRowsPerSecond?: number;
  /** Budget: stop after this many differing keys (partial report). */
  maxDifferences?: number;
  /** Budget: stop starting new work after this many seconds (partial report). */
  maxSeconds?: number;
  /** Stops the run between two queries (partial report). */
  signal?: AbortSignal;
  /** Sees every differing key found, with its raw key values. */
  onDifference?: DifferenceSink;
  /** Progress: source rows covered so far in `entity`, after every segment (`done` at the end of a complete entity). */
  onProgress?: (entity: string, covered: number, done: boolean) => void;
}

/** Defaults of {@link ChecksumOptions}. */
export const CHECKSUM_DEFAULTS: ChecksumOptions = {
  chunkSeconds: 0.5,
  initialSegmentRows: 10_000,
  maxSegmentRows: 2_000_000,
  minSegmentRows: 1_000,
  factor: 32,
  rowThreshold: 1_000,
  pageRows: 5_000,
};

/** Per-entity figures of a checksum run (the pt-table-checksum-like report row). */
export interface EntityChecksumResult {
  entity: string;
  mode: 'checksum';
  /** Source rows covered. */
  sourceRows: number;
  /** Rows of the first target table covered. */
  targetRows: number;
  /** Top-level segments checksummed. */
  segments: number;
  /** Top-level segments whose checksums differed. */
  differingSegments: number;
  /** Ranges whose checksums differed but whose rows matched when compared (changed in between). */
  transient: number;
  matched: number;
  missing: number;
  extra: number;
  different: number;
  /** matched / (source rows + extra), in percent, over what was covered. */
  parity: number;
  seconds: number;
  /** False when a budget or a signal stopped the run before the last key. */
  complete: boolean;
  /** Where each side ran: `sql` in the engine, `stream` through JS. */
  pushdown: { source: SideMode; targets: Record<string, SideMode> };
  /** Why a side streams. */
  notes: string[];
  /** Statements run (checksums, key probes), row comparisons excluded. */
  queries: number;
  /** Source rows the mapping leaves out (a transform returned SKIP): not compared, not counted as source rows. */
  skipped?: number;
}

/** The result of {@link checksumEntities}. */
export interface ChecksumResult {
  entities: EntityChecksumResult[];
  differences: KeyDifference[];
  ok: boolean;
  complete: boolean;
}

/**
 * Runs the checksum tier over `entities` (see the module comment for the algorithm). Writes nothing. Throws
 * what the stores throw (`TANDEM_ERR_STORE_*`) and `TANDEM_ERR_MAPPING_INVALID` when a transform throws.
 */
export async function checksumEntities(
  source: Store,
  target: Store,
  entities: import('../core/mapping.js').ResolvedEntity[],
  options: Partial<ChecksumOptions> & { maxReportedDifferences: number },
): Promise<ChecksumResult> {
  const o: ChecksumOptions = { ...CHECKSUM_DEFAULTS, ...stripUndefined(options) };
  const started = performance.now();
  const differences: KeyDifference[] = [];
  let found = 0;
  const budget = {
    found: () => found,
    exhausted: () =>
      (o.maxDifferences !== undefined && found >= o.maxDifferences) ||
      (o.maxSeconds !== undefined && (performance.now() - started) / 1000 >= o.maxSeconds) ||
      (o.signal?.aborted ?? false),
  };
  const note: DifferenceSink = (d, kv) => {
    found++;
    if (differences.length < options.maxReportedDifferences) differences.push(d);
    o.onDifference?.(d, kv);
  };
  const results: EntityChecksumResult[] = [];
  let complete = true;
  for (const e of entities) {
    const plan = planEntity(e, source, target);
    if (budget.exhausted()) {
      complete = false;
      results.push(emptyResult(plan));
      continue;
    }
    const r = await new EntityRun(plan, source, target, o, note, budget).run();
    results.push(r);
    if (!r.complete) complete = false;
  }
  return {
    entities: results,
    differences,
    ok: results.every((r) => r.missing === 0 && r.extra === 0 && r.different === 0),
    complete,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function emptyResult(plan: EntityPlan): EntityChecksumResult {
  return {
    entity: plan.entity.name,
    mode: 'checksum',
    sourceRows: 0,
    targetRows: 0,
    segments: 0,
    differingSegments: 0,
    transient: 0,
    matched: 0,
    missing: 0,
    extra: 0,
    different: 0,
    parity: 100,
    seconds: 0,
    complete: false,
    pushdown: pushdownOf(plan),
    notes: plan.notes,
    queries: 0,
  };
}

function pushdownOf(plan: EntityPlan): EntityChecksumResult['pushdown'] {
  return {
    source: plan.sourceMode,
    targets: Object.fromEntries(plan.targets.map((t) => [t.target.table.name, t.targetMode])),
  };
}

/** A key range (`after`, `upTo`]; null bounds are open. */
interface Range {
  after: KeyValues | null;
  upTo: KeyValues | null;
}

/** The checksums of one range: per side (source first, then each target table), its cells. */
interface RangeSums {
  /** Per side: cells by number (missing cells are empty). Null for a side not computed per cell. */
  cells: (Map<number, ChecksumCell> | null)[];
  /** Per side: the totals. */
  totals: ChecksumCell[];
}

class EntityRun {
  private readonly e;
  private readonly cats: TypeCategory[];
  private queries = 0;
  private segments = 0;
  private differingSegments = 0;
  private transient = 0;
  private sourceRows = 0;
  private skipped = 0;
  private targetRows = 0;
  private missing = 0;
  private extra = 0;
  private different = 0;
  private complete = true;
  /** Differing segments being resolved, chained. */
  private resolving: Promise<void> = Promise.resolve();
  /** The first error of a background resolution: the run stops and throws it. */
  private failure: { error: unknown } | null = null;
  /** Sides: 0 = source, 1.. = target tables. */
  private readonly cheap: boolean[];

  constructor(
    private readonly plan: EntityPlan,
    private readonly source: Store,
    private readonly target: Store,
    private readonly o: ChecksumOptions,
    private readonly note: DifferenceSink,
    private readonly budget: { exhausted(): boolean; found(): number },
  ) {
    this.e = plan.entity;
    this.cats = plan.keyCategories;
    this.cheap = [
      plan.sourceMode === 'stream' || (source.sql.checksum?.cheapCells ?? true),
      ...plan.targets.map((t) => t.targetMode === 'stream' || (target.sql.checksum?.cheapCells ?? true)),
    ];
  }

  async run(): Promise<EntityChecksumResult> {
    const started = performance.now();
    const o = this.o;
    const pacer = new Pacer({
      chunkSeconds: o.chunkSeconds,
      initialChunkRows: o.initialSegmentRows,
      maxChunkRows: o.maxSegmentRows,
      minChunkRows: o.minSegmentRows,
      maxRowsPerSecond: o.maxRowsPerSecond,
    });
    const wantCells = this.cheap.some(Boolean);
    // the next segment's bounds: `factor` chained probes of `step` rows (one when no side groups by cells)
    const plan = (after: KeyValues | null) => {
      const size = Math.max(1, Math.round(pacer.size));
      const parts = wantCells ? o.factor : 1;
      const step = Math.max(1, Math.ceil(size / parts));
      const p = this.probes({ after, upTo: null }, step, parts).then((keys) => ({
        keys,
        rows: keys.length === parts ? step * parts : null,
      }));
      p.catch(() => {}); // surfaced when awaited
      return p;
    };
    let after: KeyValues | null = null;
    let next = plan(null);
    for (;;) {
      if (this.failure) break;
      if (this.budget.exhausted()) {
        this.complete = false;
        break;
      }
      const q = await next;
      // fewer keys than probes: the source ends inside this segment, which then runs to the last key and beyond
      const last = q.rows === null;
      const upTo = last ? null : q.keys[q.keys.length - 1]!;
      const bounds = last ? q.keys : q.keys.slice(0, -1);
      if (!last) next = plan(upTo);
      const range = { after, upTo };
      const t0 = performance.now();
      const sums = await this.sums(
        range,
        bounds,
        this.cheap.map((c) => (c ? 'grouped' : 'plain')),
        true,
      );
      const seconds = (performance.now() - t0) / 1000;
      this.segments++;
      this.sourceRows += sums.totals[0]!.count;
      this.targetRows += sums.totals[1]?.count ?? 0;
      if (!this.equal(sums.totals)) {
        this.differingSegments++;
        // resolved in the background, one range at a time, while the next segments are checksummed: the faster
        // engine's second pass overlaps the slower engine's first
        this.resolving = this.resolving.then(() => this.resolve(range, bounds, sums));
        this.resolving.catch((e: unknown) => (this.failure ??= { error: e })); // rethrown below
      }
      o.onProgress?.(this.e.name, this.sourceRows, false);
      const wait = pacer.record(sums.totals[0]!.count, seconds);
      // the last segment is paid for too, so rows / elapsed stays under the cap
      if (wait > 0) await sleep(wait, o.signal);
      if (last) break;
      after = upTo;
    }
    await this.resolving;
    o.onProgress?.(this.e.name, this.sourceRows, this.complete && !this.failure);
    const denom = this.sourceRows + this.extra;
    const matched = Math.max(0, this.sourceRows - this.missing - this.different);
    return {
      entity: this.e.name,
      mode: 'checksum',
      sourceRows: this.sourceRows,
      targetRows: this.targetRows,
      segments: this.segments,
      differingSegments: this.differingSegments,
      transient: this.transient,
      matched,
      missing: this.missing,
      extra: this.extra,
      different: this.different,
      parity: denom === 0 ? 100 : (matched / denom) * 100,
      seconds: (performance.now() - started) / 1000,
      complete: this.complete,
      pushdown: pushdownOf(this.plan),
      notes: this.plan.notes,
      queries: this.queries,
      skipped: this.skipped,
    };
  }

  /** Compares per-side totals (or cells): the source count and per-table sums against each target table. */
  private equal(cells: (ChecksumCell | undefined)[]): boolean {
    const s = cells[0];
    for (let t = 0; t < this.plan.targets.length; t++) {
      const g = cells[t + 1];
      const sc = s?.count ?? 0,
        gc = g?.count ?? 0;
      if (sc !== gc) return false;
      if (sc === 0) continue;
      if ((s!.sums[t] ?? 0n) !== (g!.sums[0] ?? 0n)) return false;
    }
    return true;
  }

  /**
   * A range whose checksums differ: make sure every side has its cells (computing the bounds from source
   * quantiles when there are none yet), then compare cell by cell; differing cells are compared row by row when
   * small, split again otherwise.
   */
  private async resolve(range: Range, bounds: KeyValues[], sums: RangeSums | null): Promise<void> {
    if (this.budget.exhausted()) {
      this.complete = false;
      return;
    }
    let sourceRows = sums?.totals[0]?.count;
    if (sourceRows === undefined) {
      const s = await this.sums(
        range,
        [],
        this.cheap.map(() => 'plain'),
      );
      if (this.equal(s.totals)) return;
      sourceRows = s.totals[0]!.count;
    }
    if (sourceRows <= this.o.rowThreshold) return this.rowDiff(range);
    if (!bounds.length) {
      bounds = await this.probes(range, Math.max(1, Math.ceil(sourceRows / this.o.factor)), this.o.factor - 1);
      if (!bounds.length) return this.rowDiff(range);
      sums = null;
    }
    // grouped checksums for the sides that do not have cells yet
    const need = sums
      ? sums.cells.map((c) => (c === null ? 'grouped' : 'skip'))
      : this.cheap.map(() => 'grouped' as const);
    const grouped = await this.sums(range, bounds, need);
    const cells = grouped.cells.map((c, i) => c ?? sums?.cells[i] ?? new Map<number, ChecksumCell>());
    for (let i = 0; i <= bounds.length; i++) {
      if (this.budget.exhausted()) {
        this.complete = false;
        return;
      }
      const per = cells.map((m) => m.get(i));
      if (this.equal(per)) continue;
      const sub: Range = {
        after: i === 0 ? range.after : bounds[i - 1]!,
        upTo: i === bounds.length ? range.upTo : bounds[i]!,
      };
      const rows = per[0]?.count ?? 0;
      if (rows <= this.o.rowThreshold) await this.rowDiff(sub);
      else
        await this.resolve(sub, [], {
          cells: cells.map(() => null),
          totals: per.map((c, k) => c ?? { cell: i, count: 0, sums: k === 0 ? this.plan.targets.map(() => 0n) : [0n] }),
        });
    }
  }

  /** Row-by-row comparison of a range (the full verify's merge join, bounded). */
  private async rowDiff(range: Range): Promise<void> {
    let n = 0;
    const note: DifferenceSink = (d, kv) => {
      n++;
      this.note(d, kv);
    };
    const r = await verifyEntity(this.source, this.target, this.e, this.o.pageRows, note, {
      after: range.after,
      upTo: range.upTo,
      shouldStop: () => this.budget.exhausted(),
    });
    this.missing += r.missing;
    this.extra += r.extra;
    this.different += r.different;
    if (!r.complete) this.complete = false;
    if (n === 0) this.transient++;
  }

  /**
   * Up to `count` source keys `step` rows apart in `range`, by chained probes (each reads `step` index entries
   * from the previous key); fewer when the range ends first. These are the range's quantiles.
   */
  private async probes(range: Range, step: number, count: number): Promise<KeyValues[]> {
    const cs = this.source.sql.checksum;
    const keys: KeyValues[] = [];
    if (cs) {
      let after = range.after;
      for (let i = 0; i < count; i++) {
        const st = cs.nth({
          table: this.e.source.name,
          key: this.e.key,
          keyCategories: this.cats,
          after,
          upTo: range.upTo,
          offset: step - 1,
          where: this.e.where,
        });
        this.queries++;
        const k = st.parse(await this.source.query(st.sql, st.params));
        if (!k) break;
        keys.push(k);
        after = k;
      }
      return keys;
    }
    // no checksum SQL: read the keys and keep every step-th
    let n = 0;
    for await (const r of keysetStream(
      this.source,
      {
        table: this.e.source.name,
        columns: this.e.key,
        key: this.e.key,
        keyCategories: this.cats,
        where: this.e.where,
      },
      this.o.pageRows,
      range,
    )) {
      if (++n % step === 0) {
        keys.push(this.e.key.map((k) => r[k]));
        if (keys.length >= count) break;
      }
    }
    return keys;
  }

  /**
   * Checksums of a range on every side (source, then each target table), in parallel: per cell of `bounds`
   * (`grouped`), as one aggregate (`plain`), or not at all (`skip`: no cells, empty totals).
   */
  private async sums(
    range: Range,
    bounds: KeyValues[],
    how: ('grouped' | 'plain' | 'skip')[],
    firstPass = false,
  ): Promise<RangeSums> {
    const run = (i: number) => {
      if (how[i] === 'skip') return Promise.resolve(null);
      const b = how[i] === 'grouped' ? bounds : [];
      return i === 0 ? this.sourceSide(range, b, firstPass) : this.targetSide(i - 1, range, b);
    };
    const res = await Promise.all(how.map((_, i) => run(i)));
    return {
      cells: res.map((cells, i) =>
        cells && how[i] === 'grouped' ? new Map(cells.map((c) => [bounds.length ? c.cell : 0, c])) : null,
      ),
      totals: res.map((cells, i) => total(cells ?? [], i === 0 ? this.plan.targets.length : 1)),
    };
  }

  /** The source side's cells; `firstPass` counts the rows the mapping skips (once per row). */
  private async sourceSide(range: Range, bounds: KeyValues[], firstPass = false): Promise<ChecksumCell[]> {
    const cs = this.source.sql.checksum;
    if (this.plan.sourceMode === 'sql' && cs) {
      const st = cs.checksum({
        table: this.e.source.name,
        key: this.e.key,
        keyCategories: this.cats,
        after: range.after,
        upTo: range.upTo,
        cells: bounds,
        hashes: this.plan.targets.map((t) => t.sourceHash!),
        where: this.e.where,
      });
      this.queries++;
      return st.parse(await this.source.query(st.sql, st.params));
    }
    const canonBounds = bounds.map((b) => b.map((v, i) => canonText(v, this.e.keyColumns[i]!)));
    const cells = new Map<number, ChecksumCell>();
    const n = this.plan.targets.length;
    for await (const row of keysetStream(
      this.source,
      {
        table: this.e.source.name,
        columns: this.e.readColumns,
        key: this.e.key,
        keyCategories: this.cats,
        where: this.e.where,
      },
      this.o.pageRows,
      range,
    )) {
      const m = mapRow(this.e, row);
      // a row the mapping leaves out is not in the target: it counts on neither side
      if (m.skipped) {
        if (firstPass) this.skipped++;
        continue;
      }
      const cell = cellOf(JSON.parse(m.key) as (string | null)[], canonBounds, this.cats);
      let c = cells.get(cell);
      if (!c) cells.set(cell, (c = { cell, count: 0, sums: Array.from({ length: n }, () => 0n) }));
      c.count++;
      this.plan.targets.forEach((tp, ti) => {
        const cols = tp.target.columns;
        const texts = cols.map((col, ci) => canonText(m.values[ti]![ci], col));
        c!.sums[ti] = addMod64(
          c!.sums[ti]!,
          rowHash(
            encodeRow(
              texts,
              cols.map((x) => x.category),
            ),
          ),
        );
      });
    }
    return [...cells.values()];
  }

  private async targetSide(t: number, range: Range, bounds: KeyValues[]): Promise<ChecksumCell[]> {
    const tp = this.plan.targets[t]!;
    const table = tp.target.table.name;
    const cs = this.target.sql.checksum;
    if (tp.targetMode === 'sql' && cs) {
      const st = cs.checksum({
        table,
        key: tp.target.keyColumns,
        keyCategories: this.cats,
        after: range.after,
        upTo: range.upTo,
        cells: bounds,
        hashes: [tp.targetHash],
      });
      this.queries++;
      return st.parse(await this.target.query(st.sql, st.params));
    }
    const canonBounds = bounds.map((b) => b.map((v, i) => canonText(v, this.e.keyColumns[i]!)));
    const cols = tp.target.columns;
    const categories = cols.map((c) => c.category);
    const read = [...new Set([...tp.target.keyColumns, ...cols.map((c) => c.name)])];
    const cells = new Map<number, ChecksumCell>();
    for await (const row of keysetStream(
      this.target,
      { table, columns: read, key: tp.target.keyColumns, keyCategories: tp.keyInfo.map((c) => c.category) },
      this.o.pageRows,
      range,
    )) {
      const key = tp.keyInfo.map((c) => canonText(row[c.name], c));
      const cell = cellOf(key, canonBounds, this.cats);
      let c = cells.get(cell);
      if (!c) cells.set(cell, (c = { cell, count: 0, sums: [0n] }));
      c.count++;
      c.sums[0] = addMod64(
        c.sums[0]!,
        rowHash(
          encodeRow(
            cols.map((col) => canonText((row as Row)[col.name], col)),
            categories,
          ),
        ),
      );
    }
    return [...cells.values()];
  }
}

/** The cell of a canonical key: the first bound it does not exceed, or the last cell. Binary search. */
function cellOf(key: (string | null)[], bounds: (string | null)[][], cats: TypeCategory[]): number {
  let lo = 0,
    hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(key, bounds[mid]!, cats) <= 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The sum of cells into one: counts added, sums added mod 2^64. */
function total(cells: ChecksumCell[], hashes: number): ChecksumCell {
  const t: ChecksumCell = { cell: -1, count: 0, sums: Array.from({ length: hashes }, () => 0n) };
  for (const c of cells) {
    t.count += c.count;
    c.sums.forEach((s, i) => (t.sums[i] = addMod64(t.sums[i]!, s)));
  }
  return t;
}
