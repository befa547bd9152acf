import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareEntity, type PrepareEntityResult, type PrepareRequest } from '../src/prepare/prepare.js';
import { openStore } from '../src/stores/index.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';

/**
 * `tandem prepare` against real MariaDB, PostgreSQL, SQLite and PGlite, through the CLI as a child process:
 * the column and trigger(s) it adds, what they do to application writes, idempotence, --dry-run, --undo,
 * a backfill that uses the new version column, refusals, and bad input.
 */

type Row = Record<string, unknown>;

/** A source database seen from the test: statements, reads, and the catalog facts the checks need. */
interface Side {
  url: string;
  exec(sql: string): Promise<void>;
  rows(sql: string): Promise<Row[]>;
  columns(table: string): Promise<string[]>;
  triggers(table: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

async function mysqlSide(): Promise<Side> {
  const db = await createMysqlDatabase('tandem_prep');
  const c = await mysql.createConnection({ uri: db.url, multipleStatements: true });
  return {
    url: db.url,
    exec: async (sql) => {
      await c.query(sql);
    },
    rows: async (sql) => (await c.query(sql))[0] as Row[],
    columns: async (t) =>
      (
        (
          await c.query(
            `SELECT COLUMN_NAME AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
            [t],
          )
        )[0] as Row[]
      ).map((r) => String(r.n)),
    triggers: async (t) =>
      (
        (
          await c.query(
            `SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY 1`,
            [t],
          )
        )[0] as Row[]
      ).map((r) => String(r.n)),
    cleanup: async () => {
      await c.end();
      await db.drop();
    },
  };
}

async function pgSide(): Promise<Side> {
  const db = await createPgDatabase('tandem_prep');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  return {
    url: db.url,
    exec: async (sql) => {
      await c.query(sql);
    },
    rows: async (sql) => (await c.query(sql)).rows,
    columns: async (t) =>
      (
        await c.query(
          `SELECT column_name AS n FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`,
          [t],
        )
      ).rows.map((r) => r.n),
    triggers: async (t) =>
      (
        await c.query(
          `SELECT tgname AS n FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY 1`,
          [`"${t}"`],
        )
      ).rows.map((r) => r.n),
    cleanup: async () => {
      await c.end();
      await db.drop();
    },
  };
}

function sqliteSide(): Side {
  const file = join(mkdtempSync(join(tmpdir(), 'tandem-prep-')), 'legacy.db');
  const open = () => new Database(file);
  const withDb = <T>(fn: (d: Database.Database) => T): T => {
    const d = open();
    try {
      return fn(d);
    } finally {
      d.close();
    }
  };
  return {
    url: `sqlite:${file}`,
    exec: async (sql) =>
      withDb((d) => {
        d.exec(sql);
      }),
    rows: async (sql) => withDb((d) => d.prepare(sql).all() as Row[]),
    columns: async (t) =>
      withDb((d) => (d.prepare(`SELECT name FROM pragma_table_info(?)`).all(t) as Row[]).map((r) => String(r.name))),
    triggers: async (t) =>
      withDb((d) =>
        (
          d.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY 1`).all(t) as Row[]
        ).map((r) => String(r.name)),
      ),
    cleanup: async () => {},
  };
}

/** An SQLite target holding the new `accounts` table (and the control plane / audit log). */
function sqliteTarget(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tandem-prep-tgt-')), 'new.db');
  const d = new Database(file);
  d.exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`);
  d.close();
  return `sqlite:${file}`;
}

/** A config with the given entities, each `{ table, version? }`, all mapped to the target's `accounts`. */
function config(source: string, target: string, entities: Record<string, { table: string; version?: string }>): string {
  const body = Object.entries(entities)
    .map(
      ([name, e]) =>
        `    ${JSON.stringify(name)}: { table: ${JSON.stringify(e.table)}, key: 'id',${e.version ? ` version: ${JSON.stringify(e.version)},` : ''} targets: [{ table: 'accounts', columns: { id: 'id', name: 'name' } }] },`,
    )
    .join('\n');
  return writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(source)},
  target: ${JSON.stringify(target)},
  entities: {
${body}
  },
});
`);
}

async function json(args: string[]) {
  const r = await runCli([...args, '--json']);
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { entities: PrepareEntityResult[] };
}

const versions = async (side: Side) =>
  Object.fromEntries(
    (await side.rows(`SELECT id, tandem_version FROM accounts ORDER BY id`)).map((r) => [
      Number(r.id),
      Number(r.tandem_version),
    ]),
  );

/** The audit entries of `prepare` in an SQLite target's control plane. */
function auditedPrepares(target: string): string[] {
  const d = new Database(target.slice('sqlite:'.length));
  try {
    return (d.prepare(`SELECT outcome FROM tandem_audit_log WHERE command = 'prepare' ORDER BY id`).all() as Row[]).map(
      (r) => String(r.outcome),
    );
  } finally {
    d.close();
  }
}

const ACCOUNTS_REQ: PrepareRequest = { entity: 'accounts', table: 'accounts', version: null };
const LEDGER_REQ: PrepareRequest = { entity: 'ledger', table: 'ledger', version: null };

/**
 * The scenario every server dialect goes through. `create` makes `accounts` (3 rows) and `ledger` (which has a
 * `tandem_version` column of its own). The CLI runs prepare, prepare again and --undo (as a child process); the
 * other steps call the library the CLI calls (`prepareEntity`), to keep the file fast.
 */
async function scenario(
  side: Side,
  create: string,
  expectTriggers: string[],
  o: { backfill?: boolean } = {},
): Promise<PrepareEntityResult> {
  await side.exec(create);
  const target = sqliteTarget();
  const cfg = config(side.url, target, { accounts: { table: 'accounts' } });
  const store = await openStore(side.url);
  try {
    // dry run: the SQL, and nothing changes
    const dry = await prepareEntity(store, ACCOUNTS_REQ, { dryRun: true });
    expect(dry).toMatchObject({ status: 'would_prepare', configChange: { set: { version: 'tandem_version' } } });
    expect(dry.statements.join('\n')).toMatch(/ALTER TABLE .*accounts.* ADD COLUMN .*tandem_version/);
    expect(await side.columns('accounts')).not.toContain('tandem_version');
    expect(await side.triggers('accounts')).toEqual([]);

    // prepare (CLI): column (existing rows at 1) and trigger(s); the config edit is printed
    const first = await runCli(['prepare', '--config', cfg]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('accounts (table accounts, column tandem_version): prepared');
    expect(first.stdout).toContain("accounts: { table: 'accounts', …, version: 'tandem_version' },");
    expect(await side.columns('accounts')).toContain('tandem_version');
    expect(await side.triggers('accounts')).toEqual(expectTriggers);
    expect(await versions(side)).toEqual({ 1: 1, 2: 1, 3: 1 });

    // every UPDATE bumps it by one, whatever the statement writes into it
    await side.exec(`UPDATE accounts SET name = 'a2' WHERE id = 1`);
    await side.exec(`UPDATE accounts SET name = 'a3' WHERE id = 1`);
    expect((await versions(side))[1]).toBe(3);
    await side.exec(`UPDATE accounts SET name = 'a4', tandem_version = 0 WHERE id = 1`);
    expect((await versions(side))[1]).toBe(4);
    await side.exec(`UPDATE accounts SET tandem_version = 1 WHERE id = 1`);
    expect((await versions(side))[1]).toBe(5);
    await side.exec(`UPDATE accounts SET tandem_version = 100 WHERE id = 1`);
    expect((await versions(side))[1]).toBe(6);
    await side.exec(`UPDATE accounts SET name = name`);
    // INSERT starts at 1 (and a value below 1 is lifted to 1)
    await side.exec(`INSERT INTO accounts (id, name) VALUES (10, 'new')`);
    await side.exec(`INSERT INTO accounts (id, name, tandem_version) VALUES (11, 'neg', -3)`);
    expect(await versions(side)).toEqual({ 1: 7, 2: 2, 3: 2, 10: 1, 11: 1 });

    // a second run (CLI) changes nothing and says so
    const again = await runCli(['prepare', '--config', cfg]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      'accounts (table accounts, column tandem_version): already prepared, nothing changed',
    );
    expect(again.stdout).not.toContain('SQL run');
    expect(await prepareEntity(store, { ...ACCOUNTS_REQ, version: 'tandem_version' })).toMatchObject({
      status: 'already_prepared',
      statements: [],
      triggers: expectTriggers,
      configChange: null,
    });

    // with the config edited, backfill and verify use the counter
    const cfgV = config(side.url, target, { accounts: { table: 'accounts', version: 'tandem_version' } });
    if (o.backfill) {
      const bf = await runCli(['backfill', '--config', cfgV, '--json']);
      expect(bf.stderr).toBe('');
      expect(JSON.parse(bf.stdout).entities).toMatchObject([{ entity: 'accounts', copied: 5, status: 'done' }]);
      expect((await runCli(['verify', '--config', cfgV])).code).toBe(0);
    }

    // a column of the same name that prepare did not create: refused both ways, nothing changed
    await expect(prepareEntity(store, LEDGER_REQ)).rejects.toMatchObject({
      code: 'TANDEM_ERR_PREPARE_CONFLICT',
      message: expect.stringContaining(
        'source table "ledger" already has a column "tandem_version" that tandem prepare did not create',
      ),
    });
    await expect(prepareEntity(store, LEDGER_REQ, { undo: true })).rejects.toMatchObject({
      code: 'TANDEM_ERR_PREPARE_CONFLICT',
      message: expect.stringContaining('was not created by tandem prepare'),
    });
    expect(await side.columns('ledger')).toContain('tandem_version');
    expect(await side.triggers('ledger')).toEqual([]);

    // --undo --dry-run changes nothing
    expect(
      await prepareEntity(store, { ...ACCOUNTS_REQ, version: 'tandem_version' }, { undo: true, dryRun: true }),
    ).toMatchObject({ status: 'would_undo', configChange: { remove: 'version' } });
    expect(await side.columns('accounts')).toContain('tandem_version');
    expect(await side.triggers('accounts')).toEqual(expectTriggers);

    // --undo (CLI) removes trigger(s) and column; the application's writes keep working
    const undo = await runCli(['prepare', '--config', cfgV, '--undo']);
    expect(undo.stderr).toBe('');
    expect(undo.code).toBe(0);
    expect(undo.stdout).toContain('accounts (table accounts, column tandem_version): undone');
    expect(undo.stdout).toContain("accounts: delete version: 'tandem_version'");
    expect(await side.columns('accounts')).not.toContain('tandem_version');
    expect(await side.triggers('accounts')).toEqual([]);
    await side.exec(`UPDATE accounts SET name = 'after' WHERE id = 1`);
    await side.exec(`INSERT INTO accounts (id, name) VALUES (12, 'later')`);
    expect(await prepareEntity(store, ACCOUNTS_REQ, { undo: true })).toMatchObject({
      status: 'nothing_to_undo',
      statements: [],
    });

    // the three CLI runs are in the audit log (the target's control plane)
    expect(auditedPrepares(target)).toEqual(['ok', 'ok', 'ok']);
    return dry;
  } finally {
    await store.close();
  }
}

const ACCOUNTS = (intType: string, text: string) => `
  CREATE TABLE accounts (id ${intType} PRIMARY KEY, name ${text} NOT NULL);
  INSERT INTO accounts (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c');
  CREATE TABLE ledger (id ${intType} PRIMARY KEY, name ${text} NOT NULL, tandem_version ${intType} NOT NULL DEFAULT 7);
`;

describe('tandem prepare', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c().catch(() => {});
  });

