import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { BucketBy, RoutingConfig } from '../config/schema.js';
import { PHASES, type Phase } from '../control/phase.js';
import type { ResolvedEntity } from '../core/mapping.js';
import type { Store } from '../stores/types.js';
import { bucketKeyFn, bucketOf, canonicalKeyOf, inSample } from './bucket.js';
import { requestRecorder } from './request-metrics.js';
import { RoutingStateCache, type RoutingView } from './state.js';
import type { CompareOutcome, Origin, ReadObserver, ReadOutcome, ShadowComparator } from './types.js';

/**
 * Routed reads (`Migration.reads()`, docs/routing.md): the application's own read functions for legacy and new,
 * served by phase and routing state so that the user never pays for the new store (DESIGN.md guarantee 5).
 */

/** A reader function of the application: the key in, its own result out (any shape). */
export type ReadFn<K, T> = (key: K) => T | Promise<T>;

/**
 * Compares the application's own results of one shadowed key: `true` for a match, `false` for a mismatch, or a
 * {@link CompareOutcome}. A throw counts as `dropped`.
 */
export type CompareFn<K, T> = (
  legacyResult: T,
  newResult: T,
  key: K,
) => boolean | CompareOutcome | Promise<boolean | CompareOutcome>;

/**
 * An outside source of the canary decision per key (an OpenFeature flag evaluated with the canonical key as its
 * targeting key): `true` serves the key from new in `canary`. Consulted only in `canary`, and only when neither the
 * kill switch, the failsafe nor a tripped guard decides first. A throw, or no answer within the read's budget,
 * falls back to the bucket rule.
 */
export type CanaryDecision = (entity: string, canonicalKey: string, bucket: number) => boolean | Promise<boolean>;

/** Options of `Migration.reads(entity, options)`. */
export interface ReadsOptions<K, T> {
  /** Reads the key from the legacy store (the application's code). */
  legacy: ReadFn<K, T>;
  /** Reads the key from the new store (the application's code). Never called in `prepare` and `dual_write`. */
  new: ReadFn<K, T>;
  /**
   * Compares the two results of a shadowed key (to catch a bug in the new read code, not only in the data).
   * Takes precedence over {@link comparator}.
   */
  compare?: CompareFn<K, T>;
  /**
   * The stored-row comparator (`ShadowComparator`, src/routing/types.ts): re-reads both stored rows and compares
   * them. Default: the migration's (`MigrationOptions.shadowComparator`). With neither this nor {@link compare},
   * shadow reads still run (their latency and errors are reported) but are not compared: a shadow read that
   * answered reports no comparison outcome (only one dropped — over the cap, past the deadline, failed — does).
   */
  comparator?: ShadowComparator;
  /** A read served by new that has not answered after this many ms falls back to legacy. Default `routing.budgetMs`. */
  budgetMs?: number;
  /**
   * Where reads and comparisons are reported. Default: the migration's (`MigrationOptions.readObserver`), else none.
   */
  observer?: ReadObserver;
  /** What this entity's keys are bucketed by; default `routing.bucketBy[entity]`, else the whole key. */
  bucketBy?: BucketBy;
  /** The canary decision per key; default: the migration's `canaryDecision` hook, else the bucket rule. */
  canaryDecision?: CanaryDecision;
}

/** Where one read goes, and why. */
export interface Route {
  /** Which store serves the caller. */
  serve: Origin;
  /** Whether an error or a timeout of new past the budget falls back to legacy (only when `serve` is `new`). */
  fallback: boolean;
  /** Whether new is read detached and compared (only when `serve` is `legacy`). */
  shadow: boolean;
  /** One line: the phase, the state and the bucket that decided it. */
  why: string;
}

const LATE = PHASES.indexOf('legacy_read_only');

/**
 * Where a key with `bucket` (null: unknown, e.g. a key that cannot be bucketed) is served under `view` — the one
 * routing rule (docs/routing.md, "Routing"):
 *
 * - `legacy_read_only`, `decommissioned`: new only (legacy is no longer written, so neither the kill switch nor the
 *   failsafe sends reads there);
 * - failsafe (control plane unreadable past `failSafeSeconds`) or killed: legacy only, nothing shadowed;
 * - `prepare`, `dual_write`: legacy only;
 * - `shadow`: legacy, shadowed when `bucket < shadowPercent × 100`;
 * - `canary`: new with fallback when `bucket < canaryPercent × 100` (0 while the guard's verdict is `tripped`);
 *   otherwise legacy, shadowed as in `shadow`;
 * - `new_primary`: new with fallback to legacy.
 *
 * `o.inCanary` (from a {@link CanaryDecision}, e.g. an OpenFeature flag) replaces the bucket rule for the canary
 * share; the kill switch, the failsafe and a tripped guard still override it.
 */
