import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRelay } from '../src/apply/relay.js';
import { fromMysql } from '../src/capture/adapters.js';
import { createDualWriter, type DualWriter } from '../src/capture/writer.js';
import { createLogger } from '../src/core/logger.js';
import { openMigration } from '../src/runtime/migration.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from './fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, spawnCli, writeConfig } from './helpers.js';

/**
 * The relay at scale (issue 15): several relays — each with two batches in flight (its pipeline: the next batch
 * claimed, read and mapped while the current one is written) — drain one outbox of hot keys, MariaDB → PostgreSQL.
 * Every write adds 1 to `balance` and to `version`, so on the target a user's balance must only ever go up: an
 * AFTER trigger records every balance the relays write, and the test checks that each user's history is strictly
 * increasing (no change applied out of version order), that every change was handled exactly once by the relays
 * together (none lost, none claimed twice), and that the target ends equal to the source.
 */

const quiet = createLogger({ level: 'silent' });
const USERS = 120;
const HOT = 40; // users 1..HOT take every write
const ROUNDS = 25; // writes per hot user

describe('relay at scale: several relays, pipelined, one outbox (MariaDB → PostgreSQL)', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let app: mysql.Connection;
  let dual: DualWriter;
  const outbox = async () =>
    Number(((await app.query('SELECT count(*) AS n FROM tandem_outbox')) as [{ n: number }[], unknown])[0][0]!.n);
  const onTarget = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  /** `ROUNDS` transactions, each changing every hot user once (one outbox row per user and transaction). */
  const queueChanges = async () => {
    for (let r = 0; r < ROUNDS; r++)
      await dual.write(fromMysql(app), async (tx) => {
        await app.query('UPDATE users SET balance = balance + 1, version = version + 1 WHERE id BETWEEN 1 AND ?', [
          HOT,
        ]);
        for (let id = 1; id <= HOT; id++) tx.changed('users', id);
      });
  };
  /** Every user's balances as the relays wrote them, in order; fails on any that went down or stood still. */
  const expectMonotonicHistory = async () => {
    const rows = await onTarget(
      async (c) =>
        (
          await c.query<{ id: string; balance: string }>(
            'SELECT id::text, balance::text FROM balance_history ORDER BY n',
          )
        ).rows,
    );
    expect(rows.length).toBeGreaterThan(0);
    const last = new Map<string, number>();
    const regressions: string[] = [];
    for (const r of rows) {
      const b = Number(r.balance);
      const prev = last.get(r.id);
      if (prev !== undefined && b <= prev) regressions.push(`user ${r.id}: ${prev} then ${b}`);
      last.set(r.id, b);
    }
    expect(regressions).toEqual([]);
  };
  /** Source and target agree on every user's balance; the ledger holds the source's version. */
  const expectConverged = async () => {
    const [srcRows] = (await app.query('SELECT id, version, CAST(balance AS CHAR) AS balance FROM users')) as [
      { id: number; version: number; balance: string }[],
      unknown,
    ];
    const { tb, lv } = await onTarget(async (c) => ({
      tb: new Map(
        (await c.query<{ id: string; b: string }>('SELECT id::text, balance::text AS b FROM users')).rows.map((r) => [
          Number(r.id),
          r.b,
        ]),
      ),
      lv: new Map(
        (
          await c.query<{ k: string; v: string }>(
            `SELECT entity_key AS k, version::text AS v FROM tandem.version_ledger WHERE entity = 'users'`,
          )
        ).rows.map((r) => [Number(JSON.parse(r.k)[0]), Number(r.v)]),
      ),
    }));
    const wrong = srcRows.filter(
      (s) => tb.get(s.id) !== s.balance || (s.id <= HOT && lv.get(s.id) !== Number(s.version)),
    );
    expect(wrong.map((s) => s.id)).toEqual([]);
    expect(srcRows.length).toBe(USERS);
  };

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_rs_src');
    await createLegacyMysql(src.url, USERS);
    tgt = await createPgDatabase('tandem_rs');
    await createNewPostgres(tgt.url);
    cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    expect((await runCli(['backfill', '--config', cfg])).code).toBe(0);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', cfg])).code).toBe(0);
    // every balance written on the target, in commit order; a short sleep per row keeps each relay busy long
    // enough that the relays' batches overlap (each one alone would need over 2 s for the whole outbox)
    await onTarget((c) =>
      c.query(`
        CREATE TABLE balance_history (n bigserial PRIMARY KEY, id bigint NOT NULL, balance numeric NOT NULL);
        CREATE FUNCTION record_balance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_sleep(0.002);
          INSERT INTO balance_history (id, balance) VALUES (NEW.id, NEW.balance);
          RETURN NEW;
        END $$;
        CREATE TRIGGER record_balance AFTER INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION record_balance();`),
    );
    app = await mysql.createConnection({ uri: src.url });
    dual = await createDualWriter({ config: cfg, budgetMs: 0, log: quiet });
  }, 120_000);
  afterAll(async () => {
    await dual?.close();
    await app?.end();
    await src?.drop();
    await tgt?.drop();
  });

  it('two relay processes drain one outbox together: every change once, none out of version order', async () => {
    await queueChanges();
    const queued = await outbox();
    expect(queued).toBe(HOT * ROUNDS);
    const relays = [0, 1].map(() =>
      spawnCli(['relay', '--config', cfg, '--until-empty', '--batch-size', '16', '--json']),
    );
    const results = await Promise.all(
      relays.map(
        (p) =>
          new Promise<{ code: number | null; out: string; err: string }>((res) => {
            let out = '';
            let err = '';
            p.stdout!.on('data', (d) => (out += d));
            p.stderr!.on('data', (d) => (err += d));
            p.on('close', (code) => res({ code, out, err }));
          }),
      ),
    );
    for (const r of results) expect(r.code, r.err).toBe(0);
    const stats = results.map((r) => JSON.parse(r.out.trim().split('\n').pop()!));
    // each relay took part, and together they handled every queued change exactly once
    expect(stats.map((s) => s.changes > 0)).toEqual([true, true]);
    expect(stats.reduce((a, s) => a + s.changes, 0)).toBe(queued);
    expect(stats.reduce((a, s) => a + s.deadLettered, 0)).toBe(0);
    expect(await outbox()).toBe(0);
    await expectMonotonicHistory();
    await expectConverged();
  }, 120_000);

  it('in one process, pipelined loops and unpipelined ones drain one outbox alike', async () => {
    await queueChanges();
    const queued = await outbox();
    expect(queued).toBe(HOT * ROUNDS);
    const m = await openMigration(cfg, { log: quiet });
    try {
      const { primary, secondary, entities } = m.roles(await m.readPhase());
      const base = { primary, secondary, control: m.stores.control, entities, log: quiet, untilEmpty: true };
      // three relays at once: two with their pipeline (two batches each in flight), one without
      const all = await Promise.all([
        runRelay({ ...base, batchSize: 10 }),
        runRelay({ ...base, batchSize: 7 }),
        runRelay({ ...base, batchSize: 13, pipeline: false }),
      ]);
      expect(all.reduce((a, s) => a + s.changes, 0)).toBe(queued);
      expect(all.reduce((a, s) => a + s.deadLettered, 0)).toBe(0);
    } finally {
      await m.close();
    }
    expect(await outbox()).toBe(0);
    await expectMonotonicHistory();
    await expectConverged();
  }, 120_000);
});
