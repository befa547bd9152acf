import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint, ensureControlSchema } from '../../src/control/control.js';
import { acquireLease, type LeaseHolder, listLeases } from '../../src/control/lease.js';
import { advanceRange, createPlan, finishRange, listRanges, rangeScope, startRange } from '../../src/control/ranges.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { expectFullParity, type FaultWorld, faultWorld } from '../faults/world.js';
import { createMysqlDatabase, createPgDatabase, runCli, startCli } from '../helpers.js';

/**
 * Parallel backfill workers (issue 15; docs/backfill.md "Parallel workers"), with real processes and databases:
 * three `tandem backfill` processes share the six ranges of one entity, one is killed with SIGKILL in the middle
 * of its range, the others take its range over and resume it from its checkpoint — no gap, no duplicate, every
 * range done, exact counts, verify exit 0. And the fence: a worker whose range lease was taken over cannot move
 * the range's checkpoint, start or finish the range (TANDEM_ERR_LEASE_LOST, nothing written), on PostgreSQL and
 * MariaDB.
 */

const USERS = 6000;
const RANGES = 6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const worlds: FaultWorld[] = [];
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const w of worlds) await w.close().catch(() => {});
  for (const d of drops) await d().catch(() => {});
});

async function until(what: string, pred: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred().catch(() => false)) return;
    await sleep(30);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Target rows whose id lies in a range's bounds (lower exclusive, upper inclusive; null: open). */
async function rowsIn(target: Store, lower: unknown[] | null, upper: unknown[] | null): Promise<number> {
  const w: string[] = [];
  const params: unknown[] = [];
  if (lower) w.push(`id > ${target.sql.param(params.push(Number(lower[0])))}`);
  if (upper) w.push(`id <= ${target.sql.param(params.push(Number(upper[0])))}`);
  const r = await target.query<{ n: unknown }>(
    `SELECT count(*) AS n FROM accounts${w.length ? ` WHERE ${w.join(' AND ')}` : ''}`,
    params,
  );
  return Number(r[0]!.n);
}