export function routeOf(
  view: Pick<RoutingView, 'phase' | 'shadowPercent' | 'canaryPercent' | 'killed' | 'guard' | 'failsafe'>,
  bucket: number | null,
  o: { inCanary?: boolean } = {},
): Route {
  const { phase } = view;
  if (PHASES.indexOf(phase) >= LATE)
    return {
      serve: 'new',
      fallback: false,
      shadow: false,
      why: `phase ${phase}: new only (legacy is no longer written)`,
    };
  if (view.failsafe)
    return {
      serve: 'legacy',
      fallback: false,
      shadow: false,
      why: 'failsafe: the control plane could not be read for longer than failSafeSeconds; legacy only',
    };
  if (view.killed) return { serve: 'legacy', fallback: false, shadow: false, why: 'killed (tandem kill): legacy only' };
  const b = bucket === null ? 'no bucket' : `bucket ${bucket}`;
  const shadowed = bucket !== null && inSample(bucket, view.shadowPercent);
  const shadowWhy = `${b} ${shadowed ? '<' : '≥'} shadow ${view.shadowPercent}% × 100: ${shadowed ? 'shadowed' : 'not shadowed'}`;
  switch (phase) {
    case 'prepare':
    case 'dual_write':
      return { serve: 'legacy', fallback: false, shadow: false, why: `phase ${phase}: legacy only` };
    case 'shadow':
      return { serve: 'legacy', fallback: false, shadow: shadowed, why: `phase shadow: legacy; ${shadowWhy}` };
    case 'canary': {
      const tripped = view.guard?.state === 'tripped';
      const canary = tripped ? 0 : view.canaryPercent;
      const decided = o.inCanary !== undefined && !tripped;
      const inCanary = decided ? o.inCanary! : bucket !== null && inSample(bucket, canary);
      const canaryWhy = decided
        ? `the canary decision (CanaryDecision hook) says ${inCanary ? 'in' : 'out'}`
        : `${b} ${inCanary ? '<' : '≥'} canary ${canary}% × 100${tripped ? ` (guard tripped: canary ${view.canaryPercent}% counts as 0)` : ''}`;
      if (inCanary)
        return {
          serve: 'new',
          fallback: true,
          shadow: false,
          why: `phase canary: ${canaryWhy}: new, falling back to legacy`,
        };
      return {
        serve: 'legacy',
        fallback: false,
        shadow: shadowed,
        why: `phase canary: ${canaryWhy}: legacy; ${shadowWhy}`,
      };
    }
    default:
      return { serve: 'new', fallback: true, shadow: false, why: `phase ${phase}: new, falling back to legacy` };
  }
}

/** Reports to nothing (the default observer). */
export const NO_OBSERVER: ReadObserver = { read() {}, comparison() {} };

/**
 * The routing of one migration in one process, shared by its readers: the cached routing state and the cap on
 * shadow reads in flight. Created by the migration on its first `reads()`.
 * @internal
 */
export class RoutingRuntime {
  readonly cache: RoutingStateCache;
  /** Shadow reads in flight now (the cap is `routing.maxConcurrentShadow`). */
  inflightShadows = 0;
  #first: Promise<void>;
  #ready = false;

  constructor(
    control: Store,
    readonly config: RoutingConfig,
    readonly log: Logger,
    initialPhase: Phase | null,
  ) {
    this.cache = new RoutingStateCache(control, {
      refreshMs: config.refreshMs,
      failSafeSeconds: config.failSafeSeconds,
      initialPhase,
      log,
    });
    this.#first = this.cache.start().finally(() => {
      this.#ready = true;
    });
  }

  /** Waits for the first read of the routing state, at most `maxWaitMs` (the view is failsafe until then). */
  async ready(maxWaitMs = 200): Promise<void> {
    if (this.#ready) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#first, new Promise((r) => (timer = setTimeout(r, maxWaitMs)))]);
    clearTimeout(timer);
  }

  get isReady(): boolean {
    return this.#ready;
  }

  close(): void {
    this.cache.stop();
  }
}

