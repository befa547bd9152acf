import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recentAudit } from '../../src/control/control.js';
import { readPhase } from '../../src/control/phase.js';
import { isTandemError } from '../../src/core/errors.js';
import { cutover } from '../../src/cutover/cutover.js';
import { readFence } from '../../src/cutover/fence.js';
import { readReverseProbe } from '../../src/cutover/probe.js';
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
    expect(r.drained).toBe(2);
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
    expect(audit?.detail).toMatch(new RegExp(`canary → new_primary at fence epoch ${r.epoch}.*drained 2`));
    // a second cutover is refused: the new store is already primary
    const again = await cutover(m, { force: true, settleMs: 0 }).catch((x) => x);
    expect(isTandemError(again, 'PHASE_INVALID')).toBe(true);
  });
});
