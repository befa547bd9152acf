import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runRelay } from '../src/apply/relay.js';
import { fromKysely, fromPg, fromSqlite } from '../src/capture/adapters.js';
import { createDualWriter } from '../src/capture/writer.js';
import { parseConfig } from '../src/config/load.js';
import { resolveConfig } from '../src/config/resolve.js';
import { ensureControlSchema } from '../src/control/control.js';
import { setPhase } from '../src/control/phase.js';
import { createLogger } from '../src/core/logger.js';
import { openStore } from '../src/stores/index.js';
import { verifyEntities } from '../src/verify/verify.js';
import { createPgDatabase } from './helpers.js';

const quiet = createLogger({ level: 'silent' });
const LEGACY =
  'CREATE TABLE users (id integer PRIMARY KEY, email varchar(100) NOT NULL UNIQUE, name varchar(100), version integer NOT NULL)';
const NEW =
  'CREATE TABLE members (id bigint PRIMARY KEY, email_address varchar(100) NOT NULL UNIQUE, full_name varchar(100))';
const config = (source: string, target: string) => ({
  source,
  target,
  entities: {
    users: {
      table: 'users',
      key: 'id',
      version: 'version',
      targets: [{ table: 'members', columns: { id: 'id', email_address: 'email', full_name: 'name' } }],
    },
  },
});

/** Dual-writes through an adapter, drains the outbox, and proves parity. */
async function roundTrip(
  sourceUrl: string,
  targetUrl: string,
  write: (dual: Awaited<ReturnType<typeof createDualWriter>>) => Promise<void>,
) {
  const cfg = config(sourceUrl, targetUrl);
  const target = await openStore(targetUrl);
  await target.execute(NEW);
  await ensureControlSchema(target);
  await setPhase(target, 'dual_write');
  await target.close();
  const dual = await createDualWriter({ config: cfg, budgetMs: 0, log: quiet });
  try {
    await write(dual);
  } finally {
    await dual.close();
  }
  const parsed = parseConfig(cfg);
  const s = await openStore(sourceUrl),
    t = await openStore(targetUrl);
  try {
    const entities = await resolveConfig(parsed, s, t);
    const stats = await runRelay({ primary: s, secondary: t, control: t, entities, log: quiet, untilEmpty: true });
    const v = await verifyEntities(s, t, entities, { pageRows: 100, maxReportedDifferences: 5 });
    return {
      stats,
      v,
      outbox: Number((await s.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${s.controlTable('outbox')}`))[0]!.n),
    };
  } finally {
    await s.close();
    await t.close();
  }
}

const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
});

describe('writer adapters', () => {
  it('better-sqlite3 (fromSqlite) and a Kysely transaction on it (fromKysely)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-adapters-'));
    const file = join(dir, 'legacy.db');
    const db = new Database(file);
    db.exec(LEGACY);
    db.exec(`INSERT INTO users VALUES (1, 'a@x', 'Ann', 1), (2, 'b@x', 'Bob', 1)`);
    const tgt = await createPgDatabase('tandem_ad_sq');
    drops.push(tgt.drop);
    const r = await roundTrip(`sqlite:${file}`, tgt.url, async (dual) => {
      await dual.write(fromSqlite(db), async (tx) => {
        db.prepare(`UPDATE users SET name = 'Anna', version = version + 1 WHERE id = 1`).run();
        tx.changed('users', 1);
      });
      // the application's error comes back unchanged, and no outbox row stays
      await expect(
        dual.write(fromSqlite(db), async (tx) => {
          tx.changed('users', 2);
          db.prepare(`INSERT INTO users VALUES (1, 'dup', 'x', 1)`).run();
        }),
      ).rejects.toThrow(/UNIQUE constraint failed: users.id/);
      const k = new Kysely<any>({ dialect: new SqliteDialect({ database: db }) });
      await k.transaction().execute(async (trx) => {
        await sql`INSERT INTO users VALUES (3, 'c@x', 'Cy', 1)`.execute(trx);
        await dual.record(fromKysely(trx, 'sqlite'), 'users', 3);
      });
      await expect(
        k.transaction().execute(async (trx) => {
          await sql`INSERT INTO users VALUES (4, 'd@x', 'Di', 1)`.execute(trx);
          await dual.record(fromKysely(trx, 'sqlite'), 'users', 4);
          throw new Error('the application changed its mind');
        }),
      ).rejects.toThrow('changed its mind');
      await k.destroy();
    });
    expect(r.outbox).toBe(0);
    expect(r.stats.changes).toBe(2); // user 1 and user 3; nothing of the rolled-back writes
    expect(r.v.ok).toBe(false); // user 2 was never written through Tandem (no backfill here): missing, as it must be
    expect(r.v.entities[0]).toMatchObject({ sourceRows: 3, matched: 2, missing: 1 });
    db.close();
  });

  it('pg (fromPg) and a Kysely transaction on a pg pool (fromKysely)', async () => {
    const src = await createPgDatabase('tandem_ad_pgs');
    const tgt = await createPgDatabase('tandem_ad_pgt');
    drops.push(src.drop, tgt.drop);
    const client = new pg.Client({ connectionString: src.url });
    await client.connect();
    await client.query(LEGACY);
    const s = await openStore(src.url);
    await ensureControlSchema(s);
    await s.close();
    const pool = new pg.Pool({ connectionString: src.url });
    pool.on('error', () => {}); // an idle client cut off by the database's drop: not an uncaught error
    const k = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    const r = await roundTrip(src.url, tgt.url, async (dual) => {
      await dual.write(fromPg(client), async (tx) => {
        await client.query(`INSERT INTO users VALUES (1, 'a@x', 'Ann', 1), (2, 'b@x', 'Bob', 1)`);
        tx.changed('users', 1);
        tx.changed('users', { id: 2 });
      });
      await k.transaction().execute(async (trx) => {
        await sql`UPDATE users SET name = 'Robert', version = version + 1 WHERE id = 2`.execute(trx);
        await dual.record(fromKysely(trx, 'postgres'), 'users', 2);
      });
      await dual.write(fromPg(client), async (tx) => {
        await client.query(`DELETE FROM users WHERE id = 1`);
        tx.changed('users', 1);
      });
    });
    await k.destroy();
    await client.end();
    expect(r.outbox).toBe(0);
    expect(r.v.ok).toBe(true);
    expect(r.v.entities[0]).toMatchObject({ sourceRows: 1, targetRows: 1, matched: 1 });
  });
});
