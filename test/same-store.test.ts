import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameStore, storeIdentity } from '../src/stores/identity.js';
import { openStore } from '../src/stores/index.js';
import type { Store } from '../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';
import { TcpProxy } from './proxy.js';

describe('storeIdentity / sameStore: two URLs that name one store', () => {
  it('PostgreSQL: scheme family, host aliases, default port, unix socket, schema', () => {
    const a = 'postgres://postgres@127.0.0.1:5432/app';
    for (const b of [
      'postgresql://postgres@localhost/app',
      'postgres://other:secret@LOCALHOST:5432/app',
      'postgres://postgres@[::1]/app',
      'postgres://postgres@127.0.0.2/app?schema=public',
      `postgres://postgres@${hostname()}/app`,
      'postgres://postgres@localhost/app?host=/var/run/postgresql',
      'postgres://postgres@%2Fvar%2Frun%2Fpostgresql/app',
    ])
      expect(sameStore(a, b), b).toBe(true);
    for (const b of [
      'postgres://postgres@127.0.0.1:5433/app',
      'postgres://postgres@127.0.0.1/app2',
      'postgres://postgres@127.0.0.1/app?schema=v2',
      'postgres://postgres@db.example.com/app',
      'mysql://root@127.0.0.1/app',
    ])
      expect(sameStore(a, b), b).toBe(false);
  });

  it('MySQL/MariaDB: mysql:// and mariadb://, aliases, default port, database case', () => {
    expect(sameStore('mysql://root@127.0.0.1:3306/Legacy', 'mariadb://u:p@localhost/legacy')).toBe(true);
    expect(sameStore('mysql://root@127.0.0.1/legacy', 'mysql://root@127.0.0.1:3307/legacy')).toBe(false);
    expect(sameStore('mysql://root@127.0.0.1/legacy', 'mysql://root@127.0.0.1/newdb')).toBe(false);
  });

  it('SQLite and PGlite: relative, absolute, symlink, not yet created; memory never matches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-ident-'));
    const file = join(dir, 'a.db');
    expect(sameStore(`sqlite:${file}`, `sqlite:${relative(process.cwd(), file)}`)).toBe(true); // file does not exist yet
    mkdirSync(join(dir, 'sub'));
    symlinkSync(dir, join(dir, 'sub', 'link'));
    expect(sameStore(`sqlite:${file}`, `sqlite:${join(dir, 'sub', 'link', 'a.db')}`)).toBe(true); // via a linked folder
    expect(sameStore(`sqlite:${file}`, `sqlite:${join(dir, 'b.db')}`)).toBe(false);
    expect(storeIdentity('sqlite::memory:')).toBeNull();
    expect(sameStore('sqlite::memory:', 'sqlite::memory:')).toBe(false);
    expect(sameStore('pglite:memory', 'pglite:memory')).toBe(false);
    expect(sameStore(`pglite:${join(dir, 'pg')}`, `pglite:${join(dir, 'sub', 'link', 'pg')}`)).toBe(true);
  });
});

/** One engine for the end-to-end cases: a database with a legacy `users` table, and ways to inspect it. */
interface Engine {
  name: string;
  /** The source URL, and the same store written differently (refused). */
  url: string;
  aliases: string[];
  store: Store;
  cleanup(): Promise<void>;
  /** Control tables Tandem created there (must stay none after a refusal). */
  controlTables(): Promise<string[]>;
}

const LEGACY = [
  'CREATE TABLE users (id integer PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100) NOT NULL, version integer NOT NULL)',
  "INSERT INTO users (id, email, name, version) VALUES (1, 'ada@example.com', 'Ada Lovelace', 1), (2, 'alan@example.com', 'Alan Turing', 3), (3, 'grace@example.com', 'Grace Hopper', 2)",
];
const SPLIT = [
  'CREATE TABLE users_v2 (id integer PRIMARY KEY, email_address varchar(100) NOT NULL, legacy_version integer NOT NULL)',
  'CREATE TABLE user_profiles (user_id integer PRIMARY KEY REFERENCES users_v2 (id), display_name varchar(120) NOT NULL)',
];

