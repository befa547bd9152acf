import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromMysql } from '../../src/capture/adapters.js';
import { createDualWriter } from '../../src/capture/writer.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { setPhase } from '../../src/control/phase.js';
import { isTandemError } from '../../src/core/errors.js';
import { openMigration, type Migration } from '../../src/index.js';
import type { TandemEventMap } from '../../src/runtime/events.js';
import { migrationFixture, quiet, waitFor } from './helpers.js';

/** The runtime as a library caller sees it: roles from the phase, the guard on legacy, services and their events. */
describe('openMigration', () => {
  let f: Awaited<ReturnType<typeof migrationFixture>>;
  let m: Migration;

  beforeAll(async () => {
    f = await migrationFixture('tandem_mig', 300);
    m = await openMigration(f.cfg, { log: quiet });
  });
  afterAll(async () => {
    await m?.close();
    await f?.drop();
  });

  it('derives the roles from the phase: legacy primary until write cutover, then new with reversed entities', async () => {
    expect(await m.phase()).toBe('dual_write'); // no control plane yet: the safe assumption (changes recorded)
    expect(m.entities.map((e) => e.name)).toEqual(['orgs', 'users', 'memberships']);
    const forward = m.roles('dual_write');
    expect(forward).toMatchObject({ direction: 'forward', primaryName: 'legacy' });
    expect(forward.primary).toBe(m.stores.legacy);
    expect(forward.secondary).toBe(m.stores.new);
    expect(forward.entities).toBe(m.entities);
    const reverse = m.roles('new_primary');
    expect(reverse).toMatchObject({ direction: 'reverse', primaryName: 'new' });
    expect(reverse.primary).toBe(m.stores.new);
    expect(reverse.entities.find((e) => e.name === 'users')!.targets.map((t) => t.table.name)).toEqual(['users']);
    expect(reverse.entities.find((e) => e.name === 'orgs')!.source.name).toBe('organisations');
    expect(m.roles('legacy_read_only').direction).toBe('reverse');
    expect(m.roles('canary').direction).toBe('forward');
  });

  it('emits phase:changed when a read sees another phase, and keeps the legacy-write guard', async () => {
    await ensureControlSchema(m.stores.new);
    await ensureControlSchema(m.stores.legacy);
    const seen: TandemEventMap['phase:changed'][] = [];
    m.events.on('phase:changed', (e) => seen.push(e));
    await setPhase(m.stores.control, 'dual_write');
    await m.readPhase();
    await expect(m.stores.legacy.execute('UPDATE users SET bio = NULL WHERE id = 1')).rejects.toSatisfy((e) =>
      isTandemError(e, 'LEGACY_WRITE_REFUSED'),
    );
    await setPhase(m.stores.control, 'new_primary', { force: true });
    await m.readPhase();
    expect(seen.map((e) => e.to)).toEqual(['dual_write', 'new_primary']);
    expect(m.roles().direction).toBe('reverse'); // the last phase known
    // after write cutover the guard lets the reverse relay write legacy rows…
    expect(await m.stores.legacy.execute('UPDATE users SET bio = bio WHERE id = 1')).toBeGreaterThanOrEqual(0);
    // …but a reader opened with legacyWrites: 'never' (the identity bridge) still refuses
    const reader = await openMigration(f.cfg, { log: quiet, legacyWrites: 'never' });
    try {
      await expect(reader.stores.legacy.execute('UPDATE users SET bio = bio WHERE id = 1')).rejects.toSatisfy((e) =>
        isTandemError(e, 'LEGACY_WRITE_REFUSED'),
      );
    } finally {
      await reader.close();
    }
    await setPhase(m.stores.control, 'dual_write', { force: true });
    await m.readPhase();
  });

  it('runs services that report through typed events and stop gracefully', async () => {
    const progress: TandemEventMap['backfill:progress'][] = [];
    const states: string[] = [];
    m.events.on('backfill:progress', (e) => progress.push(e));
    m.events.on('service:state', (e) => {
      if (e.service === 'backfill') states.push(e.state);
    });
    const backfill = m.services.backfill();
    expect(backfill.state).toBe('idle');
    await backfill.start();
    const results = await backfill.wait();
    expect(results.map((r) => [r.entity, r.status])).toEqual([
      ['orgs', 'done'],
      ['users', 'done'],
      ['memberships', 'done'],
    ]);
    expect(backfill.state).toBe('done');
    expect(states).toEqual(['running', 'done']);
    expect(progress.filter((p) => p.entity === 'users').at(-1)).toEqual({ entity: 'users', copied: 300, total: 300 });

    const dual = await createDualWriter({ config: f.cfg, budgetMs: 0, log: quiet });
    const app = await mysql.createConnection({ uri: f.src.url });
    try {
      await dual.write(fromMysql(app), async (tx) => {
        await app.query('UPDATE users SET bio = ?, version = version + 1 WHERE id = 3', ['from the relay service']);
        tx.changed('users', 3);
      });
    } finally {
      await app.end();
      await dual.close();
    }
    const batches: TandemEventMap['relay:batch'][] = [];
    m.events.on('relay:batch', (e) => batches.push(e));
    const relay = m.services.relay({ phasePollMs: 0 });
    await relay.start();
    expect(relay.state).toBe('running');
    await waitFor('a relay batch', async () => batches.some((b) => b.stats.applied >= 1), 30_000);
    expect(batches[0]).toMatchObject({ direction: 'forward', mode: 'direct' });
    await relay.stop();
    expect(relay.state).toBe('stopped');
    expect((await relay.wait()).stats.applied).toBeGreaterThanOrEqual(1);
    const s = await m.status();
    expect(s.relay).toMatchObject({ direction: 'forward', pending: 0 });
    expect(s.entities.map((e) => e.backfill.state)).toEqual(['done', 'done', 'done']);
  }, 120_000);
});
