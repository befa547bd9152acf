import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { setPhase, type Phase } from '../../src/control/phase.js';
import { createLogger } from '../../src/core/logger.js';
import { bucketOf } from '../../src/routing/bucket.js';
import type { Reader } from '../../src/routing/reader.js';
import { setCanaryPercent, setShadowPercent } from '../../src/routing/state.js';
import { type CompareOutcome, ROUTING_STATE_ROWS, type ReadSample } from '../../src/routing/types.js';
import { type Migration, openMigration } from '../../src/runtime/migration.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, median, PG_BASE, runCli, waitFor, writeConfig } from '../helpers.js';
import { TcpProxy } from '../proxy.js';

/**
 * Routed reads against MariaDB (legacy) → PostgreSQL (new). The application's read functions are real queries;
 * the new store is reached through a TCP proxy (cut = down) and slowed with pg_sleep; the control store of the
 * first config is reached through a second proxy (hung = control plane unreadable, for the failsafe).
 */

const quiet = createLogger({ level: 'silent' });

/**
 * Runs the real `tandem` command code in this process (main() of src/cli/index.ts), capturing what it prints: a
 * spawned CLI costs seconds of start-up on a loaded machine. The kill switch test spawns a real process.
 */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const prevLevel = process.env.TANDEM_LOG_LEVEL;
  process.env.TANDEM_LOG_LEVEL = 'silent';
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'tandem', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
    if (prevLevel === undefined) delete process.env.TANDEM_LOG_LEVEL;
    else process.env.TANDEM_LOG_LEVEL = prevLevel;
  }
}
const USERS = 200;

type Row = { origin: 'legacy' | 'new'; id: number; email: string | null };

/** A recording observer. */
function recorder() {
  const reads: ReadSample[] = [];
  const comparisons: CompareOutcome[] = [];
  return {
    reads,
    comparisons,
    observer: {
      read: (s: ReadSample) => void reads.push(s),
      comparison: (_e: string, o: CompareOutcome) => void comparisons.push(o),
    },
    count: (o: CompareOutcome) => comparisons.filter((c) => c === o).length,
  };
}

