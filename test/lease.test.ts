import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  advanceCheckpoint,
  ensureControlSchema,
  finishCheckpoint,
  readCheckpoint,
  startCheckpoint,
} from '../src/control/control.js';
import { deadHolderCheck, listProcesses, pidAlive, startHeartbeat } from '../src/control/heartbeat.js';
import {
  acquireLease,
  acquireAll,
  fenceLease,
  listLeases,
  releaseLease,
  renewLease,
  type LeaseHolder,
} from '../src/control/lease.js';
import { isTandemError, TandemError } from '../src/core/errors.js';
import { openStore } from '../src/stores/index.js';
import type { Store } from '../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function stores(): Promise<[string, () => Promise<Store>][]> {
  const pg = await createPgDatabase('tandem_lease');
  const my = await createMysqlDatabase('tandem_lease');
  cleanups.push(pg.drop, my.drop);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-lease-'));
  return [
    ['postgres', () => openStore(pg.url)],
    ['mysql', () => openStore(my.url)],
    ['sqlite', () => openStore(`sqlite:${join(dir, 'l.db')}`)],
    ['pglite', () => openStore('pglite:memory')],
  ];
}

const A: LeaseHolder = { id: 'holder-a', host: 'host-a', pid: 1111 };
const B: LeaseHolder = { id: 'holder-b', host: 'host-b', pid: 2222 };

async function caught(p: Promise<unknown>): Promise<TandemError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TandemError) return e;
    throw e;
  }
  throw new Error('expected a TandemError');
}

