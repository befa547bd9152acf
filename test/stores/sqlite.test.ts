import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTandemError } from '../../src/core/errors.js';
import { familyOf, migrations } from '../../src/control/schema.js';
import { openStore } from '../../src/stores/index.js';
import { SQLITE_MAX_PARAMS, sqliteUpsertMaxRows } from '../../src/stores/sqlite/index.js';
import type { Store } from '../../src/stores/types.js';

describe('sqlite store', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tandem-sqlite-'));
    store = await openStore(`sqlite:${join(dir, 'store.db')}`);
    await store.execute(`CREATE TABLE parent (id INTEGER PRIMARY KEY, name varchar(20) NOT NULL UNIQUE)`);
    await store.execute(`CREATE TABLE child (a int NOT NULL, b text NOT NULL, amount decimal(12,2), at datetime, flag boolean, doc json, bin blob, big bigint,
      ratio double precision, uid uuid, d date, t time, loose, parent_id int REFERENCES parent(id), PRIMARY KEY (a, b))`);
    await store.execute(`CREATE UNIQUE INDEX child_big ON child (big)`);
    await store.execute(`CREATE UNIQUE INDEX child_partial ON child (flag) WHERE flag`);
    await store.execute(
      `CREATE TABLE grandchild (id text PRIMARY KEY NOT NULL, ca int, cb text, p int, FOREIGN KEY (ca, cb) REFERENCES child (a, b), FOREIGN KEY (p) REFERENCES parent) WITHOUT ROWID`,
    );
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('introspects columns, categories, keys and foreign keys', async () => {
    const s = await store.introspect();
    expect([...s.tables.keys()].sort()).toEqual(['child', 'grandchild', 'parent']);
    const child = s.tables.get('child')!;
    expect(child.primaryKey).toEqual(['a', 'b']);
    expect(child.uniqueKeys).toEqual([['big']]); // the partial index is not a key
    expect(child.foreignKeys).toEqual([
      { name: 'fk_child_0', columns: ['parent_id'], refTable: 'parent', refColumns: ['id'] },
    ]);
    const byName = Object.fromEntries(child.columns.map((c) => [c.name, c]));
    expect(child.columns.map((c) => c.name)).toEqual([
      'a',
      'b',
      'amount',
      'at',
      'flag',
      'doc',
      'bin',
      'big',
      'ratio',
      'uid',
      'd',
      't',
      'loose',
      'parent_id',
    ]);
    expect(byName.a).toMatchObject({
      dataType: 'int',
      category: 'integer',
      intBytes: 8,
      nullable: false,
      generated: false,
    });
    expect(byName.amount).toMatchObject({ dataType: 'decimal(12,2)', category: 'decimal', precision: 12, scale: 2 });
    expect(byName.at.category).toBe('timestamp');
    expect(byName.flag.category).toBe('boolean');
    expect(byName.doc.category).toBe('json');
    expect(byName.bin.category).toBe('binary');
    expect(byName.big).toMatchObject({ category: 'integer', intBytes: 8, nullable: true });
    expect(byName.ratio).toMatchObject({ category: 'float', floatBytes: 8 });
    expect(byName.uid.category).toBe('uuid');
    expect(byName.d.category).toBe('date');
    expect(byName.t.category).toBe('time');
    expect(byName.loose).toMatchObject({ dataType: '', category: 'other' });
    const parent = s.tables.get('parent')!;
    expect(parent.columns[0]).toMatchObject({ name: 'id', category: 'integer', generated: true, nullable: false });
    expect(parent.columns[1]).toMatchObject({ name: 'name', category: 'text', maxLength: 20, nullable: false });
    expect(parent.uniqueKeys).toEqual([['name']]);
    const grand = s.tables.get('grandchild')!;
    expect(grand.primaryKey).toEqual(['id']);
    expect(grand.columns[0]).toMatchObject({ name: 'id', category: 'text', generated: false, nullable: false });
    expect(grand.foreignKeys).toEqual([
      { name: 'fk_grandchild_0', columns: ['p'], refTable: 'parent', refColumns: ['id'] },
      { name: 'fk_grandchild_1', columns: ['ca', 'cb'], refTable: 'child', refColumns: ['a', 'b'] },
    ]);
  });

  it('upserts in bulk idempotently, reads lossless values, and pages by keyset', async () => {
    const cols = ['a', 'b', 'amount', 'at', 'flag', 'bin', 'big', 'doc'];
    const rows = [
      [
        1,
        'x',
        '10.50',
        '2020-01-02 03:04:05.123456',
        true,
        Buffer.from([0, 1, 255]),
        '9007199254740993',
        { k: [1, 2] },
      ],
      [1, 'y', null, null, false, null, 2, null],
      [2, 'a', '-0.01', '1999-12-31 23:59:59', null, null, '-9223372036854775808', '"s"'],
    ];
    const up = store.sql.upsert({ table: 'child', columns: cols, key: ['a', 'b'], rows });
    expect(await store.execute(up.sql, up.params)).toBe(3);
    expect(await store.execute(up.sql, up.params)).toBe(0); // idempotent: unchanged rows are not written (docs/mapping.md)
    expect((await store.query(store.sql.count('child').sql))[0]).toEqual({ n: 3 });
    const page1 = store.sql.keyset({ table: 'child', columns: cols, key: ['a', 'b'], after: null, limit: 2 });
    const r1 = await store.query(page1.sql, page1.params);
    expect(r1.map((r) => [r.a, r.b])).toEqual([
      [1, 'x'],
      [1, 'y'],
    ]);
    expect(r1[0]).toMatchObject({
      at: '2020-01-02 03:04:05.123456',
      flag: 1,
      big: '9007199254740993',
      doc: '{"k":[1,2]}',
    });
    expect(r1[0].bin).toEqual(Buffer.from([0, 1, 255]));
    expect(r1[1]).toMatchObject({ flag: 0, big: 2 });
    const page2 = store.sql.keyset({ table: 'child', columns: cols, key: ['a', 'b'], after: [1, 'y'], limit: 2 });
    const r2 = await store.query(page2.sql, page2.params);
    expect(r2.map((r) => [r.a, r.b, r.big])).toEqual([[2, 'a', '-9223372036854775808']]);
    const bounded = store.sql.keyset({
      table: 'child',
      columns: ['a', 'b'],
      key: ['a', 'b'],
      after: [1, 'x'],
      upTo: [1, 'y'],
      limit: 10,
    });
    expect(await store.query(bounded.sql, bounded.params)).toEqual([{ a: 1, b: 'y' }]);
    // an integral JS number written to a text column reads back without a `.0`
    await store.execute(`INSERT INTO child (a, b) VALUES (?, ?)`, [3, 7]);
    expect(await store.query(`SELECT b FROM child WHERE a = ?`, [3])).toEqual([{ b: '7' }]);
    expect(await store.execute(`DELETE FROM child WHERE a = ?`, [3])).toBe(1);
  });

  it('refuses an upsert over the parameter limit and tells how to batch', () => {
    const cols = ['a', 'b'];
    const max = sqliteUpsertMaxRows(cols.length);
    expect(max * cols.length).toBeLessThanOrEqual(SQLITE_MAX_PARAMS);
    expect(() =>
      store.sql.upsert({
        table: 'child',
        columns: cols,
        key: cols,
        rows: Array.from({ length: max }, (_, i) => [i, 'x']),
      }),
    ).not.toThrow();
    expect(() =>
      store.sql.upsert({
        table: 'child',
        columns: cols,
        key: cols,
        rows: Array.from({ length: max + 1 }, (_, i) => [i, 'x']),
      }),
    ).toThrow(/batch at most/);
  });

  it('orders string keys by their bytes', async () => {
    await store.execute(`CREATE TABLE words (w text PRIMARY KEY COLLATE NOCASE)`);
    const words = ['b', 'A', 'é', 'Z', 'ä', 'c']; // NOCASE would give A b c Z ä é
    const up = store.sql.upsert({ table: 'words', columns: ['w'], key: ['w'], rows: words.map((w) => [w]) });
    await store.execute(up.sql, up.params);
    const q = store.sql.keyset({
      table: 'words',
      columns: ['w'],
      key: ['w'],
      after: null,
      limit: 100,
      byteOrder: true,
      keyCategories: ['text'],
    });
    const got = (await store.query<{ w: string }>(q.sql, q.params)).map((r) => r.w);
    expect(got).toEqual([...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    const after = store.sql.keyset({
      table: 'words',
      columns: ['w'],
      key: ['w'],
      after: ['Z'],
      limit: 2,
      byteOrder: true,
      keyCategories: ['text'],
    });
    expect((await store.query(after.sql, after.params)).map((r) => r.w)).toEqual(['b', 'c']);
  });

  it('advances the version ledger only for newer versions, in a transaction', async () => {
    for (const m of migrations(familyOf('sqlite')))
      for (const s of m.statements((n) => store.controlTable(n))) await store.execute(s);
    const t = store.controlTable('version_ledger');
    expect(t).toBe('"tandem_version_ledger"');
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
          { key: 'k2', version: 2n, deleted: true },
        ],
        'newer',
      ),
    );
    expect([...won2]).toEqual(['k2']);
    const won3 = await store.transaction((tx) =>
      store.advanceLedger(tx, t, 'users', [{ key: 'k1', version: 5n, deleted: false }], 'last-writer-wins'),
    );
    expect([...won3]).toEqual(['k1']);
    expect(await store.query(`SELECT entity_key, version, deleted FROM ${t} ORDER BY entity_key`)).toEqual([
      { entity_key: 'k1', version: 5, deleted: 0 },
      { entity_key: 'k2', version: 2, deleted: 1 },
    ]);
    // versions beyond 2^53 stay exact
    const big = 2n ** 62n + 1n;
    await store.transaction((tx) =>
      store.advanceLedger(tx, t, 'users', [{ key: 'k4', version: big, deleted: false }], 'newer'),
    );
    expect(await store.query(`SELECT version FROM ${t} WHERE entity_key = 'k4'`)).toEqual([
      { version: big.toString() },
    ]);
    // more entries than one statement can bind
    const many = Array.from({ length: 9000 }, (_, i) => ({ key: `m${i}`, version: 1n, deleted: false }));
    const wonMany = await store.transaction((tx) => store.advanceLedger(tx, t, 'bulk', many, 'newer'));
    expect(wonMany.size).toBe(9000);
    await expect(
      store.transaction(async (tx) => {
        await store.advanceLedger(tx, t, 'users', [{ key: 'k3', version: 1n, deleted: false }], 'newer');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.query(`SELECT * FROM ${t} WHERE entity_key = 'k3'`)).toEqual([]);
  });

  it('serializes transactions; outside statements wait, inside ones join', async () => {
    await store.execute(`CREATE TABLE seq (id integer PRIMARY KEY, who text NOT NULL)`);
    const order: string[] = [];
    const slow = store.transaction(async (tx) => {
      await tx.execute(`INSERT INTO seq (who) VALUES ('t1')`);
      order.push('t1 wrote');
      // held open a while: time for an unserialized statement to slip in (correct code never lets it)
      await new Promise((r) => setTimeout(r, 50));
      // a statement on the store from inside the transaction's context runs in it (no deadlock)
      expect(await store.query(`SELECT count(*) AS n FROM seq`)).toEqual([{ n: 1 }]);
      order.push('t1 done');
      throw new Error('roll back t1');
    });
    const other = store.transaction(async (tx) => {
      order.push('t2 start');
      return tx.query(`SELECT count(*) AS n FROM seq`);
    });
    const outside = store.query(`SELECT count(*) AS n FROM seq`).then((r) => {
      order.push('outside');
      return r;
    });
    await expect(slow).rejects.toThrow('roll back t1');
    expect(await other).toEqual([{ n: 0 }]);
    expect(await outside).toEqual([{ n: 0 }]);
    expect(order).toEqual(['t1 wrote', 't1 done', 't2 start', 'outside']);
    await expect(store.transaction(() => store.transaction(async () => 1))).rejects.toSatisfy((e) =>
      isTandemError(e, 'INTERNAL'),
    );
  });

  it('maps errors to codes without values', async () => {
    await expect(store.query(`SELECT * FROM no_such_table`)).rejects.toSatisfy(
      (e) => isTandemError(e, 'STORE_QUERY') && /no such table/.test((e as Error).message),
    );
    const err = await store
      .execute(`INSERT INTO parent (id, name) VALUES (?, ?), (?, ?)`, [1, 'secret-value', 2, 'secret-value'])
      .catch((e: unknown) => e);
    expect(isTandemError(err, 'STORE_QUERY')).toBe(true);
    expect((err as Error).message).toMatch(/UNIQUE constraint failed/);
    expect((err as Error).message).not.toContain('secret-value');
    await expect(openStore(`sqlite:${join(dir, 'missing-dir', 'x.db')}`)).rejects.toSatisfy(
      (e) => isTandemError(e, 'STORE_UNREACHABLE') && /does not exist/.test((e as Error).message),
    );
    await expect(openStore(`sqlite:${dir}`)).rejects.toSatisfy((e) => isTandemError(e, 'STORE_UNREACHABLE'));
    const mem = await openStore('sqlite::memory:');
    expect(await mem.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    // a parameterless script of several statements runs as a script
    expect(await mem.execute('CREATE TABLE m1 (a); CREATE TABLE m2 (b); INSERT INTO m1 VALUES (1), (2);')).toBe(2);
    await expect(mem.execute('SELECT ?; SELECT ?', [1, 2])).rejects.toSatisfy((e) => isTandemError(e, 'STORE_QUERY'));
    await mem.close();
  });
});
