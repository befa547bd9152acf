import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromMysql } from '../src/capture/adapters.js';
import { createDualWriter, type DualWriter } from '../src/capture/writer.js';
import { createLogger } from '../src/core/logger.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from './fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, uniqueName, writeConfig } from './helpers.js';

const quiet = createLogger({ level: 'silent' });
const BROKERS = [
  ['rabbitmq', 'amqp://guest:guest@127.0.0.1:5672'],
  ['nats', 'nats://127.0.0.1:4222'],
  ['redis', 'redis://127.0.0.1:6379'],
] as const;

/** Outbox → broker → relay → PostgreSQL, and sync-then-queue, against each real broker. */
describe.each(BROKERS)('relay through %s', (kind, url) => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let app: mysql.Connection;
  let dual: DualWriter;

  beforeAll(async () => {
    src = await createMysqlDatabase(`tandem_br_${kind}`);
    await createLegacyMysql(src.url, 100);
    tgt = await createPgDatabase(`tandem_br_${kind}`);
    await createNewPostgres(tgt.url);
    const text = fixtureConfig(src.url, tgt.url).replace(
      'entities: {',
      `transport: { url: ${JSON.stringify(url)}, name: '${uniqueName(`tandem_${kind}`)}' },\n  entities: {`,
    );
    cfg = writeConfig(text);
    expect((await runCli(['backfill', '--config', cfg])).code).toBe(0);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', cfg])).code).toBe(0);
    app = await mysql.createConnection({ uri: src.url });
    dual = await createDualWriter({ config: cfg, budgetMs: 0, log: quiet });
  });
  afterAll(async () => {
    await dual?.close();
    await app?.end();
    await src?.drop();
    await tgt?.drop();
  });

  it('forwards the outbox to the broker and applies every change, duplicates included', async () => {
    for (let i = 1; i <= 30; i++) {
      await dual.write(fromMysql(app), async (tx) => {
        await app.query(`UPDATE users SET balance = balance + ?, version = version + 1 WHERE id = ?`, [
          i,
          1 + (i % 10),
        ]);
        tx.changed('users', 1 + (i % 10));
      });
    }
    await dual.write(fromMysql(app), async (tx) => {
      await app.query('DELETE FROM users WHERE id = 50');
      tx.changed('users', 50);
    });
    // sync then queue: the write happened elsewhere (autocommit), then the change is published, twice
    await app.query(`UPDATE users SET status = 'banned', version = version + 1 WHERE id = 60`);
    await dual.publish('users', 60);
    await dual.publish('users', 60);
    const pub = await runCli(['relay', '--config', cfg, '--mode', 'publish', '--until-empty', '--json']);
    expect(pub.code).toBe(0);
    expect(JSON.parse(pub.stdout)).toEqual({ forwarded: 31 });
    const con = await runCli(['relay', '--config', cfg, '--mode', 'consume', '--until-empty', '--json']);
    expect(con.code).toBe(0);
    const stats = JSON.parse(con.stdout);
    expect(stats.changes).toBeGreaterThanOrEqual(33);
    expect(stats.deadLettered).toBe(0);
    const v = await runCli(['verify', '--config', cfg, '--entity', 'users', '--json']);
    expect(v.code).toBe(0);
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    expect((await c.query(`SELECT status FROM users WHERE id = 60`)).rows[0].status).toBe('banned');
    expect((await c.query(`SELECT count(*)::int AS n FROM users WHERE id = 50`)).rows[0].n).toBe(0);
    await c.end();
  });
});

describe('relay --mode without a broker', () => {
  it('says the config needs a transport', async () => {
    const cfg = writeConfig(
      fixtureConfig('mysql://root@127.0.0.1:3306/mysql', 'postgres://postgres@127.0.0.1:5432/postgres'),
    );
    const r = await runCli(['relay', '--config', cfg, '--mode', 'consume']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_CONFIG_INVALID: --mode consume needs a broker/);
  });
});
