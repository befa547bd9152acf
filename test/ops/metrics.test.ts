import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromSqlite } from '../../src/capture/adapters.js';
import { outboxInsert } from '../../src/capture/outbox.js';
import { createDualWriter, type DualWriter } from '../../src/capture/writer.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { PHASES, setPhase } from '../../src/control/phase.js';
import { serveMetrics } from '../../src/core/metrics.js';
import { evaluateGuard } from '../../src/routing/guard.js';
import { setCanaryPercent, setShadowPercent } from '../../src/routing/state.js';
import { openMigration, type Migration } from '../../src/runtime/migration.js';
import { migrationMetricsText, refreshStatusMetrics } from '../../src/runtime/metrics.js';
import { createApp } from '../../src/server/app.js';
import type { ServerContext } from '../../src/server/context.js';
import { createPgDatabase } from '../helpers.js';
import { quiet, waitFor } from '../runtime/helpers.js';

/**
 * The catalogue test of `/metrics` (docs/metrics.md): a real embedded migration (SQLite legacy → PostgreSQL new) is
 * backfilled, written through the dual writer (with and without the fast path), relayed (a change of an unknown
 * entity is dead-lettered), verified (one row tampered with on the new side), and read through the router in
 * `canary` until the guard trips on the failing new reads, then shadowed. The server's `/metrics` is scraped and
 * every metric of docs/metrics.md's table must be there with its type, its label names and a sensible value —
 * and nothing outside the table. No label value may carry a row value, a key's text, a path or a secret.
 */

const USERS = 40;
const EMAIL = (i: number) => `person-${i}@private.example`;
const HASH = (i: number) => `$2y$10$SECRETHASH${String(i).padStart(4, '0')}abcdefghijklmnopqrstuv`;
const TAMPERED = 'tampered-value@private.example';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

/** Parses the Prometheus text exposition format (0.0.4): `# TYPE` lines and samples with escaped label values. */
function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[2] ?? '').matchAll(re))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}

interface Documented {
  name: string;
  type: string;
  labels: string[];
}

/** The catalogue table of docs/metrics.md. */
function documentedMetrics(): Documented[] {
  const md = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const rows: Documented[] = [];
  for (const line of md.split('\n')) {
    const m = /^\| `(tandem_[a-z0-9_]+)` \| (\w+) \| ([^|]+) \|/.exec(line);
    if (!m) continue;
    const labels = [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!);
    rows.push({ name: m[1]!, type: m[2]!, labels });
  }
  return rows;
}

const series = (s: Scrape, name: string, labels: Record<string, string> = {}) =>
  s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
