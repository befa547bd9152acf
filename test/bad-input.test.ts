import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine } from '../src/core/errors.js';
import { thrownText } from '../src/core/redact.js';
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
    const rows = await c.query(
      `SELECT (SELECT count(*) FROM organisations) + (SELECT count(*) FROM users) + (SELECT count(*) FROM user_profiles) + (SELECT count(*) FROM memberships) AS n`,
    );
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
    await expectError(
      ['backfill', '--config', cfg(fixtureConfig('oracle://db.example/x', tgt.url))],
      'URL_SCHEME',
      /oracle:/,
    );
  });

  it('unreachable server', async () => {
    await expectError(
      ['backfill', '--config', cfg(fixtureConfig('mysql://root@127.0.0.1:1/x', tgt.url))],
      'STORE_UNREACHABLE',
      /127\.0\.0\.1:1/,
    );
  });

  it('wrong credentials, with the password kept out of the message', async () => {
    const r = await runCli([
      'backfill',
      '--config',
      cfg(fixtureConfig(src.url.replace('root@', 'root:s3cret-pw@'), tgt.url)),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_STORE_AUTH: /);
    expect(r.stderr).not.toContain('s3cret-pw');
    await targetUntouched();
    await expectError(
      ['verify', '--config', cfg(fixtureConfig(src.url, tgt.url.replace('postgres@', 'tandem_no_such_role@')))],
      'STORE_AUTH',
    );
  });

  it('missing table', async () => {
    await expectError(
      ['backfill', '--config', cfg(base().replace("table: 'orgs'", "table: 'Orgs'"))],
      'TABLE_NOT_FOUND',
      /"Orgs".*did you mean "orgs"/,
    );
  });

  it('missing source column', async () => {
    await expectError(
      ['backfill', '--config', cfg(base().replace("display_name: 'name'", "display_name: 'title'"))],
      'COLUMN_NOT_FOUND',
      /"title"/,
    );
  });

  it('a key that is not unique', async () => {
    // two problems (the key is not unique, and its text cannot go into an integer id): both, in one table
    const r = await runCli([
      'backfill',
      '--config',
      cfg(
        base()
          .replace("table: 'orgs', key: 'id'", "table: 'users', key: 'status'")
          .replace("columns: { id: 'id', display_name: 'name' }", "columns: { id: 'status', display_name: 'status' }"),
      ),
    ]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^TANDEM_ERR_PREFLIGHT_FAILED: 2 problems in 1 entity \(orgs\)/);
    expect(lines).toHaveLength(5);
    expect(lines[3]).toMatch(/^orgs\s+users\s+status\s+the key is not unique in the source table/);
    expect(lines[4]).toMatch(/^orgs\s+organisations\s+id\s+the value cannot be read as integer/);
    await targetUntouched();
  });

  it('a mapping to a target column that does not exist', async () => {
    await expectError(
      ['backfill', '--config', cfg(base().replace("display_name: 'name'", "title: 'name'"))],
      'MAPPING_COLUMN_NOT_FOUND',
      /"title".*organisations/,
    );
  });

  it('a value that does not fit the target type', async () => {
    const text = base().replace(
      "columns: { id: 'id', display_name: 'name' }",
      "columns: { id: 'id', display_name: { transform: (o) => String(o.name).repeat(20) } }",
    );
    await expectError(
      ['backfill', '--config', cfg(text)],
      'VALUE_DOES_NOT_FIT',
      /organisations\.display_name .*varying\(100\)/,
    );
  });

  it('a missing config file', async () => {
    await expectError(
      ['backfill', '--config', '/nonexistent/tandem.config.ts'],
      'CONFIG_NOT_FOUND',
      /\/nonexistent\/tandem\.config\.ts/,
    );
  });

  it('a config with a syntax error', async () => {
    const file = cfg(base());
    writeFileSync(file, base().replace('entities: {', 'entities: {{'));
    await expectError(['verify', '--config', file], 'CONFIG_SYNTAX');
  });

  it('a config that does not match the schema', async () => {
    await expectError(
      ['backfill', '--config', cfg(base().replace("key: 'id', version: 'version'", "key: 42, version: 'version'"))],
      'CONFIG_INVALID',
      /entities\.users\.key/,
    );
    await expectError(
      ['backfill', '--config', cfg(base().replace('backfill: {', 'backfill: { chunkSecs: 1, '))],
      'CONFIG_INVALID',
      /chunkSecs/,
    );
  });

  it('an unknown entity or option on the command line', async () => {
    await expectError(
      ['backfill', '--config', cfg(base()), '--entity', 'nope'],
      'CONFIG_INVALID',
      /unknown entity "nope"/,
    );
    await expectError(['backfill', '--config', cfg(base()), '--bogus'], 'USAGE', /--bogus/);
  });
});

