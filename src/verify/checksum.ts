import { Pacer } from '../backfill/pacer.js';
import { sleep } from '../core/async.js';
import { mapRow } from '../core/mapping.js';
import type { ChecksumCell, KeyValues, Row, Store, TypeCategory } from '../stores/types.js';
import { canonText, encodeRow, rowHash, addMod64 } from '../core/encoding.js';
import { effectiveConcurrency, Limiter } from './limit.js';
import { planEntity, pushedHash, type EntityPlan, type SideMode, type TargetPlan } from './plan.js';
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
 *    A column one side cannot encode (a float, a json) falls back alone: both sides hash the key and that column in
 *    JS, streamed by keyset, and add it to the SQL hash of the other columns (`streamedColumns`).
 * 3. **Concurrency.** Up to `concurrency` segments are checksummed at once, each on its own pooled connection of
 *    both stores (bounded by the stores' `connections`; SQLite and PGlite have one, so they run one at a time),
 *    and the bisection of differing segments shares the same bound. Differences are reported in key order,
 *    whatever order the segments finish in, so a complete run reports what the sequential run reports. A
 *    throttled run (`maxRowsPerSecond`) checksums one segment at a time: the throttle sets the pace.
 * 4. **Chunk-time targeting.** The segment size adapts so one segment takes about `chunkSeconds` (the backfill's
 *    pacer: ×2 / ÷2 per step); `maxRowsPerSecond` throttles.
 * 5. **Recursive splitting.** A segment whose checksums differ is split into its cells (grouped checksums on
 *    both sides; a side that ran the plain aggregate runs the grouped one), cells that differ are split again
 *    into `factor` parts by source quantiles, down to `rowThreshold` source rows; those ranges are compared row
 *    by row and column by column with the full verify's canonical compare. This is data-diff's bisection
 *    (factor 32) with the first level of cells computed in the first pass where that is cheap.
 * 6. **Budgets.** `maxDifferences` and `maxSeconds` stop the run early with a partial report (`complete: false`).
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
  /**
   * Segments checksummed at once (config `verify.concurrency`, `--concurrency`), each with one query in flight
   * on both stores; bounded by the stores' `connections` and 1 under a throttle. Default 4.
   */
  concurrency: number;
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
  concurrency: 4,
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
  /** Per target table, the columns compared by streaming while the others were pushed down (per-column fallback). */
  streamedColumns: Record<string, string[]>;
  /** Segments checksummed at once in this run (`verify.concurrency` bounded by the stores; 1: sequential). */
  concurrency: number;
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
  // counted when found (the budgets), listed and passed on in key order (the report)
  const count = () => found++;
  const note: DifferenceSink = (d, kv) => {
    if (differences.length < options.maxReportedDifferences) differences.push(d);
    o.onDifference?.(d, kv);
  };
  const concurrency = o.maxRowsPerSecond !== undefined ? 1 : effectiveConcurrency(o.concurrency, source, target);
  const limiter = new Limiter(concurrency);
  const results: EntityChecksumResult[] = [];
  let complete = true;
  for (const e of entities) {
    const plan = planEntity(e, source, target);
    if (budget.exhausted()) {
      complete = false;
      results.push(emptyResult(plan, concurrency));
      continue;
    }
    const r = await new EntityRun(plan, source, target, o, note, count, budget, limiter).run();
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

function emptyResult(plan: EntityPlan, concurrency: number): EntityChecksumResult {
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
    streamedColumns: streamedOf(plan),
    concurrency,
    queries: 0,
  };
}

function streamedOf(plan: EntityPlan): Record<string, string[]> {
  return Object.fromEntries(
    plan.targets
      .filter((t) => t.streamed.length)
      .map((t) => [t.target.table.name, t.streamed.map((i) => t.target.columns[i]!.name)]),
  );
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

/** Differences found by one task, kept until every earlier range's are reported (key order). */
type Found = [KeyDifference, unknown[]][];

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
  /** The first error of a segment or a resolution: the run stops and throws it. */
  private failure: { error: unknown } | null = null;
  /** Sides: 0 = source, 1.. = target tables. */
  private readonly cheap: boolean[];

  constructor(
    private readonly plan: EntityPlan,
    private readonly source: Store,
    private readonly target: Store,
    private readonly o: ChecksumOptions,
    private readonly note: DifferenceSink,
    private readonly count: () => void,
    private readonly budget: { exhausted(): boolean; found(): number },
    private readonly limiter: Limiter,
  ) {
    this.e = plan.entity;
    this.cats = plan.keyCategories;
    this.cheap = [
      plan.sourceMode === 'stream' || (source.sql.checksum?.cheapCells ?? true),
      ...plan.targets.map((t) => t.targetMode === 'stream' || (target.sql.checksum?.cheapCells ?? true)),
    ];
  }

  /** True when the run must start no new work: a budget, a signal, or a failure elsewhere. */
  private stopped(): boolean {
    return this.failure !== null || this.budget.exhausted();
  }

  private fail(e: unknown): void {
    this.failure ??= { error: e };
  }

  async run(): Promise<EntityChecksumResult> {
    const started = performance.now();
    const o = this.o;
    // C segments at once share the engines' cores, so each takes about C times as long: the target scales with
    // C, which keeps the segments (and their key probes) as large as a sequential run's
    const pacer = new Pacer({
      chunkSeconds: o.chunkSeconds * this.limiter.size,
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
    // segments in flight (each holds a slot of the limiter while its checksums run)
    const tasks: Promise<void>[] = [];
    // differences are passed on segment by segment in key order, whichever segment finishes first
    let emitted: Promise<void> = Promise.resolve();
    let after: KeyValues | null = null;
    let next = plan(null);
    for (;;) {
      if (this.failure) break;
      if (this.budget.exhausted()) {
        this.complete = false;
        break;
      }
      let q: Awaited<typeof next>;
      try {
        q = await next;
      } catch (e) {
        this.fail(e);
        break;
      }
      // fewer keys than probes: the source ends inside this segment, which then runs to the last key and beyond
      const last = q.rows === null;
      const upTo = last ? null : q.keys[q.keys.length - 1]!;
      const bounds = last ? q.keys : q.keys.slice(0, -1);
      if (!last) next = plan(upTo);
      // wait for a free slot: at most `concurrency` segments (and bisection queries) at once
      await this.limiter.acquire();
      if (this.stopped()) {
        this.limiter.release();
        if (!this.failure) this.complete = false;
        break;
      }
      const found: Found = [];
      const task = this.segment({ after, upTo }, bounds, pacer, found).then(
        () => {},
        (e: unknown) => this.fail(e),
      );
      tasks.push(task);
      emitted = emitted.then(() => task).then(() => this.emit(found));
      if (last) break;
      after = upTo;
    }
    await Promise.all(tasks);
    await emitted;
    if (this.failure) throw this.failure.error;
    o.onProgress?.(this.e.name, this.sourceRows, this.complete);
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
      streamedColumns: streamedOf(this.plan),
      concurrency: this.limiter.size,
      queries: this.queries,
      skipped: this.skipped,
    };
  }

  private emit(found: Found): void {
    for (const [d, kv] of found) this.note(d, kv);
  }

  /**
   * One top-level segment, holding a slot of the limiter (released here): its checksums on every side, then —
   * when they differ — its resolution (which takes slots of its own, query by query); differences go to `found`.
   */
  private async segment(range: Range, bounds: KeyValues[], pacer: Pacer, found: Found): Promise<void> {
    let sums: RangeSums;
    const t0 = performance.now();
    try {
      sums = await this.sums(
        range,
        bounds,
        this.cheap.map((c) => (c ? 'grouped' : 'plain')),
        true,
      );
      const seconds = (performance.now() - t0) / 1000;
      this.segments++;
      this.sourceRows += sums.totals[0]!.count;
      this.targetRows += sums.totals[1]?.count ?? 0;
      this.o.onProgress?.(this.e.name, this.sourceRows, false);
      const wait = pacer.record(sums.totals[0]!.count, seconds);
      // the last segment is paid for too, so rows / elapsed stays under the cap (a throttled run is sequential)
      if (wait > 0) await sleep(wait, this.o.signal);
    } finally {
      this.limiter.release();
    }
    // differing: resolved while the next segments are checksummed (the faster engine's second pass overlaps the
    // slower engine's first)
    if (!this.equal(sums.totals)) {
      this.differingSegments++;
      await this.resolve(range, bounds, sums, found);
    }
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
   * small, split again otherwise — the differing cells concurrently, each query within the limiter's bound.
   * Differences go to `found`, in key order.
   */
  private async resolve(range: Range, bounds: KeyValues[], sums: RangeSums | null, found: Found): Promise<void> {
    if (this.stopped()) {
      this.complete = false;
      return;
    }
    let sourceRows = sums?.totals[0]?.count;
    if (sourceRows === undefined) {
      const s = await this.limiter.run(() =>
        this.sums(
          range,
          [],
          this.cheap.map(() => 'plain'),
        ),
      );
      if (this.equal(s.totals)) return;
      sourceRows = s.totals[0]!.count;
    }
    if (sourceRows <= this.o.rowThreshold) return this.rowDiff(range, found);
    if (!bounds.length) {
      const step = Math.max(1, Math.ceil(sourceRows / this.o.factor));
      bounds = await this.limiter.run(() => this.probes(range, step, this.o.factor - 1));
      if (!bounds.length) return this.rowDiff(range, found);
      sums = null;
    }
    // grouped checksums for the sides that do not have cells yet
    const need = sums
      ? sums.cells.map((c) => (c === null ? 'grouped' : 'skip'))
      : this.cheap.map(() => 'grouped' as const);
    const b = bounds;
    const grouped = await this.limiter.run(() => this.sums(range, b, need));
    const cells = grouped.cells.map((c, i) => c ?? sums?.cells[i] ?? new Map<number, ChecksumCell>());
    const parts: { found: Found; done: Promise<void> }[] = [];
    for (let i = 0; i <= bounds.length; i++) {
      if (this.stopped()) {
        this.complete = false;
        break;
      }
      const per = cells.map((m) => m.get(i));
      if (this.equal(per)) continue;
      const sub: Range = {
        after: i === 0 ? range.after : bounds[i - 1]!,
        upTo: i === bounds.length ? range.upTo : bounds[i]!,
      };
      const rows = per[0]?.count ?? 0;
      const part: Found = [];
      parts.push({
        found: part,
        done:
          rows <= this.o.rowThreshold
            ? this.rowDiff(sub, part)
            : this.resolve(
                sub,
                [],
                {
                  cells: cells.map(() => null),
                  totals: per.map(
                    (c, k) => c ?? { cell: i, count: 0, sums: k === 0 ? this.plan.targets.map(() => 0n) : [0n] },
                  ),
                },
                part,
              ),
      });
    }
    const settled = await Promise.allSettled(parts.map((p) => p.done));
    const bad = settled.find((r) => r.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;
    for (const p of parts) found.push(...p.found);
  }

  /** Row-by-row comparison of a range (the full verify's merge join, bounded), holding a slot of the limiter. */
  private async rowDiff(range: Range, found: Found): Promise<void> {
    await this.limiter.run(async () => {
      if (this.stopped()) {
        this.complete = false;
        return;
      }
      let n = 0;
      const note: DifferenceSink = (d, kv) => {
        n++;
        this.count();
        found.push([d, kv]);
      };
      const r = await verifyEntity(this.source, this.target, this.e, this.o.pageRows, note, {
        after: range.after,
        upTo: range.upTo,
        shouldStop: () => this.stopped(),
      });
      this.missing += r.missing;
      this.extra += r.extra;
      this.different += r.different;
      if (!r.complete) this.complete = false;
      if (n === 0) this.transient++;
    });
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
        hashes: this.plan.targets.map((t) => pushedHash(t.sourceHash!, t)),
        where: this.e.where,
      });
      this.queries++;
      const split = this.plan.targets.some((t) => t.streamed.length);
      const [cells, streamed] = await Promise.all([
        this.source.query(st.sql, st.params).then((rows) => st.parse(rows)),
        split ? this.sourceStreamed(range, bounds) : null,
      ]);
      return streamed ? merge(cells, streamed, bounds.length > 0) : cells;
    }
    const canonBounds = this.canonBounds(bounds);
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
      const key = JSON.parse(m.key) as (string | null)[];
      const cell = cellOf(key, canonBounds, this.cats);
      let c = cells.get(cell);
      if (!c) cells.set(cell, (c = { cell, count: 0, sums: Array.from({ length: n }, () => 0n) }));
      c.count++;
      this.plan.targets.forEach((tp, ti) => {
        const texts = tp.target.columns.map((col, ci) => canonText(m.values[ti]![ci], col));
        c!.sums[ti] = addMod64(c!.sums[ti]!, jsRowHash(tp, key, texts, this.cats));
      });
    }
    return [...cells.values()];
  }

  /**
   * The per-column fallback on a pushed-down source side: the key and the source columns of every target
   * table's `streamed` columns, by keyset, each row's {@link streamedHash} per table, summed by cell (count 0:
   * the SQL query counts the rows).
   */
  private async sourceStreamed(range: Range, bounds: KeyValues[]): Promise<ChecksumCell[]> {
    const canonBounds = this.canonBounds(bounds);
    const n = this.plan.targets.length;
    const read = new Set(this.e.key);
    for (const tp of this.plan.targets)
      for (const i of tp.streamed) {
        const c = tp.sourceHash![i]!.column;
        if (c) read.add(c.name);
      }
    const cells = new Map<number, ChecksumCell>();
    for await (const row of keysetStream(
      this.source,
      { table: this.e.source.name, columns: [...read], key: this.e.key, keyCategories: this.cats, where: this.e.where },
      this.o.pageRows,
      range,
    )) {
      const key = this.e.keyColumns.map((k, i) => canonText(row[this.e.key[i]!], k));
      const cell = cellOf(key, canonBounds, this.cats);
      let c = cells.get(cell);
      if (!c) cells.set(cell, (c = { cell, count: 0, sums: Array.from({ length: n }, () => 0n) }));
      this.plan.targets.forEach((tp, ti) => {
        if (!tp.streamed.length) return;
        const texts = tp.streamed.map((i) => canonText(tp.target.valueOf[i]!(row), tp.target.columns[i]!));
        c!.sums[ti] = addMod64(c!.sums[ti]!, streamedHash(tp, key, texts, this.cats));
      });
    }
    return [...cells.values()];
  }

  private canonBounds(bounds: KeyValues[]): (string | null)[][] {
    return bounds.map((b) => b.map((v, i) => canonText(v, this.e.keyColumns[i]!)));
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
        hashes: [pushedHash(tp.targetHash, tp)],
      });
      this.queries++;
      const [cells, streamed] = await Promise.all([
        this.target.query(st.sql, st.params).then((rows) => st.parse(rows)),
        tp.streamed.length ? this.targetStream(tp, range, bounds, tp.streamed) : null,
      ]);
      return streamed ? merge(cells, streamed, bounds.length > 0) : cells;
    }
    return this.targetStream(tp, range, bounds, null);
  }

  /**
   * A target table streamed by keyset and hashed in JS: every column (`only` null: the whole side streams), or
   * only the key and the per-column fallback's columns (`only`: their {@link streamedHash}, count 0).
   */
  private async targetStream(
    tp: TargetPlan,
    range: Range,
    bounds: KeyValues[],
    only: number[] | null,
  ): Promise<ChecksumCell[]> {
    const canonBounds = this.canonBounds(bounds);
    const cols = tp.target.columns;
    const hashed = only ? only.map((i) => cols[i]!) : cols;
    const read = [...new Set([...tp.target.keyColumns, ...hashed.map((c) => c.name)])];
    const cells = new Map<number, ChecksumCell>();
    for await (const row of keysetStream(
      this.target,
      {
        table: tp.target.table.name,
        columns: read,
        key: tp.target.keyColumns,
        keyCategories: tp.keyInfo.map((c) => c.category),
      },
      this.o.pageRows,
      range,
    )) {
      const key = tp.keyInfo.map((c) => canonText(row[c.name], c));
      const cell = cellOf(key, canonBounds, this.cats);
      let c = cells.get(cell);
      if (!c) cells.set(cell, (c = { cell, count: 0, sums: [0n] }));
      const texts = hashed.map((col) => canonText((row as Row)[col.name], col));
      if (only) c.sums[0] = addMod64(c.sums[0]!, streamedHash(tp, key, texts, this.cats));
      else {
        c.count++;
        c.sums[0] = addMod64(c.sums[0]!, jsRowHash(tp, key, texts, this.cats));
      }
    }
    return [...cells.values()];
  }
}

