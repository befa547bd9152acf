import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from './fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';

/**
 * Each bad input gets one line on stderr with a TANDEM_ERR_* code, exit 2, and nothing written to the target:
 * no row in any table and no control plane.
 */
describe('bad input', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_bad_src');
    await createLegacyMysql(src.url, 50);
    tgt = await createPgDatabase('tandem_bad');
    await createNewPostgres(tgt.url);
  });
  afterAll(async () => {
    await src?.drop();
    await tgt?.drop();
  });

  async function targetUntouched(): Promise<void> {
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    const rows = await c.query(`SELECT (SELECT count(*) FROM organisations) + (SELECT count(*) FROM users) + (SELECT count(*) FROM user_profiles) + (SELECT count(*) FROM memberships) AS n`);
    const schema = await c.query(`SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'tandem'`);
    await c.end();
    expect(Number(rows.rows[0].n)).toBe(0);
    expect(Number(schema.rows[0].n)).toBe(0);
  }

  async function expectError(args: string[], code: string, mention?: RegExp): Promise<void> {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^TANDEM_ERR_${code}: `));
    if (mention) expect(lines[0]).toMatch(mention);
    await targetUntouched();
  }

  const cfg = (text: string) => writeConfig(text);
  const base = () => fixtureConfig(src.url, tgt.url);

  it('unknown URL scheme', async () => {
    await expectError(['backfill', '--config', cfg(fixtureConfig('oracle://db.example/x', tgt.url))], 'URL_SCHEME', /oracle:/);
  });

  it('unreachable server', async () => {
    await expectError(['backfill', '--config', cfg(fixtureConfig('mysql://root@127.0.0.1:1/x', tgt.url))], 'STORE_UNREACHABLE', /127\.0\.0\.1:1/);
  });

  it('wrong credentials, with the password kept out of the message', async () => {
    const r = await runCli(['backfill', '--config', cfg(fixtureConfig(src.url.replace('root@', 'root:s3cret-pw@'), tgt.url))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_STORE_AUTH: /);
    expect(r.stderr).not.toContain('s3cret-pw');
    await targetUntouched();
    await expectError(['verify', '--config', cfg(fixtureConfig(src.url, tgt.url.replace('postgres@', 'tandem_no_such_role@')))], 'STORE_AUTH');
  });

  it('missing table', async () => {
    await expectError(['backfill', '--config', cfg(base().replace("table: 'orgs'", "table: 'Orgs'"))], 'TABLE_NOT_FOUND', /"Orgs".*did you mean "orgs"/);
  });

  it('missing source column', async () => {
    await expectError(['backfill', '--config', cfg(base().replace("display_name: 'name'", "display_name: 'title'"))], 'COLUMN_NOT_FOUND', /"title"/);
  });

  it('a key that is not unique', async () => {
    await expectError(['backfill', '--config', cfg(base().replace("table: 'orgs', key: 'id'", "table: 'users', key: 'status'").replace("columns: { id: 'id', display_name: 'name' }", "columns: { id: 'status', display_name: 'status' }"))], 'KEY_NOT_UNIQUE', /status/);
  });

  it('a mapping to a target column that does not exist', async () => {
    await expectError(['backfill', '--config', cfg(base().replace("display_name: 'name'", "title: 'name'"))], 'MAPPING_COLUMN_NOT_FOUND', /"title".*organisations/);
  });

  it('a value that does not fit the target type', async () => {
    const text = base().replace("columns: { id: 'id', display_name: 'name' }", "columns: { id: 'id', display_name: { transform: (o) => String(o.name).repeat(20) } }");
    await expectError(['backfill', '--config', cfg(text)], 'VALUE_DOES_NOT_FIT', /organisations\.display_name .*varying\(100\)/);
  });

  it('a missing config file', async () => {
    await expectError(['backfill', '--config', '/nonexistent/tandem.config.ts'], 'CONFIG_NOT_FOUND', /\/nonexistent\/tandem\.config\.ts/);
  });

  it('a config with a syntax error', async () => {
    const file = cfg(base());
    writeFileSync(file, base().replace('entities: {', 'entities: {{'));
    await expectError(['verify', '--config', file], 'CONFIG_SYNTAX');
  });

  it('a config that does not match the schema', async () => {
    await expectError(['backfill', '--config', cfg(base().replace("key: 'id', version: 'version'", "key: 42, version: 'version'"))], 'CONFIG_INVALID', /entities\.users\.key/);
    await expectError(['backfill', '--config', cfg(base().replace('backfill: {', 'backfill: { chunkSecs: 1, '))], 'CONFIG_INVALID', /chunkSecs/);
  });

  it('an unknown entity or option on the command line', async () => {
    await expectError(['backfill', '--config', cfg(base()), '--entity', 'nope'], 'CONFIG_INVALID', /unknown entity "nope"/);
    await expectError(['backfill', '--config', cfg(base()), '--bogus'], 'USAGE', /--bogus/);
  });
});