  it.concurrent('MariaDB: BEFORE UPDATE/INSERT triggers, column added with ALGORITHM=INSTANT; backfill uses it', async () => {
    const side = await mysqlSide();
    cleanups.push(side.cleanup);
    const dry = await scenario(
      side,
      ACCOUNTS('INT', 'VARCHAR(50)'),
      ['tandem_accounts_version', 'tandem_accounts_version_insert'],
      { backfill: true },
    );
    expect(dry.statements[0]).toMatch(
      /ADD COLUMN `tandem_version` BIGINT NOT NULL DEFAULT 1 COMMENT '.*', ALGORITHM=INSTANT$/,
    );
  });

  it.concurrent('PostgreSQL: plpgsql trigger function + BEFORE INSERT OR UPDATE trigger, in one transaction', async () => {
    const side = await pgSide();
    cleanups.push(side.cleanup);
    await scenario(side, ACCOUNTS('int', 'varchar(50)'), ['tandem_accounts_version']);
    // undo dropped the function too
    expect(await side.rows(`SELECT proname FROM pg_proc WHERE proname LIKE 'tandem%'`)).toEqual([]);
  });

  it.concurrent('SQLite: AFTER UPDATE/INSERT triggers (rowid and WITHOUT ROWID tables), odd identifiers, --dry-run', async () => {
    const side = sqliteSide();
    await scenario(side, ACCOUNTS('INTEGER', 'TEXT'), ['tandem_accounts_version', 'tandem_accounts_version_insert']);
    // a WITHOUT ROWID table with a composite key, a table and a column name that need quoting
    await side.exec(`CREATE TABLE "odd ""t""" (t TEXT NOT NULL, id INTEGER NOT NULL, name TEXT, PRIMARY KEY (t, id)) WITHOUT ROWID;
      INSERT INTO "odd ""t""" VALUES ('x', 1, 'a'), ('y', 1, 'b');`);
    const cfg = config(side.url, sqliteTarget(), { odd: { table: 'odd "t"' } });
    const col = 'v "1"';
    // the CLI's --dry-run prints the SQL and changes nothing
    const dry = await json(['prepare', '--config', cfg, '--column', col, '--dry-run']);
    expect(dry.entities).toMatchObject([{ status: 'would_prepare', configChange: { set: { version: col } } }]);
    expect(dry.entities[0]!.statements[1]).toContain('WHERE "t" = NEW."t" AND "id" = NEW."id"');
    expect(await side.columns('odd "t"')).toEqual(['t', 'id', 'name']);
    const store = await openStore(side.url);
    try {
      const req: PrepareRequest = { entity: 'odd', table: 'odd "t"', version: null };
      expect(await prepareEntity(store, req, { column: col })).toMatchObject({
        status: 'prepared',
        configChange: { set: { version: col } },
      });
      await side.exec(
        `UPDATE "odd ""t""" SET name = 'c' WHERE t = 'x'; UPDATE "odd ""t""" SET name = 'd' WHERE t = 'x'; UPDATE "odd ""t""" SET "v ""1""" = 0 WHERE t = 'y'`,
      );
      expect(
        (await side.rows(`SELECT t, "v ""1""" AS v FROM "odd ""t""" ORDER BY t`)).map((r) => [r.t, Number(r.v)]),
      ).toEqual([
        ['x', 3],
        ['y', 2],
      ]);
      expect(await prepareEntity(store, req, { column: col, undo: true })).toMatchObject({ status: 'undone' });
    } finally {
      await store.close();
    }
    expect(await side.columns('odd "t"')).toEqual(['t', 'id', 'name']);
  });

