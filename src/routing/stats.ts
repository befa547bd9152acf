import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { counter, histogram } from '../core/metrics.js';
import type { Executor, Store } from '../stores/types.js';
import {
  addLatency,
  emptyLatency,
  encodeLatency,
  latencyIndex,
  latencyQuantile,
  mergeEncodedLatency,
} from './latency.js';
import type { CompareOutcome, Origin, ReadObserver, ReadSample } from './types.js';

/**
 * The read path's windows (DESIGN.md: guard): a {@link ReadObserver} that keeps, per entity and origin, a ring of
 * per-second buckets in process — read counts by outcome, a latency histogram (src/routing/latency.ts), comparison
 * counts — and publishes what each instance saw to the control plane (`routing_windows`, schema v6) every few
 * seconds, where the guard (src/routing/guard.ts) reads the fleet's aggregate.
 *
 * Cost: recording a sample is O(1) (a few increments, one logarithm) and allocates nothing once a second's bucket
 * exists; memory is bounded by `maxSeries × (retainSeconds + 1)` buckets of about 900 bytes (64 seconds × 2 origins
 * × a few entities: well under a megabyte) plus the publication backlog, capped at `maxPendingRows`. The ring
 * serves this instance's own {@link ReadStats.summary}; publication drains a separate accumulator per series, so a
 * window is published exactly once, whenever the publications happen.
 * The observer never throws: a malformed sample is ignored and counted in {@link ReadStats.ignored}.
 *
 * Prometheus metrics (src/core/metrics.ts; labels are entity names, origins and outcomes, never keys or values):
 * - `tandem_routing_reads_total{entity, origin, outcome, served}` — reads by outcome (`ok`, `error`, `timeout`,
 *   `fallback`); `served` is `true` for the read that answered the caller, `false` for a detached shadow read;
 * - `tandem_routing_read_duration_seconds{entity, origin}` — latency histogram, seconds;
 * - `tandem_routing_comparisons_total{entity, outcome}` — shadow comparisons (`matched`, `mismatched`, `lagging`,
 *   `dropped`).
 */

/** Comparison counts. `compared` = matched + mismatched + lagging (a dropped read was not compared). */
export interface ShadowCounts {
  compared: number;
  matched: number;
  mismatched: number;
  lagging: number;
  dropped: number;
}

/** What one entity and origin saw over a span of time: counts, error rate, latency percentiles. */
export interface WindowSummary extends ShadowCounts {
  entity: string;
  origin: Origin;
  /** Start and end of the span (epoch ms). */
  fromMs: number;
  toMs: number;
  /** Reads (samples) of every outcome. */
  reads: number;
  ok: number;
  errors: number;
  timeouts: number;
  fallbacks: number;
  /** Reads that answered the caller (the others were detached shadow reads). */
  served: number;
  /** (errors + timeouts + fallbacks) / reads; 0 without reads. */
  errorRate: number;
  /** Latency percentiles, ms (±5 %, src/routing/latency.ts); null without reads. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** The merged latency histogram (dense form, src/routing/latency.ts). */
  latency: Uint32Array;
}

/** A fleet aggregate: a {@link WindowSummary} summed over the published windows of every instance. */
export interface FleetWindow extends WindowSummary {
  /** Distinct instances that published a window of this entity and origin in the span. */
  instances: number;
}