describe('parallel backfill workers (MariaDB → PostgreSQL)', () => {
  it('three workers on one entity, one SIGKILLed mid-range: the others resume its range from its checkpoint; no gap, no duplicate, every range done, verify exit 0', async () => {
    const w = await faultWorld(['mysql', 'postgres'], USERS, 200);
    worlds.push(w);
    // while the flag file exists every worker holds the range it took and copies nothing: all three take part
    const flag = join(mkdtempSync(join(tmpdir(), 'tandem-par-')), 'hold');
    writeFileSync(flag, '');
    writeFileSync(
      w.cfg,
      readFileSync(w.cfg, 'utf8').replace(
        'leaseSeconds: 1 }',
        `leaseSeconds: 10, ranges: ${RANGES}, throttle: { flagFile: ${JSON.stringify(flag)}, checkSeconds: 0.1 } }`,
      ),
    );
    const args = ['backfill', '--config', w.cfg, '--max-rows-per-second', '400', '--json'];
    const procs = [startCli(args), startCli(args), startCli(args)];
    const pids = procs.map((p) => p.child.pid!);
    const holders = async () =>
      (await listLeases(w.target, 'backfill:users/'))
        .filter((l) => l.live)
        .map((l) => ({ scope: l.scope, pid: l.pid }));
    await until(
      'each worker to hold a range',
      async () =>
        new Set((await holders()).map((h) => h.pid)).size === 3 &&
        (await listRanges(w.target, w.target, 'users')).filter((r) => r.status === 'running').length === 3,
      30_000,
    ).catch(async (e) => {
      for (const p of procs) p.child.kill('SIGKILL');
      const out = await Promise.all(procs.map((p) => p.done));
      throw new Error(`${e.message}: ${JSON.stringify(await holders())} ${out.map((o) => o.stderr).join('\n---\n')}`);
    });
    const plan = await listRanges(w.target, w.target, 'users');
    expect(plan.map((r) => [r.range, r.of, r.status])).toEqual(
      Array.from({ length: RANGES }, (_, i) => [i + 1, RANGES, i < 3 ? 'running' : 'pending']),
    );
    // the bounds split the keys in six parts of 1,000: the first range open below, the last open above
    expect(plan.map((r) => [r.lowerKey?.map(Number) ?? null, r.upperKey?.map(Number) ?? null])).toEqual(
      Array.from({ length: RANGES }, (_, i) => [i ? [i * 1000] : null, i < RANGES - 1 ? [(i + 1) * 1000] : null]),
    );
    // status lists the three workers and their ranges
    const live = JSON.parse((await runCli(['status', '--config', w.cfg, '--json'])).stdout);
    const users = live.entities.find((e: { name: string }) => e.name === 'users');
    expect(users.status).toBe('running');
    expect(users.backfill.ranges).toHaveLength(RANGES);
    expect(users.backfill.workers.map((x: { pid: number }) => x.pid).sort()).toEqual([...pids].sort());
    for (const x of users.backfill.workers) expect(x).toMatchObject({ host: hostname(), ranges: [expect.any(Number)] });
    rmSync(flag);

    // the victim: the worker of range 2, killed once it committed a few chunks of it, well before its end
    const victimPid = (await holders()).find((h) => h.scope === rangeScope('users', 2))!.pid;
    const victim = procs[pids.indexOf(victimPid!)]!;
    const range2 = async () => (await listRanges(w.target, w.target, 'users')).find((r) => r.range === 2)!;
    await until('range 2 to be part copied', async () => (await range2()).rowsCopied >= 400).catch(async (e) => {
      const rs = await listRanges(w.target, w.target, 'users');
      for (const p of procs) p.child.kill('SIGKILL');
      const out = await Promise.all(procs.map((p) => p.done));
      throw new Error(`${e.message}: ${JSON.stringify(rs)} ${out.map((o) => o.stderr).join('\n---\n')}`);
    });
    victim.child.kill('SIGKILL');
    expect((await victim.done).signal).toBe('SIGKILL');
    const cut = await range2();
    expect(cut.status).toBe('running');
    expect(cut.rowsCopied).toBeLessThan(1000);
    // what it left: its range's checkpoint and its rows agree (the chunk in flight rolled back)
    expect(await rowsIn(w.target, cut.lowerKey, cut.upperKey)).toBe(cut.rowsCopied);

    const survivors = await Promise.all(procs.filter((p) => p !== victim).map((p) => p.done));
    for (const s of survivors) {
      expect({ code: s.code, err: s.stderr.split('\n').filter((l) => /TANDEM_ERR/.test(l)) }).toEqual({
        code: 0,
        err: [],
      });
    }
    const results = survivors.map((s) => JSON.parse(s.stdout).entities[0]);
    for (const r of results) expect(r).toMatchObject({ entity: 'users', status: 'done', copiedTotal: USERS });
    // no duplicate: what the survivors read and what the victim committed add up to every row once
    expect(results.reduce((n, r) => n + r.copied, 0) + cut.rowsCopied).toBe(USERS);
    // one of them took the dead worker's live lease over at once (its pid is gone) and resumed range 2
    const takeovers = survivors
      .flatMap((s) => s.stderr.split('\n'))
      .filter((l) => l.includes('"backfill.lease_takeover"'))
      .map((l) => JSON.parse(l));
    expect(takeovers).toMatchObject([
      { scope: rangeScope('users', 2), pid: victimPid, reason: `process ${victimPid} on this host is gone` },
    ]);
    const resumed = results.flatMap((r) => r.ranges).find((x: { range: number }) => x.range === 2);
    expect(resumed).toMatchObject({ of: RANGES, copied: 1000 - cut.rowsCopied, status: 'done' });

    // every range done, each with exactly the rows of its bounds; the entity done with every row counted once
    const end = await listRanges(w.target, w.target, 'users');
    expect(end.map((r) => r.status)).toEqual(Array(RANGES).fill('done'));
    for (const r of end) expect(await rowsIn(w.target, r.lowerKey, r.upperKey)).toBe(r.rowsCopied);
    expect(end.reduce((n, r) => n + r.rowsCopied, 0)).toBe(USERS);
    expect(await w.checkpoint()).toMatchObject({ rows_copied: USERS, rows_applied: USERS, status: 'done' });
    const [src, tgt] = [await w.sourceRows(), await w.targetRows()];
    expect(tgt.length).toBe(USERS);
    expect(tgt).toEqual(src);
    expect(await w.ledgerCount()).toBe(USERS);
    await expectFullParity(w.cfg);
  }, 90_000);
});

