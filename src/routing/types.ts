/**
 * The read path's shared vocabulary (DESIGN.md: shadow read, canary, guard). Glossary:
 *
 * - **origin** — which store answered a read: `legacy` or `new`.
 * - **bucket** — a key's place in 0…9999: `floor(murmur3_x86_32(UTF-8(salt + ":" + canonical key), 0) × 10000 / 2³²)`
 *   (docs/routing.md). A key is in the canary when `bucket < canaryPercent × 100`.
 * - **shadow read** — the legacy answer is served; for a sticky sample of keys (`bucket < shadowPercent × 100`) the
 *   new read runs detached (deadline, concurrency cap) and is compared.
 * - **canary** — keys under `canaryPercent` are served by `new`, falling back to `legacy` on an error or past the
 *   budget.
 * - **kill switch** — `killed`: every read goes to legacy at once, whatever the percentages.
 * - **comparison outcome** — `matched`; `mismatched` (a difference that persisted); `lagging` (a difference on a key
 *   with a change still in flight, re-checked later); `dropped` (not compared: over the concurrency cap or past the
 *   deadline).
 * - **guard** — sliding windows of error rate, latency and mismatch rate per origin; on a breach it sets the canary
 *   to 0 (`tripped`); a window below `minSamples` is `insufficient`, never a pass or a failure.
 *
 * Modules: `bucket.ts` (bucketing), `state.ts` (routing state in the control plane, cached), `reader.ts`
 * (`Migration.reads()`), `compare.ts` (the default stored-row comparator and lag detection), `stats.ts` / `guard.ts`
 * (windows, publication to the control plane, the guard).
 */

/** Which store answered a read. */
export type Origin = 'legacy' | 'new';

/** How one routed read ended, per origin. `fallback`: the new read failed or timed out and legacy answered. */
export type ReadOutcome = 'ok' | 'error' | 'timeout' | 'fallback';

/** The outcome of one shadow comparison. */
export type CompareOutcome = 'matched' | 'mismatched' | 'lagging' | 'dropped';

/**
 * The routing state in the control plane (`state` table rows named `routing.*`, see {@link ROUTING_STATE_ROWS}):
 * what the operator (or the guard) decided. Percentages are 0…100 with up to two decimals (bucket granularity).
 */
export interface RoutingState {
  shadowPercent: number;
  canaryPercent: number;
  killed: boolean;
}

/**
 * The guard's published verdict (`state` row `routing.guard`, JSON). `tripped` sets the canary to 0;
 * `cooldownUntilMs` (epoch ms) is when an explicit `tandem canary N` may advance it again.
 */
export interface GuardVerdict {
  state: 'green' | 'insufficient' | 'tripped';
  /** Why, with figures (never row values): `error rate 4.1% > 1% over 312 reads of new`. Null when green. */
  reason: string | null;
  /** When the verdict was reached (epoch ms). */
  atMs: number;
  cooldownUntilMs: number | null;
}

/**
 * Names of the control-plane `state` rows that hold the routing state (each written on its own, so the guard and
 * an operator never overwrite each other's field). Values: decimal text for percentages, `true`/`false` for
 * `killed`, JSON ({@link GuardVerdict}) for `guard`.
 */
export const ROUTING_STATE_ROWS = {
  shadowPercent: 'routing.shadow_percent',
  canaryPercent: 'routing.canary_percent',
  killed: 'routing.killed',
  guard: 'routing.guard',
} as const;

/** One routed read as seen by the guard and the metrics (latency in milliseconds, no row values). */
export interface ReadSample {
  entity: string;
  origin: Origin;
  outcome: ReadOutcome;
  latencyMs: number;
  /** True when this read served the caller (false for a detached shadow read). */
  served: boolean;
}

/**
 * What the reader reports to: windows for the guard, Prometheus metrics, status counters. Implementations must
 * never throw and never block (the reader calls them on the request path).
 */
export interface ReadObserver {
  read(sample: ReadSample): void;
  comparison(entity: string, outcome: CompareOutcome): void;
}

/**
 * Compares one shadowed key. `legacyResult`/`newResult` are the application's own read results. The default
 * comparator (compare.ts) ignores them and re-reads both stored rows by key, compares mapping(legacy row) with the new
 * rows in the canonical encoding, and calls a difference on a key with a change in flight `lagging` (re-checked after
 * the relay catches up; a difference that persists is recorded in the mismatches table with origin `shadow`).
 * Never throws: a failure to compare is `dropped`.
 */
export interface ShadowComparator {
  compare(key: unknown[], legacyResult: unknown, newResult: unknown): Promise<CompareOutcome>;
  /** Stops pending re-checks (on close). */
  close?(): Promise<void>;
}
