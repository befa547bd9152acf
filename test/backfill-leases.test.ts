import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/stores/index.js';
import { backfillCounts, createLegacyMysql, createNewPostgres, fixtureConfig, leaseExpired } from './fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, startCli, writeConfig } from './helpers.js';

/**
 * One owner at a time, with real CLI processes: a second backfill (or --restart) of an entity being copied is
 * refused at start naming the holder, and the first completes correctly; a SIGKILLed holder shows as dead in
 * status and its lease is taken over at once, before it expires; a stalled holder whose lease was taken cannot move the
 * checkpoint when it wakes up.
 */

const USERS = 12_000;
const ITEMS = 6_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error('timed out waiting');
}

/** rows_copied of an entity's checkpoint in any target store, or -1 before it exists. */
async function copiedOf(url: string, entity: string): Promise<number> {
  const s = await openStore(url);
  try {
    const r = await s.query<{ n: unknown }>(
      `SELECT rows_copied AS n FROM ${s.controlTable('checkpoints')} WHERE entity = ${s.sql.param(1)}`,
      [entity],
    );
    return r[0] ? Number(r[0].n) : -1;
  } catch {
    return -1;
  } finally {
    await s.close();
  }
}

/** Rows of a query on PostgreSQL. */
async function pgQuery<T>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

/**
 * A throttle (rows per second) under which a backfill of `rows` rows outlasts, with a wide margin, the `runs`
 * CLI runs a test makes while it must still hold its lease. A CLI run's start (tsx, config, stores) costs about a
 * second on a quiet machine and several on a loaded 2-core one, and a second backfill that starts after the
 * first has finished is not refused (the flake this prevents): so one such run (`tandem status`, which opens the
 * same stores) is timed here, on this machine now, and the holder is paced to last at least twice `runs` of
 * it (load that doubles within the test is still covered), and never less than 6 s. Slower pacing would only
 * make the test longer: what it proves (refused while held, the holder unharmed) does not depend on the rate.
 */
async function holderRate(cfg: string, rows: number, runs: number): Promise<number> {
  const t0 = performance.now();
  await runCli(['status', '--config', cfg]);
  const seconds = Math.max(6, (2 * runs * (performance.now() - t0)) / 1000);
  return Math.max(50, Math.floor(rows / seconds));
}

/** A CLI process started in the background, with its output collected. */
const heldBy = (entity: string, pid: number) =>
  new RegExp(
    `^TANDEM_ERR_LEASE_HELD: entity ${entity} is being copied by host ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} pid ${pid} since \\d{4}-\\d\\d-\\d\\dT[^;]+; wait for it or stop it; its lease expires at `,
    'm',
  );

/**
 * A flag file for `backfill.throttle.flagFile` (not there yet): while it exists the holder keeps its lease but
 * copies nothing, so the checks made while it holds do not race its end on a loaded machine.
 */
function holdFlag() {
  const path = join(mkdtempSync(join(tmpdir(), 'tandem-hold-')), 'hold');
  return {
    throttle: `throttle: { flagFile: ${JSON.stringify(path)}, checkSeconds: 0.2 }`,
    hold: () => writeFileSync(path, ''),
    release: () => rmSync(path, { force: true }),
  };
}

const itemsConfig = (source: string, target: string, extra = '') => `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(source)},
  target: ${JSON.stringify(target)},
  backfill: { initialChunkRows: 200, maxChunkRows: 200, ${extra} },
  entities: { items: { table: 'items', key: 'id', version: 'version', targets: [{ table: 'items', columns: { id: 'id', name: 'name' } }] } },
});`;

