import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromMysql, fromPg } from '../../src/capture/adapters.js';
import { createDualWriter, type DualWriter, type WriteTx } from '../../src/capture/writer.js';
import { recentAudit } from '../../src/control/control.js';
import { readPhase, setPhase } from '../../src/control/phase.js';
import { isTandemError } from '../../src/core/errors.js';
import { cutover, drainOutbox } from '../../src/cutover/cutover.js';
import { readFence } from '../../src/cutover/fence.js';
import { legacyReadOnlyTables, setLegacyReadOnly } from '../../src/cutover/read-only.js';
import { rollback } from '../../src/cutover/rollback.js';
import { readRoutingSnapshot, setCanaryPercent } from '../../src/routing/state.js';
import { runCli } from '../helpers.js';
import { quiet } from '../runtime/helpers.js';
import { count, cutoverFixture, type CutoverFixture, type Direction } from './cutover-setup.js';

/**
 * Guarantee 6 (DESIGN.md): a rollback from new_primary under a write load loses nothing. Writers run through the
 * two-path `dual.write({ legacy, new })` throughout cutover → load on new → rollback → load on legacy; the test
 * keeps its own history of committed writes (the last email committed per account, every event token, every
 * account inserted without a key) and compares it with plain SQL of legacy. Then `tandem verify` exits 0, the
 * RTO is reported, and after legacy_read_only the rollback is refused (and `--reconciled` goes back to new_primary).
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DIRECTIONS: Direction[] = ['mariadb-pg', 'pg-mariadb'];

describe.each(DIRECTIONS)('rollback %s', (dir) => {
  let fx: CutoverFixture;
  let w: DualWriter;
  const ACCOUNTS = 120;
  beforeAll(async () => {
    fx = await cutoverFixture(dir, { accounts: ACCOUNTS });
    w = await createDualWriter({ config: fx.cfg, phaseTtlMs: 100, budgetMs: 0, log: quiet });
  });
  afterAll(async () => {
    await w?.close();
    await fx?.close();
  });

  it('from canary: reads go back to legacy at once (canary to 0 %), the phase stays', async () => {
    const { m } = fx;
    await setCanaryPercent(m.stores.control, 25);
    const cli = await runCli(['rollback', '--json', '--config', fx.cfg]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const r = JSON.parse(cli.stdout);
    expect(r).toMatchObject({ from: 'canary', to: 'canary', drained: 0, writePause: { held: 0, p99Ms: 0, maxMs: 0 } });
    expect(r.rtoSeconds).toBeGreaterThanOrEqual(0);
    expect((await readRoutingSnapshot(m.stores.control)).canaryPercent).toBe(0);
    expect(await readPhase(m.stores.control)).toBe('canary');
    const audit = (await recentAudit(m.stores.control, 5)).find((a) => a.command === 'rollback');
    expect(audit?.detail).toMatch(/^canary: canary 25% → 0%: reads served by legacy/);
  });

  it('from new_primary under load: nothing lost, verify exits 0, RTO reported', async () => {
    const { m, legacy, lp, np } = fx;
    const lastEmail = new Map<number, string>();
    const events: string[] = [];
    const inserted = new Map<number, string>();
    const failures: string[] = [];
    let stop = false;
    let seq = 0;
    const LOOPS = 3;
    const insertNew = async (tx: WriteTx, email: string) =>
      fx.dir === 'mariadb-pg'
        ? Number(
            (await tx.query(`INSERT INTO accounts (email, version) VALUES (${np(1)}, 1) RETURNING id`, [email]))[0]!.id,
          )
        : (await tx.execute(`INSERT INTO accounts (email, version) VALUES (${np(1)}, 1)`, [email]),
          Number((await tx.query('SELECT LAST_INSERT_ID() AS id'))[0]!.id));
    const insertLegacy = async (tx: WriteTx, email: string) =>
      fx.dir === 'pg-mariadb'
        ? Number(
            (await tx.query(`INSERT INTO accounts (email, version) VALUES (${lp(1)}, 1) RETURNING id`, [email]))[0]!.id,
          )
        : (await tx.execute(`INSERT INTO accounts (email, version) VALUES (${lp(1)}, 1)`, [email]),
          Number((await tx.query('SELECT LAST_INSERT_ID() AS id'))[0]!.id));
    const loop = async (i: number) => {
      let round = 0;
      while (!stop) {
        round++;
        const n = ++seq;
        const id = 1 + ((round * LOOPS + i) % ACCOUNTS);
        const email = `w${n}@example.com`;
        const token = `t${n}`;
        try {
          const kind = n % 5;
          const newId = await w.write<number | null>({
            legacy: async (tx) => {
              if (kind === 0) {
                const k = await insertLegacy(tx, email);
                tx.changed('accounts', k);
                return k;
              }
              await tx.execute(`UPDATE accounts SET email = ${lp(1)}, version = version + 1 WHERE id = ${lp(2)}`, [
                email,
                id,
              ]);
              await tx.execute(`INSERT INTO events (token, origin, n) VALUES (${lp(1)}, 'legacy', ${lp(2)})`, [
                token,
                n,
              ]);
              tx.changed('accounts', id);
              tx.changed('events', token);
              return null;
            },
            new: async (tx) => {
              if (kind === 0) {
                const k = await insertNew(tx, email);
                tx.changed('accounts', k);
                return k;
              }
              await tx.execute(`UPDATE accounts SET email = ${np(1)}, version = version + 1 WHERE id = ${np(2)}`, [
                email,
                id,
              ]);
              await tx.execute(`INSERT INTO events (token, origin, n) VALUES (${np(1)}, 'new', ${np(2)})`, [token, n]);
              tx.changed('accounts', id);
              tx.changed('events', token);
              return null;
            },
          });
          if (newId !== null) inserted.set(newId, email);
          else {
            lastEmail.set(id, email);
            events.push(token);
          }
        } catch (e) {
          failures.push(isTandemError(e) ? e.code : String(e));
        }
      }
    };
    const loops = Array.from({ length: LOOPS }, (_, i) => loop(i));
    try {
      await sleep(300);
      const c = await cutover(m, { force: true, settleMs: 0 });
      expect(c.to).toBe('new_primary');
      await sleep(800); // writes on the new primary pile up in its outbox (no reverse relay runs)
      const steps: string[] = [];
      const r = await rollback(m, { onStep: (s) => steps.push(s) });
      expect(steps).toEqual(['fence', 'drain', 'sequences', 'flip', 'release', 'verify']);
      expect(r.from).toBe('new_primary');
      expect(r.to).toBe('canary');
      expect(r.drained).toBeGreaterThan(0);
      expect(r.rtoSeconds).toBeGreaterThan(0);
      expect(r.rtoSeconds).toBeLessThan(30);
      expect(Object.keys(r.parity ?? {}).sort()).toEqual(['accounts', 'events']);
      expect(r.writePause.maxMs).toBeLessThan(m.config.cutover.fenceMs + 500);
      expect(r.epoch).toBe(c.epoch + 1);
      expect(await readPhase(m.stores.control)).toBe('canary');
      expect((await readRoutingSnapshot(m.stores.control)).canaryPercent).toBe(0);
      expect(await readFence(m.stores.new)).toMatchObject({ phase: 'canary', side: 'new', state: 'open' });
      await sleep(500); // and the writes go on, on legacy again (its sequences were advanced: inserts succeed)
      process.stdout.write(
        `rollback ${dir}: drained ${r.drained}, RTO ${r.rtoSeconds.toFixed(3)} s, write pause held ${r.writePause.held} p99 ${r.writePause.p99Ms} ms max ${r.writePause.maxMs} ms; cutover pause held ${c.writePause.held} max ${c.writePause.maxMs} ms\n`,
      );
      const audit = (await recentAudit(m.stores.control, 5)).find((a) => a.command === 'rollback');
      expect(audit?.outcome).toBe('ok');
      expect(audit?.detail).toMatch(
        /new_primary → canary at 0 % at fence epoch \d+; drained \d+ reverse change\(s\); RTO/,
      );
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    // only the retryable fence error, if any, ever failed a write
    expect(failures.filter((f) => f !== 'TANDEM_ERR_WRITE_FENCED')).toEqual([]);
    expect(events.length).toBeGreaterThan(50);
    expect(inserted.size).toBeGreaterThan(5);

    // the independent check: everything the test committed, on any primary, is in legacy
    const rows = await legacy('SELECT id, email FROM accounts');
    const byId = new Map(rows.map((r) => [Number(r.id), String(r.email)]));
    const lost = [...lastEmail].filter(([id, email]) => byId.get(id) !== email);
    expect(lost).toEqual([]);
    expect([...inserted].filter(([id, email]) => byId.get(id) !== email)).toEqual([]);
    const tokens = new Set((await legacy('SELECT token FROM events')).map((r) => String(r.token)));
    expect(events.filter((t) => !tokens.has(t))).toEqual([]);
    expect(tokens.size).toBe(events.length);

    // legacy is the primary again: relay its outbox, then verify from the CLI
    await drainOutbox(m, 'forward', 30);
    const v = await runCli(['verify', '--config', fx.cfg]);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
  });

  it('is refused after legacy_read_only; --reconciled goes back to new_primary after a matching verification', async () => {
    const { m } = fx;
    const cut = await runCli(['cutover', '--force', '--json', '--config', fx.cfg]);
    expect(cut.stderr).toBe('');
    expect(cut.code).toBe(0);
    const report = JSON.parse(cut.stdout);
    expect(Object.keys(report).sort()).toEqual(
      ['drained', 'epoch', 'forced', 'from', 'gates', 'reverseProbeMs', 'seconds', 'to', 'writePause'].sort(),
    );
    expect(report).toMatchObject({ from: 'canary', to: 'new_primary' });
    await m.readPhase();
    await setLegacyReadOnly(m, true);
    await setPhase(m.stores.control, 'legacy_read_only', { force: true });
    const cli = await runCli(['rollback', '--json', '--config', fx.cfg]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/TANDEM_ERR_ROLLBACK_REFUSED: .*Forward-fix only: reconcile new → legacy first/);
    expect(await readPhase(m.stores.control)).toBe('legacy_read_only');
    const e = await rollback(m).catch((x) => x);
    expect(isTandemError(e, 'ROLLBACK_REFUSED')).toBe(true);
    // the writer refuses legacy writes there, and runs the new path without an outbox row
    await w.migration.readPhase();
    const legacyOnly = await w
      .write({ legacy: async (tx) => void (await tx.execute('DELETE FROM events')) })
      .catch((x) => x);
    expect(isTandemError(legacyOnly, 'LEGACY_WRITE_REFUSED')).toBe(true);
    // and so does the one-path form on the application's own legacy connection
    const url = m.config.source as string;
    const own =
      fx.dir === 'mariadb-pg' ? await mysql.createConnection({ uri: url }) : new pg.Client({ connectionString: url });
    if (own instanceof pg.Client) await own.connect();
    try {
      const adapter = own instanceof pg.Client ? fromPg(own) : fromMysql(own);
      const one = await w.write(adapter, async () => {}).catch((x) => x);
      expect(isTandemError(one, 'LEGACY_WRITE_REFUSED')).toBe(true);
    } finally {
      await own.end();
    }
    const outboxBefore = await count(fx.next, `SELECT count(*) AS n FROM ${fx.nt('outbox')}`);
    const side = await w.write({
      legacy: async () => 'legacy',
      new: async (tx) => {
        await tx.execute(`INSERT INTO events (token, origin, n) VALUES (${fx.np(1)}, 'new', 0)`, ['read-only-phase']);
        tx.changed('events', 'read-only-phase');
        return tx.side;
      },
    });
    expect(side).toBe('new');
    expect(await count(fx.next, `SELECT count(*) AS n FROM ${fx.nt('outbox')}`)).toBe(outboxBefore);
    await fx.next(`DELETE FROM events WHERE token = ${fx.np(1)}`, ['read-only-phase']);
    // nothing was written since the cutover: both sides match, so --reconciled may move back
    const r = await rollback(m, { reconciled: true });
    expect(r).toMatchObject({ from: 'legacy_read_only', to: 'new_primary' });
    expect(Object.values(r.parity ?? {}).every((p) => p === 100)).toBe(true);
    expect(await readPhase(m.stores.control)).toBe('new_primary');
    expect(await legacyReadOnlyTables(m)).toEqual([]);
    expect(await count(fx.legacy, 'SELECT count(*) AS n FROM accounts')).toBeGreaterThan(ACCOUNTS);
  });
});