describe('routed reads (MariaDB → PostgreSQL)', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  const pgAt = new URL(PG_BASE);
  const newProxy = new TcpProxy(Number(pgAt.port || 5432), pgAt.hostname);
  const ctlProxy = new TcpProxy(Number(pgAt.port || 5432), pgAt.hostname);
  /** The target database's URL through a proxy. */
  const via = (proxy: TcpProxy, path: string) =>
    `postgres://${pgAt.username || 'postgres'}@127.0.0.1:${proxy.port}${path}`;
  let cfgFast: string; // control through ctlProxy, refreshMs 100, failSafeSeconds 2
  let cfgDefault: string; // control = target directly, default routing (refreshMs 1000)
  let m: Migration;
  let legacyDb: mysql.Pool;
  let newDb: pg.Pool;
  const newMode = { delayMs: 0, inflight: 0, maxInflight: 0, calls: 0 };
  let legacyThrows = false;

  const legacyRead = async (id: number): Promise<Row> => {
    if (legacyThrows) throw new Error('legacy down (planted)');
    const [rows] = await legacyDb.query('SELECT id, email FROM users WHERE id = ?', [id]);
    const r = (rows as { id: number; email: string }[])[0];
    return { origin: 'legacy', id, email: r?.email ?? null };
  };
  const newRead = async (id: number): Promise<Row> => {
    newMode.calls++;
    newMode.inflight++;
    newMode.maxInflight = Math.max(newMode.maxInflight, newMode.inflight);
    try {
      if (newMode.delayMs) await newDb.query('SELECT pg_sleep($1)', [newMode.delayMs / 1000]);
      const r = await newDb.query('SELECT id, email_address FROM users WHERE id = $1', [id]);
      return { origin: 'new', id, email: r.rows[0]?.email_address ?? null };
    } finally {
      newMode.inflight--;
    }
  };
  const reader = (rec = recorder(), extra: { budgetMs?: number; compare?: boolean } = {}, mig: Migration = m) => ({
    rec,
    r: mig.reads<number, Row>('users', {
      legacy: legacyRead,
      new: newRead,
      observer: rec.observer,
      budgetMs: extra.budgetMs,
      compare: extra.compare === false ? undefined : (a, b) => a.email === b.email,
    }),
  });
  const phase = async (p: Phase) => {
    await setPhase(m.stores.control, p, { force: true });
    await m.refreshRouting();
  };
  const state = async (o: { shadow?: number; canary?: number }) => {
    if (o.shadow !== undefined) await setShadowPercent(m.stores.control, o.shadow);
    if (o.canary !== undefined) await setCanaryPercent(m.stores.control, o.canary);
    await m.refreshRouting();
  };

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_rt_src');
    await createLegacyMysql(src.url, USERS);
    tgt = await createPgDatabase('tandem_rt_tgt');
    await createNewPostgres(tgt.url);
    // the new store holds half the users (as if the backfill were half done): differences to compare
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    await c.query("INSERT INTO organisations SELECT g, 'o' FROM generate_series(1, 20) g");
    const legacy = await mysql.createConnection({ uri: src.url });
    const [rows] = await legacy.query('SELECT id, org_id, email FROM users WHERE id <= ?', [USERS / 2]);
    await legacy.end();
    for (const u of rows as { id: number; org_id: number; email: string }[])
      await c.query(`INSERT INTO users VALUES ($1, $2, $3, 'h', 'active', 0, now(), now(), 'legacy')`, [
        u.id,
        u.org_id,
        u.id % 10 === 0 ? `changed-${u.email}` : u.email,
      ]);
    await c.end();
    await newProxy.start();
    await ctlProxy.start();
    const name = new URL(tgt.url).pathname;
    const text = fixtureConfig(src.url, tgt.url);
    cfgFast = writeConfig(
      text.replace(
        '  backfill:',
        `  control: ${JSON.stringify(via(ctlProxy, name))},
  routing: { salt: 's1', refreshMs: 100, failSafeSeconds: 2, budgetMs: 50, shadowDeadlineMs: 1000, maxConcurrentShadow: 8 },
  backfill:`,
      ),
    );
    cfgDefault = writeConfig(text);
    m = await openMigration(cfgFast, { entities: ['users'], log: quiet });
    await ensureControlSchema(m.stores.control);
    legacyDb = mysql.createPool({ uri: src.url, connectionLimit: 10 });
    newDb = new pg.Pool({ connectionString: via(newProxy, name), max: 20 });
    newDb.on('error', () => {});
  });

  afterAll(async () => {
    await m?.close();
    await legacyDb?.end();
    await newDb?.end().catch(() => {});
    await newProxy.close();
    await ctlProxy.close();
    await src?.drop().catch(() => {});
    await tgt?.drop().catch(() => {});
  });

  it('reads() of an entity that is not resolved, or not in the config, is TANDEM_ERR_ROUTING_UNKNOWN_ENTITY', async () => {
    const bare = await openMigration(cfgDefault, { entities: null, log: quiet });
    try {
      expect(() => bare.reads('users', { legacy: legacyRead, new: newRead })).toThrow(
        /TANDEM_ERR_ROUTING_UNKNOWN_ENTITY|was not resolved/,
      );
      expect(() => m.reads('nope', { legacy: legacyRead, new: newRead })).toThrow(/unknown entity "nope"/);
    } finally {
      await bare.close();
    }
  });

  it('prepare and dual_write: legacy only, new is never called', async () => {
    const { r, rec } = reader();
    for (const p of ['prepare', 'dual_write'] as const) {
      await phase(p);
      await state({ shadow: 100, canary: 100 });
      const before = newMode.calls;
      for (let id = 1; id <= 20; id++) expect(await r.read(id)).toEqual(await legacyRead(id));
      await new Promise((res) => setImmediate(res));
      expect(newMode.calls).toBe(before);
    }
    expect(rec.reads.every((s) => s.origin === 'legacy' && s.outcome === 'ok' && s.served)).toBe(true);
  });

  it('shadow: legacy results unchanged and not delayed while new is slowed by 200 ms; then while new is down', async () => {
    await phase('shadow');
    await state({ shadow: 100, canary: 0 });
    const { r, rec } = reader();
    newMode.delayMs = 200;
    const took: number[] = [];
    // 8 keys: no more than maxConcurrentShadow (8) shadow reads are in flight, so every one is compared
    for (const id of [1, 2, 3, 4, 5, 6, 7, 10]) {
      const t0 = performance.now();
      const got = await r.read(id);
      took.push(performance.now() - t0);
      expect(got).toEqual(await legacyRead(id));
    }
    // a read waits for legacy only: a few ms on an idle machine; had it waited for new it would take ≥ 200 ms
    // (the bound leaves room for a loaded machine: 2 cores shared by several test runs)
    expect(median(took)).toBeLessThan(180);
    // a difference is lag-aware: the planted rows of new have no ledger entry, so a differing key counts as a change
    // in flight (`lagging`) until the lag window (10 s by default) ends, and then as `mismatched`
    await waitFor(() => rec.count('matched') + rec.count('mismatched') === 8, {
      timeoutMs: 45_000,
      what: '8 comparisons',
    });
    // ids 1…100 are in new (every tenth with another e-mail), 101…200 not yet
    expect(rec.count('matched')).toBe(7);
    expect(rec.count('mismatched')).toBe(1);
    expect(
      rec.reads.filter((s) => s.origin === 'new').every((s) => !s.served && s.outcome === 'ok' && s.latencyMs >= 190),
    ).toBe(true);

    newMode.delayMs = 0;
    await newProxy.cut();
    try {
      const down = recorder();
      const { r: r2 } = reader(down);
      for (let id = 101; id <= 120; id++) expect(await r2.read(id)).toEqual(await legacyRead(id));
      await waitFor(() => down.comparisons.length === 20, { timeoutMs: 15_000, what: '20 dropped comparisons' });
      // refused connections (or over the cap while they fail): none compared
      expect(down.count('dropped')).toBe(20);
      expect(down.reads.filter((s) => s.origin === 'new').every((s) => s.outcome === 'error' && !s.served)).toBe(true);
    } finally {
      await newProxy.restore();
    }
  });

  it('shadow over the concurrency cap is dropped and counted, never queued', async () => {
    await phase('shadow');
    await state({ shadow: 100 });
    newMode.delayMs = 300;
    newMode.maxInflight = 0;
    const { r, rec } = reader();
    try {
      const got = await Promise.all(Array.from({ length: 40 }, (_, i) => r.read(i + 1)));
      expect(got.every((g) => g.origin === 'legacy')).toBe(true);
      await waitFor(() => rec.comparisons.length === 40, { timeoutMs: 15_000, what: '40 outcomes' });
      // maxConcurrentShadow is 8: at most 8 new reads at once, the other 32 dropped at once
      expect(newMode.maxInflight).toBeLessThanOrEqual(8);
      expect(rec.count('dropped')).toBe(32);
    } finally {
      newMode.delayMs = 0;
    }
  });

  it('canary: the canary share is served by new; an error or a timeout past budgetMs falls back to legacy; never throws', async () => {
    await phase('canary');
    await state({ shadow: 0, canary: 100 });
    const { r, rec } = reader(recorder(), { budgetMs: 50 });
    // healthy: served by new (a generous budget, so a loaded machine cannot turn it into a fallback)
    const { r: patient } = reader(recorder(), { budgetMs: 5000 });
    expect((await patient.read(5)).origin).toBe('new');
    // slowed past the budget: legacy answers, in about budget + the legacy read
    newMode.delayMs = 200;
    const took: number[] = [];
    for (let id = 1; id <= 10; id++) {
      const t0 = performance.now();
      expect(await r.read(id)).toEqual(await legacyRead(id));
      took.push(performance.now() - t0);
    }
    newMode.delayMs = 0;
    // budget 50 ms + a legacy read of a few ms; had it waited for new it would take ≥ 200 ms (median, and room for
    // timers firing late on a loaded machine)
    expect(median(took)).toBeLessThan(190);
    expect(median(took)).toBeGreaterThanOrEqual(49);
    expect(rec.reads.filter((s) => s.origin === 'new' && s.outcome === 'timeout').length).toBe(10);
    expect(rec.reads.filter((s) => s.origin === 'legacy' && s.outcome === 'fallback').length).toBe(10);

    await newProxy.cut();
    try {
      for (let id = 1; id <= 10; id++) expect(await r.read(id)).toEqual(await legacyRead(id));
      expect(rec.reads.filter((s) => s.origin === 'new' && s.outcome === 'error').length).toBe(10);
      // fallback throws only what legacy itself throws
      legacyThrows = true;
      await expect(r.read(1)).rejects.toThrow('legacy down (planted)');
    } finally {
      legacyThrows = false;
      await newProxy.restore();
    }
    expect((await patient.read(5)).origin).toBe('new');
  });

  it('canary: shares within ±1.5 % over 10,000 keys, sticky across calls and across two instances, monotonic', async () => {
    await phase('canary');
    // two instances of their own (failSafeSeconds 30): 10,000 explains in a row block the event loop for a while,
    // which must not be mistaken for an unreadable control plane (failSafeSeconds is 1 in cfgFast)
    const one = await openMigration(cfgDefault, { entities: ['users'], log: quiet });
    const other = await openMigration(cfgDefault, { entities: ['users'], log: quiet });
    try {
      const a = reader(recorder(), {}, one).r;
      const b = reader(recorder(), {}, other).r;
      const keys = Array.from({ length: 10_000 }, (_, i) => i + 1);
      const served = (rd: Reader<number, Row>) => keys.map((k) => rd.explain(k).route.serve === 'new');
      let prev: boolean[] | null = null;
      for (const p of [5, 20, 50]) {
        await state({ canary: p });
        await one.refreshRouting();
        await other.refreshRouting();
        const sa = served(a);
        expect(served(a)).toEqual(sa); // sticky across calls
        expect(served(b)).toEqual(sa); // and across instances
        const share = (sa.filter(Boolean).length / keys.length) * 100;
        expect(Math.abs(share - p), `share at ${p}%`).toBeLessThanOrEqual(1.5);
        if (prev) prev.forEach((inBefore, i) => inBefore && expect(sa[i]).toBe(true)); // monotonic ramp
        prev = sa;
      }
      // and what explain says is what read does, on real reads
      for (let id = 1; id <= 40; id++) expect((await a.read(id)).origin).toBe(a.explain(id).route.serve);
      // cfgDefault has the default salt
      expect(a.explain(42).bucket).toBe(bucketOf('tandem', '["42"]'));

      // a canary decision hook (OpenFeature's place) replaces the bucket rule, with the canonical key as targeting key
      await state({ canary: 0 });
      await one.refreshRouting();
      const asked: string[] = [];
      const decided = one.reads<number, Row>('users', {
        legacy: legacyRead,
        new: newRead,
        budgetMs: 5000,
        canaryDecision: (_entity, key) => (asked.push(key), key === '["5"]'),
      });
      expect((await decided.read(5)).origin).toBe('new');
      expect((await decided.read(6)).origin).toBe('legacy');
      expect(asked).toEqual(['["5"]', '["6"]']);
    } finally {
      await one.close();
      await other.close();
    }
  });

  it('`tandem kill` reaches a running instance within 2 s (default refreshMs); `tandem unkill` brings the canary back', async () => {
    const inst = await openMigration(cfgDefault, { entities: ['users'], log: quiet });
    try {
      await setPhase(inst.stores.control, 'canary', { force: true });
      await setCanaryPercent(inst.stores.control, 100);
      // a generous budget: a fallback on a loaded machine must not pass for the kill switch
      const { r } = reader(recorder(), { budgetMs: 5000 }, inst);
      await waitFor(async () => (await r.read(7)).origin === 'new', {
        timeoutMs: 5000,
        what: 'canary 100 % served by new',
      });
      const k = await runCli(['kill', '--config', cfgDefault]);
      expect(k.code, k.stderr).toBe(0);
      expect(k.stdout).toMatch(/kill switch: on/);
      const t0 = Date.now();
      await waitFor(async () => (await r.read(7)).origin === 'legacy', {
        timeoutMs: 2000,
        what: 'the kill switch to reach the instance',
      });
      const reached = Date.now() - t0;
      expect(reached).toBeLessThan(2000);
      expect(r.explain(7).route.why).toMatch(/^killed/);
      const u = await cli(['unkill', '--config', cfgDefault]);
      expect(u.code, u.stderr).toBe(0);
      await waitFor(async () => (await r.read(7)).origin === 'new', {
        timeoutMs: 2000,
        what: 'unkill to reach the instance',
      });
    } finally {
      await inst.close();
    }
  });

  it('failsafe: an instance that cannot read the control plane for longer than failSafeSeconds serves legacy only', async () => {
    await phase('canary');
    await state({ canary: 100 });
    const { r } = reader(recorder(), { budgetMs: 5000 });
    expect((await r.read(3)).origin).toBe('new');
    await ctlProxy.hang();
    const cut = Date.now();
    try {
      // the last state is kept meanwhile (failSafeSeconds is 2)
      expect(m.routingView().failsafe).toBe(false);
      await waitFor(() => m.routingView().failsafe, { timeoutMs: 8000, what: 'the failsafe' });
      // a read succeeded at most refreshMs (100) before the cut: the failsafe cannot come before ~1.9 s
      expect(Date.now() - cut).toBeGreaterThanOrEqual(1850);
      for (let id = 1; id <= 5; id++) expect(await r.read(id)).toEqual(await legacyRead(id));
    } finally {
      await ctlProxy.restore();
    }
    await waitFor(async () => (await r.read(3)).origin === 'new', {
      timeoutMs: 8000,
      what: 'routing back once the control plane answers',
    });
  });

  it('CLI: bad input is one TANDEM_ERR_* line and writes nothing; the guard refuses an advance until its cooldown; bucket explains', async () => {
    const control = m.stores.control;
    const rows = async () =>
      await control.query<{ name: string; value: string }>(
        `SELECT name, value FROM ${control.controlTable('state')} WHERE name LIKE 'routing.%' ORDER BY name`,
      );
    const audits = async () =>
      Number(
        (await control.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${control.controlTable('audit_log')}`))[0]!.n,
      );
    await setPhase(control, 'canary', { force: true });
    await setCanaryPercent(control, 5);
    const before = { rows: await rows(), audits: await audits() };
    const bad = [];
    for (const args of [
      ['canary', '101'],
      ['canary', '5.123'],
      ['shadow', 'abc'],
      ['bucket', '[1,', '--entity', 'users'],
      ['bucket', 'abc', '--entity', 'users'],
    ])
      bad.push(await cli([...args, '--config', cfgDefault]));
    const codes = [
      'ROUTING_PERCENT_INVALID',
      'ROUTING_PERCENT_INVALID',
      'ROUTING_PERCENT_INVALID',
      'ROUTING_KEY_INVALID',
      'ROUTING_KEY_INVALID',
    ];
    bad.forEach((b, i) => {
      expect(b.code, b.stdout).toBe(2);
      expect(b.stderr.trim().split('\n')).toHaveLength(1);
      expect(b.stderr).toMatch(new RegExp(`^TANDEM_ERR_${codes[i]}: `));
    });
    expect(await rows()).toEqual(before.rows);
    expect(await audits()).toBe(before.audits);

    // the guard tripped, cooldown running: raising the canary is refused, nothing written
    const now = Date.now();
    const put = (v: object) =>
      control
        .execute(`UPDATE ${control.controlTable('state')} SET value = $1 WHERE name = $2`, [
          JSON.stringify(v),
          ROUTING_STATE_ROWS.guard,
        ])
        .then(async (n) => {
          if (n === 0)
            await control.execute(`INSERT INTO ${control.controlTable('state')} (name, value) VALUES ($2, $1)`, [
              JSON.stringify(v),
              ROUTING_STATE_ROWS.guard,
            ]);
        });
    await put({
      state: 'tripped',
      reason: 'error rate 4.1% > 1% over 312 reads of new',
      atMs: now,
      cooldownUntilMs: now + 60_000,
    });
    const refused = await cli(['canary', '10', '--config', cfgDefault]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^TANDEM_ERR_ROUTING_GUARD_TRIPPED: the guard tripped \(error rate 4\.1%/);
    expect((await m.status()).routing).toMatchObject({
      canaryPercent: 5,
      guard: { state: 'tripped', reason: /error rate/ },
    });
    // after the cooldown an explicit canary N clears the trip
    await put({
      state: 'tripped',
      reason: 'error rate 4.1% > 1% over 312 reads of new',
      atMs: now,
      cooldownUntilMs: now - 1,
    });
    const ok = await cli(['canary', '10', '--config', cfgDefault]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/canary: 5% → 10% \(guard trip cleared/);
    const st = await m.status();
    expect(st.routing).toMatchObject({
      canaryPercent: 10,
      killed: false,
      guard: { state: 'green', reason: null },
      shadow: { source: 'control-plane', compared: 0 },
    });
    expect(st.audit[0]).toMatchObject({ command: 'canary', outcome: 'ok' });

    // tandem bucket: the default salt "tandem" and key 42 give bucket 8924 (the reference vector of docs/routing.md)
    const b = await cli(['bucket', '42', '--entity', 'users', '--config', cfgDefault, '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({
      key: '["42"]',
      bucket: 8924,
      phase: 'canary',
      canaryPercent: 10,
      servedBy: 'legacy',
      why: /bucket 8924 ≥ canary 10%/,
    });
    const t = await cli(['bucket', '[7, 42]', '--entity', 'memberships', '--config', cfgDefault]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('key: ["7","42"]');
    expect(t.stdout).toMatch(/served by: legacy/);
  });
});