const value = (s: Scrape, name: string, labels: Record<string, string> = {}) => {
  const found = series(s, name, labels);
  if (found.length !== 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} series`);
  return found[0]!.value;
};

describe('/metrics holds every documented metric', () => {
  let dir: string;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let m: Migration;
  let app: Database.Database;
  let slow: DualWriter;
  let fast: DualWriter;
  let scrape: Scrape;
  let text: string;
  /** A scrape while the backfill was held by the flag file. */
  let held = '';
  let flag: string;
  const newFails = { on: false };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tandem-metrics-'));
    const legacyFile = join(dir, 'legacy.db');
    flag = join(dir, 'hold-backfill');
    app = new Database(legacyFile);
    app.exec(
      'CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, password_hash TEXT NOT NULL, version INTEGER NOT NULL)',
    );
    const ins = app.prepare('INSERT INTO users VALUES (?, ?, ?, 1)');
    for (let i = 1; i <= USERS; i++) ins.run(i, EMAIL(i), HASH(i));
    tgt = await createPgDatabase('tandem_metrics');
    const setup = new pg.Client({ connectionString: tgt.url });
    await setup.connect();
    await setup.query('CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, password_hash text NOT NULL)');
    await setup.end();
    m = await openMigration(
      {
        source: `sqlite:${legacyFile}`,
        target: tgt.url,
        // the flag file holds the backfill (gh-ost's throttle flag file) until the test removes it
        backfill: { initialChunkRows: 10, maxChunkRows: 10, throttle: { flagFile: flag, checkSeconds: 0.2 } },
        // small windows so the guard judges a few reads: 5 reads of new, published every 0.2 s
        guard: { windowSeconds: 5, minSamples: 5, cooldownSeconds: 5, publishSeconds: 0.2 },
        entities: {
          users: {
            table: 'users',
            key: 'id',
            version: 'version',
            sensitive: ['password_hash'],
            targets: [{ table: 'users', columns: { id: 'id', email: 'email', password_hash: 'password_hash' } }],
          },
        },
      },
      { log: quiet },
    );
    await ensureControlSchema(m.stores.new);
    await ensureControlSchema(m.stores.legacy);
    await setPhase(m.stores.control, 'dual_write', { force: true });

    // the backfill starts held by the flag file: its throttle reason is a label, 1 while in force
    writeFileSync(flag, '');
    const backfill = m.services.backfill();
    await backfill.start();
    await waitFor(
      'the throttled backfill in /metrics',
      async () => {
        held = await scrapeApp();
        return held.includes('tandem_backfill_throttled{entity="users",reason="flag-file"} 1');
      },
      15_000,
    );
    unlinkSync(flag);
    expect((await backfill.wait()).map((r) => r.status)).toEqual(['done']);
    // one row differs on the new side (verify finds it); the application writes through the dual writer:
    // user 5 without the fast path (the relay applies it), user 6 with it, user 7 deleted
    await m.stores.new.execute('UPDATE users SET email = $1 WHERE id = 3', [TAMPERED]);
    slow = await createDualWriter({ migration: m, budgetMs: 0, log: quiet });
    fast = await createDualWriter({ migration: m, budgetMs: 2000, log: quiet });
    const conn = fromSqlite(app);
    await slow.write(conn, async (tx) => {
      app.prepare('UPDATE users SET email = ?, version = version + 1 WHERE id = 5').run(EMAIL(500));
      tx.changed('users', 5);
    });
    await fast.write(conn, async (tx) => {
      app.prepare('UPDATE users SET email = ?, version = version + 1 WHERE id = 6').run(EMAIL(600));
      tx.changed('users', 6);
    });
    await slow.write(conn, async (tx) => {
      app.prepare('DELETE FROM users WHERE id = 7').run();
      tx.changed('users', 7);
    });
    expect(fast.fastPath.applied).toBe(1);
    // a change of an entity the config does not know: dead-lettered by the relay
    const ghost = outboxInsert('sqlite', [{ entity: 'ghost', key: '["1"]', keyValues: [1] }]);
    await m.stores.legacy.execute(ghost.sql, ghost.params);

    // a relay pass
    const relay = m.services.relay({ untilEmpty: true, phasePollMs: 0 });
    await relay.start();
    const r = await relay.wait();
    expect(r.stats).toMatchObject({ changes: 4, deleted: 1, deadLettered: 1 });

    // one verification cycle (as tandem run's verify service runs it)
    const verify = m.services.verify({ cycles: 1, intervalSeconds: 1, lagSeconds: 0 });
    await verify.start();
    await verify.wait();

    // routed reads in canary at 100 %: new answers 10 reads, then fails 10 (legacy answers: fallback)
    await setPhase(m.stores.control, 'canary', { force: true });
    await setCanaryPercent(m.stores.control, 100);
    await m.readPhase();
    const users = m.reads<number, unknown>('users', {
      legacy: async (id) => (await m.stores.legacy.query('SELECT id, email FROM users WHERE id = ?', [id]))[0] ?? null,
      new: async (id) => {
        if (newFails.on) throw new Error('new store read failed');
        return (await m.stores.new.query('SELECT id, email FROM users WHERE id = $1', [id]))[0] ?? null;
      },
      budgetMs: 2000,
    });
    await m.refreshRouting();
    for (let id = 1; id <= 10; id++) await users.read(id);
    newFails.on = true;
    for (let id = 11; id <= 20; id++) await users.read(id);
    // the guard trips on the error rate of new (its windows are published every 0.2 s)
    await waitFor(
      'the guard to trip',
      async () => (await evaluateGuard(m.stores.control, m.config.guard)).verdict.state === 'tripped',
      15_000,
    );
    // canary 0 now; every key shadowed: legacy answers, new is read detached and compared
    newFails.on = false;
    await setShadowPercent(m.stores.control, 100);
    await m.refreshRouting();
    for (let id = 1; id <= 4; id++) await users.read(id);
    await waitFor(
      'the shadow comparisons',
      async () =>
        series(parseExposition(await scrapeApp()), 'tandem_routing_comparisons_total').reduce(
          (n, x) => n + x.value,
          0,
        ) === 4,
      10_000,
    );

    // /metrics reuses a status read for a second: read it fresh first, so the scrape sees the last step
    await refreshStatusMetrics(m, { maxAgeMs: 0 });
    text = await scrapeApp();
    scrape = parseExposition(text);
  }, 60_000);

  afterAll(async () => {
    await slow?.close();
    await fast?.close();
    await m?.close();
    app?.close();
    await tgt?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `GET /metrics` of the server (src/server/app.ts), the control-plane gauges read fresh. */
  async function scrapeApp(): Promise<string> {
    const ctx: ServerContext = { m, supervisor: null, tokens: [], bodyLimitBytes: 1 << 20, log: quiet };
    const res = await createApp(ctx).request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  }

  it('serves every metric of docs/metrics.md with its type and labels, and none that is not documented', () => {
    const docs = documentedMetrics();
    expect(docs.length).toBeGreaterThanOrEqual(30);
    expect(new Set(docs.map((d) => d.name)).size).toBe(docs.length);
    for (const d of docs) {
      expect(scrape.types.get(d.name), `${d.name}: type`).toBe(d.type);
      const sampleName = d.type === 'histogram' ? `${d.name}_count` : d.name;
      const found = series(scrape, sampleName);
      expect(found.length, `${d.name}: at least one series`).toBeGreaterThan(0);
      for (const s of found)
        expect(Object.keys(s.labels).sort(), `${d.name}: label names`).toEqual([...d.labels].sort());
      for (const s of found) expect(Number.isFinite(s.value), `${d.name}: a number`).toBe(true);
    }
    const documented = new Set(docs.map((d) => d.name));
    const served = [...scrape.types.keys()].filter((n) => n.startsWith('tandem_'));
    expect(served.filter((n) => !documented.has(n))).toEqual([]);
  });

  it('shows the phase, backfill, relay, dead letters and throttle with the values of the run', () => {
    expect(value(scrape, 'tandem_status_up')).toBe(1);
    expect(series(scrape, 'tandem_phase_info')).toEqual([
      { name: 'tandem_phase_info', labels: { phase: 'canary' }, value: 1 },
    ]);
    const users = { entity: 'users' };
    expect(value(scrape, 'tandem_backfill_rows_copied_total', users)).toBe(USERS);
    expect(value(scrape, 'tandem_backfill_checkpoint_rows', users)).toBe(USERS);
    expect(value(scrape, 'tandem_backfill_source_rows', users)).toBe(USERS);
    expect(value(scrape, 'tandem_backfill_progress_ratio', users)).toBe(1);
    expect(value(scrape, 'tandem_backfill_eta_seconds', users)).toBe(0);
    expect(
      Object.fromEntries(series(scrape, 'tandem_backfill_state', users).map((s) => [s.labels.state, s.value])),
    ).toEqual({ pending: 0, running: 0, paused: 0, done: 1, failed: 0 });
    // not throttled: a series per reason kind, all 0 (the reason is a label; its detail text never is)
    expect(
      Object.fromEntries(series(scrape, 'tandem_backfill_throttled', users).map((s) => [s.labels.reason, s.value])),
    ).toEqual({ paused: 0, 'flag-file': 0, 'replica-lag': 0, query: 0, rate: 0 });
    // the relay: users 5, 6 (already applied by the fast path: skipped) and 7 (deleted); ghost dead-lettered
    expect(value(scrape, 'tandem_relay_changes_total', users)).toBe(3);
    expect(value(scrape, 'tandem_relay_rows_applied_total', users)).toBe(1);
    expect(value(scrape, 'tandem_relay_rows_deleted_total', users)).toBe(1);
    expect(value(scrape, 'tandem_relay_dead_letters_total', { entity: 'ghost' })).toBe(1);
    expect(value(scrape, 'tandem_relay_dead_letters_queued')).toBe(1);
    expect(value(scrape, 'tandem_relay_pending_changes', { direction: 'forward' })).toBe(0);
    expect(value(scrape, 'tandem_relay_outbox_lag_seconds', { direction: 'forward' })).toBe(0);
    const lag = value(scrape, 'tandem_relay_lag_seconds');
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(60);
    expect(value(scrape, 'tandem_fastpath_total', { outcome: 'applied' })).toBe(1);
  });

  it('shows parity (0..1), freshness (Unix seconds) and differences of the verification', () => {
    const users = { entity: 'users' };
    // user 3 differs on the new side; user 7 is deleted on both: 38 of 39 rows match
    expect(value(scrape, 'tandem_verify_parity_ratio', users)).toBeCloseTo(38 / 39, 6);
    expect(value(scrape, 'tandem_verify_differences', users)).toBe(1);
    expect(value(scrape, 'tandem_verify_rows', users)).toBe(USERS - 1);
    const fresh = value(scrape, 'tandem_verify_last_success_timestamp_seconds', users);
    expect(Date.now() / 1000 - fresh).toBeGreaterThanOrEqual(0);
    expect(Date.now() / 1000 - fresh).toBeLessThan(120);
    expect(value(scrape, 'tandem_verify_last_pass_timestamp_seconds', users)).toBeGreaterThanOrEqual(fresh);
    expect(value(scrape, 'tandem_verify_last_pass_seconds', users)).toBeGreaterThan(0);
    const open = series(scrape, 'tandem_verify_mismatches', users)
      .filter((s) => s.labels.state === 'pending' || s.labels.state === 'confirmed')
      .reduce((a, s) => a + s.value, 0);
    expect(open).toBe(1);
  });

  it('shows routed requests and their latency per origin and outcome, the routing state and the guard', () => {
    const users = { entity: 'users' };
    expect(value(scrape, 'tandem_routing_requests_total', { ...users, origin: 'new', outcome: 'ok' })).toBe(10);
    expect(value(scrape, 'tandem_routing_requests_total', { ...users, origin: 'legacy', outcome: 'fallback' })).toBe(
      10,
    );
    // after the trip (canary 0, shadow 100): legacy answers
    expect(value(scrape, 'tandem_routing_requests_total', { ...users, origin: 'legacy', outcome: 'ok' })).toBe(4);
    for (const [origin, outcome, n] of [
      ['new', 'ok', 10],
      ['legacy', 'fallback', 10],
      ['legacy', 'ok', 4],
    ] as const) {
      const l = { ...users, origin, outcome };
      expect(value(scrape, 'tandem_routing_request_duration_seconds_count', l)).toBe(n);
      expect(value(scrape, 'tandem_routing_request_duration_seconds_bucket', { ...l, le: '+Inf' })).toBe(n);
      const sum = value(scrape, 'tandem_routing_request_duration_seconds_sum', l);
      expect(sum).toBeGreaterThan(0);
      expect(sum / n).toBeLessThan(2); // seconds, not milliseconds
    }
    // the store reads behind them: 10 failed reads of new, each followed by a fallback read of legacy
    expect(
      value(scrape, 'tandem_routing_reads_total', { ...users, origin: 'new', outcome: 'error', served: 'true' }),
    ).toBe(10);
    expect(series(scrape, 'tandem_routing_comparisons_total', users).reduce((a, s) => a + s.value, 0)).toBe(4);
    expect(value(scrape, 'tandem_routing_guard_trips_total', { measure: 'error_rate' })).toBe(1);
    expect(
      Object.fromEntries(series(scrape, 'tandem_routing_guard_state').map((s) => [s.labels.state, s.value])),
    ).toEqual({ green: 0, insufficient: 0, tripped: 1 });
    expect(value(scrape, 'tandem_routing_canary_ratio')).toBe(0);
    expect(value(scrape, 'tandem_routing_shadow_ratio')).toBe(1);
    expect(value(scrape, 'tandem_routing_killed')).toBe(0);
  });

  it('shows a held backfill as running and throttled by the flag file, the reason a label and never its detail', () => {
    const h = parseExposition(held);
    const users = { entity: 'users' };
    expect(
      Object.fromEntries(series(h, 'tandem_backfill_throttled', users).map((s) => [s.labels.reason, s.value])),
    ).toEqual({ paused: 0, 'flag-file': 1, 'replica-lag': 0, query: 0, rate: 0 });
    expect(value(h, 'tandem_backfill_state', { ...users, state: 'running' })).toBe(1);
    expect(value(h, 'tandem_backfill_progress_ratio', users)).toBeLessThan(1);
    expect(value(h, 'tandem_phase_info', { phase: 'dual_write' })).toBe(1);
    // the throttle's detail names the flag file's path: it is in no label
    expect(held).not.toContain(flag);
    expect(held).not.toContain(dir);
  });

  it('puts no row value, key text, path or secret in a label: label values are entity names and closed sets', () => {
    const allowed: Record<string, Set<string>> = {
      entity: new Set(['users', 'ghost']),
      phase: new Set(PHASES),
      state: new Set([
        'pending',
        'running',
        'paused',
        'done',
        'failed',
        'green',
        'insufficient',
        'tripped',
        'confirmed',
        'repaired',
        'resolved',
      ]),
      reason: new Set(['paused', 'flag-file', 'replica-lag', 'query', 'rate']),
      direction: new Set(['forward', 'reverse']),
      origin: new Set(['legacy', 'new']),
      outcome: new Set([
        'ok',
        'error',
        'timeout',
        'fallback',
        'matched',
        'mismatched',
        'lagging',
        'dropped',
        'applied',
        'failed',
        'skipped',
        'over_budget',
      ]),
      served: new Set(['true', 'false']),
      measure: new Set(['error_rate', 'p99_latency', 'mismatch_rate']),
    };
    const secrets = [
      dir,
      TAMPERED,
      'new store read failed',
      ...Array.from({ length: USERS }, (_, i) => [EMAIL(i + 1), HASH(i + 1)]).flat(),
      EMAIL(500),
      EMAIL(600),
    ];
    for (const s of scrape.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        if (k === 'le') {
          expect(Number.isFinite(Number(v)) || v === '+Inf').toBe(true);
          continue;
        }
        expect(allowed[k], `label ${k} of ${s.name}`).toBeDefined();
        expect(allowed[k]!.has(v), `${s.name}{${k}="${v}"}`).toBe(true);
      }
    }
    for (const secret of secrets) expect(text.includes(secret), secret).toBe(false);
    expect(text).not.toMatch(/SECRETHASH|private\.example|postgres:\/\/|sqlite:|tandem_metrics/);
  });

  it('serves the same control-plane gauges from the relay endpoint, reads the status once per second at most, and says when it cannot', async () => {
    const stop = new AbortController();
    await refreshStatusMetrics(m, { maxAgeMs: 0 });
    try {
      const port = await serveMetrics(0, stop.signal, { beforeScrape: () => refreshStatusMetrics(m) });
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(body).toContain('tandem_phase_info{phase="canary"} 1');
      expect(body).toContain('tandem_relay_dead_letters_queued 1');
    } finally {
      stop.abort();
    }
    // a status read is reused while it is young: a change shows after it is older than maxAgeMs
    await refreshStatusMetrics(m, { maxAgeMs: 0 });
    await m.stores.control.execute(`DELETE FROM ${m.stores.control.controlTable('dead_letters')}`);
    expect(await migrationMetricsText(m, { maxAgeMs: 60_000 })).toContain('tandem_relay_dead_letters_queued 1');
    expect(await migrationMetricsText(m, { maxAgeMs: 0 })).toContain('tandem_relay_dead_letters_queued 0');
    // a migration whose control plane cannot be read: tandem_status_up 0, and no stale control-plane figure
    const broken = await openMigration(
      {
        source: `sqlite:${join(dir, 'b-legacy.db')}`,
        target: `sqlite:${join(dir, 'b-new.db')}`,
        entities: { t: { table: 't', key: 'id', targets: [{ table: 't', columns: { id: 'id' } }] } },
      },
      { entities: null, log: quiet },
    );
    try {
      await ensureControlSchema(broken.stores.new);
      await broken.stores.new.execute(`DROP TABLE ${broken.stores.new.controlTable('dead_letters')}`);
      const down = parseExposition(await migrationMetricsText(broken, { maxAgeMs: 0 }));
      expect(value(down, 'tandem_status_up')).toBe(0);
      for (const name of ['tandem_phase_info', 'tandem_backfill_state', 'tandem_relay_pending_changes'])
        expect(series(down, name), name).toEqual([]);
      // a gauge without labels cannot be left out: it is NaN (unknown), never a stale or a made-up 0
      for (const name of ['tandem_relay_dead_letters_queued', 'tandem_routing_killed'])
        expect(value(down, name), name).toBeNaN();
      // the event counters stay
      expect(value(down, 'tandem_backfill_rows_copied_total', { entity: 'users' })).toBe(USERS);
    } finally {
      await broken.close();
    }
    expect(value(parseExposition(await migrationMetricsText(m, { maxAgeMs: 0 })), 'tandem_status_up')).toBe(1);
  });
});
