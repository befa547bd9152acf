/**
 * Guard benchmark: the time from the first failed read of the new store to the canary at 0, with the default
 * guard settings (publish every 2 s, evaluate every 2 s, 60 s window, minSamples 100, 1 % errors, p99 500 ms,
 * mismatch bound 0.1 %).
 *
 *   npm run bench:guard -- [--runs 3] [--rate 400] [--control postgres|sqlite]
 *
 * One application instance (a ReadStats publishing to the control plane, src/routing/stats.ts) records `--rate`
 * reads of the new store per second — synthetic latencies around 5 ms, and one shadow comparison per read — while
 * an evaluator runs what the guard service of `tandem run` runs (`evaluateGuard` every `guard.intervalSeconds`).
 * After 3 s of healthy reads (the guard green), the new store fails in one of three ways: every read errors; every
 * read takes 700 ms; every comparison mismatches. The figure is the wall time from the first bad sample to the
 * `routing.canary_percent` row reading 0 (polled every 20 ms). Publication and evaluation run on their own timers,
 * so the figure varies with their phase: each scenario runs `--runs` times on a fresh control plane.
 * First it times the observer itself: µs per recorded read, without and with Prometheus metrics.
 * The last line is exactly: `guard errors_ms=… latency_ms=… mismatch_ms=… (median of N; max …) observer_us=A/B`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { GUARD_DEFAULTS } from '../src/config/schema.js';
import { ensureControlSchema } from '../src/control/control.js';
import { evaluateGuard } from '../src/routing/guard.js';
import { createReadStats } from '../src/routing/stats.js';
import { ROUTING_STATE_ROWS } from '../src/routing/types.js';
import { openStore } from '../src/stores/index.js';
import type { Store } from '../src/stores/types.js';
import { PG_BASE } from './common.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    rate: { type: 'string', default: '400' },
    control: { type: 'string', default: 'postgres' },
  },
});
const RUNS = Math.max(1, Number(args.runs));
const RATE = Math.max(10, Number(args.rate));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Scenario = 'errors' | 'latency' | 'mismatch';

async function openControl(): Promise<{ store: Store; drop: () => Promise<void> }> {
  if (args.control === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-guard-'));
    return { store: await openStore(`sqlite:${join(dir, 'c.db')}`), drop: async () => {} };
  }
  const name = `tandem_bench_guard_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  return {
    store: await openStore(`${PG_BASE}/${name}`),
    drop: async () => {
      const c = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

async function canary(control: Store): Promise<string | null> {
  const r = await control.query<{ value: unknown }>(
    `SELECT value FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`,
    [ROUTING_STATE_ROWS.canaryPercent],
  );
  return r[0] ? String(r[0].value) : null;
}

async function once(scenario: Scenario): Promise<number> {
  const { store: control, drop } = await openControl();
  try {
    await ensureControlSchema(control);
    await control.execute(
      `INSERT INTO ${control.controlTable('state')} (name, value) VALUES (${control.sql.param(1)}, '20')`,
      [ROUTING_STATE_ROWS.canaryPercent],
    );
    const stats = createReadStats({ instanceId: 'bench', metrics: true });
    const pub = stats.startPublishing(control, { intervalMs: GUARD_DEFAULTS.publishSeconds * 1000 });
    let bad = false;
    let firstBad = 0;
    let stop = false;
    // the application: RATE reads per second, in ticks of 10 ms
    const app = (async () => {
      let i = 0;
      const start = performance.now();
      while (!stop) {
        const due = Math.floor(((performance.now() - start) / 1000) * RATE);
        for (; i < due; i++) {
          const failing = bad;
          if (failing && !firstBad) firstBad = Date.now();
          const err = failing && scenario === 'errors';
          const latencyMs = failing && scenario === 'latency' ? 700 : 3 + 4 * Math.random();
          stats.read({ entity: 'users', origin: 'new', outcome: err ? 'error' : 'ok', latencyMs, served: true });
          stats.read({ entity: 'users', origin: 'legacy', outcome: 'ok', latencyMs: 2, served: false });
          stats.comparison('users', failing && scenario === 'mismatch' ? 'mismatched' : 'matched');
        }
        await sleep(10);
      }
    })();
    // the guard service: evaluateGuard every intervalSeconds (what GuardService runs)
    const guard = (async () => {
      while (!stop) {
        await evaluateGuard(control, GUARD_DEFAULTS).catch((e) =>
          console.error(`evaluation failed: ${(e as Error).message}`),
        );
        await sleep(GUARD_DEFAULTS.intervalSeconds * 1000);
      }
    })();
    await sleep(3000 + Math.random() * 2000);
    bad = true;
    let elapsed = Number.NaN;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      if ((await canary(control)) === '0') {
        elapsed = Date.now() - firstBad;
        break;
      }
      await sleep(20);
    }
    stop = true;
    await Promise.all([app, guard]);
    await pub.stop();
    return elapsed;
  } finally {
    await control.close();
    await drop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The observer's cost on the request path: µs per recorded read (median of 5 rounds of 100,000). */
function observerCost(metrics: boolean): number {
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const s = createReadStats({ instanceId: `cost-${metrics}`, metrics });
    const N = 100_000;
    const t0 = performance.now();
    for (let i = 0; i < N; i++)
      s.read({
        entity: 'users',
        origin: i % 2 ? 'new' : 'legacy',
        outcome: i % 97 ? 'ok' : 'error',
        latencyMs: 1 + (i % 50),
        served: i % 3 !== 0,
      });
    rounds.push(((performance.now() - t0) * 1000) / N);
  }
  return median(rounds);
}
const costPlain = observerCost(false);
const costMetrics = observerCost(true);
console.log(
  `observer: ${costPlain.toFixed(2)} µs per read without Prometheus metrics, ${costMetrics.toFixed(2)} µs with them`,
);

const results: Record<Scenario, number[]> = { errors: [], latency: [], mismatch: [] };
console.log(
  `guard bench: ${RATE} reads/s of new, control ${args.control}, ${RUNS} runs per scenario, defaults ${JSON.stringify(GUARD_DEFAULTS)}`,
);
for (const s of ['errors', 'latency', 'mismatch'] as const) {
  for (let r = 0; r < RUNS; r++) {
    const ms = await once(s);
    results[s].push(ms);
    console.log(`  ${s} run ${r + 1}: first bad read → canary 0 in ${ms} ms`);
  }
}
const fmt = (s: Scenario) => `${Math.round(median(results[s]))}`;
const max = Math.max(...Object.values(results).flat());
console.log(
  `guard errors_ms=${fmt('errors')} latency_ms=${fmt('latency')} mismatch_ms=${fmt('mismatch')} (median of ${RUNS}; max ${Math.round(max)}) observer_us=${costPlain.toFixed(2)}/${costMetrics.toFixed(2)}`,
);
