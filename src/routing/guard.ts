import { formatZodError } from '../config/load.js';
import { type GuardConfig, guardSchema } from '../config/schema.js';
import { audit } from '../control/control.js';
import { TandemError } from '../core/errors.js';
import { counter, gauge } from '../core/metrics.js';
import { isUniqueViolation } from '../stores/common.js';
import type { Executor, Store } from '../stores/types.js';
import { type FleetWindow, readFleetWindows, type WindowSummary } from './stats.js';
import { type GuardVerdict, ROUTING_STATE_ROWS } from './types.js';
import { putState, readState } from '../control/state.js';

/**
 * The guard (DESIGN.md: guard; docs/guard.md). It judges the reads of origin `new` over the fleet's sliding window
 * — every instance's windows published to `routing_windows` (src/routing/stats.ts) in the last `windowSeconds` —
 * per entity, on three measures:
 *
 * - **error rate** = (errors + timeouts + fallbacks) / reads of `new`, trips above `maxErrorRate`;
 * - **p99 latency** of `new` (±5 %, src/routing/latency.ts), trips above `maxP99Ms`;
 * - **mismatch rate** = mismatched / (matched + mismatched) of the shadow comparisons, judged by the lower bound of
 *   the 95 % Wilson score interval with continuity correction ({@link wilsonLowerBound}), trips when that bound
 *   exceeds `maxMismatchRate` — so one mismatch in a handful of reads is not a breach, a sustained rate is.
 *
 * An entity with fewer than `minSamples` reads of `new` (and, for the mismatch rate, fewer than `minSamples`
 * comparisons) gives no verdict on that measure: the guard is `insufficient` when no entity has enough reads, never
 * passed or failed on them. It is `green` when some entity has enough and none breaches, `tripped` on any breach.
 *
 * On a breach ({@link evaluateGuard}) it sets the canary to 0 (state row `routing.canary_percent`; shadowing goes
 * on), writes its verdict (`routing.guard`: tripped, the reason with its figures, `cooldownUntilMs`), audits the
 * reason (command `guard`, outcome `tripped`) and counts `tandem_routing_guard_trips_total`. Hysteresis: a tripped
 * guard never clears or re-advances by itself; while it cools down it holds the canary at 0; after the cooldown only
 * an explicit `tandem canary N` clears it. Evaluators race safely: the verdict row is written compare-and-set, so
 * one of them trips (and audits) and the others read its verdict.
 *
 * Metrics: `tandem_routing_guard_trips_total{measure}` (`error_rate`, `p99_latency`, `mismatch_rate`) and
 * `tandem_routing_guard_state{state}` (1 for the current state of `green`, `insufficient`, `tripped`, else 0).
 */

/** The thresholds of the guard (config `guard`, src/config/schema.ts, defaults in docs/guard.md). */
export type GuardThresholds = GuardConfig;

/** A measure the guard judges. */
export type GuardMeasure = 'error_rate' | 'p99_latency' | 'mismatch_rate';

/** One breached threshold, with its figures (never row values or keys). */
export interface GuardBreach {
  measure: GuardMeasure;
  entity: string;
  /** The judged value: a rate (fraction), the p99 in ms, or the mismatch rate's Wilson lower bound (fraction). */
  value: number;
  threshold: number;
  /** Reads (error rate, p99) or comparisons (mismatch rate) it was judged on. */
  samples: number;
  /** One line: `error rate 4.1% > 1% over 312 reads of new (users, 2 instances, last 60 s)`. */
  text: string;
}

/** What the guard saw of one entity's reads of `new`. */
export interface GuardFigures {
  entity: string;
  instances: number;
  reads: number;
  failures: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Comparisons that decided (matched + mismatched; lagging and dropped are not judged). */
  decided: number;
  mismatched: number;
  /** Lower bound of the 95 % Wilson interval (continuity-corrected) of the mismatch rate; null without comparisons. */
  mismatchLowerBound: number | null;
  /** Enough reads (`minSamples`) for a verdict on the error rate and the latency. */
  sufficient: boolean;
  /** Enough comparisons (`minSamples`) for a verdict on the mismatch rate. */
  mismatchSufficient: boolean;
}

/** The verdict of {@link judgeWindows} on a set of windows. */
export interface GuardJudgement {
  state: GuardVerdict['state'];
  /** The breaches joined with `; ` (tripped), why there is no verdict (insufficient), or null (green). */
  reason: string | null;
  breaches: GuardBreach[];
  figures: GuardFigures[];
}

/** z of a two-sided 95 % interval (its lower end is a one-sided 97.5 % bound). */
export const WILSON_Z = 1.959963984540054;

