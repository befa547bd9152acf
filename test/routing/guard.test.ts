import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureControlSchema, recentAudit } from '../../src/control/control.js';
import { snapshot } from '../../src/core/metrics.js';
import { evaluateGuard, readGuardVerdict } from '../../src/routing/guard.js';
import {
  createReadStats,
  pruneWindows,
  readFleetWindows,
  readShadowCounts,
  type ReadStats,
} from '../../src/routing/stats.js';
import { ROUTING_STATE_ROWS, type ReadSample } from '../../src/routing/types.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * Publication of the read windows to the control plane (schema v6, `routing_windows`) and the guard's evaluation
 * on the fleet aggregate, against real control stores: PostgreSQL, MariaDB, SQLite and PGlite for publication;
 * PostgreSQL and SQLite for the guard's trips, hysteresis and races.
 */

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
});

async function controls(): Promise<[string, () => Promise<Store>][]> {
  const pg = await createPgDatabase('tandem_guard');
  const my = await createMysqlDatabase('tandem_guard');
  cleanups.push(pg.drop, my.drop);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-guard-'));
  return [
    ['postgres', () => openStore(pg.url)],
    ['mysql', () => openStore(my.url)],
    ['sqlite', () => openStore(`sqlite:${join(dir, 'c.db')}`)],
    ['pglite', () => openStore('pglite:memory')],
  ];
}

const sample = (o: Partial<ReadSample> = {}): ReadSample => ({
  entity: 'users',
  origin: 'new',
  outcome: 'ok',
  latencyMs: 10,
  served: true,
  ...o,
});

function reads(s: ReadStats, n: number, o: Partial<ReadSample> = {}): void {
  for (let i = 0; i < n; i++) s.read(sample(o));
}

async function stateRow(control: Store, name: string): Promise<string | null> {
  const r = await control.query<{ value: unknown }>(
    `SELECT value FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`,
    [name],
  );
  return r[0] ? String(r[0].value) : null;
}

async function setState(control: Store, name: string, value: string): Promise<void> {
  const t = control.controlTable('state');
  const p = (i: number) => control.sql.param(i);
  if ((await control.execute(`UPDATE ${t} SET value = ${p(1)} WHERE name = ${p(2)}`, [value, name])) === 0)
    await control.execute(`INSERT INTO ${t} (name, value) VALUES (${p(1)}, ${p(2)})`, [name, value]);
}

/** A clean slate: no windows, no routing state, canary at `canary` percent. */
async function reset(control: Store, canary = '25'): Promise<void> {
  await control.execute(`DELETE FROM ${control.controlTable('routing_windows')}`);
  await control.execute(`DELETE FROM ${control.controlTable('state')} WHERE name LIKE 'routing.%'`);
  await setState(control, ROUTING_STATE_ROWS.canaryPercent, canary);
}

