import { createServer, type Server } from 'node:net';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';

/**
 * Every option is checked before any store is touched: a bad numeric or enumerated value (or a metrics port in
 * use) stops the command with one TANDEM_ERR_USAGE line naming the option and the value, exit 2, and no control
 * table in either store (MariaDB source, PostgreSQL target).
 */
describe('bad options write nothing', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_opt_src');
    await createLegacyMysql(src.url, 30);
    tgt = await createPgDatabase('tandem_opt');
    await createNewPostgres(tgt.url);
    cfg = writeConfig(fixtureConfig(src.url, tgt.url));
  });
  afterAll(async () => {
    await src?.drop();
    await tgt?.drop();
  });

  /** Control tables in both stores: the `tandem` schema in PostgreSQL, `tandem_*` tables in MariaDB. */
  async function controlTables(): Promise<{ target: number; source: number }> {
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    const t = Number((await c.query(`SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'tandem'`)).rows[0].n);
    await c.end();
    const m = await mysql.createConnection({ uri: src.url });
    const [rows] = await m.query(
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name LIKE 'tandem\\_%'`,
      [src.name],
    );
    await m.end();
    return { target: t, source: Number((rows as { n: number }[])[0]!.n) };
  }

  const cases: [string[], RegExp][] = [
    [
      ['relay', '--metrics-port', 'abc', '--until-empty'],
      /--metrics-port must be a whole number from 0 to 65535, not "abc"/,
    ],
    [['relay', '--metrics-port', '70000', '--until-empty'], /--metrics-port .*"70000"/],
    [['relay', '--wait-seconds', 'abc', '--until-empty'], /--wait-seconds .*"abc"/],
    [['relay', '--batch-size', '0', '--until-empty'], /--batch-size .*"0"/],
    [['relay', '--max-attempts', '1.5', '--until-empty'], /--max-attempts .*"1\.5"/],
    [['relay', '--mode', 'sideways'], /--mode must be one of direct, publish, consume, not "sideways"/],
    [['backfill', '--max-rows-per-second', 'abc'], /--max-rows-per-second .*"abc"/],
    [['backfill', '--max-rows-per-second', 'Infinity'], /--max-rows-per-second .*"Infinity"/],
    [['repair', '--limit', '-1'], /--limit .*"-1"/],
    [['prepare', '--lock-timeout', '0'], /--lock-timeout .*"0"/],
    [['identity', 'wrap', '--memory-cost', '4'], /--memory-cost .*"4"/],
    [
      ['identity', 'wrap', '--parallelism', '4', '--memory-cost', '16'],
      /--memory-cost 16 is below 8 × --parallelism 4/,
    ],
    [['identity', 'wrap', '--page-rows', '0x10'], /--page-rows .*"0x10"/],
    [
      ['identity', 'sunset', '--before', '2020-01-01', '--format', 'xml'],
      /--format must be one of csv, json, not "xml"/,
    ],
    [['identity', 'check', '--raw-hex', 'md4'], /--raw-hex must be one of md5, sha1, sha256, sha512, not "md4"/],
    [['identity', 'check', '--max-line-bytes', 'lots'], /--max-line-bytes .*"lots"/],
    [['verify', '--max-seconds', 'abc'], /--max-seconds .*"abc"/],
  ];

  it.each(cases)('%j', async (args, mention) => {
    const r = await runCli(['--config', cfg, ...args]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^TANDEM_ERR_USAGE: /);
    expect(lines[0]).toMatch(mention);
    expect(r.stdout).toBe('');
    expect(await controlTables()).toEqual({ target: 0, source: 0 });
  });

  it('a metrics port in use is a usage error before the control tables are created', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await runCli(['--config', cfg, 'relay', '--until-empty', '--metrics-port', String(port)]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toMatch(
        new RegExp(
          `^TANDEM_ERR_USAGE: --metrics-port ${port}: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)$`,
        ),
      );
      expect(await controlTables()).toEqual({ target: 0, source: 0 });
    } finally {
      busy.close();
    }
  });

  it('an unknown phase is refused before the control plane is created', async () => {
    const r = await runCli(['--config', cfg, 'phase', 'set', 'bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^TANDEM_ERR_PHASE_INVALID: unknown phase "bogus"/);
    expect(await controlTables()).toEqual({ target: 0, source: 0 });
  });

  it('good options still run (and do create the control plane)', async () => {
    const r = await runCli(['--config', cfg, 'relay', '--until-empty', '--batch-size', '1_000', '--wait-seconds', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await controlTables()).toMatchObject({ target: 1 });
    expect((await controlTables()).source).toBeGreaterThan(0);
  });
});