/** A config migrating `users` onto `target` tables (`users` itself: refused when target is the source). */
function config(source: string, target: string, split: boolean): string {
  const targets = split
    ? `[{ table: 'users_v2', columns: { id: 'id', email_address: 'email', legacy_version: 'version' } },
        { table: 'user_profiles', columns: { user_id: 'id', display_name: { transform: (u) => String(u.name).toUpperCase() } } }]`
    : `[{ table: 'users', columns: { id: 'id', email: { transform: (u) => String(u.email).toUpperCase() }, name: 'name', version: 'version' } }]`;
  return `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(source)},
  target: ${JSON.stringify(target)},
  entities: { users: { table: 'users', key: 'id', version: 'version', targets: ${targets} } },
});
`;
}

async function rows(s: Store, table = 'users'): Promise<unknown[]> {
  return s.query(`SELECT * FROM ${s.sql.table(table)} ORDER BY 1`);
}

const pgControl = (s: Store) => async () =>
  (
    await s.query<{ n: string }>(
      `SELECT schema_name AS n FROM information_schema.schemata WHERE schema_name = 'tandem'`,
    )
  ).map((r) => r.n);

async function postgresEngine(proxy: TcpProxy): Promise<Engine> {
  const db = await createPgDatabase('tandem_same');
  const store = await openStore(db.url);
  for (const s of LEGACY) await store.execute(s);
  const path = db.url.replace(/^postgres:\/\/postgres@127\.0\.0\.1:5432\//, '');
  return {
    name: 'PostgreSQL',
    url: db.url,
    aliases: [
      `postgresql://postgres@localhost/${path}`,
      `postgres://postgres@LocalHost:5432/${path}?schema=public`,
      `postgres://postgres@127.0.0.1:${proxy.port}/${path}`,
    ],
    store,
    cleanup: async () => {
      await store.close();
      await db.drop();
    },
    controlTables: pgControl(store),
  };
}

async function mariaEngine(proxy: TcpProxy): Promise<Engine> {
  const db = await createMysqlDatabase('tandem_same');
  const store = await openStore(db.url);
  for (const s of LEGACY) await store.execute(s);
  return {
    name: 'MariaDB',
    url: db.url,
    aliases: [`mariadb://root@localhost/${db.name}`, `mysql://root@127.0.0.1:${proxy.port}/${db.name}`],
    store,
    cleanup: async () => {
      await store.close();
      await db.drop();
    },
    controlTables: async () =>
      (
        await store.query<{ t: string }>(
          `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'tandem\\_%'`,
        )
      ).map((r) => r.t),
  };
}

async function sqliteEngine(): Promise<Engine & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-same-sqlite-'));
  const file = join(dir, 'legacy.db');
  const store = await openStore(`sqlite:${file}`);
  for (const s of LEGACY) await store.execute(s);
  mkdirSync(join(dir, 'other'));
  symlinkSync(file, join(dir, 'other', 'alias.db'));
  return {
    name: 'SQLite',
    dir,
    url: `sqlite:${file}`,
    // runCli runs in the repository root: a relative path from there, and a symlink to the file
    aliases: [
      `sqlite:${relative(join(import.meta.dirname, '..'), file)}`,
      `sqlite:${join(dir, 'other', 'alias.db')}`,
      `sqlite:${dir}/./other/../legacy.db`,
    ],
    store,
    cleanup: () => store.close(),
    controlTables: async () =>
      (
        await store.query<{ t: string }>(`SELECT name AS t FROM sqlite_master WHERE name LIKE 'tandem\\_%' ESCAPE '\\'`)
      ).map((r) => r.t),
  };
}

async function pgliteEngine(): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-same-pglite-'));
  const data = join(dir, 'legacy');
  const s = await openStore(`pglite:${data}`);
  for (const x of LEGACY) await s.execute(x);
  await s.close();
  symlinkSync(data, join(dir, 'alias'));
  // PGlite is single-user: the test reopens it only to inspect, after each CLI run
  const reopen = async <T>(fn: (st: Store) => Promise<T>) => {
    const st = await openStore(`pglite:${data}`);
    try {
      return await fn(st);
    } finally {
      await st.close();
    }
  };
  const proxyStore = {
    sql: { table: (n: string) => `"public"."${n}"` },
    query: (q: string) => reopen((st) => st.query(q)),
  } as unknown as Store;
  return {
    name: 'PGlite',
    url: `pglite:${data}`,
    aliases: [`pglite:${join(dir, 'alias')}`, `pglite:${relative(join(import.meta.dirname, '..'), data)}`],
    store: proxyStore,
    cleanup: async () => {},
    controlTables: () => reopen((st) => pgControl(st)()),
  };
}

