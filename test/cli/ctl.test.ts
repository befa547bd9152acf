import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/status.js';
import { readBackfillControl } from '../../src/control/backfill-control.js';
import { recentAudit } from '../../src/control/control.js';
import { writeThrottleState } from '../../src/control/throttle-state.js';
import type { MigrationStatus } from '../../src/runtime/status.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';

/** `tandem ctl pause|resume|tune` against the control plane of the config (real MariaDB → PostgreSQL). */
describe('tandem ctl', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let control: Store;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_ctl_src');
    await createLegacyMysql(src.url, 10);
    tgt = await createPgDatabase('tandem_ctl');
    await createNewPostgres(tgt.url);
    cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    control = await openStore(tgt.url);
  }, 60_000);
  afterAll(async () => {
    await control?.close();
    await src?.drop();
    await tgt?.drop();
  });

  it('pauses, tunes and resumes through the control plane, one line per change, audited', async () => {
    const p = await runCli(['ctl', 'pause', '--config', cfg]);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(p.stdout).toBe('backfill: paused (was running)\n');
    expect(await readBackfillControl(control)).toEqual({ paused: true, maxRowsPerSecond: null, chunkSeconds: null });

    const t = await runCli(['ctl', 'tune', '--config', cfg, '--max-rows-per-second', '500', '--chunk-seconds', '1']);
    expect(t.code).toBe(0);
    expect(t.stdout).toBe('tune: maxRowsPerSecond none (config) → 500\ntune: chunkSeconds none (config) → 1\n');

    // status (JSON and text) shows what the operator set, and the published throttle of a running backfill
    await writeThrottleState(control, 'users', {
      reason: 'replica-lag',
      detail: 'replica lag 7.2 s > 5 s on replica1',
      since: new Date().toISOString(),
    });
    const s = await runCli(['status', '--config', cfg, '--json']);
    expect(s.code).toBe(0);
    const st = JSON.parse(s.stdout) as MigrationStatus;
    for (const e of st.entities) {
      expect(e.backfill.control).toEqual({ paused: true, maxRowsPerSecond: 500, chunkSeconds: 1 });
      // no process copies the entity: a throttle row says nothing
      expect(e.backfill.throttle).toBeNull();
    }
    const text = formatStatus(st);
    expect(text).toContain(
      'backfill control: PAUSED by operator (tandem ctl resume), max 500 rows/s (tuned), chunk 1 s (tuned)',
    );
    const running = structuredClone(st);
    const u = running.entities.find((e) => e.name === 'users')!;
    u.status = 'running';
    u.backfill = {
      ...u.backfill,
      state: 'running',
      throttle: { reason: 'paused', detail: 'paused by operator', since: '2026-12-04T00:00:00Z' },
    };
    expect(formatStatus(running)).toMatch(/users\s+running, throttled: paused by operator/);

    const r = await runCli(['ctl', 'resume', '--config', cfg]);
    expect(r.stdout).toBe('backfill: running (was paused)\n');
    const n = await runCli(['ctl', 'tune', '--config', cfg, '--max-rows-per-second', 'none']);
    expect(n.stdout).toBe('tune: maxRowsPerSecond 500 → none (config)\n');
    expect(await readBackfillControl(control)).toEqual({ paused: false, maxRowsPerSecond: null, chunkSeconds: 1 });
    const audit = (await recentAudit(control, 10)).map((a) => a.command).filter((c) => c.startsWith('ctl '));
    expect(audit.slice(0, 4)).toEqual(['ctl tune', 'ctl resume', 'ctl tune', 'ctl pause']);
  }, 60_000);

  it('bad values: TANDEM_ERR_TUNE_INVALID, exit 2, nothing written', async () => {
    const before = await readBackfillControl(control);
    const audits = (await recentAudit(control, 100)).length;
    for (const args of [
      ['--max-rows-per-second', 'fast'],
      ['--max-rows-per-second', '0'],
      ['--chunk-seconds', '61'],
      [],
    ]) {
      const r = await runCli(['ctl', 'tune', '--config', cfg, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^TANDEM_ERR_TUNE_INVALID: /);
      expect(r.stdout).toBe('');
    }
    expect(await readBackfillControl(control)).toEqual(before);
    expect((await recentAudit(control, 100)).length).toBe(audits);
  }, 60_000);
});