  it.concurrent('PGlite: same trigger as PostgreSQL', async () => {
    const store = await openStore('pglite:memory');
    try {
      await store.execute(`CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL)`);
      await store.execute(`INSERT INTO accounts VALUES (1, 'a'), (2, 'b')`);
      expect(await prepareEntity(store, ACCOUNTS_REQ)).toMatchObject({
        status: 'prepared',
        triggers: ['tandem_accounts_version'],
      });
      await store.execute(`UPDATE accounts SET name = 'x' WHERE id = 1`);
      await store.execute(`UPDATE accounts SET name = 'y', tandem_version = 0 WHERE id = 1`);
      await store.execute(`INSERT INTO accounts (id, name) VALUES (3, 'c')`);
      expect(
        (await store.query(`SELECT id, tandem_version AS v FROM accounts ORDER BY id`)).map((r) => [r.id, Number(r.v)]),
      ).toEqual([
        [1, 3],
        [2, 1],
        [3, 1],
      ]);
      expect(await prepareEntity(store, ACCOUNTS_REQ)).toMatchObject({ status: 'already_prepared', statements: [] });
      expect(await prepareEntity(store, ACCOUNTS_REQ, { undo: true })).toMatchObject({ status: 'undone' });
      expect((await store.introspect()).tables.get('accounts')!.columns.map((c) => c.name)).toEqual(['id', 'name']);
      expect(await store.query(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`)).toEqual([]);
      expect(await store.query(`SELECT proname FROM pg_proc WHERE proname LIKE 'tandem%'`)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it.concurrent('MariaDB edge cases: trigger name taken, another column, a half-done run, a table that cannot change online, lock timeout', async () => {
    const side = await mysqlSide();
    cleanups.push(side.cleanup);
    await side.exec(`CREATE TABLE a (id INT PRIMARY KEY, n INT NOT NULL); INSERT INTO a VALUES (1, 1);
      CREATE TABLE b (id INT PRIMARY KEY); CREATE TRIGGER tandem_a_version BEFORE UPDATE ON b FOR EACH ROW SET @x = 1;
      CREATE TABLE m (id INT PRIMARY KEY) ENGINE=MyISAM;`);
    const store = await openStore(side.url);
    const A: PrepareRequest = { entity: 'a', table: 'a', version: null };
    try {
      await expect(prepareEntity(store, A)).rejects.toMatchObject({
        code: 'TANDEM_ERR_PREPARE_CONFLICT',
        message: expect.stringContaining('trigger "tandem_a_version" already exists on table "b"'),
      });
      expect(await side.columns('a')).toEqual(['id', 'n']);
      await side.exec(`DROP TRIGGER tandem_a_version`);
      expect(await prepareEntity(store, A)).toMatchObject({ status: 'prepared' });
      // another --column on a prepared table: refused; its --undo leaves the first column's triggers alone
      await expect(prepareEntity(store, A, { column: 'v2' })).rejects.toMatchObject({
        code: 'TANDEM_ERR_PREPARE_CONFLICT',
        message: expect.stringContaining('does not maintain column "v2"'),
      });
      expect(await prepareEntity(store, A, { column: 'v2', undo: true })).toMatchObject({ status: 'nothing_to_undo' });
      // a run that stopped between the column and the last trigger (MySQL DDL is not transactional) is completed
      await side.exec(`DROP TRIGGER tandem_a_version_insert`);
      const done = await prepareEntity(store, A);
      expect(done).toMatchObject({
        status: 'prepared',
        statements: [expect.stringMatching(/^CREATE TRIGGER `tandem_a_version_insert`/)],
      });
      expect(done.notes[0]).toContain('completes an earlier prepare');
      expect(await side.triggers('a')).toEqual(['tandem_a_version', 'tandem_a_version_insert']);
      // MyISAM cannot add a column online: refused unless a blocking table copy is accepted
      const M: PrepareRequest = { entity: 'm', table: 'm', version: null };
      await expect(prepareEntity(store, M)).rejects.toMatchObject({
        code: 'TANDEM_ERR_STORE_QUERY',
        message: expect.stringContaining('--allow-locking'),
      });
      expect(await side.columns('m')).toEqual(['id']);
      expect((await prepareEntity(store, M, { allowLocking: true })).notes[0]).toContain('ran as a table copy');
      // a transaction holding the table: the DDL gives up after the lock timeout instead of queueing every write
      const c = await mysql.createConnection({ uri: side.url });
      try {
        await c.query('BEGIN');
        await c.query('SELECT * FROM a');
        // (MariaDB's own default wait is a day)
        await expect(prepareEntity(store, A, { undo: true, lockTimeoutSeconds: 1 })).rejects.toMatchObject({
          code: 'TANDEM_ERR_STORE_QUERY',
          message: expect.stringContaining('gave up after waiting 1s for a lock on source table "a"'),
        });
        expect(await side.triggers('a')).toEqual(['tandem_a_version', 'tandem_a_version_insert']);
      } finally {
        await c.end();
      }
    } finally {
      await store.close();
    }
  });

  it.concurrent('PostgreSQL edge cases: lock timeout leaves nothing half-done; later BEFORE UPDATE triggers are pointed out', async () => {
    const side = await pgSide();
    cleanups.push(side.cleanup);
    await side.exec(`CREATE TABLE a (id int PRIMARY KEY, n int NOT NULL); INSERT INTO a VALUES (1, 1);
      CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER zz_touch BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION touch();`);
    const store = await openStore(side.url);
    const A: PrepareRequest = { entity: 'a', table: 'a', version: null };
    try {
      const c = new pg.Client({ connectionString: side.url });
      await c.connect();
      try {
        await c.query('BEGIN');
        await c.query('SELECT * FROM a');
        await expect(prepareEntity(store, A, { lockTimeoutSeconds: 1 })).rejects.toMatchObject({
          code: 'TANDEM_ERR_STORE_QUERY',
          message: expect.stringContaining(
            'gave up after waiting 1s for a lock on source table "a" (a transaction is using it; nothing was changed)',
          ),
        });
      } finally {
        await c.end();
      }
      expect(await side.columns('a')).toEqual(['id', 'n']);
      const r = await prepareEntity(store, A);
      expect(r.status).toBe('prepared');
      expect(r.notes.join(' ')).toContain('"zz_touch"');
    } finally {
      await store.close();
    }
  });

  it.concurrent('bad input: unknown entity, missing table, entity with a version, bad options → exit 2 with a code', async () => {
    const side = sqliteSide();
    await side.exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`);
    const target = sqliteTarget();
    const cfg = config(side.url, target, {
      accounts: { table: 'accounts' },
      ghost: { table: 'nope' },
      versioned: { table: 'accounts', version: 'name' },
    });
    const cases: [string[], RegExp][] = [
      [['--entity', 'accounts,unknown'], /^TANDEM_ERR_CONFIG_INVALID: unknown entity "unknown"/],
      [
        ['--entity', 'versioned', '--lock-timeout', '5'],
        /^TANDEM_ERR_CONFIG_INVALID: entity versioned already has a version column \("name"\)/,
      ],
      [['--lock-timeout', '0'], /^TANDEM_ERR_USAGE: --lock-timeout/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(['prepare', '--config', cfg, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
    // the default selection (accounts and ghost, not versioned) stops at the missing table; accounts, first, stays
    // prepared
    const r = await runCli(['prepare', '--config', cfg, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_TABLE_NOT_FOUND: source table "nope" does not exist/);
    expect(JSON.parse(r.stdout)).toMatchObject({
      entities: [{ entity: 'accounts', status: 'prepared' }],
      error: expect.stringMatching(/^TANDEM_ERR_TABLE_NOT_FOUND/),
    });
    expect(await side.columns('accounts')).toEqual(['id', 'name', 'tandem_version']);
    // refusals before any change are not audited; the run that changed something is, as an error
    expect(auditedPrepares(target)).toEqual(['error']);
    // identifiers are validated before use
    const store = await openStore(side.url);
    try {
      await expect(prepareEntity(store, ACCOUNTS_REQ, { column: '' })).rejects.toMatchObject({
        code: 'TANDEM_ERR_CONFIG_INVALID',
      });
      await expect(prepareEntity(store, ACCOUNTS_REQ, { column: 'a\u0000b' })).rejects.toMatchObject({
        code: 'TANDEM_ERR_CONFIG_INVALID',
      });
    } finally {
      await store.close();
    }
  });
});