/** What one key resolves to: its canonical key, bucket (null when it cannot be bucketed) and route. */
export interface KeyRoute {
  /** The canonical key (docs/routing.md), or null when the key does not fit the entity key. */
  key: string | null;
  /** The text that is hashed after the salt: the canonical key, or its `bucketBy` value. */
  bucketKey: string | null;
  bucket: number | null;
  route: Route;
  /** Why the key has no bucket (a TANDEM_ERR_* line), or null. */
  error: string | null;
}

/** A reader of one entity: `read(key)` routes one read (docs/routing.md). */
export interface Reader<K, T> {
  readonly entity: string;
  /**
   * Reads `key` (a single value, or an array of values for a composite key, in key-column order) from where the
   * phase and the routing state send it. Throws only what the serving legacy read throws (or, from
   * `legacy_read_only` on, what new throws): a failure or timeout of new is never the caller's.
   */
  read(key: K): Promise<T>;
  /** Where `key` would be served now, and why (what `tandem bucket` prints). Never throws. */
  explain(key: K): KeyRoute;
  /** Stops the reader's comparator's pending re-checks. */
  close(): Promise<void>;
}

/** Which store answered one `read()` call, and whether it was a fallback (for the request metrics). */
type Asked = { origin: Origin; fallback: boolean };

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown } | { timeout: true };
const TIMEOUT = { timeout: true } as const;

function start<K, T>(fn: ReadFn<K, T>, key: K): Promise<T> {
  try {
    return Promise.resolve(fn(key));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** `p` settled, or TIMEOUT after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    new Promise<typeof TIMEOUT>((res) => (timer = setTimeout(res, ms, TIMEOUT))),
  ]);
  clearTimeout(timer);
  return r;
}

function outcomeOf(v: boolean | CompareOutcome): CompareOutcome {
  if (v === true) return 'matched';
  if (v === false) return 'mismatched';
  return v === 'matched' || v === 'mismatched' || v === 'lagging' || v === 'dropped' ? v : 'dropped';
}

/**
 * Creates the reader of `entity` (use `Migration.reads()`).
 * @internal
 */