describe('publication of read windows', async () => {
  for (const [dialect, open] of await controls()) {
    it(`${dialect}: two instances publish, the fleet aggregate sums them; a window is written once; old rows are pruned`, async () => {
      const control = await open();
      try {
        await ensureControlSchema(control);
        const a = createReadStats({ instanceId: 'instance-a', metrics: false });
        const b = createReadStats({ instanceId: 'instance-b', metrics: false });
        reads(a, 60, { latencyMs: 10 });
        reads(a, 5, { outcome: 'error', latencyMs: 3 });
        reads(a, 30, { origin: 'legacy', latencyMs: 2 });
        reads(b, 33, { latencyMs: 100 });
        reads(b, 2, { outcome: 'timeout', latencyMs: 250, served: false });
        for (const [o, n] of [
          ['matched', 7],
          ['mismatched', 2],
          ['lagging', 3],
          ['dropped', 4],
        ] as const)
          for (let i = 0; i < n; i++) b.comparison('users', o);
        a.comparison('users', 'matched');
        const [wa, wb] = await Promise.all([a.publish(control), b.publish(control)]);
        expect([wa, wb]).toEqual([2, 1]);
        expect(await a.publish(control)).toBe(0);
        const fleet = await readFleetWindows(control, { windowSeconds: 60 });
        expect(fleet.map((w) => [w.entity, w.origin, w.instances, w.reads])).toEqual([
          ['users', 'legacy', 1, 30],
          ['users', 'new', 2, 100],
        ]);
        const n = fleet.find((w) => w.origin === 'new')!;
        expect(n).toMatchObject({
          ok: 93,
          errors: 5,
          timeouts: 2,
          fallbacks: 0,
          served: 98,
          matched: 8,
          mismatched: 2,
          lagging: 3,
          dropped: 4,
          compared: 13,
        });
        expect(n.errorRate).toBeCloseTo(0.07, 12);
        // p50 is a 10 ms read (a's 60 of 100), p99 a 250 ms timeout: both within the histogram's 5 %
        expect(n.p50Ms! / 10).toBeGreaterThan(0.95);
        expect(n.p50Ms! / 10).toBeLessThan(1.05);
        expect(n.p99Ms! / 250).toBeGreaterThan(0.95);
        expect(n.p99Ms! / 250).toBeLessThan(1.05);
        expect(await readShadowCounts(control)).toEqual({
          compared: 13,
          matched: 8,
          mismatched: 2,
          lagging: 3,
          dropped: 4,
        });
        // a row written again (a retry after a lost reply) is ignored, not counted twice
        const row = (
          await control.query<Record<string, unknown>>(
            `SELECT * FROM ${control.controlTable('routing_windows')} WHERE instance_id = 'instance-b'`,
          )
        )[0]!;
        await control.execute(
          control.sql.insertIgnore(control.controlTable('routing_windows'), Object.keys(row), [
            'instance_id',
            'entity',
            'origin',
            'window_start_ms',
          ]),
          Object.values(row),
        );
        expect((await readFleetWindows(control)).find((w) => w.origin === 'new')!.reads).toBe(100);
        // windows published before the span do not count; pruning deletes them
        await control.execute(
          `UPDATE ${control.controlTable('routing_windows')} SET published_ms = published_ms - 120000 WHERE instance_id = 'instance-a'`,
        );
        expect(
          (await readFleetWindows(control, { windowSeconds: 60 })).map((w) => [w.origin, w.instances, w.reads]),
        ).toEqual([['new', 1, 35]]);
        expect(await pruneWindows(control, 60_000)).toBe(2);
        expect(
          (await control.query(`SELECT instance_id FROM ${control.controlTable('routing_windows')}`)).map(
            (r) => r.instance_id,
          ),
        ).toEqual(['instance-b']);
      } finally {
        await control.close();
      }
    });
  }

  it('keeps windows queued while the control plane cannot be written, publishes them once it can, one publication at a time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-guard-q-'));
    const control = await openStore(`sqlite:${join(dir, 'q.db')}`);
    try {
      const s = createReadStats({ instanceId: 'q', metrics: false });
      reads(s, 10);
      // no control schema yet: the publication fails, nothing is lost
      await expect(s.publish(control)).rejects.toThrow();
      expect(s.pending).toBe(1);
      await ensureControlSchema(control);
      reads(s, 5);
      await s.publish(control);
      expect(s.pending).toBe(0);
      expect((await readFleetWindows(control))[0]!.reads).toBe(15);
      // publications called at once run one after the other: every window once
      reads(s, 7);
      const p1 = s.publish(control);
      reads(s, 4);
      await Promise.all([p1, s.publish(control), s.publish(control)]);
      expect((await readFleetWindows(control))[0]!.reads).toBe(26);
    } finally {
      await control.close();
    }
  });

  it('a running publisher publishes every interval, and what is left on stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-guard-p-'));
    const control = await openStore(`sqlite:${join(dir, 'p.db')}`);
    try {
      await ensureControlSchema(control);
      const s = createReadStats({ instanceId: 'p', metrics: false });
      const errors: unknown[] = [];
      const pub = s.startPublishing(control, { intervalMs: 100, onError: (e) => errors.push(e) });
      reads(s, 10);
      const until = Date.now() + 10_000;
      while ((await readFleetWindows(control)).length === 0 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 100));
      expect((await readFleetWindows(control))[0]?.reads).toBe(10);
      reads(s, 3);
      await pub.stop();
      expect((await readFleetWindows(control))[0]!.reads).toBe(13);
      expect(errors).toEqual([]);
    } finally {
      await control.close();
    }
  });
});

