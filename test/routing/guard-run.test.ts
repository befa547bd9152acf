import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureControlSchema, recentAudit } from '../../src/control/control.js';
import { setPhase } from '../../src/control/phase.js';
import { readGuardVerdict } from '../../src/routing/guard.js';
import { createReadStats } from '../../src/routing/stats.js';
import { ROUTING_STATE_ROWS } from '../../src/routing/types.js';
import { openMigration } from '../../src/runtime/migration.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, writeConfig } from '../helpers.js';
import { quiet, sleep, waitFor } from '../runtime/helpers.js';

/**
 * The guard as `tandem run` runs it (the supervisor's guard service, in-process) on a real MariaDB → PostgreSQL
 * migration in `canary`: an application instance reads users from both stores (its new reads through a real
 * PostgreSQL connection), records every read in its windows and publishes them; when the new store starts
 * failing, the guard sets the canary to 0 by itself. The time from the first failed read to canary 0 is printed.
 */
describe('the guard in tandem run', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of drops) await d().catch(() => {});
  });

  it('sets the canary to 0 after the new store starts failing; audited with figures and no row values', async () => {
    const src = await createMysqlDatabase('tandem_grun_src');
    const tgt = await createPgDatabase('tandem_grun_tgt');
    drops.push(src.drop, tgt.drop);
    await createLegacyMysql(src.url, 200);
    await createNewPostgres(tgt.url);
    // small thresholds so the test takes seconds: 30 reads of new in a 10 s window, evaluated every 250 ms
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url).replace(
        '  backfill:',
        `  guard: { windowSeconds: 10, minSamples: 30, cooldownSeconds: 30, intervalSeconds: 0.25, publishSeconds: 0.25 },\n  backfill:`,
      ),
    );
    const m = await openMigration(cfg, { log: quiet });
    const legacy = await mysql.createConnection({ uri: src.url });
    const next = new pg.Pool({ connectionString: tgt.url, max: 4 });
    next.on('error', () => {}); // an idle client cut off by the database's drop: not an uncaught error
    const stats = createReadStats({ instanceId: 'app-1' });
    const emails = new Set<string>();
    const state = { failing: false, stop: false, firstFailureMs: 0 };
    let app: Promise<void> = Promise.resolve();
    try {
      await ensureControlSchema(m.stores.control);
      await setPhase(m.stores.control, 'canary', { force: true });
      const t = m.stores.control.controlTable('state');
      await m.stores.control.execute(`INSERT INTO ${t} (name, value) VALUES ('routing.canary_percent', '50')`);
      const events: string[] = [];
      m.events.on('guard:tripped', (e) => events.push(e.verdict.reason ?? ''));
      const sup = m.services.supervisor({ verify: { intervalSeconds: 0 }, phasePollMs: 300 });
      const pub = stats.startPublishing(m.stores.control, { intervalMs: m.config.guard.publishSeconds * 1000 });
      // the application: reads users by id from legacy and (canary) from new; a failed new read falls back
      app = (async () => {
        for (let i = 0; !state.stop; i++) {
          const id = 1 + (i % 200);
          const t0 = performance.now();
          const [rows] = await legacy.query<mysql.RowDataPacket[]>('SELECT id, email FROM users WHERE id = ?', [id]);
          for (const r of rows) emails.add(String(r.email));
          stats.read({
            entity: 'users',
            origin: 'legacy',
            outcome: 'ok',
            latencyMs: performance.now() - t0,
            served: false,
          });
          const t1 = performance.now();
          const failing = state.failing;
          try {
            // a real store error once failing: the new read's table is not there
            await next.query(`SELECT id FROM ${failing ? 'users_gone' : 'users'} WHERE id = $1`, [id]);
            stats.read({
              entity: 'users',
              origin: 'new',
              outcome: 'ok',
              latencyMs: performance.now() - t1,
              served: true,
            });
          } catch {
            if (!state.firstFailureMs) state.firstFailureMs = Date.now();
            stats.read({
              entity: 'users',
              origin: 'new',
              outcome: 'error',
              latencyMs: performance.now() - t1,
              served: false,
            });
          }
          await sleep(2);
        }
      })();
      await sup.start();
      await waitFor(
        'a green verdict on healthy reads',
        async () => (await readGuardVerdict(m.stores.control)).verdict?.state === 'green',
        30_000,
      );
      expect(sup.guard?.state).toBe('running');
      state.failing = true;
      await waitFor(
        'the guard to set the canary to 0',
        async () => {
          const r = await m.stores.control.query<{ value: string }>(
            `SELECT value FROM ${t} WHERE name = 'routing.canary_percent'`,
          );
          return r[0]?.value === '0';
        },
        30_000,
      );
      const elapsed = Date.now() - state.firstFailureMs;
      console.log(
        `guard: first failed read → canary 0 in ${elapsed} ms (publish every 250 ms, evaluate every 250 ms, minSamples 30)`,
      );
      // generous: one publication + one evaluation + enough failed reads to pass 1 % (a few ms each), under load
      expect(elapsed).toBeLessThan(10_000);
      const { verdict } = await readGuardVerdict(m.stores.control);
      expect(verdict).toMatchObject({ state: 'tripped' });
      expect(verdict!.reason).toMatch(
        /^error rate [\d.]+% > 1% over \d+ reads of new \(users, 1 instance, last 10 s\)$/,
      );
      // the event follows the writes and the audit entry
      await waitFor('the guard:tripped event', async () => events.length > 0, 10_000);
      expect(events).toEqual([verdict!.reason]);
      const [entry] = (await recentAudit(m.stores.control, 20)).filter((e) => e.command === 'guard');
      expect(entry).toMatchObject({ outcome: 'tripped', detail: `canary set to 0: ${verdict!.reason}` });
      const args = (
        await m.stores.control.query<{ args: string }>(
          `SELECT args FROM ${m.stores.control.controlTable('audit_log')} WHERE command = 'guard'`,
        )
      )[0]!.args;
      expect(emails.size).toBeGreaterThan(10);
      for (const e of emails) expect(`${entry!.detail} ${args}`).not.toContain(e);
      // shadowing goes on: the verdict holds, the phase is still canary, the guard keeps running
      expect(await m.readPhase()).toBe('canary');
      expect(sup.guard?.state).toBe('running');
      // the guard runs in shadow and canary only: back in dual_write the supervisor stops it
      await setPhase(m.stores.control, 'dual_write', { force: true });
      await waitFor('the guard service to stop outside shadow and canary', async () => sup.guard === null, 20_000);
      state.stop = true;
      await app;
      await sup.stop();
      await pub.stop();
      expect(
        JSON.parse(
          (
            await m.stores.control.query<{ value: string }>(
              `SELECT value FROM ${t} WHERE name = ${m.stores.control.sql.param(1)}`,
              [ROUTING_STATE_ROWS.guard],
            )
          )[0]!.value,
        ),
      ).toMatchObject({ state: 'tripped' });
    } finally {
      state.stop = true;
      await app.catch(() => {});
      await legacy.end();
      await next.end();
      await m.close();
    }
  }, 120_000);
});