describe('a target that is the source store is refused before anything is written', () => {
  const pgProxy = new TcpProxy(5432);
  const myProxy = new TcpProxy(3306);
  const engines: Engine[] = [];
  beforeAll(async () => {
    await pgProxy.start();
    await myProxy.start();
    engines.push(await postgresEngine(pgProxy), await mariaEngine(myProxy), await sqliteEngine(), await pgliteEngine());
  }, 60_000);
  afterAll(async () => {
    for (const e of engines) await e.cleanup().catch(() => {});
    await pgProxy.close();
    await myProxy.close();
  });

  for (const name of ['PostgreSQL', 'MariaDB', 'SQLite', 'PGlite']) {
    it(`${name}: backfill, verify, prepare and init refuse every alias of the source; the legacy rows and schema stay as they were`, async () => {
      const e = engines.find((x) => x.name === name)!;
      const before = await rows(e.store);
      // every alias and command at once (they are refusals: nothing is written, so they cannot interfere)
      await Promise.all(
        e.aliases.map(async (alias) => {
          const cfg = writeConfig(config(e.url, alias, false));
          const out = join(mkdtempSync(join(tmpdir(), 'tandem-init-')), 'tandem.config.ts');
          const [init, ...cmds] = await Promise.all([
            runCli(['init', '--source', e.url, '--target', alias, '--out', out]),
            ...[['backfill'], ['verify'], ['prepare']].map((args) => runCli([...args, '--config', cfg])),
          ]);
          for (const [i, r] of cmds.entries()) {
            expect(r!.code, `${['backfill', 'verify', 'prepare'][i]} ${alias}: ${r!.stderr}`).toBe(2);
            expect(r!.stderr).toMatch(
              /^TANDEM_ERR_CONFIG_INVALID: entity users: target table "users" is the source table "users": the target .* and the source .* are the same store/,
            );
          }
          expect(init!.code, init!.stderr).toBe(2);
          expect(init!.stderr).toMatch(
            /^TANDEM_ERR_CONFIG_INVALID: entity users: target table "users" is the source table "users"/,
          );
          expect(existsSync(out)).toBe(false);
        }),
      );
      expect(await rows(e.store)).toEqual(before);
      expect(await e.controlTables()).toEqual([]);
    }, 120_000);
  }
});

describe('different tables of one database stay allowed (split users into users_v2 + user_profiles in place)', () => {
  for (const kind of ['PostgreSQL', 'SQLite'] as const) {
    it(`${kind}: backfill and verify in one database; the legacy table is untouched`, async () => {
      let url: string;
      let drop = async () => {};
      if (kind === 'PostgreSQL') {
        const db = await createPgDatabase('tandem_split');
        url = db.url;
        drop = db.drop;
      } else url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'tandem-split-')), 'app.db')}`;
      const s = await openStore(url);
      try {
        for (const x of [...LEGACY, ...SPLIT]) await s.execute(x);
        const before = await rows(s);
        // the target written as another spelling of the same store: still allowed, the tables differ
        const alias = kind === 'PostgreSQL' ? url.replace('127.0.0.1:5432', 'localhost') : url;
        const cfg = writeConfig(config(url, alias, true));
        const b = await runCli(['backfill', '--config', cfg]);
        expect(b.code, b.stderr).toBe(0);
        const v = await runCli(['verify', '--config', cfg, '--json']);
        expect(v.code, v.stderr).toBe(0);
        expect(JSON.parse(v.stdout).entities[0]).toMatchObject({
          entity: 'users',
          sourceRows: 3,
          targetRows: 3,
          parity: 100,
        });
        expect(await rows(s)).toEqual(before);
        expect((await rows(s, 'user_profiles')).map((r) => (r as { display_name: string }).display_name)).toEqual([
          'ADA LOVELACE',
          'ALAN TURING',
          'GRACE HOPPER',
        ]);
      } finally {
        await s.close();
        await drop();
      }
    }, 120_000);
  }
});
