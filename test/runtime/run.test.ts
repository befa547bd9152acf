import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { fromPg } from '../../src/capture/adapters.js';
import { createDualWriter } from '../../src/capture/writer.js';
import { backfillCounts, leaseExpired } from '../fixtures.js';
import { runCli, writeConfig } from '../helpers.js';
import { TcpProxy } from '../proxy.js';
import {
  application,
  drained,
  migrationFixture,
  pgRows,
  quiet,
  sleep,
  startRun,
  statusOf,
  waitFor,
} from './helpers.js';

/**
 * `tandem run`, the worker, against real MariaDB → PostgreSQL migrations: alone from an empty target to a drained
 * relay while an application writes; killed with SIGKILL and restarted; two at once; stopped by SIGTERM.
 */
describe('tandem run', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of drops) await d();
  });

  it('alone takes a migration in dual_write from an empty target to a drained relay while the application writes; verify then exits 0; SIGTERM stops it within 10 s', async () => {
    const USERS = 3000;
    // the config asks for continuous verification every second; the flag --verify-interval 0 overrides it (off)
    const f = await migrationFixture('tandem_run_a', USERS, { verify: '{ intervalSeconds: 1 }' });
    drops.push(f.drop);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', f.cfg])).code).toBe(0);
    const dual = await createDualWriter({ config: f.cfg, budgetMs: 0, log: quiet });
    const stop = { done: false };
    const app = application(f.src.url, dual, USERS, stop);
    // throttled so that the application writes while the backfill runs (about 3 s of users)
    const run = startRun(f.cfg, ['--verify-interval', '0', '--max-rows-per-second', '1500']);
    try {
      await waitFor(
        'the backfill to start',
        async () => (await statusOf(f.cfg)).entities.some((e) => e.backfill.state === 'running'),
        60_000,
      );
      await waitFor(
        'the users backfill to finish',
        async () => (await statusOf(f.cfg)).entities.find((e) => e.name === 'users')!.backfill.state === 'done',
        90_000,
      );
      await sleep(500); // writes after the backfill too: only the relay carries them
      stop.done = true;
      const writes = await app;
      expect(writes.updates + writes.inserts + writes.deletes).toBeGreaterThan(100);
      await waitFor('the relay to drain', () => drained(f.cfg), 60_000);
      const s = await statusOf(f.cfg);
      expect(s.relay).toMatchObject({ direction: 'forward', primary: 'legacy', pending: 0, deadLetters: 0 });
      expect(s.processes.filter((p) => p.role === 'run' && p.alive).map((p) => p.pid)).toEqual([run.child.pid]);
      // the flag won over the config: no continuous verification ran (one would start once the backfill is done)
      expect(s.processes.find((p) => p.role === 'run')!.info).toMatchObject({ verifyInterval: 0 });
      expect(run.logs().find((l) => l.event === 'run.start')).toMatchObject({ verifyInterval: 0 });
      expect(run.logs().some((l) => l.event === 'run.verify_cycle')).toBe(false);
      expect(s.entities.map((e) => e.verify)).toEqual([null, null, null]);
      const v = await runCli(['verify', '--config', f.cfg]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout).toMatch(/match/);
      // the JSON-line logs say what it did
      const events = run.logs().map((l) => l.event);
      expect(events).toContain('run.start');
      expect(events).toContain('run.backfill_done');
      expect(events).toContain('run.relay_batch');
    } finally {
      stop.done = true;
      await app.catch(() => {});
      await dual.close();
    }
    // SIGTERM: graceful stop (services stopped, heartbeat removed, audited), exit 0, within 10 s
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const end = await run.done;
    const ms = Date.now() - t0;
    expect(end.code, run.out.stderr.slice(-2000)).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect((await statusOf(f.cfg)).processes).toEqual([]);
    expect(run.logs().map((l) => l.event)).toContain('run.stop');
  }, 240_000);

  it('SIGTERM in the middle of the work (backfill chunks, relay batches) stops it within 10 s, gracefully', async () => {
    const USERS = 3000;
    const f = await migrationFixture('tandem_run_t', USERS);
    drops.push(f.drop);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', f.cfg])).code).toBe(0);
    const dual = await createDualWriter({ config: f.cfg, budgetMs: 0, log: quiet });
    const stop = { done: false };
    const app = application(f.src.url, dual, USERS, stop);
    // slow enough that the backfill is far from done when the signal comes (3000 users at 100 rows/s: 30 s)
    // 40 rows/s: 3,000 users take 75 s, so the copy is still under way however late the first relay batch comes
    const run = startRun(f.cfg, ['--verify-interval', '0', '--max-rows-per-second', '40']);
    try {
      await waitFor('a relay batch', async () => run.logs().some((l) => l.event === 'run.relay_batch'), 60_000);
      await waitFor(
        'users to be partly copied',
        async () => (await backfillCounts(f.tgt.url)).checkpoint >= 200,
        60_000,
      );
      const t0 = Date.now();
      run.child.kill('SIGTERM');
      const end = await run.done;
      const ms = Date.now() - t0;
      expect(end.code, run.out.stderr.slice(-2000)).toBe(0);
      expect(ms).toBeLessThan(10_000);
      expect(run.logs().find((l) => l.event === 'run.stop')).toMatchObject({ signal: 'SIGTERM' });
      // graceful: the copy stopped after a committed chunk (not done; every key up to the checkpoint is in the
      // ledger, and so are the keys the relay applied beyond it), the lease was released (free at once for the
      // next worker), the heartbeat removed
      const mid = await backfillCounts(f.tgt.url);
      expect(mid.status).not.toBe('done');
      expect(mid.checkpoint).toBeLessThan(USERS);
      expect(mid.ledger).toBeGreaterThanOrEqual(mid.checkpoint);
      expect(await leaseExpired(f.tgt.url, 'backfill:users')).toBe(true);
      const s = await statusOf(f.cfg);
      expect(s.processes).toEqual([]);
      expect(s.entities.find((e) => e.name === 'users')!.backfill.state).toBe('paused');
    } finally {
      stop.done = true;
      await app.catch(() => {});
      await dual.close();
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  }, 120_000);

  it("killed with SIGKILL mid-backfill and started again, takes the dead worker's lease over at once, resumes from its checkpoint and converges", async () => {
    const USERS = 6000;
    // a lease of 120 s: a restart that waited for it to expire would not drain within the 90 s wait below
    const f = await migrationFixture('tandem_run_k', USERS, { leaseSeconds: 120 });
    drops.push(f.drop);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', f.cfg])).code).toBe(0);
    const first = startRun(f.cfg, ['--verify-interval', '0', '--max-rows-per-second', '2000']);
    let at = 0;
    await waitFor(
      'part of users to be copied',
      async () => {
        at = (await backfillCounts(f.tgt.url)).checkpoint;
        return at >= 1000;
      },
      90_000,
    );
    first.child.kill('SIGKILL');
    await first.done;
    const mid = await backfillCounts(f.tgt.url);
    expect(mid.status).toBe('running');
    expect(mid.checkpoint).toBeLessThan(USERS);
    // the dead worker's heartbeat and lease stay behind; status does not call it running (once three beats of
    // 0.5 s are missed)
    await waitFor(
      "status to call the dead worker's backfill failed",
      async () => (await statusOf(f.cfg)).entities.find((e) => e.name === 'users')!.backfill.state === 'failed',
      30_000,
    );
    const second = startRun(f.cfg, ['--verify-interval', '0']);
    try {
      await waitFor('the second worker to finish the backfill and drain', () => drained(f.cfg), 90_000);
      const end = await backfillCounts(f.tgt.url);
      expect(end).toMatchObject({ checkpoint: USERS, users: USERS, profiles: USERS, ledger: USERS, status: 'done' });
      // it resumed: its own backfill.start log line starts at the dead worker's checkpoint, not at 0
      const resumed = second.logs().find((l) => l.event === 'backfill.start' && l.entity === 'users');
      expect(Number(resumed?.resumeFrom)).toBeGreaterThanOrEqual(mid.checkpoint);
      // it did not wait for the lease: it took it over from the dead pid, on this host
      const took = second.logs().find((l) => l.event === 'backfill.lease_takeover' && l.scope === 'backfill:users');
      expect(took).toMatchObject({ pid: first.child.pid, reason: `process ${first.child.pid} on this host is gone` });
      const v = await runCli(['verify', '--config', f.cfg]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    } finally {
      second.child.kill('SIGTERM');
      expect((await second.done).code).toBe(0);
    }
  }, 240_000);

  it('two at once share the relay and keep one backfill owner per entity', async () => {
    const USERS = 4000;
    const f = await migrationFixture('tandem_run_2', USERS);
    drops.push(f.drop);
    // both start in prepare (nothing to do) and are both up before dual_write: they contend for every lease
    const args = ['--verify-interval', '0', '--max-rows-per-second', '2000', '--batch-size', '5'];
    const a = startRun(f.cfg, args);
    const b = startRun(f.cfg, args);
    const workers = [a, b];
    const stop = { done: false };
    let app: ReturnType<typeof application> | undefined;
    let dual: Awaited<ReturnType<typeof createDualWriter>> | undefined;
    try {
      await waitFor(
        'both workers to beat',
        async () => (await statusOf(f.cfg)).processes.filter((p) => p.role === 'run' && p.alive).length === 2,
        60_000,
      );
      expect((await runCli(['phase', 'set', 'dual_write', '--config', f.cfg])).code).toBe(0);
      dual = await createDualWriter({ config: f.cfg, budgetMs: 0, log: quiet });
      app = application(f.src.url, dual, USERS, stop);
      // while the backfill runs: every live lease has one holder, and it is one of the two workers
      const holders = new Map<string, Set<number>>();
      await waitFor(
        'the users backfill to finish',
        async () => {
          for (const l of await pgRows<{ scope: string; pid: number | null; live: boolean }>(
            f.tgt.url,
            `SELECT scope, pid, expires_ms > extract(epoch from clock_timestamp()) * 1000 AS live FROM tandem.leases`,
          )) {
            if (!l.live || l.pid === null) continue;
            if (!holders.has(l.scope)) holders.set(l.scope, new Set());
            holders.get(l.scope)!.add(Number(l.pid));
          }
          return (await backfillCounts(f.tgt.url)).status === 'done';
        },
        120_000,
      );
      // the application writes on until both workers have applied relay batches of their own (claims are shared
      // with SKIP LOCKED: each claims what the other has not locked)
      const relayed = (w: typeof a) => w.logs().some((l) => l.event === 'run.relay_batch' && Number(l.changes) > 0);
      await waitFor('both workers to apply relay batches', async () => workers.every(relayed), 60_000);
      stop.done = true;
      const writes = await app;
      await waitFor('the relay to drain', () => drained(f.cfg), 60_000);
      expect(holders.get('backfill:users')?.size).toBe(1);
      for (const pids of holders.values()) for (const pid of pids) expect([a.child.pid, b.child.pid]).toContain(pid);
      // one owner: each entity's copy was started (backfill.start, logged once its lease is taken) and its chunks
      // committed (run.backfill_progress) by one worker only
      for (const entity of ['orgs', 'users', 'memberships']) {
        const starters = workers.filter((w) =>
          w.logs().some((l) => l.event === 'backfill.start' && l.entity === entity),
        );
        expect(starters, entity).toHaveLength(1);
        const copiers = workers.filter((w) =>
          w.logs().some((l) => l.event === 'run.backfill_progress' && l.entity === entity),
        );
        expect(copiers, entity).toEqual(starters);
      }
      // and they did contend: a worker was refused a lease the other held, and waited (backfill.held)
      expect(workers.some((w) => w.logs().some((l) => l.event === 'backfill.held'))).toBe(true);
      expect((await backfillCounts(f.tgt.url)).status).toBe('done');
      const s = await statusOf(f.cfg);
      expect(s.processes.filter((p) => p.role === 'run' && p.alive)).toHaveLength(2);
      const v = await runCli(['verify', '--config', f.cfg]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      for (const w of workers) w.child.kill('SIGTERM');
      for (const w of workers) expect((await w.done).code, w.out.stderr.slice(-2000)).toBe(0);
      // what each relayed in all (its run.stop line): both applied batches, and together every change the
      // application made (one outbox row per write; a change handled twice after a failed batch only adds)
      const totals = workers.map(
        (w) => w.logs().find((l) => l.event === 'run.stop')?.relay as { batches: number; changes: number },
      );
      for (const t of totals) expect(t.batches).toBeGreaterThan(0);
      expect(totals[0]!.changes + totals[1]!.changes).toBeGreaterThanOrEqual(
        writes.updates + writes.inserts + writes.deletes,
      );
    } finally {
      stop.done = true;
      await app?.catch(() => {});
      await dual?.close();
      for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.done));
    }
  }, 300_000);
});