describe('backfill: one owner at a time', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  const drops: (() => Promise<void>)[] = [];
  const newPgTarget = async () => {
    const t = await createPgDatabase('tandem_lease_bf');
    drops.push(t.drop);
    await createNewPostgres(t.url);
    return t;
  };

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_lease_src');
    drops.push(src.drop);
    await createLegacyMysql(src.url, USERS);
    const c = await mysql.createConnection({ uri: src.url });
    await c.query('CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, version INT NOT NULL)');
    const rows = Array.from({ length: ITEMS }, (_, i) => [i + 1, `item ${i + 1} — ☃`, 1]);
    await c.query('INSERT INTO items VALUES ?', [rows]);
    await c.end();
  });
  afterAll(async () => {
    for (const d of drops) await d().catch(() => {});
  });

  it('PostgreSQL target: a second backfill and a --restart are refused at start naming the holder; the first completes with parity', async () => {
    const tgt = await newPgTarget();
    const flag = holdFlag();
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: `{ initialChunkRows: 300, maxChunkRows: 300, ${flag.throttle} }` }),
    );
    // b, r and a status run while a holds the lease
    const rate = await holderRate(cfg, USERS, 3);
    const a = startCli(['backfill', '--config', cfg, '--max-rows-per-second', String(rate), '--json']);
    await waitFor(async () => (await copiedOf(tgt.url, 'users')) >= 600);
    flag.hold();
    const b = await runCli(['backfill', '--config', cfg]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(heldBy('users', a.child.pid!));
    const r = await runCli(['backfill', '--config', cfg, '--entity', 'users', '--restart']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(heldBy('users', a.child.pid!));
    // while it runs, status shows the entity running and the process alive
    const live = JSON.parse((await runCli(['status', '--config', cfg, '--json'])).stdout);
    expect(live.entities.find((e: { entity: string }) => e.entity === 'users')).toMatchObject({
      status: 'running',
      checkpoint: 'running',
      holder: { pid: a.child.pid, host: hostname(), process: 'alive', leaseLive: true },
    });
    expect(live.processes).toMatchObject([
      { role: 'backfill', scope: 'backfill:users', pid: a.child.pid, alive: true, state: 'alive' },
    ]);
    flag.release();

    const first = await a.done;
    expect(first.stderr).not.toMatch(/TANDEM_ERR/);
    expect(first.code).toBe(0);
    const users = JSON.parse(first.stdout).entities.find((e: { entity: string }) => e.entity === 'users');
    expect(users).toMatchObject({ copied: USERS, copiedTotal: USERS, status: 'done' });
    expect(await backfillCounts(tgt.url)).toMatchObject({
      checkpoint: USERS,
      users: USERS,
      profiles: USERS,
      ledger: USERS,
      status: 'done',
    });
    expect((await runCli(['verify', '--config', cfg])).code).toBe(0);
    const end = JSON.parse((await runCli(['status', '--config', cfg, '--json'])).stdout);
    expect(end.entities.map((e: { status: string }) => e.status)).toEqual(['done', 'done', 'done']);
    expect(end.processes).toEqual([]); // every process removed its heartbeat on exit, the refused ones too
  });

  for (const kind of ['sqlite', 'mysql'] as const) {
    it(`${kind} target: a second backfill is refused at start naming the holder; the first completes with parity`, async () => {
      let url: string;
      if (kind === 'sqlite') {
        url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'tandem-lease-')), 'new.db')}`;
      } else {
        const db = await createMysqlDatabase('tandem_lease_tgt');
        drops.push(db.drop);
        url = db.url;
      }
      const t = await openStore(url);
      await t.execute('CREATE TABLE items (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL)');
      await t.close();
      const flag = holdFlag();
      const cfg = writeConfig(itemsConfig(src.url, url, flag.throttle));
      const a = startCli([
        'backfill',
        '--config',
        cfg,
        '--max-rows-per-second',
        String(await holderRate(cfg, ITEMS, 1)),
        '--json',
      ]);
      await waitFor(async () => (await copiedOf(url, 'items')) >= 400);
      flag.hold();
      const b = await runCli(['backfill', '--config', cfg, '--restart']);
      expect(b.code).toBe(2);
      expect(b.stderr).toMatch(heldBy('items', a.child.pid!));
      flag.release();
      const first = await a.done;
      expect(first.stderr).not.toMatch(/TANDEM_ERR/);
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout).entities[0]).toMatchObject({
        entity: 'items',
        copied: ITEMS,
        copiedTotal: ITEMS,
        status: 'done',
      });
      const s = await openStore(url);
      try {
        expect(Number((await s.query<{ n: unknown }>('SELECT count(*) AS n FROM items'))[0]!.n)).toBe(ITEMS);
      } finally {
        await s.close();
      }
      const v = await runCli(['verify', '--config', cfg, '--json']);
      expect(v.code).toBe(0);
      expect(JSON.parse(v.stdout).entities[0]).toMatchObject({
        sourceRows: ITEMS,
        targetRows: ITEMS,
        missing: 0,
        extra: 0,
        different: 0,
      });
    });
  }

  it('SIGKILLed holder: status says dead/stalled, not running; the next backfill takes its live lease over at once (larger token) and completes', async () => {
    const tgt = await newPgTarget();
    // a lease of 120 s: a takeover that waited for the expiry could not finish within this test's 60 s timeout
    const bf = '{ initialChunkRows: 300, maxChunkRows: 300, leaseSeconds: 120 }';
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: bf }).replace('  backfill:', '  heartbeatSeconds: 0.3,\n  backfill:'),
    );
    const a = startCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--max-rows-per-second', '2500']);
    await waitFor(async () => (await copiedOf(tgt.url, 'users')) >= 900);
    a.child.kill('SIGKILL');
    // 'close' comes after 'exit': the child has been reaped, its pid is gone (not a zombie)
    expect((await a.done).signal).toBe('SIGKILL');
    const mid = await backfillCounts(tgt.url);
    expect(mid.status).toBe('running');
    expect(mid.users).toBe(mid.checkpoint);

    // three missed beats (0.9 s) later status says dead / stalled, never running: polled (each poll a CLI run)
    let s = {
      entities: [] as { entity: string; status: string; checkpoint: string; holder: { process: string } }[],
      processes: [] as { pid: number; state: string }[],
    };
    const usersOf = () => s.entities.find((e) => e.entity === 'users')!;
    await waitFor(async () => {
      s = JSON.parse((await runCli(['status', '--config', cfg, '--json'])).stdout);
      return usersOf().status === 'stalled (process gone)';
    }, 10_000);
    const users = usersOf();
    expect(users.status).toBe('stalled (process gone)');
    expect(users.checkpoint).toBe('running');
    expect(users.holder).toMatchObject({ pid: a.child.pid, host: hostname() });
    expect(users.holder.process).toMatch(/^dead \(last beat \d+ s ago\)$/);
    const dead = s.processes.filter((p: { pid: number }) => p.pid === a.child.pid);
    expect(dead).toMatchObject([{ role: 'backfill', scope: 'backfill:users', alive: false }]);
    expect(dead[0]!.state).toMatch(/^dead \(last beat \d+ s ago\)$/);
    const human = (await runCli(['status', '--config', cfg])).stdout;
    expect(human).toMatch(/^ {2}users +stalled \(process gone\) /m);
    expect(human).toMatch(/dead \(last beat \d+ s ago\)/);
    expect(human).not.toMatch(/^ {2}users +running/m);

    // the dead holder's lease still lives (for about two minutes): the next backfill does not wait for it
    expect(await leaseExpired(tgt.url, 'backfill:users')).toBe(false);
    const [before] = await pgQuery<{ token: string }>(
      tgt.url,
      `SELECT token FROM tandem.leases WHERE scope = 'backfill:users'`,
    );
    const next = await runCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--json'], {
      env: { TANDEM_LOG_LEVEL: 'warn' },
    });
    expect(next.stderr).not.toMatch(/TANDEM_ERR/);
    expect(next.code).toBe(0);
    const takeover = next.stderr
      .split('\n')
      .filter((l) => l.includes('"backfill.lease_takeover"'))
      .map((l) => JSON.parse(l));
    expect(takeover).toMatchObject([
      {
        scope: 'backfill:users',
        pid: a.child.pid,
        host: hostname(),
        reason: `process ${a.child.pid} on this host is gone`,
      },
    ]);
    const [after] = await pgQuery<{ token: string; pid: number }>(
      tgt.url,
      `SELECT token, pid FROM tandem.leases WHERE scope = 'backfill:users'`,
    );
    expect(Number(after!.token)).toBe(Number(before!.token) + 1);
    const u = JSON.parse(next.stdout).entities.find((e: { entity: string }) => e.entity === 'users');
    expect(u).toMatchObject({ copied: USERS - mid.checkpoint, copiedTotal: USERS, status: 'done' });
    expect(await backfillCounts(tgt.url)).toMatchObject({
      checkpoint: USERS,
      users: USERS,
      profiles: USERS,
      ledger: USERS,
      status: 'done',
    });
    expect((await runCli(['verify', '--config', cfg, '--entity', 'orgs,users'])).code).toBe(0);
    const end = JSON.parse((await runCli(['status', '--config', cfg, '--json'])).stdout);
    expect(end.entities.find((e: { entity: string }) => e.entity === 'users').status).toBe('done');
  });

  it('a stalled holder whose lease was taken over cannot move the checkpoint when it wakes: it stops with LEASE_LOST, writing nothing', async () => {
    const tgt = await newPgTarget();
    // a stopped process's open transaction is ended by the server, as a production timeout would
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    await c.query(`ALTER DATABASE "${tgt.name}" SET idle_in_transaction_session_timeout = '1s'`);
    await c.end();
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: '{ initialChunkRows: 300, maxChunkRows: 300, leaseSeconds: 1.5 }' }),
    );
    const a = startCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--max-rows-per-second', '2500']);
    await waitFor(async () => (await copiedOf(tgt.url, 'users')) >= 600);
    a.child.kill('SIGSTOP');
    try {
      await waitFor(() => leaseExpired(tgt.url, 'backfill:users'), 20_000);
      const b = await runCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--json']);
      expect(b.stderr).not.toMatch(/TANDEM_ERR/);
      expect(b.code).toBe(0);
      expect(JSON.parse(b.stdout).entities.find((e: { entity: string }) => e.entity === 'users')).toMatchObject({
        copiedTotal: USERS,
        status: 'done',
      });
    } finally {
      a.child.kill('SIGCONT');
    }
    const woke = await a.done;
    expect(woke.code).toBe(2);
    expect(woke.stderr).toMatch(
      /^TANDEM_ERR_LEASE_LOST: the lease backfill:users of this process \(host .+ pid \d+\) was taken over /m,
    );
    expect(woke.stderr).not.toMatch(/TANDEM_ERR_INTERNAL/);
    expect(await backfillCounts(tgt.url)).toMatchObject({
      checkpoint: USERS,
      users: USERS,
      profiles: USERS,
      ledger: USERS,
      status: 'done',
    });
    expect((await runCli(['verify', '--config', cfg, '--entity', 'orgs,users'])).code).toBe(0);
  });
});