describe('leases and the fenced checkpoint', async () => {
  for (const [dialect, open] of await stores()) {
    it(`${dialect}: one holder at a time; a holder whose lease was taken cannot move the checkpoint`, async () => {
      const s = await open();
      try {
        await ensureControlSchema(s);
        await s.execute(`CREATE TABLE lease_rows (id integer NOT NULL PRIMARY KEY)`);
        const scope = 'backfill:users';
        const a = await acquireLease(s, scope, 600, { holder: A, what: 'entity users is being copied' });
        // a live lease is refused, naming the holder
        const held = await caught(acquireLease(s, scope, 600, { holder: B, what: 'entity users is being copied' }));
        expect(held.code).toBe('TANDEM_ERR_LEASE_HELD');
        expect(held.message).toMatch(
          /^entity users is being copied by host host-a pid 1111 since \d{4}-\d\d-\d\dT.*; wait for it or stop it; its lease expires at \d{4}-/,
        );
        await startCheckpoint(s, 'users', 10, false, a);
        await s.transaction(async (tx) => {
          await tx.execute(`INSERT INTO lease_rows (id) VALUES (1)`);
          await advanceCheckpoint(tx, s, 'users', null, [1], 1, 1, a);
        });
        expect(await renewLease(s, s, a)).toBe(true);

        // A stalls past its ttl; B takes the lease over with a larger token
        await waitFor(async () => !(await listLeases(s)).find((l) => l.scope === scope)!.live, {
          what: "A's lease to expire",
        });
        const b = await acquireLease(s, scope, 60_000, { holder: B });
        expect(b.token).toBeGreaterThan(a.token);

        // A's next chunk: its rows and its checkpoint move roll back together, with LEASE_LOST (not INTERNAL)
        const lost = await caught(
          s.transaction(async (tx) => {
            await tx.execute(`INSERT INTO lease_rows (id) VALUES (2)`);
            await advanceCheckpoint(tx, s, 'users', [1], [2], 1, 1, a);
          }),
        );
        expect(lost.code).toBe('TANDEM_ERR_LEASE_LOST');
        expect(lost.message).toMatch(/taken over by host host-b pid 2222/);
        expect(Number((await s.query<{ n: unknown }>(`SELECT count(*) AS n FROM lease_rows`))[0]!.n)).toBe(1);
        expect((await readCheckpoint(s, s, 'users'))!.lastKey).toEqual([1]);
        // nor can it restart, finish or renew it
        expect((await caught(startCheckpoint(s, 'users', 10, true, a))).code).toBe('TANDEM_ERR_LEASE_LOST');
        expect((await caught(finishCheckpoint(s, 'users', a))).code).toBe('TANDEM_ERR_LEASE_LOST');
        expect(await renewLease(s, s, a)).toBe(false);
        await releaseLease(s, a); // a no-op: not A's any more
        expect((await caught(acquireLease(s, scope, 600, { holder: A }))).code).toBe('TANDEM_ERR_LEASE_HELD');
        const cp = await readCheckpoint(s, s, 'users');
        expect(cp).toMatchObject({ lastKey: [1], rowsCopied: 1, status: 'running' });

        // B carries on from where the checkpoint stands
        await s.transaction(async (tx) => {
          await tx.execute(`INSERT INTO lease_rows (id) VALUES (2)`);
          await advanceCheckpoint(tx, s, 'users', [1], [2], 1, 1, b);
        });
        await finishCheckpoint(s, 'users', b);
        expect(await readCheckpoint(s, s, 'users')).toMatchObject({ lastKey: [2], rowsCopied: 2, status: 'done' });
        // released: free at once for the next holder, whose token is larger still
        await releaseLease(s, b);
        const c = await acquireLease(s, scope, 600, { holder: A });
        expect(c.token).toBeGreaterThan(b.token);
        expect((await listLeases(s, 'backfill:')).map((l) => [l.scope, l.host, l.live])).toEqual([
          [scope, 'host-a', true],
        ]);
      } finally {
        await s.close();
      }
    });

    it(`${dialect}: acquireAll takes every lease or none`, async () => {
      const s = await open();
      try {
        await ensureControlSchema(s);
        const held = await acquireLease(s, 'backfill:b', 60_000, { holder: B });
        const e = await caught(
          acquireAll(s, [{ scope: 'backfill:a' }, { scope: 'backfill:b', what: 'entity b is being copied' }], 60_000),
        );
        expect(isTandemError(e, 'LEASE_HELD')).toBe(true);
        expect(e.message).toMatch(/^entity b is being copied by host host-b pid 2222/);
        // the lease of `a` it had taken was given back
        expect((await listLeases(s)).find((l) => l.scope === 'backfill:a')!.live).toBe(false);
        await releaseLease(s, held);
      } finally {
        await s.close();
      }
    });

    it(`${dialect}: a live lease of a dead holder is taken over at once, with a larger token; alive or unknown ones are not`, async () => {
      const s = await open();
      try {
        await ensureControlSchema(s);
        const dead = deadHolderCheck(s);
        const hb = s.controlTable('heartbeats');
        const beat = (id: string, host: string, pid: number, agoMs: number) =>
          s.execute(
            `INSERT INTO ${hb} (id, role, scope, host, pid, started_ms, last_beat_ms, interval_ms, state, info) ` +
              `VALUES ('${id}', 'backfill', 'backfill:x', '${host}', ${pid}, ${s.sql.nowMs()} - ${agoMs}, ` +
              `${s.sql.nowMs()} - ${agoMs}, 100, 'running', NULL)`,
          );
        // another host, no heartbeat row: nothing says it is dead, its lease (60 s) must expire first
        const a = await acquireLease(s, 'backfill:far', 60_000, { holder: A });
        expect((await caught(acquireLease(s, 'backfill:far', 60_000, { holder: B, deadHolder: dead }))).code).toBe(
          'TANDEM_ERR_LEASE_HELD',
        );
        // its heartbeat beats (last beat 50 ms ago, interval 100 ms): alive, refused
        await beat('hb-a1', A.host, A.pid, 50);
        expect((await caught(acquireLease(s, 'backfill:far', 60_000, { holder: B, deadHolder: dead }))).code).toBe(
          'TANDEM_ERR_LEASE_HELD',
        );
        // its heartbeat stopped (5 s ago, 50 intervals): dead; one live row of that host and pid keeps it alive
        await s.execute(`UPDATE ${hb} SET last_beat_ms = last_beat_ms - 5000 WHERE id = 'hb-a1'`);
        await beat('hb-a2', A.host, A.pid, 0);
        expect((await caught(acquireLease(s, 'backfill:far', 60_000, { holder: B, deadHolder: dead }))).code).toBe(
          'TANDEM_ERR_LEASE_HELD',
        );
        await s.execute(`DELETE FROM ${hb} WHERE id = 'hb-a2'`);
        const b = await acquireLease(s, 'backfill:far', 60_000, { holder: B, deadHolder: dead });
        expect(b.token).toBe(a.token + 1);
        expect(b.tookOver).toMatchObject({ host: A.host, pid: A.pid, token: a.token });
        expect(b.tookOver!.reason).toMatch(/^its heartbeat stopped \d+ s ago \(3 beats missed\)$/);
        // the holder called dead, if it still runs, cannot fence (so cannot move a checkpoint)
        const lost = await caught(s.transaction((tx) => fenceLease(tx, s, a)));
        expect(lost.code).toBe('TANDEM_ERR_LEASE_LOST');
        // this host, a pid that has exited (a real child process, waited for): dead without any heartbeat
        const child = spawn(process.execPath, ['-e', '0']);
        const pid = child.pid!;
        await new Promise((r) => child.on('exit', r));
        expect(pidAlive(pid)).toBe(false);
        const gone: LeaseHolder = { id: 'holder-gone', host: hostname(), pid };
        const g = await acquireLease(s, 'backfill:near', 60_000, { holder: gone });
        const c = await acquireLease(s, 'backfill:near', 60_000, { holder: B, deadHolder: dead });
        expect(c).toMatchObject({
          token: g.token + 1,
          tookOver: { pid, reason: `process ${pid} on this host is gone` },
        });
        // this host, a running pid (this process's parent) with no heartbeat: alive, refused
        const alive: LeaseHolder = { id: 'holder-alive', host: hostname(), pid: process.ppid };
        expect(pidAlive(process.ppid)).toBe(true);
        await acquireLease(s, 'backfill:live', 60_000, { holder: alive });
        expect((await caught(acquireLease(s, 'backfill:live', 60_000, { holder: B, deadHolder: dead }))).code).toBe(
          'TANDEM_ERR_LEASE_HELD',
        );
        // without the check (a library caller), a dead holder's lease still waits for its expiry
        const h = await acquireLease(s, 'backfill:nocheck', 60_000, { holder: { id: 'x', host: hostname(), pid } });
        expect(h.tookOver).toBeUndefined();
        expect((await caught(acquireLease(s, 'backfill:nocheck', 60_000, { holder: B }))).code).toBe(
          'TANDEM_ERR_LEASE_HELD',
        );
        await s.execute(`DELETE FROM ${hb} WHERE id = 'hb-a1'`);
      } finally {
        await s.close();
      }
    });

    it(`${dialect}: heartbeats are alive while beating, dead when they stop beating, gone when stopped`, async () => {
      const s = await open();
      try {
        const hb = await startHeartbeat(s, { role: 'backfill', scope: 'backfill:users', intervalMs: 100 });
        let ps = (await listProcesses(s)).filter((p) => p.id === hb.id);
        expect(ps).toHaveLength(1);
        expect(ps[0]).toMatchObject({
          role: 'backfill',
          scope: 'backfill:users',
          pid: process.pid,
          alive: true,
          state: 'alive',
        });
        // it beats: a later beat than its start shows up (every 100 ms; polled, not slept on)
        await waitFor(
          async () => {
            ps = (await listProcesses(s)).filter((p) => p.id === hb.id);
            return Date.parse(ps[0]!.lastBeatAt) > Date.parse(ps[0]!.startedAt);
          },
          { timeoutMs: 5_000, what: 'a second beat' },
        );
        expect(ps[0]).toMatchObject({ alive: true, state: 'alive' });
        hb.setScope('backfill:orgs');
        await waitFor(async () => (await listProcesses(s)).find((p) => p.id === hb.id)!.scope === 'backfill:orgs', {
          timeoutMs: 5_000,
          what: 'the new scope in a beat',
        });
        await hb.stop();
        expect((await listProcesses(s)).filter((p) => p.id === hb.id)).toEqual([]);
        // a process that stops beating without removing its row (SIGKILL) is dead after three intervals
        const slow = await startHeartbeat(s, { role: 'relay', intervalMs: 10_000 });
        expect((await listProcesses(s)).find((p) => p.id === slow.id)!.alive).toBe(true);
        await s.execute(
          `UPDATE ${s.controlTable('heartbeats')} SET interval_ms = 100, last_beat_ms = last_beat_ms - 5000 WHERE id = '${slow.id}'`,
        );
        ps = (await listProcesses(s)).filter((p) => p.id === slow.id);
        expect(ps[0]!.alive).toBe(false);
        expect(ps[0]!.state).toMatch(/^dead \(last beat [45] s ago\)$/);
        await slow.stop();
      } finally {
        await s.close();
      }
    });
  }
});
