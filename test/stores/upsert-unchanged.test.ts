import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { upsertByKey } from '../../src/stores/common.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * Issue 13 item 6 at the store level: the row write by key writes only rows whose values differ, so a
 * BEFORE UPDATE trigger (counting its firings in a side table and setting `lu`) fires only for real changes,
 * on every engine — MariaDB fires UPDATE triggers even for `INSERT … ON DUPLICATE KEY UPDATE` that changes
 * nothing, so there the unchanged rows are left out before writing.
 */

const PG_DDL = [
  'CREATE TABLE t (id int PRIMARY KEY, name text, qty numeric(10,2), doc json, tags text[], lu timestamp(6))',
  'CREATE TABLE fired (n int NOT NULL)',
  'INSERT INTO fired VALUES (0)',
  `CREATE FUNCTION t_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE fired SET n = n + 1; NEW.lu := now(); RETURN NEW; END $$`,
  'CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION t_touch()',
];

const cases: {
  name: string;
  open: () => Promise<{ store: Store; done: () => Promise<void> }>;
  ddl: string[];
  json: boolean;
  tags: boolean;
}[] = [
  {
    name: 'postgres',
    open: async () => {
      const db = await createPgDatabase('tandem_upch');
      const store = await openStore(db.url);
      return { store, done: async () => (await store.close(), await db.drop()) };
    },
    ddl: PG_DDL,
    json: true,
    tags: true,
  },
  {
    name: 'pglite',
    open: async () => {
      const store = await openStore('pglite:memory');
      return { store, done: () => store.close() };
    },
    ddl: PG_DDL,
    json: true,
    tags: true,
  },
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tandem-upch-'));
      const store = await openStore(`sqlite:${join(dir, 's.db')}`);
      return { store, done: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
    ddl: [
      'CREATE TABLE t (id integer PRIMARY KEY, name text, qty numeric, doc text, lu text)',
      'CREATE TABLE fired (n integer NOT NULL)',
      'INSERT INTO fired VALUES (0)',
      `CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW BEGIN UPDATE fired SET n = n + 1; END`,
    ],
    json: false,
    tags: false,
  },
  {
    name: 'mariadb',
    open: async () => {
      const db = await createMysqlDatabase('tandem_upch');
      const store = await openStore(db.url);
      return { store, done: async () => (await store.close(), await db.drop()) };
    },
    ddl: [
      'CREATE TABLE t (id int PRIMARY KEY, name varchar(50), qty decimal(10,2), doc json, lu datetime(6))',
      'CREATE TABLE fired (n int NOT NULL)',
      'INSERT INTO fired VALUES (0)',
      'CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW SET NEW.lu = now(6)',
      'CREATE TRIGGER t_count AFTER UPDATE ON t FOR EACH ROW UPDATE fired SET n = n + 1',
    ],
    json: true,
    tags: false,
  },
];

describe.each(cases)('upsert of unchanged rows on $name', (c) => {
  let done: (() => Promise<void>) | undefined;
  afterAll(async () => done?.());

  it('writes only the rows whose values differ, so UPDATE triggers fire only for real changes', async () => {
    const o = await c.open();
    done = o.done;
    const store = o.store;
    for (const s of c.ddl) await store.execute(s);
    const schema = await store.introspect();
    const info = schema.tables.get('t')!;
    const columns = ['id', 'name', 'qty', 'doc', ...(c.tags ? ['tags'] : [])];
    const columnInfo = columns.map((n) => info.columns.find((x) => x.name === n)!);
    const row = (id: number, name: string) => [
      id,
      name,
      '12.50',
      c.json ? { b: 1, a: [1, 2] } : '{"b":1}',
      ...(c.tags ? [['x', 'y']] : []),
    ];
    const rows = [row(1, 'Ada'), row(2, 'Brian'), row(3, 'Cleo'), row(4, null as unknown as string)];
    const write = (rs: unknown[][]) =>
      store.transaction((tx) => upsertByKey(store, tx, { table: 't', columns, key: ['id'], rows: rs, columnInfo }));
    const fired = async () => Number((await store.query<{ n: unknown }>('SELECT n FROM fired'))[0]!.n);
    await write(rows);
    expect(await fired()).toBe(0);
    // the same rows again, twice (a re-run backfill, duplicate relay deliveries): nothing is written
    await write(rows);
    await write(rows.slice(1));
    expect(await fired()).toBe(0);
    const lu = await store.query<{ id: unknown; lu: unknown }>('SELECT id, lu FROM t ORDER BY id');
    expect(lu.every((r) => r.lu === null)).toBe(true);
    // one real change among unchanged rows: exactly that row is written and its trigger fires once
    await write([row(1, 'Ada'), row(2, 'Bryan'), row(3, 'Cleo'), row(4, 'Dee')]);
    expect(await fired()).toBe(2);
    const after = await store.query<{ id: unknown; name: unknown }>('SELECT id, name FROM t ORDER BY id');
    expect(after.map((r) => r.name)).toEqual(['Ada', 'Bryan', 'Cleo', 'Dee']);
    // a change in case only is a change (MariaDB's _ci collation compares 'dee' = 'Dee')
    await write([row(4, 'dee')]);
    expect(await fired()).toBe(3);
    expect((await store.query<{ name: unknown }>('SELECT name FROM t WHERE id = 4'))[0]!.name).toBe('dee');
  });
});

describe('upsert of changed existing rows on mariadb', () => {
  let done: (() => Promise<void>) | undefined;
  afterAll(async () => done?.());

  it("updates by key, so a BEFORE INSERT trigger never rewrites an existing row's copied values", async () => {
    const db = await createMysqlDatabase('tandem_upbi');
    const store = await openStore(db.url);
    done = async () => (await store.close(), await db.drop());
    await store.execute('CREATE TABLE t (id int PRIMARY KEY, name varchar(50), created datetime(6) NOT NULL)');
    await store.execute("INSERT INTO t VALUES (1, 'Ada', '2020-01-02 03:04:05.000000')");
    // Sakila's customer_create_date: `INSERT … ON DUPLICATE KEY UPDATE c = VALUES(c)` carried this NOW() into
    // the update of an existing row (MariaDB 10.11), rewriting a copied value
    await store.execute("CREATE TRIGGER t_created BEFORE INSERT ON t FOR EACH ROW SET NEW.created = '1999-09-09'");
    const info = (await store.introspect()).tables.get('t')!;
    const columns = ['id', 'name', 'created'];
    const columnInfo = columns.map((n) => info.columns.find((x) => x.name === n)!);
    await store.transaction((tx) =>
      upsertByKey(store, tx, {
        table: 't',
        columns,
        key: ['id'],
        rows: [
          [1, 'Ada Lovelace', '2020-01-02 03:04:05.000000'],
          [2, 'Brian', '2021-01-01 00:00:00.000000'],
        ],
        columnInfo,
      }),
    );
    const rows = await store.query<{ id: unknown; name: unknown; created: unknown }>(
      'SELECT id, name, created FROM t ORDER BY id',
    );
    expect(rows[0]).toEqual({ id: 1, name: 'Ada Lovelace', created: '2020-01-02 03:04:05.000000' });
    // a new row is an INSERT: the table's own trigger decides, as for the application's inserts
    expect(rows[1]).toEqual({ id: 2, name: 'Brian', created: '1999-09-09 00:00:00.000000' });
  });
});
