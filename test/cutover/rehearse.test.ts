import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DualWriter } from '../../src/capture/writer.js';
import { ensureControlSchema, recentAudit } from '../../src/control/control.js';
import { readPhase, setPhase } from '../../src/control/phase.js';
import { createLogger } from '../../src/core/logger.js';
import { defaultRehearsalSteps, dualLoadWriter, rehearse } from '../../src/cutover/rehearse.js';
import { readRehearsal } from '../../src/cutover/rehearsal-record.js';
import { prepareDemoStores } from '../../src/demo/demo.js';
import { openMigration, type Migration } from '../../src/runtime/migration.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { runCli } from '../helpers.js';

/** SQLite legacy + PGlite new (the demo's schema), backfilled, in canary: where a rehearsal starts. */
async function staging(rows = 300): Promise<{
  configPath: string;
  open: () => Promise<{ m: Migration; legacy: Store; dual: DualWriter; close: () => Promise<void> }>;
}> {
  const dir = join(mkdtempSync(join(tmpdir(), 'tandem-rehearse-')), 'stores');
  const { configPath } = await prepareDemoStores(dir, rows);
  const open = async () => {
    const log = createLogger({ level: 'error' } as never);
    const m = await openMigration(configPath, { log, phaseTtlMs: 200 });
    const legacy = await openStore(m.config.source);
    const dual = new DualWriter(m, 50, { legacy });
    return {
      m,
      legacy,
      dual,
      close: async () => {
        await dual.close();
        await legacy.close();
        await m.close();
      },
    };
  };
  const s = await open();
  await ensureControlSchema(s.m.stores.legacy);
  await ensureControlSchema(s.m.stores.new);
  await setPhase(s.m.stores.control, 'dual_write');
  const bf = s.m.services.backfill();
  await bf.start();
  await bf.wait();
  await setPhase(s.m.stores.control, 'canary', { force: true });
  await s.close();
  return { configPath, open };
}

describe('tandem rehearse (SQLite → PGlite)', () => {
  it('cutover → rollback → cutover (→ rollback with end: legacy) under load: no lost write, parity 100 % after each step, stored and audited; the command ends in new_primary', async () => {
    const { configPath, open } = await staging();
    const s = await open();
    try {
      const r = await rehearse(s.m, {
        steps: defaultRehearsalSteps(),
        writer: dualLoadWriter(s.dual, s.legacy.sql, s.m.stores.new.sql),
        writesPerSecond: 150,
        dwellSeconds: 0.5,
        end: 'legacy',
      });
      expect(r.reason).toBeUndefined();
      expect(r.passed).toBe(true);
      expect(r.lostWrites).toBe(0);
      expect(r.check.lostOnPrimary + r.check.lostOnSecondary + r.check.resurrected).toBe(0);
      expect(r.committedWrites).toBeGreaterThan(100);
      expect(r.load.inserts + r.load.updates + r.load.deletes).toBe(r.committedWrites);
      expect(r.steps.map((x) => `${x.step}:${x.to}`)).toEqual([
        'cutover:new_primary',
        'rollback:canary',
        'cutover:new_primary',
        'rollback:canary',
      ]);
      expect(r.parity).toEqual([100, 100, 100, 100]);
      expect(r.rollbackRtoSeconds).toBeGreaterThan(0);
      expect(r.cutover.maxMs).toBeGreaterThanOrEqual(r.cutover.p99Ms);
      expect(r.cutover.maxMs).toBeLessThanOrEqual(s.m.config.cutover.fenceMs + 1000);
      expect(r.leftAfterCleanup).toEqual({ legacy: 0, new: 0 });
      expect(r.endPhase).toBe('canary');
      expect(await readPhase(s.m.stores.control)).toBe('canary');
      const stored = await readRehearsal(s.m.stores.control);
      expect(stored).toMatchObject({ passed: true, lostWrites: 0, committedWrites: r.committedWrites });
      expect(
        (await recentAudit(s.m.stores.control, 50)).some((a) => a.command === 'rehearse' && a.outcome === 'ok'),
      ).toBe(true);
      // the load touched no existing row: the 300 users are there, unchanged in count, on both stores
      expect(Number((await s.legacy.query<{ n: number }>('SELECT COUNT(*) AS n FROM users'))[0]!.n)).toBe(300);
    } finally {
      await s.close();
    }
    // the command line: passes (exit 0), stores its record, ends in new_primary and says so
    const ok = await runCli(['rehearse', '--config', configPath, '--writes-per-second', '80']);
    expect(ok.stderr).not.toMatch(/TANDEM_ERR_/);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^result {8}PASSED$/m);
    expect(ok.stdout).toMatch(/^lost writes {3}0 of [\d,]+ committed$/m);
    expect(ok.stdout).toMatch(/^write pause {3}cutover p99 \d+ ms, max \d+ ms; rollback p99 \d+ ms, max \d+ ms$/m);
    expect(ok.stdout).toMatch(/^ends in {7}new_primary/m);
    // a second one from new_primary is refused by its cutover step → exit 1, said why
    const c = await runCli(['rehearse', '--config', configPath, '--writes-per-second', '50', '--json']);
    expect(c.code).toBe(1);
    const j = JSON.parse(c.stdout);
    expect(j).toMatchObject({ passed: false, endPhase: 'new_primary', leftAfterCleanup: { legacy: 0, new: 0 } });
    expect(j.reason).toMatch(/cutover 1 failed: TANDEM_ERR_PHASE_INVALID/);
  }, 120_000);

  it('a write deleted behind the load’s back is found by the history check: the rehearsal fails and says so', async () => {
    const { open } = await staging(100);
    const s = await open();
    try {
      let victim: string | undefined;
      const r = await rehearse(s.m, {
        steps: defaultRehearsalSteps(),
        writer: dualLoadWriter(s.dual, s.legacy.sql, s.m.stores.new.sql),
        writesPerSecond: 100,
        dwellSeconds: 0.3,
        afterStep: async (i, load) => {
          if (i !== 0) return;
          await load.pause();
          // a row the load committed, removed from both stores with plain SQL, the outbox not told
          // the fast path of the last writes may still be applying: let it settle, then take the oldest live key
          await new Promise((r) => setTimeout(r, 300));
          const live = [...load.history.get('users')!.entries()].filter(
            ([, h]) => h.committed.length && h.deletedAt === undefined,
          );
          live.sort((a, b) => a[1].committed.at(-1)!.at - b[1].committed.at(-1)!.at);
          const [key] = live[0]!;
          victim = key;
          // the load must not delete or rewrite it later, which would cover the loss up
          load.retire('users', key);
          await s.m.stores.new.execute('DELETE FROM user_profiles WHERE user_id = $1', [Number(key)]);
          await s.m.stores.new.execute('DELETE FROM users WHERE id = $1', [Number(key)]);
          await s.legacy.execute('DELETE FROM users WHERE id = ?', [Number(key)]);
          load.resume();
        },
      });
      expect(victim).toBeDefined();
      expect(r.passed).toBe(false);
      expect(r.lostWrites).toBeGreaterThanOrEqual(1);
      expect(r.reason).toMatch(/lost write/);
      expect(r.check.examples.join('\n')).toContain(victim!);
      expect(await readRehearsal(s.m.stores.control)).toMatchObject({ passed: false });
    } finally {
      await s.close();
    }
  }, 120_000);
});