/**
 * The lower bound of the Wilson score interval with continuity correction for `x` successes in `n` trials
 * (E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22, 1927; the
 * continuity-corrected form is method 4 of R. G. Newcombe, "Two-sided confidence intervals for the single
 * proportion: comparison of seven methods", Statistics in Medicine 17, 1998):
 *
 *   L = (2np̂ + z² − 1 − z·√(z² − 2 − 1/n + 4p̂(n(1 − p̂) + 1))) / (2(n + z²)),   L = 0 when x = 0.
 *
 * Unlike the raw ratio it stays low on a handful of trials (1 in 20 gives 0.0026, not 0.05), and unlike the plain
 * Wilson bound it does not overstate a single event (≈ 0.05/n rather than 0.18/n, close to the exact
 * Clopper–Pearson 0.025/n). 0 for `n` ≤ 0.
 */
export function wilsonLowerBound(x: number, n: number, z = WILSON_Z): number {
  if (!(n > 0) || !(x > 0)) return 0;
  const k = Math.min(x, n);
  const p = k / n;
  const z2 = z * z;
  const root = Math.sqrt(Math.max(0, z2 - 2 - 1 / n + 4 * p * (n * (1 - p) + 1)));
  return Math.max(0, (2 * n * p + z2 - 1 - z * root) / (2 * (n + z2)));
}

/** The upper bound of the same interval (Newcombe 1998, method 4); 1 when x = n. */
export function wilsonUpperBound(x: number, n: number, z = WILSON_Z): number {
  if (!(n > 0)) return 1;
  const k = Math.max(0, Math.min(x, n));
  if (k >= n) return 1;
  const p = k / n;
  const z2 = z * z;
  const root = Math.sqrt(Math.max(0, z2 + 2 - 1 / n + 4 * p * (n * (1 - p) - 1)));
  return Math.min(1, (2 * n * p + z2 + 1 + z * root) / (2 * (n + z2)));
}

/**
 * The guard's config with its defaults, validated. Throws TANDEM_ERR_CONFIG_INVALID naming the first problem.
 */
export function guardThresholds(input: Partial<GuardConfig> = {}): GuardThresholds {
  const r = guardSchema.safeParse(input);
  if (!r.success) throw new TandemError('CONFIG_INVALID', `guard: ${formatZodError(r.error)}`);
  return r.data;
}

const pct = (x: number) => {
  const v = x * 100;
  const s = v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);
  return `${Number(s)}%`;
};
const ms = (x: number) => `${x >= 100 ? Math.round(x) : Number(x.toPrecision(3))} ms`;

/**
 * Judges windows (a fleet aggregate from {@link readFleetWindows}, or one instance's {@link ReadStats.summary}) on
 * the thresholds; only origin `new` counts. Pure: reads and writes nothing. `windowSeconds` only names the span in
 * the reason.
 */
export function judgeWindows(windows: (FleetWindow | WindowSummary)[], t: GuardThresholds): GuardJudgement {
  const figures: GuardFigures[] = [];
  const breaches: GuardBreach[] = [];
  for (const w of windows) {
    if (w.origin !== 'new') continue;
    const instances = 'instances' in w ? w.instances : 1;
    const failures = w.errors + w.timeouts + w.fallbacks;
    const decided = w.matched + w.mismatched;
    const lower = decided > 0 ? wilsonLowerBound(w.mismatched, decided) : null;
    const f: GuardFigures = {
      entity: w.entity,
      instances,
      reads: w.reads,
      failures,
      errorRate: w.reads ? failures / w.reads : 0,
      p50Ms: w.p50Ms,
      p99Ms: w.p99Ms,
      decided,
      mismatched: w.mismatched,
      mismatchLowerBound: lower,
      sufficient: w.reads >= t.minSamples,
      mismatchSufficient: decided >= t.minSamples,
    };
    figures.push(f);
    const where = `(${w.entity}, ${instances} instance${instances === 1 ? '' : 's'}, last ${t.windowSeconds} s)`;
    if (f.sufficient) {
      if (f.errorRate > t.maxErrorRate)
        breaches.push({
          measure: 'error_rate',
          entity: w.entity,
          value: f.errorRate,
          threshold: t.maxErrorRate,
          samples: w.reads,
          text: `error rate ${pct(f.errorRate)} > ${pct(t.maxErrorRate)} over ${w.reads} reads of new ${where}`,
        });
      if (f.p99Ms !== null && f.p99Ms > t.maxP99Ms)
        breaches.push({
          measure: 'p99_latency',
          entity: w.entity,
          value: f.p99Ms,
          threshold: t.maxP99Ms,
          samples: w.reads,
          text: `p99 latency ${ms(f.p99Ms)} > ${ms(t.maxP99Ms)} over ${w.reads} reads of new ${where}`,
        });
    }
    if (f.mismatchSufficient && lower !== null && lower > t.maxMismatchRate)
      breaches.push({
        measure: 'mismatch_rate',
        entity: w.entity,
        value: lower,
        threshold: t.maxMismatchRate,
        samples: decided,
        text: `mismatch rate ≥ ${pct(lower)} (95% Wilson lower bound; ${w.mismatched} mismatched of ${decided} compared) > ${pct(t.maxMismatchRate)} ${where}`,
      });
  }
  figures.sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : 0));
  if (breaches.length) return { state: 'tripped', reason: breaches.map((b) => b.text).join('; '), breaches, figures };
  if (figures.some((f) => f.sufficient)) return { state: 'green', reason: null, breaches, figures };
  const most = figures.reduce((m, f) => Math.max(m, f.reads), 0);
  return {
    state: 'insufficient',
    reason: `${most} reads of new in the last ${t.windowSeconds} s < minSamples ${t.minSamples}`,
    breaches,
    figures,
  };
}

