import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createPgDatabase } from '../helpers.js';
import { isTandemError } from '../../src/core/errors.js';

describe('postgres store', () => {
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let store: Store;
  beforeAll(async () => {
    db = await createPgDatabase('tandem_pgstore');
    store = await openStore(db.url);
    await store.execute(`CREATE TABLE parent (id int PRIMARY KEY, name varchar(20) NOT NULL UNIQUE)`);
    await store.execute(`CREATE TABLE child (a int NOT NULL, b text NOT NULL, amount numeric(12,2), at timestamp(6), at_tz timestamptz, flag boolean, doc jsonb, bin bytea, big bigint,
      parent_id int REFERENCES parent(id), PRIMARY KEY (a, b))`);
    await store.execute(`CREATE UNIQUE INDEX child_big ON child (big)`);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('introspects columns, categories, keys and foreign keys', async () => {
    const s = await store.introspect();
    const child = s.tables.get('child')!;
    expect(child.primaryKey).toEqual(['a', 'b']);
    expect(child.uniqueKeys).toEqual([['big']]);
    expect(child.foreignKeys).toEqual([
      { name: 'child_parent_id_fkey', columns: ['parent_id'], refTable: 'parent', refColumns: ['id'] },
    ]);
    const byName = Object.fromEntries(child.columns.map((c) => [c.name, c]));
    expect(byName.amount).toMatchObject({ category: 'decimal', precision: 12, scale: 2 });
    expect(byName.at).toMatchObject({ category: 'timestamp', scale: 6 });
    expect(byName.at_tz.category).toBe('timestamptz');
    expect(byName.doc.category).toBe('json');
    expect(byName.bin.category).toBe('binary');
    expect(byName.big).toMatchObject({ category: 'integer', intBytes: 8 });
    expect(s.tables.get('parent')!.columns[1]).toMatchObject({
      name: 'name',
      category: 'text',
      maxLength: 20,
      nullable: false,
    });
    expect(s.tables.get('parent')!.uniqueKeys).toEqual([['name']]);
  });

  it('upserts in bulk, reads lossless values, and pages by keyset', async () => {
    const info = (await store.introspect()).tables.get('child')!.columns;
    const cols = ['a', 'b', 'amount', 'at', 'big'];
    const rows = [
      [1, 'x', '10.50', '2020-01-02 03:04:05.123456', '9007199254740993'],
      [1, 'y', null, null, '2'],
      [2, 'a', '-0.01', '1999-12-31 23:59:59', '3'],
    ];
    const up = store.sql.upsert({
      table: 'child',
      columns: cols,
      key: ['a', 'b'],
      rows,
      columnInfo: cols.map((c) => info.find((i) => i.name === c)!),
    });
    await store.execute(up.sql, up.params);
    await store.execute(up.sql, up.params); // idempotent
    const page1 = store.sql.keyset({ table: 'child', columns: cols, key: ['a', 'b'], after: null, limit: 2 });
    const r1 = await store.query(page1.sql, page1.params);
    expect(r1.map((r) => [r.a, r.b])).toEqual([
      [1, 'x'],
      [1, 'y'],
    ]);
    expect(r1[0]).toMatchObject({ amount: '10.50', at: '2020-01-02 03:04:05.123456', big: '9007199254740993' });
    const page2 = store.sql.keyset({ table: 'child', columns: cols, key: ['a', 'b'], after: [1, 'y'], limit: 2 });
    expect((await store.query(page2.sql, page2.params)).map((r) => [r.a, r.b])).toEqual([[2, 'a']]);
  });

  it('advances the version ledger only for newer versions, in a transaction', async () => {
    await store.execute(`CREATE SCHEMA IF NOT EXISTS tandem`);
    await store.execute(
      `CREATE TABLE tandem.version_ledger (entity varchar(128), entity_key varchar(512), version bigint NOT NULL, deleted boolean NOT NULL, applied_at timestamptz, PRIMARY KEY (entity, entity_key))`,
    );
    const t = store.controlTable('version_ledger');
    const won1 = await store.transaction((tx) =>
      store.advanceLedger(
        tx,
        t,
        'users',
        [
          { key: 'k1', version: 5n, deleted: false },
          { key: 'k2', version: 1n, deleted: false },
        ],
        'newer',
      ),
    );
    expect([...won1].sort()).toEqual(['k1', 'k2']);
    const won2 = await store.transaction((tx) =>
      store.advanceLedger(
        tx,
        t,
        'users',
        [
          { key: 'k1', version: 4n, deleted: false },
          { key: 'k2', version: 2n, deleted: false },
        ],
        'newer',
      ),
    );
    expect([...won2]).toEqual(['k2']);
    const won3 = await store.transaction((tx) =>
      store.advanceLedger(tx, t, 'users', [{ key: 'k1', version: 5n, deleted: false }], 'last-writer-wins'),
    );
    expect([...won3]).toEqual(['k1']);
    await expect(
      store.transaction(async (tx) => {
        await store.advanceLedger(tx, t, 'users', [{ key: 'k3', version: 1n, deleted: false }], 'newer');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.query(`SELECT * FROM tandem.version_ledger WHERE entity_key = 'k3'`)).toEqual([]);
  });

  it('writes array parameters as literals that PostgreSQL reads back exactly', async () => {
    const { pgArrayParam } = await import('../../src/stores/postgres/sql.js');
    const texts = ['a', 'b"c', 'back\\slash', '{x,y}', 'NULL', '', null, 'ü😀', ' sp ', 'a,b', '\\"'];
    const t = await store.query<{ v: string | null }>('SELECT unnest($1::text[]) AS v', [pgArrayParam(texts)]);
    expect(t.map((r) => r.v)).toEqual(texts);
    const b = await store.query<{ v: string | null }>(`SELECT encode(unnest($1::bytea[]), 'hex') AS v`, [
      pgArrayParam([Buffer.from([0, 255, 16]), null]),
    ]);
    expect(b.map((r) => r.v)).toEqual(['00ff10', null]);
    const n = await store.query(`SELECT unnest($1::numeric[]) AS d, unnest($2::bool[]) AS f, unnest($3::int8[]) AS i`, [
      pgArrayParam(['1.50', 2.25, null]),
      pgArrayParam([true, false, null]),
      pgArrayParam([9007199254740993n, 1, null]),
    ]);
    expect(n).toEqual([
      { d: '1.50', f: true, i: '9007199254740993' },
      { d: '2.25', f: false, i: '1' },
      { d: null, f: null, i: null },
    ]);
    expect(pgArrayParam([[1, 2]])).toEqual([[1, 2]]); // nested arrays are left to the driver
  });

  it('maps unreachable servers, bad credentials and missing databases to codes', async () => {
    await expect(openStore('postgres://postgres@127.0.0.1:1/x')).rejects.toSatisfy((e) =>
      isTandemError(e, 'STORE_UNREACHABLE'),
    );
    await expect(openStore(`${db.url.replace(/\/[^/]+$/, '')}/no_such_db_tandem`)).rejects.toSatisfy((e) =>
      isTandemError(e, 'STORE_DATABASE_NOT_FOUND'),
    );
    await expect(openStore('oracle://x/y')).rejects.toSatisfy((e) => isTandemError(e, 'URL_SCHEME'));
  });
});
