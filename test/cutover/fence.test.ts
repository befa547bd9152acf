import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromMysql, fromPg, type TxAdapter } from '../../src/capture/adapters.js';
import { createDualWriter, type DualWriter, type WritePaths } from '../../src/capture/writer.js';
import { isTandemError } from '../../src/core/errors.js';
import { cutover } from '../../src/cutover/cutover.js';
import { readFence } from '../../src/cutover/fence.js';
import type { CutoverReport } from '../../src/cutover/types.js';
import { quiet } from '../runtime/helpers.js';
import { count, cutoverFixture, type CutoverFixture, type Direction } from './cutover-setup.js';

/**
 * Guarantee 7 (DESIGN.md): no write commits on the old primary after the flip, whatever instance still believes
 * the old phase. Three writer instances write throughout a cutover — a fresh one (phase cache 50 ms), one whose
 * phase cache is stale for an hour, and the old one-path form on the application's own legacy connection, stale
 * too — and the test checks with plain SQL: every legacy row was drained to new (nothing committed on legacy
 * after the drain, so none after the flip), legacy's outbox is empty, every committed write is on exactly one
 * primary, the writes held at the fence ran on new or failed with TANDEM_ERR_WRITE_FENCED, and nothing else failed.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  token: string;
  writer: string;
  side?: 'legacy' | 'new';
  error?: string;
  startedMs: number;
}

/** The application's own connection to legacy, one per write (the one-path form runs BEGIN … COMMIT on it). */
interface AppPool {
  take(): Promise<{ adapter: TxAdapter; query: (sql: string, params: unknown[]) => Promise<unknown>; release(): void }>;
  end(): Promise<void>;
}

function appPool(dir: Direction, url: string): AppPool {
  if (dir === 'mariadb-pg') {
    const pool = mysql.createPool({ uri: url, connectionLimit: 4 });
    return {
      async take() {
        const c = await pool.getConnection();
        return { adapter: fromMysql(c), query: (sql, params) => c.query(sql, params), release: () => c.release() };
      },
      end: () => pool.end(),
    };
  }
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // an idle client cut off when the database is dropped at the end emits on the pool: not an uncaught error
  pool.on('error', () => {});
  return {
    async take() {
      const c = await pool.connect();
      return { adapter: fromPg(c), query: (sql, params) => c.query(sql, params), release: () => c.release() };
    },
    end: () => pool.end(),
  };
}

const DIRECTIONS: Direction[] = ['mariadb-pg', 'pg-mariadb'];