/** The guard's verdict row as stored (`raw`, for compare-and-set) and parsed (null when absent or unreadable). */
export async function readGuardVerdict(
  control: Executor & Pick<Store, 'controlTable' | 'sql'>,
): Promise<{ verdict: GuardVerdict | null; raw: string | null }> {
  const raw = await readState(control, control, ROUTING_STATE_ROWS.guard);
  return { verdict: raw === null ? null : parseVerdict(raw), raw };
}

/** A {@link GuardVerdict} from its JSON, or null when it is not one. */
export function parseVerdict(raw: string): GuardVerdict | null {
  try {
    const v = JSON.parse(raw) as Partial<GuardVerdict>;
    if (v.state !== 'green' && v.state !== 'insufficient' && v.state !== 'tripped') return null;
    return {
      state: v.state,
      reason: typeof v.reason === 'string' ? v.reason : null,
      atMs: Number(v.atMs) || 0,
      cooldownUntilMs: v.cooldownUntilMs == null ? null : Number(v.cooldownUntilMs),
    };
  } catch {
    return null;
  }
}

/** Reads the canary percentage row (null when absent). */
async function readCanaryRow(db: Executor, control: Store): Promise<string | null> {
  return readState(db, control, ROUTING_STATE_ROWS.canaryPercent);
}

class LostRace extends Error {}

/** Writes `value` to the state row `name` only if it still holds `expected` (null: only if absent). */
async function swapState(
  db: Executor,
  control: Store,
  name: string,
  expected: string | null,
  value: string,
): Promise<void> {
  const t = control.controlTable('state');
  const p = (i: number) => control.sql.param(i);
  if (expected === null) {
    try {
      await db.execute(`INSERT INTO ${t} (name, value) VALUES (${p(1)}, ${p(2)})`, [name, value]);
    } catch (e) {
      if (isUniqueViolation(e)) throw new LostRace();
      throw e;
    }
    return;
  }
  const n = await db.execute(
    `UPDATE ${t} SET value = ${p(1)}, updated_at = ${control.sql.now()} WHERE name = ${p(2)} AND value = ${p(3)}`,
    [value, name, expected],
  );
  if (n === 0) throw new LostRace();
}

const verdictJson = (v: GuardVerdict) =>
  JSON.stringify({ state: v.state, reason: v.reason, atMs: v.atMs, cooldownUntilMs: v.cooldownUntilMs });

const tripsTotal = () =>
  counter('tandem_routing_guard_trips_total', 'Guard trips (canary set to 0) by breached measure', ['measure']);
const stateGauge = () =>
  gauge('tandem_routing_guard_state', 'The guard state: 1 for the current one of green, insufficient, tripped', [
    'state',
  ]);

/**
 * Sets `tandem_routing_guard_state{state}`: 1 for `state`, 0 for the others. Called by every evaluation, and at
 * scrape time from the stored verdict (src/runtime/metrics.ts) so a process that does not evaluate shows it too.
 */
export function showGuardState(state: GuardVerdict['state']): void {
  for (const s of ['green', 'insufficient', 'tripped'] as const) stateGauge().set({ state: s }, s === state ? 1 : 0);
}

/** Options of {@link evaluateGuard}. */
export interface EvaluateOptions {
  /** The clock, epoch ms (verdict times, cooldown). Default `Date.now`. */
  now?: () => number;
  /** Only windows published at or after this epoch ms (database clock) count. */
  sinceMs?: number;
  /** Write green/insufficient verdicts (default true). An instance that only wants to know passes false. */
  write?: boolean;
}

