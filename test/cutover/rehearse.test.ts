import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { DualWriter } from '../../src/capture/writer.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { setPhase } from '../../src/control/phase.js';
import { rehearse, unfencedWriter, drainRelay } from '../../src/cutover/rehearse.js';
import { prepareDemoStores } from '../../src/demo/demo.js';
import { openMigration } from '../../src/runtime/migration.js';
import { openStore } from '../../src/stores/index.js';
import { createLogger } from '../../src/core/logger.js';

describe('rehearse (scratch)', () => {
  it('load + check with naive flips', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tandem-reh-')), 'demo');
    const { configPath } = await prepareDemoStores(dir, 500);
    const log = createLogger({ level: 'warn' } as never);
    const m = await openMigration(configPath, { log });
    await ensureControlSchema(m.stores.new);
    await ensureControlSchema(m.stores.legacy);
    await runBackfill({
      config: m.config,
      source: m.stores.legacy,
      target: m.stores.new,
      entities: m.entities,
      log,
      progressOut: null,
    });
    await setPhase(m.stores.control, 'dual_write');
    await setPhase(m.stores.control, 'canary', { force: true });
    await m.readPhase();
    const legacy = await openStore(m.config.source);
    const dual = new DualWriter(m, 0);
    const errs = 0;
    const flip = (to: 'new_primary' | 'canary') => async () => {
      const from = await m.readPhase();
      await drainRelay(m);
      await setPhase(m.stores.control, to, { force: true });
      await m.readPhase();
      return {
        from,
        to,
        epoch: 0,
        drained: 0,
        writePause: { held: 0, p99Ms: 0, maxMs: 0 },
        rtoSeconds: 0.1,
        gates: [],
        forced: true,
        reverseProbeMs: 0,
        seconds: 0,
      };
    };
    const r = await rehearse(m, {
      steps: { cutover: flip('new_primary') as never, rollback: flip('canary') as never },
      writer: { ...unfencedWriter(m, legacy, (e, k) => dual.entry(e, k)) },
      writesPerSecond: 200,
      say: (l) => console.log(l),
    });
    console.log(JSON.stringify(r, null, 1));
    expect(r.lostWrites).toBe(0);
    expect(r.passed).toBe(true);
    await legacy.close();
    await m.close();
  }, 60_000);
});