describe('tandem run follows the migration', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of drops) await d();
  });

  it('waits in prepare, backfills and relays from dual_write, turns the relay around at write cutover — without a restart', async () => {
    const USERS = 500;
    // continuous verification from the config (verify.intervalSeconds, verify.lagSeconds), no flag
    const f = await migrationFixture('tandem_run_p', USERS, { verify: '{ intervalSeconds: 1, lagSeconds: 0 }' });
    drops.push(f.drop);
    // what `tandem prepare` gives a legacy table: a version that grows on every update, 1 on insert (the reverse
    // relay writes legacy rows whose version the new store does not hold)
    const prep = await mysql.createConnection({ uri: f.src.url });
    await prep.query('ALTER TABLE users ALTER version SET DEFAULT 1');
    await prep.query(
      'CREATE TRIGGER users_version BEFORE UPDATE ON users FOR EACH ROW SET NEW.version = OLD.version + 1',
    );
    await prep.end();
    const run = startRun(f.cfg);
    try {
      // prepare: nothing is copied (changes are not captured yet), the worker only beats
      await waitFor(
        'the worker to beat',
        async () => (await statusOf(f.cfg)).processes.some((p) => p.role === 'run' && p.alive),
        60_000,
      );
      await sleep(1500);
      expect((await statusOf(f.cfg)).entities.map((e) => e.backfill.state)).toEqual(['pending', 'pending', 'pending']);
      expect((await runCli(['phase', 'set', 'dual_write', '--config', f.cfg])).code).toBe(0);
      await waitFor('the backfill and the relay', () => drained(f.cfg), 60_000);
      // continuous verification runs once the backfill is done, and records its result for status
      // (the default interval, 300 s, would not run one within this wait)
      await waitFor(
        'a continuous verification',
        async () => (await statusOf(f.cfg)).entities.every((e) => e.verify?.mode === 'checksum'),
        60_000,
      );
      expect(run.logs().find((l) => l.event === 'run.start')).toMatchObject({ verifyInterval: 1 });
      expect((await statusOf(f.cfg)).entities.map((e) => e.verify?.differences)).toEqual([0, 0, 0]);
      // write cutover: the application writes the new store; the worker's relay now runs new → legacy
      expect((await runCli(['phase', 'set', 'new_primary', '--force', '--config', f.cfg])).code).toBe(0);
      const dual = await createDualWriter({ config: f.cfg, budgetMs: 0, log: quiet });
      const client = new pg.Client({ connectionString: f.tgt.url });
      await client.connect();
      try {
        await dual.write(fromPg(client), async (tx) => {
          await client.query(`UPDATE users SET status = 'reversed' WHERE id = 9`);
          tx.changed('users', 9);
        });
      } finally {
        await client.end();
        await dual.close();
      }
      const legacy = await mysql.createConnection({ uri: f.src.url });
      try {
        await waitFor(
          'the reverse relay to write legacy',
          async () => {
            const [rows] = await legacy.query('SELECT status FROM users WHERE id = 9');
            return (rows as { status: string }[])[0]?.status === 'reversed';
          },
          30_000,
        ).catch((e) => {
          throw new Error(`${e.message}\n${run.out.stderr.slice(-4000)}`);
        });
      } finally {
        await legacy.end();
      }
      expect(run.logs().some((l) => l.event === 'run.relay_direction' && l.direction === 'reverse')).toBe(true);
      expect((await statusOf(f.cfg)).relay).toMatchObject({ direction: 'reverse', pending: 0 });
    } finally {
      run.child.kill('SIGTERM');
      expect((await run.done).code).toBe(0);
    }
  }, 180_000);

  it('waits out a target that is down at start, then does its work', async () => {
    const USERS = 300;
    const f = await migrationFixture('tandem_run_w', USERS);
    drops.push(f.drop);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', f.cfg])).code).toBe(0);
    const proxy = new TcpProxy(Number(new URL(f.tgt.url).port || 5432));
    const port = await proxy.start();
    await proxy.cut();
    const down = new URL(f.tgt.url);
    down.port = String(port);
    const cfg = writeConfig(
      readFileSync(f.cfg, 'utf8').replace(JSON.stringify(f.tgt.url), JSON.stringify(down.toString())),
    );
    const run = startRun(cfg, ['--verify-interval', '0']);
    try {
      await waitFor(
        'the worker to report the store down',
        async () => /TANDEM_ERR_STORE_UNREACHABLE.* — retrying/.test(run.out.stderr),
        30_000,
      );
      expect(run.child.exitCode).toBeNull();
      await proxy.restore();
      await waitFor('the backfill and the relay', () => drained(f.cfg), 60_000);
      expect((await backfillCounts(f.tgt.url)).status).toBe('done');
    } finally {
      run.child.kill('SIGTERM');
      expect((await run.done).code).toBe(0);
      await proxy.close();
    }
  }, 120_000);
});
