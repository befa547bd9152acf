import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { fromMysql, fromPg, type TxAdapter } from '../../src/capture/adapters.js';
import { createDualWriter } from '../../src/capture/writer.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { setPhase } from '../../src/control/phase.js';
import { createLogger } from '../../src/core/logger.js';
import { runCli } from '../helpers.js';
import { expectFullParity, type FaultWorld, faultWorld, label, PAIRS, runUntilKilled } from './world.js';

/**
 * Targeted fault of the relay (issue 9): the real `tandem relay` is killed with SIGKILL between the secondary's
 * COMMIT of its second batch and the acknowledgement of that batch's outbox rows on the primary
 * (`TANDEM_TEST_FAULT=after-secondary-commit:2`, src/core/faults.ts). Right after the kill the batch is applied on
 * the secondary but still in the outbox (its claims rolled back with the primary transaction); the restarted
 * relay delivers it again — harmless, the version ledger makes it a no-op — and drains the rest. End state:
 * outbox and dead letters empty, a full verify exits 0, the target equals the source row for row, every delete
 * has a tombstone and no row.
 */

const USERS = 300;
const BATCH = 40;
const quiet = createLogger({ level: 'silent' });
const worlds: FaultWorld[] = [];
afterAll(async () => {
  for (const w of worlds) await w.close().catch(() => {});
});

/** The application's own connection to the source, with `?` placeholders on either engine. */
async function appConnection(w: FaultWorld, engine: 'mysql' | 'postgres') {
  if (engine === 'mysql') {
    const c = await mysql.createConnection({ uri: w.sourceUrl });
    return {
      adapter: fromMysql(c) as TxAdapter,
      exec: async (sql: string, p: unknown[] = []) => void (await c.query(sql, p)),
      end: () => c.end(),
    };
  }
  const c = new pg.Client({ connectionString: w.sourceUrl });
  await c.connect();
  let n = 0;
  const toPg = (sql: string) => ((n = 0), sql.replace(/\?/g, () => `$${++n}`));
  return {
    adapter: fromPg(c),
    exec: async (sql: string, p: unknown[] = []) => void (await c.query(toPg(sql), p)),
    end: () => c.end(),
  };
}

describe.each(PAIRS.map((p) => [label(p), p] as const))(
  'relay killed after the secondary commit (%s)',
  (_name, pair) => {
    it('after-secondary-commit: the batch is applied but not acknowledged; the restart re-delivers it harmlessly and every change lands', async () => {
      const w = await faultWorld(pair, USERS);
      worlds.push(w);
      expect((await runCli(['backfill', '--config', w.cfg])).code).toBe(0);
      await ensureControlSchema(w.source);
      await setPhase(w.target, 'dual_write');
      // no fast path: the relay does it all
      const dual = await createDualWriter({ config: w.cfg, budgetMs: 0, log: quiet });
      const app = await appConnection(w, pair[0]);
      const deleted: number[] = [];
      try {
        // 180 changes: updates (hot keys again and again), inserts, deletes, and a rotation of emails among 6 users
        for (let i = 0; i < 120; i++) {
          const id = i % 4 === 0 ? 1 + (i % 5) : 1 + ((i * 37) % 250);
          await dual.write(app.adapter, async (tx) => {
            await app.exec('UPDATE users SET name = ?, version = version + 1 WHERE id = ?', [`name ${i}`, id]);
            tx.changed('users', id);
          });
        }
        for (let id = USERS + 1; id <= USERS + 30; id++) {
          await dual.write(app.adapter, async (tx) => {
            await app.exec('INSERT INTO users (id, email, name, version) VALUES (?, ?, ?, 1)', [
              id,
              `new${id}@x`,
              `New ${id}`,
            ]);
            tx.changed('users', id);
          });
        }
        for (let id = 281; id <= 300; id++) {
          await dual.write(app.adapter, async (tx) => {
            await app.exec('DELETE FROM users WHERE id = ?', [id]);
            tx.changed('users', id);
          });
          deleted.push(id);
        }
        await dual.write(app.adapter, async (tx) => {
          await app.exec("UPDATE users SET email = CONCAT('tmp-', email) WHERE id BETWEEN 260 AND 265");
          for (let id = 260; id <= 265; id++) {
            await app.exec('UPDATE users SET email = ?, version = version + 1 WHERE id = ?', [
              id === 265 ? 'rot@x' : `u${id + 1}@x`,
              id,
            ]);
            tx.changed('users', id);
          }
        });
      } finally {
        await app.end();
        await dual.close();
      }
      const outbox = w.source.controlTable('outbox');
      const queued = await w.source.query<{ id: unknown; entity_key: string }>(
        `SELECT id, entity_key FROM ${outbox} ORDER BY next_attempt_at, id`,
      );
      expect(queued.length).toBe(120 + 30 + 20 + 6);

      await runUntilKilled(
        ['relay', '--config', w.cfg, '--until-empty', '--batch-size', String(BATCH)],
        'after-secondary-commit:2',
      );
      // batch 1 acknowledged; batch 2 claimed, applied on the secondary, killed before its acknowledgement
      const left = (await w.source.query<{ id: unknown }>(`SELECT id FROM ${outbox} ORDER BY next_attempt_at, id`)).map(
        (r) => String(r.id),
      );
      expect(left).toEqual(queued.slice(BATCH).map((r) => String(r.id)));
      const batch2 = [...new Set(queued.slice(BATCH, 2 * BATCH).map((r) => Number(JSON.parse(r.entity_key)[0])))];
      const src = new Map((await w.sourceRows()).map((r) => [Number(r[0]), r]));
      const tgt = new Map((await w.targetRows()).map((r) => [Number(r[0]), r]));
      // the secondary committed
      for (const id of batch2) expect({ id, row: tgt.get(id) }).toEqual({ id, row: src.get(id) });

      const again = await runCli(['relay', '--config', w.cfg, '--until-empty', '--json']);
      expect({ code: again.code, err: again.stderr.split('\n').filter((l) => /TANDEM_ERR/.test(l)) }).toEqual({
        code: 0,
        err: [],
      });
      expect(JSON.parse(again.stdout)).toMatchObject({ changes: queued.length - BATCH, deadLettered: 0 });
      // every outbox change applied: nothing left, nothing dead-lettered, the target equals the source
      expect(Number((await w.source.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${outbox}`))[0]!.n)).toBe(0);
      expect(
        Number(
          (
            await w.target.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${w.target.controlTable('dead_letters')}`)
          )[0]!.n,
        ),
      ).toBe(0);
      await expectFullParity(w.cfg);
      const [s, t] = [await w.sourceRows(), await w.targetRows()];
      expect(t.length).toBe(USERS + 30 - 20);
      expect(t).toEqual(s);
      const keys = deleted.map((id) => JSON.stringify([String(id)]));
      const tomb = await w.target.query<{ n: unknown }>(
        `SELECT count(*) AS n FROM ${w.target.controlTable('version_ledger')} WHERE entity = 'users' AND deleted = ${w.target.sql.param(1)} AND entity_key IN (${keys.map((_, i) => w.target.sql.param(i + 2)).join(', ')})`,
        [true, ...keys],
      );
      expect(Number(tomb[0]!.n)).toBe(deleted.length);
    }, 40_000);
  },
);
