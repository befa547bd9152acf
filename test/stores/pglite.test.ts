import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTandemError } from '../../src/core/errors.js';
import { familyOf, migrations } from '../../src/control/schema.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { waitFor } from '../helpers.js';

describe('pglite store', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore('pglite:memory');
    await store.execute(`CREATE TABLE parent (id int PRIMARY KEY, name varchar(20) NOT NULL UNIQUE)`);
    await store.execute(`CREATE TABLE child (a int NOT NULL, b text NOT NULL, amount numeric(12,2), at timestamp(6), at_tz timestamptz, flag boolean, doc jsonb, bin bytea, big bigint,
      parent_id int REFERENCES parent(id), PRIMARY KEY (a, b))`);
    await store.execute(`CREATE UNIQUE INDEX child_big ON child (big)`);
  });
  afterAll(async () => {
    await store?.close();
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

  it('upserts in bulk idempotently, reads lossless values, and pages by keyset', async () => {
    const info = (await store.introspect()).tables.get('child')!.columns;
    const cols = ['a', 'b', 'amount', 'at', 'at_tz', 'flag', 'doc', 'bin', 'big'];
    const rows = [
      [
        1,
        'x',
        '10.50',
        '2020-01-02 03:04:05.123456',
        '2020-01-02 03:04:05.654321+02',
        true,
        { k: ['a"b', 1] },
        Buffer.from([0, 1, 255]),
        '9007199254740993',
      ],
      [1, 'y', null, null, null, false, null, null, '2'],
      // a JSON array goes as text (a JS array would be an SQL array)
      [2, 'a', '-0.01', '1999-12-31 23:59:59', null, null, '[1, 2]', null, '3'],
    ];
    const up = store.sql.upsert({
      table: 'child',
      columns: cols,
      key: ['a', 'b'],
      rows,
      columnInfo: cols.map((c) => info.find((i) => i.name === c)!),
    });
    expect(await store.execute(up.sql, up.params)).toBe(3);
    expect(await store.execute(up.sql, up.params)).toBe(0); // idempotent: unchanged rows are not written (docs/mapping.md)
    expect(await store.query(store.sql.count('child').sql)).toEqual([{ n: '3' }]);
    const page1 = store.sql.keyset({ table: 'child', columns: cols, key: ['a', 'b'], after: null, limit: 2 });
    const r1 = await store.query(page1.sql, page1.params);
    expect(r1.map((r) => [r.a, r.b])).toEqual([
      [1, 'x'],
      [1, 'y'],
    ]);
    expect(r1[0]).toMatchObject({
      amount: '10.50',
      at: '2020-01-02 03:04:05.123456',
      at_tz: '2020-01-02 01:04:05.654321+00',
      flag: true,
      doc: '{"k": ["a\\"b", 1]}', // jsonb as its exact text (issue 13: JSON.parse would round big integers)
      big: '9007199254740993',
    });
    expect(Buffer.isBuffer(r1[0].bin)).toBe(true);
    expect(r1[0].bin).toEqual(Buffer.from([0, 1, 255]));
    const page2 = store.sql.keyset({ table: 'child', columns: cols, key: ['a', 'b'], after: [1, 'y'], limit: 2 });
    const r2 = await store.query(page2.sql, page2.params);
    expect(r2.map((r) => [r.a, r.b, r.doc])).toEqual([[2, 'a', '[1, 2]']]);
    // the VALUES form (no columnInfo) works too
    const plain = store.sql.upsert({
      table: 'child',
      columns: ['a', 'b', 'big'],
      key: ['a', 'b'],
      rows: [[3, 'z', '9223372036854775807']],
    });
    expect(await store.execute(plain.sql, plain.params)).toBe(1);
    expect(await store.query(`SELECT big FROM child WHERE a = $1`, [3])).toEqual([{ big: '9223372036854775807' }]);
  });

  it('orders string keys by their bytes', async () => {
    await store.execute(`CREATE TABLE words (w text COLLATE "und-x-icu" PRIMARY KEY)`); // ICU order: A b c Z ä é
    const words = ['b', 'A', 'é', 'Z', 'ä', 'c'];
    const info = (await store.introspect()).tables.get('words')!.columns;
    const up = store.sql.upsert({
      table: 'words',
      columns: ['w'],
      key: ['w'],
      rows: words.map((w) => [w]),
      columnInfo: info,
    });
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
    await store.execute(`CREATE SCHEMA IF NOT EXISTS tandem`);
    for (const m of migrations(familyOf('pglite')))
      for (const s of m.statements((n) => store.controlTable(n))) await store.execute(s);
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
    expect(
      await store.query(`SELECT entity_key, version, deleted FROM tandem.version_ledger ORDER BY entity_key`),
    ).toEqual([
      { entity_key: 'k1', version: '5', deleted: false },
      { entity_key: 'k2', version: '2', deleted: true },
    ]);
    await expect(
      store.transaction(async (tx) => {
        await store.advanceLedger(tx, t, 'users', [{ key: 'k3', version: 1n, deleted: false }], 'newer');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.query(`SELECT * FROM tandem.version_ledger WHERE entity_key = 'k3'`)).toEqual([]);
  });

  it('serializes transactions; outside statements wait, inside ones join', async () => {
    await store.execute(`CREATE TABLE seq (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, who text NOT NULL)`);
    const order: string[] = [];
    const slow = store.transaction(async (tx) => {
      await tx.execute(`INSERT INTO seq (who) VALUES ('t1')`);
      order.push('t1 wrote');
      // held open a while: time for an unserialized outside statement to slip in (correct code never lets it)
      await new Promise((r) => setTimeout(r, 50));
      expect(await store.query(`SELECT count(*)::int AS n FROM seq`)).toEqual([{ n: 1 }]);
      order.push('t1 done');
      throw new Error('roll back t1');
    });
    await waitFor(() => order.includes('t1 wrote'), { what: 't1 to write' }); // issued while t1 is open
    const outside = store.query(`SELECT count(*)::int AS n FROM seq`).then((r) => {
      order.push('outside');
      return r;
    });
    await expect(slow).rejects.toThrow('roll back t1');
    expect(await outside).toEqual([{ n: 0 }]);
    expect(order).toEqual(['t1 wrote', 't1 done', 'outside']);
    await expect(store.transaction(() => store.transaction(async () => 1))).rejects.toSatisfy((e) =>
      isTandemError(e, 'INTERNAL'),
    );
  });

  it('maps errors to codes, and keeps data in a directory', async () => {
    await expect(store.query(`SELECT * FROM no_such_table`)).rejects.toSatisfy(
      (e) => isTandemError(e, 'STORE_QUERY') && /pglite:memory/.test((e as Error).message),
    );
    const err = await store
      .execute(`INSERT INTO parent (id, name) VALUES ($1, $2), ($3, $4)`, [1, 'secret-value', 1, 'other'])
      .catch((e: unknown) => e);
    expect(isTandemError(err, 'STORE_QUERY')).toBe(true);
    expect((err as Error).message).not.toContain('secret-value');
    expect(JSON.stringify((err as Error).cause)).not.toContain('secret-value');
    const dir = mkdtempSync(join(tmpdir(), 'tandem-pglite-'));
    try {
      await expect(openStore(`pglite:${join(dir, 'missing', 'data')}`)).rejects.toSatisfy((e) =>
        isTandemError(e, 'STORE_UNREACHABLE'),
      );
      const a = await openStore(`pglite:${join(dir, 'data')}`);
      await a.execute(`CREATE TABLE kept (id int PRIMARY KEY)`);
      await a.execute(`INSERT INTO kept VALUES (1), (2)`);
      await a.close();
      const b = await openStore(`pglite:${join(dir, 'data')}`);
      expect(await b.query(`SELECT id FROM kept ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
      expect(await b.query(`SELECT current_setting('TimeZone') AS tz`)).toEqual([{ tz: 'UTC' }]);
      // a parameterless script of several statements runs with the simple protocol, as with pg
      expect(await b.execute(`CREATE TABLE m1 (a int); INSERT INTO m1 VALUES (1), (2); UPDATE m1 SET a = a + 1`)).toBe(
        4,
      );
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