describe('the guard on the fleet aggregate', async () => {
  const pg = await createPgDatabase('tandem_guard_eval');
  cleanups.push(pg.drop);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-guard-e-'));
  const stores: [string, () => Promise<Store>][] = [
    ['postgres', () => openStore(pg.url)],
    ['sqlite', () => openStore(`sqlite:${join(dir, 'e.db')}`)],
  ];
  const GUARD = {
    minSamples: 50,
    windowSeconds: 60,
    cooldownSeconds: 120,
    maxErrorRate: 0.01,
    maxP99Ms: 500,
    maxMismatchRate: 0.01,
  };

  for (const [dialect, open] of stores) {
    it(`${dialect}: trips on the error rate: canary row 0, verdict tripped with figures, audited without values, metric raised`, async () => {
      const control = await open();
      try {
        await ensureControlSchema(control);
        await reset(control);
        const a = createReadStats({ instanceId: 'a', metrics: false });
        const b = createReadStats({ instanceId: 'b', metrics: false });
        reads(a, 45);
        reads(b, 47);
        reads(b, 8, { outcome: 'error' });
        await a.publish(control);
        await b.publish(control);
        const before =
          snapshot().tandem_routing_guard_trips_total?.find((r) => r.labels.measure === 'error_rate')?.value ?? 0;
        const t0 = Date.now();
        const ev = await evaluateGuard(control, GUARD);
        expect(ev.tripped).toBe(true);
        expect(ev.verdict.state).toBe('tripped');
        expect(ev.verdict.reason).toBe('error rate 8% > 1% over 100 reads of new (users, 2 instances, last 60 s)');
        expect(ev.verdict.atMs).toBeGreaterThanOrEqual(t0);
        expect(ev.verdict.cooldownUntilMs).toBe(ev.verdict.atMs + 120_000);
        expect(await stateRow(control, ROUTING_STATE_ROWS.canaryPercent)).toBe('0');
        expect((await readGuardVerdict(control)).verdict).toEqual(ev.verdict);
        const [entry] = await recentAudit(control, 1);
        expect(entry).toMatchObject({ command: 'guard', outcome: 'tripped' });
        expect(entry!.detail).toBe(
          'canary set to 0: error rate 8% > 1% over 100 reads of new (users, 2 instances, last 60 s)',
        );
        const args = (
          await control.query<{ args: string }>(
            `SELECT args FROM ${control.controlTable('audit_log')} ORDER BY id DESC LIMIT 1`,
          )
        )[0]!.args;
        expect(JSON.parse(String(args))).toMatchObject({
          windowSeconds: 60,
          canaryPercent: 0,
          breaches: [{ measure: 'error_rate', entity: 'users', value: 0.08, threshold: 0.01, samples: 100 }],
        });
        expect(snapshot().tandem_routing_guard_trips_total!.find((r) => r.labels.measure === 'error_rate')!.value).toBe(
          before + 1,
        );
        expect(snapshot().tandem_routing_guard_state!.find((r) => r.labels.state === 'tripped')!.value).toBe(1);
      } finally {
        await control.close();
      }
    });

    it(`${dialect}: trips on p99 latency and on a sustained mismatch rate, not on 1 mismatch in 20, not below minSamples`, async () => {
      const control = await open();
      try {
        await ensureControlSchema(control);
        // below minSamples: every read failed and slow, yet insufficient — no verdict, canary untouched
        await reset(control);
        const few = createReadStats({ instanceId: 'few', metrics: false });
        reads(few, 49, { outcome: 'error', latencyMs: 2000 });
        await few.publish(control);
        let ev = await evaluateGuard(control, GUARD);
        expect(ev.verdict).toMatchObject({
          state: 'insufficient',
          reason: '49 reads of new in the last 60 s < minSamples 50',
          cooldownUntilMs: null,
        });
        expect(await stateRow(control, ROUTING_STATE_ROWS.canaryPercent)).toBe('25');
        expect(JSON.parse((await stateRow(control, ROUTING_STATE_ROWS.guard))!)).toMatchObject({
          state: 'insufficient',
        });

        // p99: 3 of 100 reads at 900 ms → p99 ≈ 900 ms > 500 ms
        await reset(control);
        const slow = createReadStats({ instanceId: 'slow', metrics: false });
        reads(slow, 97, { latencyMs: 20 });
        reads(slow, 3, { latencyMs: 900 });
        await slow.publish(control);
        ev = await evaluateGuard(control, GUARD);
        expect(ev.tripped).toBe(true);
        expect(ev.judgement.breaches.map((b) => b.measure)).toEqual(['p99_latency']);
        expect(ev.verdict.reason).toMatch(
          /^p99 latency (85[5-9]|8[6-9]\d|9[0-4]\d) ms > 500 ms over 100 reads of new \(users, 1 instance, last 60 s\)$/,
        );
        expect(await stateRow(control, ROUTING_STATE_ROWS.canaryPercent)).toBe('0');

        // 1 mismatch in 20 comparisons (raw 5 % > 1 %): the Wilson bound (0.26 %) does not trip
        await reset(control);
        const one = createReadStats({ instanceId: 'one', metrics: false });
        reads(one, 60);
        for (let i = 0; i < 19; i++) one.comparison('users', 'matched');
        one.comparison('users', 'mismatched');
        await one.publish(control);
        ev = await evaluateGuard(control, { ...GUARD, minSamples: 20 });
        expect(ev.verdict.state).toBe('green');
        expect(ev.verdict.reason).toBeNull();
        expect(await stateRow(control, ROUTING_STATE_ROWS.canaryPercent)).toBe('25');

        // a sustained 8 % over 250 comparisons trips
        const more = createReadStats({ instanceId: 'more', metrics: false });
        reads(more, 250);
        for (let i = 0; i < 230; i++) more.comparison('users', 'matched');
        for (let i = 0; i < 20; i++) more.comparison('users', 'mismatched');
        await more.publish(control);
        ev = await evaluateGuard(control, { ...GUARD, minSamples: 20 });
        expect(ev.tripped).toBe(true);
        expect(ev.verdict.reason).toMatch(
          /^mismatch rate ≥ \d\.\d+% \(95% Wilson lower bound; 21 mismatched of 270 compared\) > 1% \(users, 2 instances/,
        );
        expect(await stateRow(control, ROUTING_STATE_ROWS.canaryPercent)).toBe('0');
      } finally {
        await control.close();
      }
    });

    it(`${dialect}: hysteresis — stays tripped, holds the canary at 0 during the cooldown, never re-advances by itself`, async () => {
      const control = await open();
      try {
        await ensureControlSchema(control);
        await reset(control);
        let now = Date.now();
        const clock = () => now;
        const s = createReadStats({ instanceId: 'h', metrics: false });
        reads(s, 60, { outcome: 'timeout' });
        await s.publish(control);
        const trip = await evaluateGuard(control, GUARD, { now: clock });
        expect(trip.tripped).toBe(true);
        const audits = (await recentAudit(control, 50)).length;
        // healthy windows now, but the verdict stays tripped and the canary at 0
        await control.execute(`DELETE FROM ${control.controlTable('routing_windows')}`);
        const ok = createReadStats({ instanceId: 'ok', metrics: false });
        reads(ok, 200);
        await ok.publish(control);
        now += 10_000;
        let ev = await evaluateGuard(control, GUARD, { now: clock });
        expect(ev).toMatchObject({ tripped: false, heldCanary: false, verdict: trip.verdict });
        expect(ev.judgement.state).toBe('green');
        // someone raises the canary during the cooldown: the guard puts it back to 0 and says so
        await setState(control, ROUTING_STATE_ROWS.canaryPercent, '10');
        ev = await evaluateGuard(control, GUARD, { now: clock });
        expect(ev.heldCanary).toBe(true);
        expect(await stateRow(control, ROUTING_STATE_ROWS.canaryPercent)).toBe('0');
        const [held] = await recentAudit(control, 1);
        expect(held).toMatchObject({ command: 'guard', outcome: 'tripped' });
        expect(held!.detail).toMatch(/^canary held at 0 during the guard's cooldown \(was 10%\)/);
        expect((await recentAudit(control, 50)).length).toBe(audits + 1);
        // after the cooldown: still tripped (only `tandem canary N` clears it), and it leaves the canary alone
        now = trip.verdict.cooldownUntilMs! + 1;
        await setState(control, ROUTING_STATE_ROWS.canaryPercent, '5');
        ev = await evaluateGuard(control, GUARD, { now: clock });
        expect(ev).toMatchObject({ tripped: false, heldCanary: false, verdict: { state: 'tripped' } });
        expect(await stateRow(control, ROUTING_STATE_ROWS.canaryPercent)).toBe('5');
        // once cleared (as `tandem canary N` does), it judges the windows again: green
        await control.execute(`DELETE FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`, [
          ROUTING_STATE_ROWS.guard,
        ]);
        ev = await evaluateGuard(control, GUARD, { now: clock });
        expect(ev.verdict).toMatchObject({ state: 'green', reason: null, cooldownUntilMs: null });
        expect(JSON.parse((await stateRow(control, ROUTING_STATE_ROWS.guard))!)).toMatchObject({ state: 'green' });
      } finally {
        await control.close();
      }
    });
  }

  it('postgres: evaluators racing write green verdicts without failing, and trip a breach once (one audit entry)', async () => {
    const control = await openStore(pg.url);
    const other = await openStore(pg.url);
    try {
      await ensureControlSchema(control);
      await reset(control);
      // healthy windows: concurrent evaluators all write green verdicts, none fails on the other's write
      const healthy = createReadStats({ instanceId: 'healthy', metrics: false });
      reads(healthy, 100);
      await healthy.publish(control);
      const greens = await Promise.all(
        Array.from({ length: 6 }, (_, i) => evaluateGuard(i % 2 ? other : control, GUARD)),
      );
      expect(greens.map((e) => e.verdict.state)).toEqual(Array(6).fill('green'));
      expect((await readGuardVerdict(control)).verdict?.state).toBe('green');
      await control.execute(`DELETE FROM ${control.controlTable('routing_windows')}`);
      const s = createReadStats({ instanceId: 'r', metrics: false });
      reads(s, 100, { outcome: 'error' });
      await s.publish(control);
      const audits = (await recentAudit(control, 100)).filter((e) => e.command === 'guard').length;
      const evs = await Promise.all([
        evaluateGuard(control, GUARD),
        evaluateGuard(other, GUARD),
        evaluateGuard(control, GUARD),
      ]);
      expect(evs.filter((e) => e.tripped)).toHaveLength(1);
      expect(evs.every((e) => e.verdict.state === 'tripped')).toBe(true);
      expect((await recentAudit(control, 100)).filter((e) => e.command === 'guard').length).toBe(audits + 1);
    } finally {
      await control.close();
      await other.close();
    }
  });
});