/** What one evaluation found and did. */
export interface GuardEvaluation {
  /** The verdict now in force (the stored one while tripped). */
  verdict: GuardVerdict;
  /** The judgement of the current windows (also computed while tripped, for the figures). */
  judgement: GuardJudgement;
  /** True when this evaluation tripped the guard (set the canary to 0, audited). */
  tripped: boolean;
  /** True when this evaluation put the canary back to 0 during a cooldown (someone had raised it). */
  heldCanary: boolean;
}

/**
 * One evaluation of the guard on the fleet's aggregate in `control` (schema v6), by `tandem run`'s guard service or
 * by any instance:
 * - tripped before: hysteresis — it stays tripped; during the cooldown the canary is held at 0 (put back and
 *   audited if someone raised it); after it, only `tandem canary N` clears the verdict;
 * - a breach now: canary row to 0 and the tripped verdict in one transaction (compare-and-set on the verdict, so
 *   concurrent evaluators trip once), then the audit entry with the figures and the metric;
 * - otherwise: the green or insufficient verdict is written (unless `write: false`).
 * Throws TANDEM_ERR_CONFIG_INVALID for bad thresholds, and what the store throws.
 */
export async function evaluateGuard(
  control: Store,
  guard: Partial<GuardConfig> = {},
  o: EvaluateOptions = {},
): Promise<GuardEvaluation> {
  const t = guardThresholds(guard);
  const now = o.now ?? Date.now;
  const windows = await readFleetWindows(control, { windowSeconds: t.windowSeconds, sinceMs: o.sinceMs });
  const judgement = judgeWindows(windows, t);
  for (let attempt = 0; ; attempt++) {
    const { verdict: current, raw } = await readGuardVerdict(control);
    if (current?.state === 'tripped') {
      let heldCanary = false;
      if (current.cooldownUntilMs !== null && now() < current.cooldownUntilMs)
        heldCanary = await holdCanary(control, current);
      showGuardState('tripped');
      return { verdict: current, judgement, tripped: false, heldCanary };
    }
    const at = now();
    try {
      if (judgement.state === 'tripped') {
        const verdict: GuardVerdict = {
          state: 'tripped',
          reason: judgement.reason,
          atMs: at,
          cooldownUntilMs: at + t.cooldownSeconds * 1000,
        };
        await control.transaction(async (tx) => {
          await swapState(tx, control, ROUTING_STATE_ROWS.guard, raw, verdictJson(verdict));
          await putState(tx, control, ROUTING_STATE_ROWS.canaryPercent, '0');
        });
        await audit(control, {
          command: 'guard',
          args: {
            windowSeconds: t.windowSeconds,
            canaryPercent: 0,
            cooldownUntilMs: verdict.cooldownUntilMs,
            breaches: judgement.breaches.map((b) => ({
              measure: b.measure,
              entity: b.entity,
              value: b.value,
              threshold: b.threshold,
              samples: b.samples,
            })),
          },
          outcome: 'tripped',
          detail: `canary set to 0: ${judgement.reason}`,
        });
        const measures = new Set(judgement.breaches.map((b) => b.measure));
        for (const m of measures) tripsTotal().inc({ measure: m });
        showGuardState('tripped');
        return { verdict, judgement, tripped: true, heldCanary: false };
      }
      const verdict: GuardVerdict = {
        state: judgement.state,
        reason: judgement.reason,
        atMs: at,
        cooldownUntilMs: null,
      };
      if (o.write ?? true) {
        try {
          await swapState(control, control, ROUTING_STATE_ROWS.guard, raw, verdictJson(verdict));
        } catch (e) {
          if (!(e instanceof LostRace)) throw e;
          // another evaluator wrote its verdict in between: a trip stands, a green or insufficient one is as good
          const now2 = (await readGuardVerdict(control)).verdict;
          if (now2?.state === 'tripped') continue;
        }
      }
      showGuardState(verdict.state);
      return { verdict, judgement, tripped: false, heldCanary: false };
    } catch (e) {
      // another evaluator wrote the verdict first while this one tripped: read it again (a few times at most)
      if (!(e instanceof LostRace) || attempt >= 4) throw e;
    }
  }
}

/** During a cooldown, puts the canary back to 0 if it was raised; audited. Returns whether it did. */
async function holdCanary(control: Store, verdict: GuardVerdict): Promise<boolean> {
  const cur = await readCanaryRow(control, control);
  if (cur === null || Number(cur) === 0) return false;
  await putState(control, control, ROUTING_STATE_ROWS.canaryPercent, '0');
  await audit(control, {
    command: 'guard',
    args: { canaryPercent: 0, was: Number(cur), cooldownUntilMs: verdict.cooldownUntilMs },
    outcome: 'tripped',
    detail: `canary held at 0 during the guard's cooldown (was ${Number(cur)}%): ${verdict.reason ?? ''}`.trim(),
  });
  return true;
}