/** Options of {@link createReadStats}. */
export interface ReadStatsOptions {
  /** This instance's id in `routing_windows` (≤ 64 characters). Default `<host>:<pid>:<random>`. */
  instanceId?: string;
  /** Seconds of per-second buckets kept in process (the longest local {@link ReadStats.summary}). Default 64. */
  retainSeconds?: number;
  /** Most (entity, origin) series kept; samples of further ones are ignored. Default 256. */
  maxSeries?: number;
  /** Windows waiting for publication while the control plane cannot be written, in rows. Default 10,000. */
  maxPendingRows?: number;
  /** Record Prometheus metrics too. Default true. */
  metrics?: boolean;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** Options of {@link ReadStats.startPublishing}. */
export interface PublishOptions {
  /** Milliseconds between two publications. Default 2000 (the config's `guard.publishSeconds`). */
  intervalMs?: number;
  /**
   * Published rows older than this (ms, by the database's clock) are deleted, at most once a minute. Default 15 min.
   */
  retainMs?: number;
  /** Told about a failed publication (the windows stay queued and go with the next one). */
  onError?: (e: unknown) => void;
}

/** A running publication: {@link stop} publishes what is left once and ends it. */
export interface Publisher {
  stop(): Promise<void>;
}

/** How long published windows are kept by default (ms). */
export const WINDOW_RETAIN_MS = 15 * 60_000;

const OUTCOMES = new Set(['ok', 'error', 'timeout', 'fallback']);
const COMPARE_OUTCOMES = new Set(['matched', 'mismatched', 'lagging', 'dropped']);

const readsTotal = () =>
  counter('tandem_routing_reads_total', 'Routed reads by entity, origin, outcome and whether it served the caller', [
    'entity',
    'origin',
    'outcome',
    'served',
  ]);
const readSeconds = () =>
  histogram(
    'tandem_routing_read_duration_seconds',
    'Latency of routed reads by entity and origin, seconds',
    ['entity', 'origin'],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
const comparisonsTotal = () =>
  counter('tandem_routing_comparisons_total', 'Shadow comparisons by entity and outcome', ['entity', 'outcome']);

interface Slot {
  /** Epoch second this bucket holds. */
  sec: number;
  samples: number;
  ok: number;
  errors: number;
  timeouts: number;
  fallbacks: number;
  served: number;
  matched: number;
  mismatched: number;
  lagging: number;
  dropped: number;
  hist: Uint32Array;
}

interface Series {
  entity: string;
  origin: Origin;
  ring: (Slot | undefined)[];
  /** Everything recorded since the last collection for publication (drained by it). */
  unpublished: Slot;
  /** Bound Prometheus series, made on first use: reads by outcome × served, latency, comparisons by outcome. */
  reads: ({ inc(by?: number): void } | undefined)[];
  latency?: { observe(value: number): void };
  comparisons: Partial<Record<CompareOutcome, { inc(by?: number): void }>>;
}

const OUTCOME_INDEX: Record<ReadSample['outcome'], number> = { ok: 0, error: 1, timeout: 2, fallback: 3 };

/** One row of `routing_windows` as written. */
interface WindowRow {
  entity: string;
  origin: Origin;
  startMs: number;
  endMs: number;
  slot: Omit<Slot, 'sec'>;
}

function emptySlot(sec: number): Slot {
  return {
    sec,
    samples: 0,
    ok: 0,
    errors: 0,
    timeouts: 0,
    fallbacks: 0,
    served: 0,
    matched: 0,
    mismatched: 0,
    lagging: 0,
    dropped: 0,
    hist: emptyLatency(),
  };
}

function resetSlot(s: Slot, sec: number): void {
  s.sec = sec;
  s.samples = s.ok = s.errors = s.timeouts = s.fallbacks = s.served = 0;
  s.matched = s.mismatched = s.lagging = s.dropped = 0;
  s.hist.fill(0);
}

function addSlot(into: Omit<Slot, 'sec'>, s: Omit<Slot, 'sec'>): void {
  into.samples += s.samples;
  into.ok += s.ok;
  into.errors += s.errors;
  into.timeouts += s.timeouts;
  into.fallbacks += s.fallbacks;
  into.served += s.served;
  into.matched += s.matched;
  into.mismatched += s.mismatched;
  into.lagging += s.lagging;
  into.dropped += s.dropped;
  addLatency(into.hist, s.hist);
}

function count(slot: Slot, outcome: ReadSample['outcome'], served: boolean, bin: number): void {
  slot.samples++;
  if (outcome === 'ok') slot.ok++;
  else if (outcome === 'error') slot.errors++;
  else if (outcome === 'timeout') slot.timeouts++;
  else slot.fallbacks++;
  if (served) slot.served++;
  slot.hist[bin]!++;
}

const busy = (s: Omit<Slot, 'sec'>) => s.samples + s.matched + s.mismatched + s.lagging + s.dropped > 0;

function summaryOf(entity: string, origin: Origin, fromMs: number, toMs: number, s: Omit<Slot, 'sec'>): WindowSummary {
  const failures = s.errors + s.timeouts + s.fallbacks;
  return {
    entity,
    origin,
    fromMs,
    toMs,
    reads: s.samples,
    ok: s.ok,
    errors: s.errors,
    timeouts: s.timeouts,
    fallbacks: s.fallbacks,
    served: s.served,
    errorRate: s.samples ? failures / s.samples : 0,
    p50Ms: latencyQuantile(s.hist, 0.5),
    p99Ms: latencyQuantile(s.hist, 0.99),
    compared: s.matched + s.mismatched + s.lagging,
    matched: s.matched,
    mismatched: s.mismatched,
    lagging: s.lagging,
    dropped: s.dropped,
    latency: s.hist,
  };
}

function defaultInstanceId(): string {
  let host = 'host';
  try {
    host = hostname();
  } catch {
    /* none */
  }
  return `${host.slice(0, 40)}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/**
 * The in-process windows of one application instance. Pass it to the reader as its observer
 * (`migration.reads(entity, { …, observer })`, or the reader's default), and start its publication once:
 *
 * ```ts
 * const stats = createReadStats();
 * const publisher = stats.startPublishing(migration.stores.control, { intervalMs: 2000 });
 * // … reads …
 * console.log(stats.summary({ windowSeconds: 60 }));   // what this instance saw
 * await publisher.stop();
 * ```
 *
 * Comparisons are counted with origin `new` (the side a shadow read judges).
 */
export class ReadStats implements ReadObserver {
  /** This instance's id in `routing_windows`. */
  readonly instanceId: string;
  readonly #retain: number;
  readonly #maxSeries: number;
  readonly #maxPending: number;
  readonly #metrics: boolean;
  readonly #now: () => number;
  readonly #series = new Map<string, Series>();
  /** entity → [legacy series, new series], the lookup of the hot path. */
  readonly #byEntity = new Map<string, [Series | undefined, Series | undefined]>();
  #lastSec = 0;
  /** When the last collection for publication happened (epoch ms): the start of the next window. */
  #cursor: number;
  #pending: WindowRow[] = [];
  #ignored = 0;
  #lost = 0;
  #lastPrune = 0;
  #publishing: Promise<unknown> = Promise.resolve();

  constructor(o: ReadStatsOptions = {}) {
    this.instanceId = (o.instanceId ?? defaultInstanceId()).slice(0, 64);
    this.#retain = Math.max(4, Math.min(3600, Math.floor(o.retainSeconds ?? 64)));
    this.#maxSeries = Math.max(1, Math.floor(o.maxSeries ?? 256));
    this.#maxPending = Math.max(1, Math.floor(o.maxPendingRows ?? 10_000));
    this.#metrics = o.metrics ?? true;
    this.#now = o.now ?? Date.now;
    this.#cursor = this.#now();
  }

  /** Samples and comparisons ignored: malformed (unknown origin or outcome, no entity) or past `maxSeries`. */
  get ignored(): number {
    return this.#ignored;
  }

  /** Windows (rows) dropped from the publication backlog because it was full. */
  get lost(): number {
    return this.#lost;
  }

  /** Windows waiting for publication. */
  get pending(): number {
    return this.#pending.length;
  }

  #sec(): number {
    const sec = Math.floor(this.#now() / 1000);
    if (sec > this.#lastSec) this.#lastSec = sec;
    return this.#lastSec;
  }

  #get(entity: string, origin: Origin): Series | null {
    let pair = this.#byEntity.get(entity);
    const i = origin === 'new' ? 1 : 0;
    const found = pair?.[i];
    if (found) return found;
    if (this.#series.size >= this.#maxSeries) return null;
    const s: Series = {
      entity,
      origin,
      ring: new Array(this.#retain),
      unpublished: emptySlot(0),
      reads: [],
      comparisons: {},
    };
    this.#series.set(`${origin}\u0000${entity}`, s);
    if (!pair) this.#byEntity.set(entity, (pair = [undefined, undefined]));
    pair[i] = s;
    return s;
  }

  #slot(s: Series, sec: number): Slot {
    const i = sec % this.#retain;
    let slot = s.ring[i];
    if (!slot) s.ring[i] = slot = emptySlot(sec);
    else if (slot.sec !== sec) resetSlot(slot, sec);
    return slot;
  }

  /** Records one read (never throws; O(1)). */
  read(sample: ReadSample): void {
    try {
      const { entity, origin, outcome } = sample;
      if (
        typeof entity !== 'string' ||
        !entity ||
        entity.length > 128 ||
        (origin !== 'legacy' && origin !== 'new') ||
        !OUTCOMES.has(outcome)
      ) {
        this.#ignored++;
        return;
      }
      const s = this.#get(entity, origin);
      if (!s) {
        this.#ignored++;
        return;
      }
      const ms = Number.isFinite(sample.latencyMs) && sample.latencyMs > 0 ? sample.latencyMs : 0;
      const bin = latencyIndex(ms);
      count(this.#slot(s, this.#sec()), outcome, sample.served, bin);
      count(s.unpublished, outcome, sample.served, bin);
      if (this.#metrics) {
        const k = OUTCOME_INDEX[outcome] * 2 + (sample.served ? 1 : 0);
        let c = s.reads[k];
        if (!c)
          s.reads[k] = c = readsTotal().bind({ entity, origin, outcome, served: sample.served ? 'true' : 'false' });
        c.inc();
        s.latency ??= readSeconds().bind({ entity, origin });
        s.latency.observe(ms / 1000);
      }
    } catch {
      this.#ignored++;
    }
  }

  /** Records one shadow comparison, under origin `new` (never throws; O(1)). */
  comparison(entity: string, outcome: CompareOutcome): void {
    try {
      if (typeof entity !== 'string' || !entity || entity.length > 128 || !COMPARE_OUTCOMES.has(outcome)) {
        this.#ignored++;
        return;
      }
      const s = this.#get(entity, 'new');
      if (!s) {
        this.#ignored++;
        return;
      }
      this.#slot(s, this.#sec())[outcome]++;
      s.unpublished[outcome]++;
      if (this.#metrics) (s.comparisons[outcome] ??= comparisonsTotal().bind({ entity, outcome })).inc();
    } catch {
      this.#ignored++;
    }
  }

  /**
   * What this instance saw over the last `windowSeconds` (default and most: `retainSeconds`), the current second
   * included, per entity and origin (only those with any sample). Filter with `entity` / `origin`.
   */
  summary(o: { windowSeconds?: number; entity?: string; origin?: Origin } = {}): WindowSummary[] {
    const now = this.#sec();
    const span = Math.max(1, Math.min(this.#retain, Math.floor(o.windowSeconds ?? this.#retain)));
    const from = now - span + 1;
    const out: WindowSummary[] = [];
    for (const s of this.#series.values()) {
      if ((o.entity !== undefined && s.entity !== o.entity) || (o.origin !== undefined && s.origin !== o.origin))
        continue;
      const acc = emptySlot(0);
      for (const slot of s.ring) if (slot && slot.sec >= from && slot.sec <= now) addSlot(acc, slot);
      if (busy(acc)) out.push(summaryOf(s.entity, s.origin, from * 1000, (now + 1) * 1000, acc));
    }
    return out.sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : a.origin < b.origin ? -1 : 1));
  }

  /**
   * Moves everything recorded since the last collection into the publication backlog: one row per entity and
   * origin that saw anything, covering [last collection, now) in epoch ms.
   */
  #collect(): void {
    const start = this.#cursor;
    const end = Math.max(start + 1, this.#now());
    let any = false;
    for (const s of this.#series.values()) {
      if (!busy(s.unpublished)) continue;
      any = true;
      this.#pending.push({ entity: s.entity, origin: s.origin, startMs: start, endMs: end, slot: s.unpublished });
      s.unpublished = emptySlot(0);
    }
    if (!any) return;
    this.#cursor = end;
    const over = this.#pending.length - this.#maxPending;
    if (over > 0) {
      this.#pending.splice(0, over);
      this.#lost += over;
    }
  }

  /**
   * Publishes everything recorded since the last publication to `routing_windows` in `control` (schema v6 must
   * exist), and deletes published rows older than `retainMs` at most once a minute.
   * A window is written once: a retry after a lost reply does not count it twice (the row's key is instance,
   * entity, origin and window start). On a failure the windows stay queued and the error is thrown. Calls run one
   * after the other.
   * Returns the number of rows written.
   */
  publish(control: Store, o: { retainMs?: number } = {}): Promise<number> {
    // one publication at a time: two would write (and then drop) the same queued windows
    const run = this.#publishing.then(() => this.#publishNow(control, o));
    this.#publishing = run.catch(() => {});
    return run;
  }

  async #publishNow(control: Store, o: { retainMs?: number }): Promise<number> {
    this.#collect();
    const t = control.controlTable('routing_windows');
    const dbNow = Number((await control.query<{ now: unknown }>(`SELECT ${control.sql.nowMs()} AS now`))[0]?.now);
    let written = 0;
    while (this.#pending.length) {
      const chunk = this.#pending.slice(0, 50);
      await control.transaction(async (tx) => {
        for (const r of chunk) await insertWindow(tx, control, t, this.instanceId, r, dbNow);
      });
      this.#pending.splice(0, chunk.length);
      written += chunk.length;
    }
    if (Number.isFinite(dbNow) && this.#now() - this.#lastPrune >= 60_000) {
      this.#lastPrune = this.#now();
      await pruneWindows(control, o.retainMs ?? WINDOW_RETAIN_MS, dbNow);
    }
    return written;
  }

  /**
   * Publishes every `intervalMs` (default 2000) until {@link Publisher.stop}, which publishes what is left once.
   * Failures go to `onError` and are retried with the next publication. The
   * timer does not keep the process alive.
   */
  startPublishing(control: Store, o: PublishOptions = {}): Publisher {
    const interval = Math.max(50, o.intervalMs ?? 2000);
    let stopped = false;
    let timer: NodeJS.Timeout | null = null;
    let running: Promise<void> = Promise.resolve();
    const once = () =>
      this.publish(control, { retainMs: o.retainMs }).then(
        () => {},
        (e) => {
          try {
            o.onError?.(e);
          } catch {
            /* the caller's */
          }
        },
      );
    const tick = () => {
      timer = null;
      running = once().then(() => {
        if (!stopped) schedule();
      });
    };
    const schedule = () => {
      timer = setTimeout(tick, interval);
      timer.unref?.();
    };
    schedule();
    return {
      stop: async () => {
        if (stopped) return;
        stopped = true;
        if (timer) clearTimeout(timer);
        await running;
        await once();
      },
    };
  }
}

/** A new {@link ReadStats} (see there). */
export function createReadStats(o: ReadStatsOptions = {}): ReadStats {
  return new ReadStats(o);
}

const COLUMNS = [
  'instance_id',
  'entity',
  'origin',
  'window_start_ms',
  'window_end_ms',
  'samples',
  'ok',
  'errors',
  'timeouts',
  'fallbacks',
  'served',
  'latency',
  'matched',
  'mismatched',
  'lagging',
  'dropped',
  'published_ms',
];

async function insertWindow(
  tx: Executor,
  control: Store,
  table: string,
  instance: string,
  r: WindowRow,
  dbNow: number,
): Promise<void> {
  const s = r.slot;
  await tx.execute(control.sql.insertIgnore(table, COLUMNS, ['instance_id', 'entity', 'origin', 'window_start_ms']), [
    instance,
    r.entity,
    r.origin,
    r.startMs,
    r.endMs,
    s.samples,
    s.ok,
    s.errors,
    s.timeouts,
    s.fallbacks,
    s.served,
    encodeLatency(s.hist),
    s.matched,
    s.mismatched,
    s.lagging,
    s.dropped,
    Number.isFinite(dbNow) ? dbNow : Date.now(),
  ]);
}

/**
 * Deletes the windows published more than `retainMs` ago (by the database's clock, or `dbNowMs` when given).
 * Returns the number of rows deleted. Throws what the store throws.
 */
export async function pruneWindows(control: Store, retainMs = WINDOW_RETAIN_MS, dbNowMs?: number): Promise<number> {
  const t = control.controlTable('routing_windows');
  const now =
    dbNowMs ?? Number((await control.query<{ now: unknown }>(`SELECT ${control.sql.nowMs()} AS now`))[0]?.now);
  return control.execute(`DELETE FROM ${t} WHERE published_ms < ${control.sql.param(1)}`, [Math.floor(now - retainMs)]);
}

/** Options of {@link readFleetWindows}. */
export interface FleetOptions {
  /** The span: windows published in the last `windowSeconds` by the database's clock. Default 60. */
  windowSeconds?: number;
  /** Only windows published at or after this epoch ms (database clock) — e.g. since the guard was cleared. */
  sinceMs?: number;
}

/**
 * The fleet's aggregate: every instance's windows published in the last `windowSeconds` (by the control
 * store's clock, so instances' clocks need not agree), summed per entity and origin, latency histograms merged.
 * A window covers the few seconds before its publication, so the span is exact to one publication interval.
 * Throws what the store throws (TANDEM_ERR_STORE_QUERY when schema v6 is missing).
 */
export async function readFleetWindows(control: Store, o: FleetOptions = {}): Promise<FleetWindow[]> {
  const t = control.controlTable('routing_windows');
  const p = (i: number) => control.sql.param(i);
  const windowMs = Math.max(1, o.windowSeconds ?? 60) * 1000;
  const rows = await control.query<Record<string, unknown>>(
    `SELECT instance_id, entity, origin, window_start_ms, window_end_ms, samples, ok, errors, timeouts, fallbacks, served, latency, matched, mismatched, lagging, dropped FROM ${t} WHERE published_ms >= ${control.sql.nowMs()} - ${p(1)} AND published_ms >= ${p(2)}`,
    [Math.floor(windowMs), Math.floor(o.sinceMs ?? 0)],
  );
  const acc = new Map<
    string,
    { entity: string; origin: Origin; from: number; to: number; instances: Set<string>; s: Omit<Slot, 'sec'> }
  >();
  for (const r of rows) {
    const origin = String(r.origin) as Origin;
    if (origin !== 'legacy' && origin !== 'new') continue;
    const entity = String(r.entity);
    const id = `${origin}\u0000${entity}`;
    let a = acc.get(id);
    if (!a) acc.set(id, (a = { entity, origin, from: Infinity, to: -Infinity, instances: new Set(), s: emptySlot(0) }));
    a.instances.add(String(r.instance_id));
    a.from = Math.min(a.from, Number(r.window_start_ms));
    a.to = Math.max(a.to, Number(r.window_end_ms));
    const n = (k: string) => Number(r[k]) || 0;
    a.s.samples += n('samples');
    a.s.ok += n('ok');
    a.s.errors += n('errors');
    a.s.timeouts += n('timeouts');
    a.s.fallbacks += n('fallbacks');
    a.s.served += n('served');
    a.s.matched += n('matched');
    a.s.mismatched += n('mismatched');
    a.s.lagging += n('lagging');
    a.s.dropped += n('dropped');
    mergeEncodedLatency(a.s.hist, r.latency == null ? null : String(r.latency));
  }
  return [...acc.values()]
    .map((a) => ({ ...summaryOf(a.entity, a.origin, a.from, a.to, a.s), instances: a.instances.size }))
    .sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : a.origin < b.origin ? -1 : 1));
}

/** Default span of {@link readShadowCounts}, seconds. */
export const SHADOW_COUNTS_WINDOW_SECONDS = 300;

/**
 * The fleet's shadow comparison counts over the last `windowSeconds` (default 300: five minutes, by the control
 * store's clock), summed over every instance and entity: `compared` = matched + mismatched + lagging; `dropped`
 * reads were not compared. Windows are kept 15 minutes, so this is a recent rate, not a total since the start.
 * All zero when nothing was published (or the control plane predates schema v6). `status.routing.shadow` shows it.
 * Throws what the store throws when it cannot be reached.
 */
export async function readShadowCounts(
  control: Store,
  o: { windowSeconds?: number; entity?: string } = {},
): Promise<ShadowCounts> {
  const out: ShadowCounts = { compared: 0, matched: 0, mismatched: 0, lagging: 0, dropped: 0 };
  let windows: FleetWindow[];
  try {
    windows = await readFleetWindows(control, { windowSeconds: o.windowSeconds ?? SHADOW_COUNTS_WINDOW_SECONDS });
  } catch (e) {
    // a control plane without `routing_windows` yet (before schema v6) has nothing to show; an outage is thrown
    if (control.classifyError(e) === 'other') return out;
    throw e;
  }
  for (const w of windows) {
    if (w.origin !== 'new' || (o.entity !== undefined && w.entity !== o.entity)) continue;
    out.compared += w.compared;
    out.matched += w.matched;
    out.mismatched += w.mismatched;
    out.lagging += w.lagging;
    out.dropped += w.dropped;
  }
  return out;
}