/** Marks the row string of the per-column fallback, so it never equals a row string of the SQL hash. */
const STREAMED_TAG = 'tandem:streamed';

/**
 * The JS row hash of one target table's row whose columns' canonical `texts` are all at hand (a streamed side):
 * the hash of every column, or, under the per-column fallback, the hash of the pushed-down columns (what the
 * SQL of the other side computes) plus the {@link streamedHash} of the others, mod 2^64.
 */
function jsRowHash(tp: TargetPlan, key: (string | null)[], texts: (string | null)[], cats: TypeCategory[]): bigint {
  const categories = tp.target.columns.map((c) => c.category);
  if (!tp.streamed.length) return rowHash(encodeRow(texts, categories));
  const pushed = rowHash(encodeRow(pushedHash(texts, tp), pushedHash(categories, tp)));
  return addMod64(
    pushed,
    streamedHash(
      tp,
      key,
      tp.streamed.map((i) => texts[i]!),
      cats,
    ),
  );
}

/**
 * The per-column fallback's hash of one row: the key and the `streamed` columns' canonical texts, encoded like a
 * row (src/core/encoding.ts) after a tag. Including the key keeps a value moved to another key visible.
 */
function streamedHash(tp: TargetPlan, key: (string | null)[], texts: (string | null)[], cats: TypeCategory[]): bigint {
  return rowHash(
    encodeRow(
      [STREAMED_TAG, ...key, ...texts],
      ['text', ...cats, ...tp.streamed.map((i) => tp.target.columns[i]!.category)],
    ),
  );
}

/**
 * Adds the per-column fallback's sums to the SQL cells, cell by cell (all in one cell when there are no bounds);
 * counts are the SQL query's. A cell only the stream has (a row written in between) keeps count 0, so its
 * checksums differ and the range is compared row by row.
 */
function merge(sqlCells: ChecksumCell[], streamed: ChecksumCell[], byCell: boolean): ChecksumCell[] {
  const out = new Map<number, ChecksumCell>();
  const add = (c: ChecksumCell, counted: boolean) => {
    const k = byCell ? c.cell : 0;
    let t = out.get(k);
    if (!t) out.set(k, (t = { cell: k, count: 0, sums: c.sums.map(() => 0n) }));
    if (counted) t.count += c.count;
    c.sums.forEach((v, i) => (t!.sums[i] = addMod64(t!.sums[i] ?? 0n, v)));
  };
  for (const c of sqlCells) add(c, true);
  for (const c of streamed) add(c, false);
  return [...out.values()];
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
