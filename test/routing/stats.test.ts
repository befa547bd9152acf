import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { isTandemError } from '../../src/core/errors.js';
import { snapshot } from '../../src/core/metrics.js';
import { guardThresholds, judgeWindows, wilsonLowerBound, wilsonUpperBound } from '../../src/routing/guard.js';
import {
  emptyLatency,
  encodeLatency,
  LATENCY_ALPHA,
  LATENCY_BUCKETS,
  latencyIndex,
  latencyQuantile,
  mergeEncodedLatency,
} from '../../src/routing/latency.js';
import { createReadStats, type WindowSummary } from '../../src/routing/stats.js';
import type { ReadSample } from '../../src/routing/types.js';

/** A settable clock (epoch ms). */
function clock(start = 1_800_000_000_000) {
  let t = start;
  return {
    now: () => t,
    set: (ms: number) => {
      t = ms;
    },
    add: (ms: number) => {
      t += ms;
    },
  };
}

/** The exact nearest-rank quantile of `xs`. */
function exact(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]!;
}

/** A deterministic PRNG (mulberry32), so a failure reproduces. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sample = (o: Partial<ReadSample> = {}): ReadSample => ({
  entity: 'users',
  origin: 'new',
  outcome: 'ok',
  latencyMs: 10,
  served: true,
  ...o,
});

describe('latency histogram (DDSketch mapping)', () => {
  it('reads every quantile within ±5 % of the exact nearest-rank quantile, whatever the spread', () => {
    const rnd = prng(7);
    for (const spread of [0.2, 1, 3]) {
      // log-normal latencies around 20 ms: a long tail like real reads
      const xs = Array.from(
        { length: 20_000 },
        () => 20 * Math.exp(spread * Math.sqrt(-2 * Math.log(rnd() || 1e-12)) * Math.cos(2 * Math.PI * rnd())),
      );
      const h = emptyLatency();
      for (const x of xs) h[latencyIndex(x)]!++;
      for (const q of [0.01, 0.5, 0.9, 0.99, 0.999, 1]) {
        const want = exact(xs, q);
        const got = latencyQuantile(h, q)!;
        // the mapping's guarantee, for values inside [0.01 ms, 1 h]
        if (want > 0.01 && want < 3_600_000)
          expect(Math.abs(got - want) / want, `spread ${spread} q ${q}`).toBeLessThanOrEqual(LATENCY_ALPHA + 1e-9);
      }
    }
  });

  it('round-trips through its JSON form and merges by adding counts; ignores what it cannot read', () => {
    const a = emptyLatency();
    const b = emptyLatency();
    for (const x of [0.001, 0.5, 3, 3, 250, 1e9]) a[latencyIndex(x)]!++;
    expect(mergeEncodedLatency(b, encodeLatency(a))).toBe(6);
    expect([...b]).toEqual([...a]);
    expect(mergeEncodedLatency(b, encodeLatency(a))).toBe(6);
    expect(b.reduce((s, x) => s + x, 0)).toBe(12);
    expect(mergeEncodedLatency(b, 'not json')).toBe(0);
    expect(mergeEncodedLatency(b, '{"99999": 4, "x": 1, "3": -2}')).toBe(0);
    expect(latencyQuantile(emptyLatency(), 0.99)).toBeNull();
    expect(latencyIndex(Number.NaN)).toBe(0);
    expect(latencyIndex(-5)).toBe(0);
    expect(latencyIndex(Number.POSITIVE_INFINITY)).toBe(LATENCY_BUCKETS - 1);
  });
});

describe('ReadStats: in-process sliding windows', () => {
  it('counts reads by outcome and comparisons per entity and origin over the last N seconds only', () => {
    const c = clock();
    const s = createReadStats({ now: c.now, metrics: false, instanceId: 'i1' });
    // second 0: 10 ok reads of new at 5 ms, 2 errors, 1 timeout; legacy 20 ok at 1 ms
    for (let i = 0; i < 10; i++) s.read(sample({ latencyMs: 5 }));
    s.read(sample({ outcome: 'error', latencyMs: 2 }));
    s.read(sample({ outcome: 'error', latencyMs: 2 }));
    s.read(sample({ outcome: 'timeout', latencyMs: 50, served: false }));
    for (let i = 0; i < 20; i++) s.read(sample({ origin: 'legacy', latencyMs: 1 }));
    s.comparison('users', 'matched');
    s.comparison('users', 'mismatched');
    s.comparison('users', 'lagging');
    s.comparison('users', 'dropped');
    // 30 s later: 5 more new reads at 100 ms, a fallback
    c.add(30_000);
    for (let i = 0; i < 5; i++) s.read(sample({ latencyMs: 100 }));
    s.read(sample({ outcome: 'fallback', latencyMs: 40 }));
    const all = s.summary({ windowSeconds: 60 });
    const n = all.find((w) => w.origin === 'new')!;
    expect(n).toMatchObject({
      entity: 'users',
      reads: 19,
      ok: 15,
      errors: 2,
      timeouts: 1,
      fallbacks: 1,
      served: 18,
      compared: 3,
      matched: 1,
      mismatched: 1,
      lagging: 1,
      dropped: 1,
    });
    expect(n.errorRate).toBeCloseTo(4 / 19, 12);
    expect(all.find((w) => w.origin === 'legacy')).toMatchObject({ reads: 20, ok: 20 });
    // the last 10 s hold only the later second
    const recent = s.summary({ windowSeconds: 10, origin: 'new' });
    expect(recent).toHaveLength(1);
    expect(recent[0]).toMatchObject({ reads: 6, ok: 5, fallbacks: 1, compared: 0 });
    expect(recent[0]!.p50Ms! / 100).toBeCloseTo(1, 1);
    // 61 s after the first samples, they have left a 60 s window
    c.add(31_000);
    expect(s.summary({ windowSeconds: 60, origin: 'new' })[0]).toMatchObject({ reads: 6 });
  });

  it('keeps percentiles of the window: p50 and p99 within 5 % of the exact ones', () => {
    const c = clock();
    const s = createReadStats({ now: c.now, metrics: false });
    const rnd = prng(3);
    const xs: number[] = [];
    for (let sec = 0; sec < 20; sec++) {
      for (let i = 0; i < 200; i++) {
        const x = rnd() < 0.02 ? 300 + 400 * rnd() : 2 + 10 * rnd();
        xs.push(x);
        s.read(sample({ latencyMs: x }));
      }
      c.add(1000);
    }
    const w = s.summary({ windowSeconds: 60, origin: 'new' })[0]!;
    expect(w.reads).toBe(4000);
    for (const [q, got] of [
      [0.5, w.p50Ms!],
      [0.99, w.p99Ms!],
    ] as const) {
      const want = exact(xs, q);
      expect(Math.abs(got - want) / want).toBeLessThanOrEqual(LATENCY_ALPHA + 1e-9);
    }
  });

  it('never throws, ignores malformed samples, and bounds memory (series cap, ring of seconds)', () => {
    const c = clock();
    const s = createReadStats({ now: c.now, metrics: false, maxSeries: 2, retainSeconds: 8 });
    const bad: unknown[] = [
      null,
      undefined,
      {},
      sample({ entity: '' }),
      sample({ origin: 'x' as never }),
      sample({ outcome: 'weird' as never }),
      sample({ entity: 'e'.repeat(200) }),
    ];
    for (const b of bad) expect(() => s.read(b as ReadSample)).not.toThrow();
    expect(() => s.comparison(null as never, 'matched')).not.toThrow();
    expect(() => s.comparison('users', 'nope' as never)).not.toThrow();
    expect(s.ignored).toBe(bad.length + 2);
    // latency that is not a number counts as a read at 0 ms
    s.read(sample({ latencyMs: Number.NaN }));
    s.read(sample({ origin: 'legacy' }));
    s.read(sample({ entity: 'orders' })); // a third series: over the cap
    expect(s.ignored).toBe(bad.length + 3);
    // the ring keeps 8 seconds: 100 seconds of samples leave 8 in it
    for (let i = 0; i < 100; i++) {
      s.read(sample());
      c.add(1000);
    }
    c.add(-1000);
    expect(s.summary({ origin: 'new' })[0]!.reads).toBe(8);
    // a clock that steps back counts in the newest second, never in a freed one
    c.add(-5000);
    s.read(sample());
    expect(s.summary({ origin: 'new', windowSeconds: 1 })[0]!.reads).toBe(2);
  });

  it('records Prometheus metrics by entity, origin, outcome (seconds), never keys or values', () => {
    const s = createReadStats({ instanceId: 'metrics-test' });
    s.read(sample({ entity: 'metrics_entity', latencyMs: 250 }));
    s.read(sample({ entity: 'metrics_entity', outcome: 'timeout', latencyMs: 80, served: false }));
    s.comparison('metrics_entity', 'mismatched');
    const snap = snapshot();
    const reads = snap.tandem_routing_reads_total!.filter((r) => r.labels.entity === 'metrics_entity');
    expect(reads.map((r) => [r.labels, r.value])).toEqual([
      [{ entity: 'metrics_entity', origin: 'new', outcome: 'ok', served: 'true' }, 1],
      [{ entity: 'metrics_entity', origin: 'new', outcome: 'timeout', served: 'false' }, 1],
    ]);
    const sum = snap.tandem_routing_read_duration_seconds_sum!.find((r) => r.labels.entity === 'metrics_entity')!;
    expect(sum.value).toBeCloseTo(0.33, 9);
    expect(snap.tandem_routing_comparisons_total!.find((r) => r.labels.entity === 'metrics_entity')).toMatchObject({
      labels: { outcome: 'mismatched' },
      value: 1,
    });
    const labelNames = new Set(
      Object.values(snap)
        .flat()
        .flatMap((r) => Object.keys(r.labels)),
    );
    for (const l of labelNames)
      expect([
        'entity',
        'origin',
        'outcome',
        'served',
        'measure',
        'state',
        'direction',
        'mode',
        'service',
        'role',
        'kind',
        'scheme',
        'result',
        'reason',
        'tier',
        'store',
        'status',
      ]).toContain(l);
  });
});

describe('the Wilson bound (Newcombe 1998, method 4: score interval with continuity correction)', () => {
  it('matches the published examples of Newcombe, Statistics in Medicine 17 (1998), table I', () => {
    // x / n → (lower, upper), 4 decimals as printed
    const table: [number, number, number, number][] = [
      [81, 263, 0.2535, 0.3682],
      [15, 148, 0.0598, 0.1644],
      [0, 20, 0, 0.2005],
      [1, 29, 0.0018, 0.1963],
    ];
    for (const [x, n, lo, hi] of table) {
      expect(wilsonLowerBound(x, n)).toBeCloseTo(lo, 4);
      expect(wilsonUpperBound(x, n)).toBeCloseTo(hi, 4);
    }
    expect(wilsonLowerBound(0, 0)).toBe(0);
    expect(wilsonUpperBound(5, 5)).toBe(1);
  });

  it('a single event says little (≈ 0.05/n), a sustained rate is bounded away from zero', () => {
    expect(wilsonLowerBound(1, 20)).toBeLessThan(0.01);
    expect(wilsonLowerBound(1, 1000) * 1000).toBeGreaterThan(0.04);
    expect(wilsonLowerBound(1, 1000) * 1000).toBeLessThan(0.06);
    expect(wilsonLowerBound(20, 200)).toBeGreaterThan(0.05);
  });
});

describe('judgeWindows (pure)', () => {
  const win = (o: Partial<WindowSummary>): WindowSummary => ({
    entity: 'users',
    origin: 'new',
    fromMs: 0,
    toMs: 60_000,
    reads: 0,
    ok: 0,
    errors: 0,
    timeouts: 0,
    fallbacks: 0,
    served: 0,
    errorRate: 0,
    p50Ms: null,
    p99Ms: null,
    compared: 0,
    matched: 0,
    mismatched: 0,
    lagging: 0,
    dropped: 0,
    latency: emptyLatency(),
    ...o,
  });
  const t = guardThresholds({ minSamples: 20, maxMismatchRate: 0.01 });

  it('is insufficient below minSamples, whatever the figures (never a pass or a failure)', () => {
    const j = judgeWindows([win({ reads: 19, errors: 19, p99Ms: 5000, matched: 0, mismatched: 19 })], t);
    expect(j.state).toBe('insufficient');
    expect(j.reason).toBe('19 reads of new in the last 60 s < minSamples 20');
    expect(judgeWindows([], t).state).toBe('insufficient');
    // legacy reads never count
    expect(judgeWindows([win({ origin: 'legacy', reads: 1000, errors: 1000 })], t).state).toBe('insufficient');
  });

  it('trips on the error rate, on p99 latency, and on the Wilson bound of mismatches (not on 1 in 20)', () => {
    expect(judgeWindows([win({ reads: 100, timeouts: 1, p99Ms: 20 })], t).state).toBe('green'); // 1 % is not above 1 %
    const e = judgeWindows([win({ reads: 100, errors: 2, timeouts: 1, fallbacks: 1, p99Ms: 20 })], t);
    expect(e.state).toBe('tripped');
    expect(e.reason).toBe('error rate 4% > 1% over 100 reads of new (users, 1 instance, last 60 s)');
    const l = judgeWindows([win({ reads: 100, p99Ms: 812.4 })], t);
    expect(l.reason).toBe('p99 latency 812 ms > 500 ms over 100 reads of new (users, 1 instance, last 60 s)');
    // 1 mismatch in 20: a raw 5 % over the 1 % threshold, but the bound is 0.26 %: green
    const one = judgeWindows([win({ reads: 20, p99Ms: 5, matched: 19, mismatched: 1 })], t);
    expect(one.state).toBe('green');
    expect(one.figures[0]!.mismatchLowerBound).toBeCloseTo(0.0026, 4);
    // a sustained 10 % over 200 comparisons trips
    const many = judgeWindows([win({ reads: 200, p99Ms: 5, matched: 180, mismatched: 20, lagging: 50 })], t);
    expect(many.state).toBe('tripped');
    expect(many.breaches.map((b) => b.measure)).toEqual(['mismatch_rate']);
    expect(many.reason).toMatch(
      /^mismatch rate ≥ 6\.\d+% \(95% Wilson lower bound; 20 mismatched of 200 compared\) > 1% \(users/,
    );
  });

  it('judges each entity on its own: a healthy big entity does not hide a failing small one', () => {
    const j = judgeWindows(
      [win({ entity: 'orders', reads: 10_000, p99Ms: 3 }), win({ entity: 'users', reads: 40, errors: 10, p99Ms: 3 })],
      t,
    );
    expect(j.state).toBe('tripped');
    expect(j.breaches.map((b) => b.entity)).toEqual(['users']);
  });
});

describe('guard config', () => {
  it('has documented defaults and refuses a cooldown shorter than the window (one clear error)', () => {
    const cfg = parseConfig({
      source: 'sqlite::memory:',
      target: 'sqlite::memory:',
      entities: { users: { table: 'users', key: 'id', targets: [{ table: 'users', columns: { id: 'id' } }] } },
    });
    expect(cfg.guard).toEqual({
      windowSeconds: 60,
      minSamples: 100,
      maxErrorRate: 0.01,
      maxP99Ms: 500,
      maxMismatchRate: 0.001,
      cooldownSeconds: 300,
      intervalSeconds: 2,
      publishSeconds: 2,
    });
    expect(guardThresholds({ minSamples: 5 })).toMatchObject({ minSamples: 5, windowSeconds: 60 });
    let err: unknown;
    try {
      guardThresholds({ windowSeconds: 120, cooldownSeconds: 60 });
    } catch (e) {
      err = e;
    }
    expect(isTandemError(err, 'CONFIG_INVALID')).toBe(true);
    expect(String((err as Error).message)).toMatch(
      /guard: cooldownSeconds: cooldownSeconds must be at least windowSeconds/,
    );
    expect(() => guardThresholds({ maxErrorRate: 2 })).toThrow(/maxErrorRate/);
  });
});