/**
 * A PGlite store that cannot be opened says why in one TANDEM_ERR_* line — never `[object Object]` — and nothing
 * is written where it points.
 */
describe('bad input: a PGlite store that cannot be opened', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bad-pglite-'));
  const config = (target: string) =>
    writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(`sqlite:${join(dir, 'legacy.db')}`)},
  target: ${JSON.stringify(target)},
  entities: { users: { table: 'users', key: 'id', targets: [{ table: 'users', columns: { id: 'id' } }] } },
});`);
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a database');
  const junk = join(dir, 'junk');
  mkdirSync(junk);
  writeFileSync(join(junk, 'notes.txt'), 'hello');
  const damaged = join(dir, 'damaged');
  mkdirSync(damaged);
  writeFileSync(join(damaged, 'PG_VERSION'), 'not a version\n');
  const cases: [string, string, RegExp][] = [
    ['a file', `pglite:${file}`, /is a file, not a data directory$/],
    ['a path under a file', `pglite:${file}/db`, /a-file is a file, not a directory$/],
    [
      'a directory that is not a PGlite data directory',
      `pglite:${junk}`,
      /is not empty and is not a PGlite data directory \(no PG_VERSION\): give an empty or new directory$/,
    ],
    [
      'a data directory PGlite cannot start on',
      `pglite:${damaged}`,
      /holds a PostgreSQL data directory PGlite cannot start on/,
    ],
  ];
  for (const [what, url, says] of cases) {
    it(`${what}: one clear line, exit 2, nothing written`, async () => {
      // (the SQLite legacy file, opened first, is not this test's concern: it is created with its WAL files)
      const listing = () =>
        readdirSync(dir, { recursive: true })
          .map(String)
          .filter((f) => !f.startsWith('legacy.db'))
          .sort();
      const before = listing();
      for (const command of ['status', 'backfill']) {
        const r = await runCli([command, '--config', config(url)]);
        expect(r.code, r.stderr).toBe(2);
        const lines = r.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^TANDEM_ERR_STORE_UNREACHABLE: (cannot open )?PGlite store pglite:/);
        expect(lines[0]).toMatch(says);
        expect(lines[0]).not.toMatch(/\[object Object\]/);
      }
      expect(listing()).toEqual(before);
      expect(readFileSync(file, 'utf8')).toBe('not a database');
    });
  }

  it('anything thrown has a text: plain objects by message, name, code or errno', () => {
    expect(thrownText(new Error('boom'))).toBe('boom');
    expect(thrownText('text')).toBe('text');
    expect(thrownText({ message: 'from a WebAssembly runtime' })).toBe('from a WebAssembly runtime');
    expect(thrownText({ name: 'ErrnoError', errno: 44 })).toBe('ErrnoError, errno 44');
    expect(thrownText({ code: 'EACCES' })).toBe('code EACCES');
    expect(thrownText({ status: 1 })).toBe('an error object without a message (status)');
    expect(thrownText({})).toBe('an error object without a message (no fields)');
    expect(errorLine({ errno: 2 })).toBe('TANDEM_ERR_INTERNAL: errno 2');
  });
});
