import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recentAudit } from '../../src/control/control.js';
import { readPhase } from '../../src/control/phase.js';
import { isTandemError } from '../../src/core/errors.js';
import { cutover } from '../../src/cutover/cutover.js';
import { closeFence, readFence } from '../../src/cutover/fence.js';
import { rollback } from '../../src/cutover/rollback.js';
import { createDualWriter } from '../../src/capture/writer.js';
import { readReverseProbe } from '../../src/cutover/probe.js';
import { runCli } from '../helpers.js';
import { count, cutoverFixture, type CutoverFixture, type Direction } from './cutover-setup.js';

/**
 * `cutover(m)` on a real migration (src/cutover/cutover.ts): the reverse probe and gates refuse when the reverse
 * mapping does not give back what legacy holds (nothing changed), the drain empties the forward outbox under the
 * fence, the new store's sequences are advanced (the application's first insert after cutover succeeds), the
 * phase and both fences agree, and the run is audited.
 */
const DIRECTIONS: Direction[] = ['mariadb-pg', 'pg-mariadb'];

describe.each(DIRECTIONS)('cutover %s', (dir) => {
  let fx: CutoverFixture;
  beforeAll(async () => {
    fx = await cutoverFixture(dir, { accounts: 150 });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('refuses when the reverse path does not give back legacy (gate), changing nothing', async () => {
    const { m, next, np } = fx;
    // the first new row no longer matches legacy: the reverse mapping would write other values back
    await next(`UPDATE accounts SET email = ${np(1)} WHERE id = 1`, ['tampered@example.com']);
    const before = await readFence(m.stores.legacy);
    const cli = await runCli(['cutover', '--json', '--config', fx.cfg]);
    expect(cli.code).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toMatch(/^TANDEM_ERR_GATE_FAILED: cutover refused: reverse_path failed/);
    const e = await cutover(m, { settleMs: 0 }).catch((x) => x);
    expect(isTandemError(e, 'GATE_FAILED')).toBe(true);
    expect(String(e.message)).toMatch(/reverse_path failed .*column\(s\) email/);
    expect(await readPhase(m.stores.control)).toBe('canary');
    expect(await readFence(m.stores.legacy)).toEqual(before);
    const probe = await readReverseProbe(m.stores.control);
    expect(probe?.passed).toBe(false);
    expect(probe?.entities.find((x) => x.entity === 'accounts')?.differing).toEqual(['email']);
    const audit = (await recentAudit(m.stores.control, 3)).find((a) => a.command === 'cutover');
    expect(audit?.outcome).toBe('error');
    await next(`UPDATE accounts SET email = ${np(1)} WHERE id = 1`, ['a0@example.com']);
  });

  it('a fence left closed by a dead cutover holds writes; rollback re-opens it', async () => {
    const { m, lp } = fx;
    const w = await createDualWriter({ migration: m, budgetMs: 0 });
    const write = (onFence?: 'fail') =>
      w.write({
        legacy: async (tx) => {
          await tx.execute(`UPDATE accounts SET version = version + 1 WHERE id = ${lp(1)}`, [3]);
          tx.changed('accounts', 3);
          return 'legacy';
        },
        new: async () => 'new',
        onFence,
      });
    const f = await readFence(m.stores.legacy);
    await closeFence(m.stores.legacy, 'legacy', f!.epoch + 1, 'dead cutover');
    const e = await write('fail').catch((x) => x);
    expect(isTandemError(e, 'WRITE_FENCED')).toBe(true);
    expect(w.fence.fenced).toBe(1);
    const r = await rollback(m);
    expect(r.to).toBe('canary');
    expect(await readFence(m.stores.legacy)).toMatchObject({ state: 'open', epoch: f!.epoch + 1 });
    const audit = (await recentAudit(m.stores.control, 3)).find((a) => a.command === 'rollback');
    expect(audit?.detail).toMatch(/re-opened the write fence left closed at epoch \d+ by dead cutover/);
    expect(await write()).toBe('legacy');
    await w.close();
  });

  it('drains, advances the sequences, flips both fences and the phase', async () => {
    const { m, legacy, next, lp, np, lt } = fx;
    // changes not yet relayed: the cutover drains them under its fence
    await legacy(`UPDATE accounts SET email = ${lp(1)}, version = version + 1 WHERE id = 7`, ['seven@example.com']);
    await legacy(`INSERT INTO ${lt('outbox')} (entity, entity_key, key_values) VALUES ('accounts', '["7"]', '[7]')`);
    // a legacy insert after the backfill: the new store's counter must pass it too
    await legacy(`INSERT INTO accounts (email, version) VALUES ('late@example.com', 1)`);
    const late = Number((await legacy(`SELECT max(id) AS id FROM accounts`))[0]!.id);
    await legacy(
      `INSERT INTO ${lt('outbox')} (entity, entity_key, key_values) VALUES ('accounts', ${lp(1)}, ${lp(2)})`,
      [`["${late}"]`, `[${late}]`],
    );
    const steps: string[] = [];
    const r = await cutover(m, { force: true, settleMs: 0, onStep: (s) => steps.push(s) });
    expect(steps).toEqual(['gates', 'probe', 'fence', 'drain', 'sequences', 'flip', 'release']);
    expect(r.from).toBe('canary');
    expect(r.to).toBe('new_primary');
    expect(r.gates.find((g) => g.gate === 'reverse_path')?.pass).toBe(true);
    expect(r.forced).toBe(r.gates.some((g) => !g.pass));
    expect(r.drained).toBe(3); // the two above and the write of the test before
    expect(r.reverseProbeMs).toBeGreaterThanOrEqual(0);
    expect(r.writePause).toEqual({ held: 0, p99Ms: 0, maxMs: 0 });
    expect(await count(legacy, `SELECT count(*) AS n FROM ${lt('outbox')}`)).toBe(0);
    expect((await next(`SELECT email FROM accounts WHERE id = 7`))[0]!.email).toBe('seven@example.com');
    expect(await count(next, `SELECT count(*) AS n FROM accounts WHERE id = ${np(1)}`, [late])).toBe(1);
    // the application's first insert on the new primary, without a key
    const ins =
      dir === 'mariadb-pg'
        ? await next(`INSERT INTO accounts (email, version) VALUES ('first@new', 1) RETURNING id`)
        : (await next(`INSERT INTO accounts (email, version) VALUES ('first@new', 1)`),
          await next(`SELECT id FROM accounts WHERE email = 'first@new'`));
    expect(Number(ins[0]!.id)).toBeGreaterThan(late);
    // phase and fences agree
    expect(await readPhase(m.stores.control)).toBe('new_primary');
    const [fl, fn] = [await readFence(m.stores.legacy), await readFence(m.stores.new)];
    expect(fl).toMatchObject({ epoch: r.epoch, phase: 'new_primary', state: 'open' });
    expect(fn).toMatchObject({ epoch: r.epoch, phase: 'new_primary', state: 'open' });
    const audit = (await recentAudit(m.stores.control, 3)).find((a) => a.command === 'cutover');
    expect(audit?.outcome).toBe('ok');
    expect(audit?.detail).toMatch(new RegExp(`canary → new_primary at fence epoch ${r.epoch}.*drained 3`));
    // a second cutover is refused: the new store is already primary
    const again = await cutover(m, { force: true, settleMs: 0 }).catch((x) => x);
    expect(isTandemError(again, 'PHASE_INVALID')).toBe(true);
  });
});

describe('embedded stores: SQLite → PGlite, writes throughout cutover and rollback', () => {
  it('every committed write lands on exactly one primary and reaches legacy after the rollback', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { openStore } = await import('../../src/stores/index.js');
    const { openMigration } = await import('../../src/runtime/migration.js');
    const { ensureControlSchema } = await import('../../src/control/control.js');
    const { setPhase } = await import('../../src/control/phase.js');
    const { createDualWriter } = await import('../../src/capture/writer.js');
    const { rollback } = await import('../../src/cutover/rollback.js');
    const { writeConfig } = await import('../helpers.js');
    const { quiet } = await import('../runtime/helpers.js');
    const dir = mkdtempSync(join(tmpdir(), 'tandem-cut-emb-'));
    const legacyUrl = `sqlite:${join(dir, 'legacy.db')}`;
    const newUrl = `pglite:${join(dir, 'new')}`;
    const l = await openStore(legacyUrl);
    await l.execute(
      'CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1)',
    );
    await l.execute('CREATE TABLE events (token TEXT PRIMARY KEY, origin TEXT NOT NULL, n INTEGER NOT NULL)');
    for (let i = 0; i < 50; i++) await l.execute('INSERT INTO accounts (email, version) VALUES (?, 1)', [`a${i}@x`]);
    await l.close();
    const n = await openStore(newUrl);
    await n.execute(
      'CREATE TABLE accounts (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, email text NOT NULL, version integer NOT NULL DEFAULT 1)',
    );
    await n.execute('CREATE TABLE events (token text PRIMARY KEY, origin text NOT NULL, n integer NOT NULL)');
    await n.close();
    const cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({ source: ${JSON.stringify(legacyUrl)}, target: ${JSON.stringify(newUrl)}, entities: {
  accounts: { table: 'accounts', key: 'id', version: 'version', targets: [{ table: 'accounts', columns: { id: 'id', email: 'email', version: 'version' } }] },
  events: { table: 'events', key: 'token', targets: [{ table: 'events', columns: { token: 'token', origin: 'origin', n: 'n' } }] },
} });
`);
    const m = await openMigration(cfg, { log: quiet, phaseTtlMs: 50 });
    // one PGlite instance per directory: the writer shares the runtime's connection to new
    const w = await createDualWriter({ migration: m, budgetMs: 0 });
    try {
      await ensureControlSchema(m.stores.new);
      await ensureControlSchema(m.stores.legacy);
      await setPhase(m.stores.control, 'dual_write', { force: true });
      const svc = m.services.backfill();
      await svc.start();
      await svc.wait();
      await setPhase(m.stores.control, 'canary', { force: true });
      await m.readPhase();
      const committed: { token: string; side: string }[] = [];
      const failures: string[] = [];
      let stop = false;
      let seq = 0;
      const loop = async () => {
        while (!stop) {
          const k = ++seq;
          const token = `e${k}`;
          let side = '';
          try {
            await w.write({
              legacy: async (tx) => {
                await tx.execute('INSERT INTO events (token, origin, n) VALUES (?, ?, ?)', [token, 'legacy', k]);
                tx.changed('events', token);
                side = 'legacy';
              },
              new: async (tx) => {
                await tx.execute('INSERT INTO events (token, origin, n) VALUES ($1, $2, $3)', [token, 'new', k]);
                tx.changed('events', token);
                side = 'new';
              },
            });
            committed.push({ token, side });
          } catch (e) {
            failures.push(isTandemError(e) ? e.code : String(e));
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      };
      const loops = [loop(), loop()];
      await new Promise((r) => setTimeout(r, 300));
      const c = await cutover(m, { force: true, settleMs: 0 });
      await new Promise((r) => setTimeout(r, 400));
      const r = await rollback(m, { settleMs: 0 });
      await new Promise((r2) => setTimeout(r2, 300));
      stop = true;
      await Promise.all(loops);
      if (process.env.FENCE_DEBUG)
        process.stderr.write(
          `${JSON.stringify({ c, r, n: committed.length, f: failures.length, fs: [...new Set(failures)] })}\n`,
        );
      expect(failures.filter((f) => f !== 'TANDEM_ERR_WRITE_FENCED')).toEqual([]);
      expect(committed.filter((x) => x.side === 'new').length).toBeGreaterThan(0);
      expect(committed.filter((x) => x.side === 'legacy').length).toBeGreaterThan(0);
      const legacyRows = await m.stores.legacy.query<{ token: string; origin: string }>(
        'SELECT token, origin FROM events',
      );
      const byToken = new Map(legacyRows.map((x) => [x.token, x.origin]));
      // every committed write reached legacy, with the origin of the one primary it committed on
      expect(committed.filter((x) => byToken.get(x.token) !== x.side)).toEqual([]);
      expect(legacyRows.length).toBe(committed.length);
      expect(r.to).toBe('canary');
      expect(r.parity).toBeDefined();
      process.stdout.write(
        `embedded: ${committed.length} writes; cutover ${c.seconds.toFixed(3)} s pause max ${c.writePause.maxMs} ms; rollback RTO ${r.rtoSeconds.toFixed(3)} s drained ${r.drained}\n`,
      );
    } finally {
      await w.close();
      await m.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