describe('a worker whose range lease was taken over cannot move the range checkpoint', () => {
  const other: LeaseHolder = { id: 'other-worker', host: 'elsewhere', pid: 4242 };
  const self: LeaseHolder = { id: 'stale-worker', host: 'here', pid: 4141 };

  for (const kind of ['postgres', 'mysql'] as const) {
    it(`${kind}: advance, start and finish with the stale lease throw LEASE_LOST and write nothing`, async () => {
      const db =
        kind === 'postgres'
          ? await createPgDatabase('tandem_par_fence')
          : await createMysqlDatabase('tandem_par_fence');
      drops.push(db.drop);
      const s = await openStore(db.url);
      try {
        await ensureControlSchema(s);
        await s.execute('CREATE TABLE t (id integer PRIMARY KEY)');
        expect(
          await createPlan(s, 'e', 20, 'plan-1', [
            { lowerKey: null, upperKey: [10], rowsEstimate: 10 },
            { lowerKey: [10], upperKey: null, rowsEstimate: 10 },
          ]),
        ).toBe(true);
        // a second planner finds the plan made: nothing written
        expect(await createPlan(s, 'e', 20, 'plan-2', [{ lowerKey: null, upperKey: null, rowsEstimate: 20 }])).toBe(
          false,
        );
        const [r1] = await listRanges(s, s, 'e');
        expect(r1).toMatchObject({ planId: 'plan-1', range: 1, of: 2, status: 'pending' });
        const stale = await acquireLease(s, rangeScope('e', 1), 300, { holder: self });
        const run = (await startRange(s, r1!, stale))!;
        await s.transaction((tx) => advanceRange(tx, s, run, null, [5], 5, 5, stale));
        // the stale worker stops renewing; once its lease expired, another worker takes the range (larger token)
        await sleep(400);
        const fresh = await acquireLease(s, rangeScope('e', 1), 30_000, { holder: other });
        expect(fresh.token).toBe(stale.token + 1);
        const before = await listRanges(s, s, 'e');
        // the stale worker wakes up: its chunk (a row and the checkpoint move) rolls back
        await expect(
          s.transaction(async (tx) => {
            await tx.execute('INSERT INTO t (id) VALUES (6)');
            await advanceRange(tx, s, run, [5], [8], 3, 3, stale);
          }),
        ).rejects.toMatchObject({ code: 'TANDEM_ERR_LEASE_LOST' });
        await expect(finishRange(s, run, stale)).rejects.toMatchObject({ code: 'TANDEM_ERR_LEASE_LOST' });
        await expect(startRange(s, before[1]!, stale)).rejects.toMatchObject({ code: 'TANDEM_ERR_LEASE_LOST' });
        expect(await listRanges(s, s, 'e')).toEqual(before);
        expect(Number((await s.query<{ n: unknown }>('SELECT count(*) AS n FROM t'))[0]!.n)).toBe(0);
        expect(await readCheckpoint(s, s, 'e')).toMatchObject({ rowsCopied: 5, status: 'running' });
        // the new holder moves on from the committed position, and the last range done finishes the entity
        await s.transaction((tx) => advanceRange(tx, s, run, [5], [10], 5, 5, fresh));
        expect(await finishRange(s, run, fresh)).toBe(false);
        const l2 = await acquireLease(s, rangeScope('e', 2), 30_000, { holder: other });
        const r2 = (await startRange(s, before[1]!, l2))!;
        expect(await finishRange(s, r2, l2)).toBe(true);
        expect(await readCheckpoint(s, s, 'e')).toMatchObject({ rowsCopied: 10, status: 'done' });
      } finally {
        await s.close();
      }
    }, 30_000);
  }
});