export function createReader<K, T>(
  rt: RoutingRuntime,
  entity: ResolvedEntity,
  o: ReadsOptions<K, T> & { observer: ReadObserver; comparator?: ShadowComparator },
): Reader<K, T> {
  const name = entity.name;
  const cfg = rt.config;
  const budgetMs = o.budgetMs ?? cfg.budgetMs;
  const observer = o.observer;
  const bucketKey = bucketKeyFn(entity, o.bucketBy ?? cfg.bucketBy?.[name]);
  const compare = o.compare;
  const comparator = compare ? undefined : o.comparator;
  const recordRequest = requestRecorder(name);

  const report = (origin: Origin, outcome: ReadOutcome, t0: number, served: boolean) => {
    try {
      observer.read({ entity: name, origin, outcome, latencyMs: performance.now() - t0, served });
    } catch {
      /* an observer must not throw; if it does, the read is not its business */
    }
  };
  const reportComparison = (outcome: CompareOutcome) => {
    try {
      observer.comparison(name, outcome);
    } catch {
      /* as above */
    }
  };

  const keyValues = (key: K): unknown[] => (Array.isArray(key) ? key : [key]);

  const resolve = (key: K, view: RoutingView, needBucket: boolean): KeyRoute => {
    let canonical: string | null = null;
    let bk: string | null = null;
    let bucket: number | null = null;
    let error: string | null = null;
    if (needBucket) {
      try {
        canonical = canonicalKeyOf(entity, keyValues(key));
        bk = bucketKey(canonical);
        bucket = bucketOf(cfg.salt, bk);
      } catch (e) {
        error = (e as { toLine?: () => string }).toLine?.() ?? String((e as Error).message);
      }
    }
    return { key: canonical, bucketKey: bk, bucket, route: routeOf(view, bucket), error };
  };

  const decide = o.canaryDecision;
  /** The decision hook's answer, or undefined (a throw, or none within the budget: the bucket rule decides). */
  const decideWithin = async (canonical: string, bucket: number): Promise<boolean | undefined> => {
    let p: Promise<boolean>;
    try {
      p = Promise.resolve(decide!(name, canonical, bucket));
    } catch {
      return undefined;
    }
    const r = await within(p, budgetMs);
    return 'timeout' in r || !r.ok ? undefined : r.value === true;
  };

  /** Phases where the bucket can matter (and is worth computing). */
  const bucketed = (view: RoutingView) =>
    !view.failsafe && !view.killed && (view.phase === 'shadow' || view.phase === 'canary');

  const serve = async (origin: Origin, fn: ReadFn<K, T>, key: K, outcome: ReadOutcome = 'ok'): Promise<T> => {
    const t0 = performance.now();
    try {
      const v = await fn(key);
      report(origin, outcome, t0, true);
      return v;
    } catch (e) {
      report(origin, 'error', t0, true);
      throw e;
    }
  };

  const serveNew = async (key: K, asked: Asked): Promise<T> => {
    const t0 = performance.now();
    const p = start(o.new, key);
    const r = await within(p, budgetMs);
    if ('timeout' in r) {
      p.catch(() => {});
      report('new', 'timeout', t0, true);
    } else if (r.ok) {
      report('new', 'ok', t0, true);
      return r.value;
    } else {
      report('new', 'error', t0, true);
    }
    asked.origin = 'legacy';
    asked.fallback = true;
    return serve('legacy', o.legacy, key, 'fallback');
  };

  const runShadow = async (key: K, legacy: Promise<T>): Promise<void> => {
    const t0 = performance.now();
    const p = start(o.new, key);
    const r = await within(p, cfg.shadowDeadlineMs);
    if ('timeout' in r) {
      report('new', 'timeout', t0, false);
      reportComparison('dropped');
      // the slot stays taken until the late read settles: the cap bounds what is really in flight on new
      await p.catch(() => {});
      return;
    }
    if (!r.ok) {
      report('new', 'error', t0, false);
      reportComparison('dropped');
      return;
    }
    report('new', 'ok', t0, false);
    if (!compare && !comparator) return;
    let legacyResult: T;
    try {
      legacyResult = await legacy;
    } catch {
      reportComparison('dropped');
      return;
    }
    let outcome: CompareOutcome;
    try {
      outcome = compare
        ? outcomeOf(await compare(legacyResult, r.value, key))
        : outcomeOf(await comparator!.compare(keyValues(key), legacyResult, r.value));
    } catch {
      outcome = 'dropped';
    }
    reportComparison(outcome);
  };

  const shadow = (key: K, legacy: Promise<T>) => {
    if (rt.inflightShadows >= cfg.maxConcurrentShadow) {
      // over the cap: dropped and counted, never queued
      reportComparison('dropped');
      return;
    }
    rt.inflightShadows++;
    // off the caller's path: the new read starts after the legacy read is on its way
    setImmediate(() => {
      runShadow(key, legacy)
        .catch(() => {})
        .finally(() => {
          rt.inflightShadows--;
        });
    });
  };

  /** One read as routed (the body of `read`); `asked` learns which store answered and whether it fell back. */
  const routed = async (key: K, asked: Asked): Promise<T> => {
    if (!rt.isReady) await rt.ready();
    const view = rt.cache.view();
    const kr = resolve(key, view, bucketed(view));
    let route = kr.route;
    if (
      decide &&
      view.phase === 'canary' &&
      kr.key !== null &&
      kr.bucket !== null &&
      !view.failsafe &&
      !view.killed &&
      view.guard?.state !== 'tripped'
    ) {
      const inCanary = await decideWithin(kr.key, kr.bucket);
      if (inCanary !== undefined) route = routeOf(view, kr.bucket, { inCanary });
    }
    asked.origin = route.serve;
    if (route.serve === 'legacy') {
      if (!route.shadow) return serve('legacy', o.legacy, key);
      const legacy = serve('legacy', o.legacy, key);
      shadow(key, legacy);
      return legacy;
    }
    if (!route.fallback) return serve('new', o.new, key);
    return serveNew(key, asked);
  };

  return {
    entity: name,
    async read(key: K): Promise<T> {
      const t0 = performance.now();
      const asked: Asked = { origin: 'legacy', fallback: false };
      try {
        const v = await routed(key, asked);
        recordRequest(asked.origin, asked.fallback ? 'fallback' : 'ok', t0);
        return v;
      } catch (e) {
        recordRequest(asked.origin, 'error', t0);
        throw e;
      }
    },
    explain(key: K): KeyRoute {
      const view = rt.cache.view();
      return resolve(key, view, true);
    },
    async close(): Promise<void> {
      await comparator?.close?.();
    },
  };
}