describe.each(DIRECTIONS)('the write fence %s', (dir) => {
  let fx: CutoverFixture;
  let fresh: DualWriter;
  let stale: DualWriter;
  let onePath: DualWriter;
  let app: AppPool;
  beforeAll(async () => {
    // a fence wide enough that a held write outlasts the drain on a loaded machine (2 cores, 3 test workers)
    fx = await cutoverFixture(dir, { accounts: 50, extra: 'cutover: { fenceMs: 10000 },' });
    fresh = await createDualWriter({ config: fx.cfg, phaseTtlMs: 50, budgetMs: 0, log: quiet });
    stale = await createDualWriter({ config: fx.cfg, phaseTtlMs: 3_600_000, budgetMs: 0, log: quiet });
    onePath = await createDualWriter({ config: fx.cfg, phaseTtlMs: 3_600_000, budgetMs: 0, log: quiet });
    app = appPool(dir, fx.m.config.source as string);
  });
  afterAll(async () => {
    await fresh?.close();
    await stale?.close();
    await onePath?.close();
    await app?.end();
    await fx?.close();
  });

  let seq = 0;
  const outcomes: Outcome[] = [];
  const lp = (i: number) => fx.lp(i);
  const np = (i: number) => fx.np(i);

  /** One write of an `events` row through the two-path form; records where it committed (or why it failed). */
  async function twoPath(w: DualWriter, name: string, onFence?: 'fail'): Promise<Outcome> {
    const token = `${name}-${++seq}`;
    const o: Outcome = { token, writer: name, startedMs: Date.now() };
    let ran: 'legacy' | 'new' | undefined;
    const paths: WritePaths<void> = {
      legacy: async (tx) => {
        await tx.execute(`INSERT INTO events (token, origin, n) VALUES (${lp(1)}, ${lp(2)}, ${lp(3)})`, [
          token,
          'legacy',
          seq,
        ]);
        tx.changed('events', token);
        await sleep(2); // hold the fence's shared lock a little: writes are in flight when the cutover comes
        ran = 'legacy';
      },
      new: async (tx) => {
        await tx.execute(`INSERT INTO events (token, origin, n) VALUES (${np(1)}, ${np(2)}, ${np(3)})`, [
          token,
          'new',
          seq,
        ]);
        tx.changed('events', token);
        ran = 'new';
      },
      onFence,
    };
    try {
      await w.write(paths);
      o.side = ran;
    } catch (e) {
      o.error = isTandemError(e) ? e.code : String(e);
    }
    outcomes.push(o);
    return o;
  }

  /** The old one-path form on the application's own MariaDB connection: it can only ever write legacy. */
  async function legacyOnly(): Promise<Outcome> {
    const token = `one-${++seq}`;
    const o: Outcome = { token, writer: 'one-path', startedMs: Date.now() };
    const conn = await app.take();
    try {
      await onePath.write(conn.adapter, async (tx) => {
        await conn.query(`INSERT INTO events (token, origin, n) VALUES (${lp(1)}, ${lp(2)}, ${lp(3)})`, [
          token,
          'legacy',
          seq,
        ]);
        tx.changed('events', token);
      });
      o.side = 'legacy';
    } catch (e) {
      o.error = isTandemError(e) ? e.code : String(e);
    } finally {
      conn.release();
    }
    outcomes.push(o);
    return o;
  }

  it('no write commits on legacy after the flip; held writes run on new or fail WRITE_FENCED', async () => {
    const { m, legacy, next, lt } = fx;
    // a backlog for the drain, so writes meet the closed fence for a while
    await legacy(`INSERT INTO events (token, origin, n) SELECT CONCAT('seed-', id), 'legacy', id FROM accounts`);
    await legacy(
      `INSERT INTO ${lt('outbox')} (entity, entity_key, key_values) SELECT 'events', CONCAT('["seed-', id, '"]'), CONCAT('["seed-', id, '"]') FROM accounts`,
    );
    let stop = false;
    const loops: Promise<void>[] = [];
    const loop = (f: () => Promise<unknown>) =>
      loops.push(
        (async () => {
          while (!stop) await f();
        })(),
      );
    for (let i = 0; i < 2; i++) {
      loop(() => twoPath(fresh, 'fresh'));
      loop(() => twoPath(stale, 'stale'));
    }
    loop(() => legacyOnly());
    const during: Promise<Outcome>[] = [];
    let flipMs = 0;
    let report: CutoverReport;
    try {
      await sleep(300);
      report = await cutover(m, {
        force: true,
        onStep: (s) => {
          if (s === 'drain') {
            // writes that start behind the closed fence: held, then run on new (or fail when asked to)
            for (let i = 0; i < 4; i++) during.push(twoPath(fresh, 'held'));
            for (let i = 0; i < 2; i++) during.push(twoPath(fresh, 'failfast', 'fail'));
            during.push(legacyOnly());
          }
          if (s === 'release') flipMs = Date.now();
        },
      });
      await sleep(700);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    const held = await Promise.all(during);

    // the writes started behind the fence: run on new after the flip, or failed fast / as one-path
    expect(held.filter((o) => o.writer === 'held').map((o) => o.side)).toEqual(['new', 'new', 'new', 'new']);
    expect(held.filter((o) => o.writer === 'failfast').map((o) => o.error)).toEqual([
      'TANDEM_ERR_WRITE_FENCED',
      'TANDEM_ERR_WRITE_FENCED',
    ]);
    expect(held.find((o) => o.writer === 'one-path')?.error).toBe('TANDEM_ERR_WRITE_FENCED');

    // nothing but WRITE_FENCED ever failed
    const errors = outcomes.filter((o) => o.error);
    expect([...new Set(errors.map((o) => o.error))].filter((c) => c !== 'TANDEM_ERR_WRITE_FENCED')).toEqual([]);
    // after the flip the one-path legacy writer never commits; the stale two-path writer commits on new only
    const afterFlip = outcomes.filter((o) => o.startedMs > flipMs);
    expect(afterFlip.filter((o) => o.writer === 'one-path').length).toBeGreaterThan(0);
    expect(afterFlip.filter((o) => o.writer === 'one-path' && !o.error)).toEqual([]);
    expect(afterFlip.filter((o) => o.writer === 'stale' && o.side).length).toBeGreaterThan(0);
    expect(afterFlip.filter((o) => o.side === 'legacy')).toEqual([]);

    // plain SQL: every legacy row reached new under the fence (none committed on legacy after the drain) ...
    const legacyTokens = new Set((await legacy('SELECT token FROM events')).map((r) => String(r.token)));
    const newRows = await next('SELECT token, origin FROM events');
    const copied = new Set(newRows.filter((r) => r.origin === 'legacy').map((r) => String(r.token)));
    const onNew = new Set(newRows.filter((r) => r.origin === 'new').map((r) => String(r.token)));
    expect([...legacyTokens].filter((t) => !copied.has(t))).toEqual([]);
    expect(await count(legacy, `SELECT count(*) AS n FROM ${lt('outbox')}`)).toBe(0);
    // ... and every committed write landed on exactly one primary, the one its writer reported
    const committedLegacy = outcomes.filter((o) => o.side === 'legacy').map((o) => o.token);
    const committedNew = outcomes.filter((o) => o.side === 'new').map((o) => o.token);
    expect(committedLegacy.length).toBeGreaterThan(0);
    expect(committedNew.length).toBeGreaterThan(0);
    expect([...legacyTokens].filter((t) => !t.startsWith('seed-')).sort()).toEqual([...committedLegacy].sort());
    expect([...onNew].sort()).toEqual([...committedNew].sort());
    expect(committedLegacy.filter((t) => onNew.has(t))).toEqual([]);
    // failed writes committed nowhere
    for (const o of errors) {
      expect(legacyTokens.has(o.token)).toBe(false);
      expect(onNew.has(o.token) || copied.has(o.token)).toBe(false);
    }

    // the write pause: the held writes' waits, from every writer instance
    const local = fresh.fence.held + stale.fence.held + onePath.fence.held;
    expect(report.writePause.held).toBeGreaterThanOrEqual(7);
    expect(report.writePause.held).toBeLessThanOrEqual(local);
    expect(report.writePause.maxMs).toBeGreaterThan(0);
    expect(report.writePause.maxMs).toBeLessThan(m.config.cutover.fenceMs + 500);
    expect(report.writePause.p99Ms).toBeLessThanOrEqual(report.writePause.maxMs);
    expect(fresh.fence.redirected).toBeGreaterThanOrEqual(4);
    expect(await readFence(m.stores.legacy)).toMatchObject({
      phase: 'new_primary',
      state: 'open',
      epoch: report.epoch,
    });
    process.stdout.write(
      `fence ${dir}: ${outcomes.length} writes (${committedLegacy.length} legacy, ${committedNew.length} new, ${errors.length} fenced); cutover ${report.seconds.toFixed(3)} s, drained ${report.drained}, write pause held ${report.writePause.held} p99 ${report.writePause.p99Ms} ms max ${report.writePause.maxMs} ms\n`,
    );
  });
});
