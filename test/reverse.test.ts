import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPg } from '../src/capture/adapters.js';
import { createDualWriter, type DualWriter } from '../src/capture/writer.js';
import { createLogger } from '../src/core/logger.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from './fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';

/**
 * After write cutover (`new_primary`) the application writes to the new store; the outbox lives there and the
 * reverse relay writes the changes back to legacy, so a rollback loses nothing.
 */
describe('reverse relay after write cutover (PostgreSQL → MariaDB)', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let legacy: mysql.Connection;
  let app: pg.Client;
  let dual: DualWriter;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_rev_src');
    await createLegacyMysql(src.url, 40);
    legacy = await mysql.createConnection({ uri: src.url });
    // what `tandem prepare` gives a legacy table: a version that grows on every update, 1 on insert
    await legacy.query('ALTER TABLE users ALTER version SET DEFAULT 1');
    await legacy.query(
      'CREATE TRIGGER users_version BEFORE UPDATE ON users FOR EACH ROW SET NEW.version = OLD.version + 1',
    );
    tgt = await createPgDatabase('tandem_rev');
    await createNewPostgres(tgt.url);
    cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    expect((await runCli(['backfill', '--config', cfg])).code).toBe(0);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', cfg])).code).toBe(0);
    const cut = await runCli(['phase', 'set', 'new_primary', '--config', cfg]);
    expect(cut.code).toBe(2); // gated: needs --force in this version
    expect(cut.stderr).toMatch(/^TANDEM_ERR_PHASE_INVALID/);
    expect((await runCli(['phase', 'set', 'new_primary', '--force', '--config', cfg])).stdout).toContain(
      'dual_write → new_primary',
    );
    app = new pg.Client({ connectionString: tgt.url });
    await app.connect();
    dual = await createDualWriter({ config: cfg, budgetMs: 0, log: createLogger({ level: 'silent' }) });
  });
  afterAll(async () => {
    await dual?.close();
    await app?.end();
    await legacy?.end();
    await src?.drop();
    await tgt?.drop();
  });

  it('writes updates, inserts and deletes made on the new store back to legacy; both sides then match', async () => {
    expect(await dual.phase()).toBe('new_primary');
    const [[before]] = (await legacy.query('SELECT version FROM users WHERE id = 5')) as [
      { version: number }[],
      unknown,
    ];
    await dual.write(fromPg(app), async (tx) => {
      await app.query(`UPDATE users SET email_address = 'rev@example.com', status = 'inactive' WHERE id = 5`);
      await app.query(
        `UPDATE user_profiles SET given_name = 'Zed', display_name = 'Zed ' || family_name WHERE user_id = 5`,
      );
      tx.changed('users', 5);
    });
    await dual.write(fromPg(app), async (tx) => {
      await app.query(
        `INSERT INTO users SELECT 20000, organisation_id, 'born-new@example.com', password_hash, 'active', 12.5, created_at, updated_at, 'legacy' FROM users WHERE id = 1`,
      );
      await app.query(`INSERT INTO user_profiles VALUES (20000, 'Nova', 'Nueva', 'Nova Nueva', NULL)`);
      tx.changed('users', 20000);
    });
    await dual.write(fromPg(app), async (tx) => {
      await app.query('DELETE FROM user_profiles WHERE user_id = 8');
      await app.query('DELETE FROM users WHERE id = 8');
      tx.changed('users', 8);
    });
    expect(Number((await app.query('SELECT count(*) AS n FROM tandem.outbox')).rows[0].n)).toBe(3);

    const r = await runCli(['relay', '--config', cfg, '--until-empty', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changes: 3, applied: 2, deleted: 1, deadLettered: 0 });
    const [[u5]] = (await legacy.query('SELECT email, status, first_name, version FROM users WHERE id = 5')) as [
      Record<string, unknown>[],
      unknown,
    ];
    expect(u5).toMatchObject({ email: 'rev@example.com', status: 'inactive', first_name: 'Zed' });
    expect(Number(u5!.version)).toBeGreaterThan(before!.version); // versions keep growing on legacy, for a rollback
    const [[u20000]] = (await legacy.query(
      'SELECT email, first_name, last_name, balance, version FROM users WHERE id = 20000',
    )) as [Record<string, unknown>[], unknown];
    expect(u20000).toMatchObject({
      email: 'born-new@example.com',
      first_name: 'Nova',
      last_name: 'Nueva',
      balance: '12.50',
    });
    const [gone] = (await legacy.query('SELECT id FROM users WHERE id = 8')) as [unknown[], unknown];
    expect(gone).toEqual([]);
    // mapping(legacy) equals new again: the round trip lost nothing
    const v = await runCli(['verify', '--config', cfg, '--entity', 'users', '--json']);
    expect(JSON.parse(v.stdout).entities[0]).toMatchObject({ missing: 0, extra: 0, different: 0 });
    expect(v.code).toBe(0);
  });

  it('inserts a new user whose email legacy still gives a user whose change is not relayed yet, without overwriting that user', async () => {
    const row = async (id: number) =>
      (
        (await legacy.query('SELECT email, first_name, last_name FROM users WHERE id = ?', [id])) as [
          Record<string, unknown>[],
          unknown,
        ]
      )[0][0];
    const before = await row(3);
    // user 3 moves to a new email on the new store, recorded in a later outbox row; user 20001 takes the old one
    await dual.write(fromPg(app), async (tx) => {
      await app.query(`UPDATE users SET email_address = 'three-moved@example.com' WHERE id = 3`);
      await app.query(
        `INSERT INTO users SELECT 20001, organisation_id, $1, password_hash, 'active', 1.5, created_at, updated_at, 'legacy' FROM users WHERE id = 1`,
        [before!.email],
      );
      await app.query(`INSERT INTO user_profiles VALUES (20001, 'Taker', 'Ofemail', 'Taker Ofemail', NULL)`);
      tx.changed('users', 20001);
    });
    await dual.write(fromPg(app), async (tx) => {
      tx.changed('users', 3);
    });
    const r = await runCli(['relay', '--config', cfg, '--until-empty', '--batch-size', '1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ deadLettered: 0 });
    // a MariaDB `ON DUPLICATE KEY UPDATE` would have given user 3 the newcomer's names and never inserted 20001
    expect(await row(3)).toMatchObject({
      email: 'three-moved@example.com',
      first_name: before!.first_name,
      last_name: before!.last_name,
    });
    expect(await row(20001)).toMatchObject({ email: before!.email, first_name: 'Taker', last_name: 'Ofemail' });
    const v = await runCli(['verify', '--config', cfg, '--entity', 'users', '--json']);
    expect(JSON.parse(v.stdout).entities[0]).toMatchObject({ missing: 0, extra: 0, different: 0 });
  });
});
