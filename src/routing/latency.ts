/**
 * A small, mergeable latency histogram with a relative-error guarantee: the logarithmic bucket mapping of DDSketch
 * (C. Masson, J. E. Rim, H. K. Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with Relative-Error
 * Guarantees", PVLDB 12(12), 2019). A latency `x` ms goes to bucket `k = ceil(ln(x) / ln(γ))` with
 * `γ = (1 + α) / (1 − α)`; bucket `k` covers `(γ^(k−1), γ^k]` and is read back as `2γ^k / (γ + 1)`, which is within
 * a relative `α` of every value in it. So any quantile read from the histogram is within ±α (5 %) of the true
 * quantile of the samples, however many there are, and two histograms merge by adding their bucket counts — which
 * is what the fleet aggregate of the guard does with the windows every instance publishes.
 *
 * Fixed parameters (they are part of the published format, see docs/guard.md): α = 0.05, values clamped to
 * [0.01 ms, 3,600,000 ms]. The dense form is a `Uint32Array` of {@link LATENCY_BUCKETS} counts (198 buckets, 792
 * bytes);
 * the published form is JSON `{"<k>": count, …}` with the signed bucket index `k`, only non-empty buckets.
 *
 * Why not a library: hdr-histogram-js and @datadog/sketches-js both fit the maths, but the guard keeps one histogram
 * per second in a ring (a sliding window needs to drop old seconds, which neither can subtract) and publishes them
 * as JSON every few seconds; a fixed mapping in a typed array makes recording one multiplication and one increment
 * (O(1), no allocation), bounds memory exactly, and keeps the format readable by any SQL client or language.
 */

/** Relative accuracy of a quantile read from a histogram (5 %). */
export const LATENCY_ALPHA = 0.05;
const GAMMA = (1 + LATENCY_ALPHA) / (1 - LATENCY_ALPHA);
const LN_GAMMA = Math.log(GAMMA);
/** Smallest latency told apart, ms (below it, samples count as this). */
export const LATENCY_MIN_MS = 0.01;
/** Largest latency told apart, ms (above it, samples count as this). */
export const LATENCY_MAX_MS = 3_600_000;
const KEY_MIN = Math.ceil(Math.log(LATENCY_MIN_MS) / LN_GAMMA);
const KEY_MAX = Math.ceil(Math.log(LATENCY_MAX_MS) / LN_GAMMA);
/** Number of buckets of the dense form. */
export const LATENCY_BUCKETS = KEY_MAX - KEY_MIN + 1;

/** The dense bucket index (0 … {@link LATENCY_BUCKETS} − 1) of a latency in ms. Non-finite or negative: bucket 0. */
export function latencyIndex(ms: number): number {
  if (!(ms > LATENCY_MIN_MS)) return 0;
  if (ms >= LATENCY_MAX_MS) return LATENCY_BUCKETS - 1;
  const k = Math.ceil(Math.log(ms) / LN_GAMMA);
  return Math.min(LATENCY_BUCKETS - 1, Math.max(0, k - KEY_MIN));
}

/** The value (ms) a dense bucket index stands for: within ±α of every latency in it. */
export function latencyValue(index: number): number {
  return (2 * GAMMA ** (index + KEY_MIN)) / (GAMMA + 1);
}

/** A new, empty dense histogram. */
export function emptyLatency(): Uint32Array {
  return new Uint32Array(LATENCY_BUCKETS);
}

/** Adds `from` into `into` (merge). */
export function addLatency(into: Uint32Array, from: Uint32Array): void {
  for (let i = 0; i < LATENCY_BUCKETS; i++) into[i]! += from[i]!;
}

/**
 * The `q`-quantile (0 < q ≤ 1) of a dense histogram, ms, by nearest rank: the value of the bucket holding the
 * `ceil(q × n)`-th smallest sample. Null for an empty histogram.
 */
export function latencyQuantile(h: Uint32Array, q: number): number | null {
  let n = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) n += h[i]!;
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * n));
  let seen = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    seen += h[i]!;
    if (seen >= rank) return latencyValue(i);
  }
  return latencyValue(LATENCY_BUCKETS - 1);
}

/** The published (JSON) form: `{"<k>": count}` of the non-empty buckets, `k` the signed DDSketch index. */
export function encodeLatency(h: Uint32Array): string {
  const out: Record<string, number> = {};
  for (let i = 0; i < LATENCY_BUCKETS; i++) if (h[i]) out[String(i + KEY_MIN)] = h[i]!;
  return JSON.stringify(out);
}

/**
 * Adds a published histogram (see {@link encodeLatency}) into `into`. Ignores what it cannot read (a malformed
 * value, an index out of range) and returns the number of samples it added.
 */
export function mergeEncodedLatency(into: Uint32Array, json: string | null | undefined): number {
  if (!json) return 0;
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return 0;
  }
  if (!o || typeof o !== 'object') return 0;
  let added = 0;
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    const i = Number(k) - KEY_MIN;
    const c = Number(v);
    if (!Number.isInteger(i) || i < 0 || i >= LATENCY_BUCKETS || !Number.isFinite(c) || c <= 0) continue;
    into[i]! += c;
    added += c;
  }
  return added;
}
