import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import type { Executor, Row, Store } from '../../src/stores/types.js';
import { migrations } from '../../src/control/schema.js';
import { isTandemError } from '../../src/core/errors.js';
import { mysqlDateTime } from '../../src/stores/mysql/sql.js';
import { redactServerMessage } from '../../src/stores/mysql/connection.js';
import { createMysqlDatabase } from '../helpers.js';

describe('mysql store', () => {
  let db: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let store: Store;
  beforeAll(async () => {
    db = await createMysqlDatabase('tandem_mystore');
    store = await openStore(db.url.replace(/^mysql:/, 'mariadb:'));
    await store.execute(`CREATE TABLE parent (id int PRIMARY KEY, name varchar(20) NOT NULL UNIQUE)`);
    await store.execute(`CREATE TABLE child (a int NOT NULL, b varchar(50) NOT NULL, amount decimal(12,2), at datetime(6), at_tz timestamp(6) NULL,
      flag tinyint(1), doc json, bin varbinary(16), big bigint, u int unsigned, ubig bigint unsigned, small smallint, med mediumint, f float, d double,
      day date, tm time(3), note text, kind enum('x','y'), parent_id int,
      PRIMARY KEY (a, b), UNIQUE KEY child_big (big), KEY child_prefix (note(10)),
      CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id))`);
    await store.execute(`CREATE TABLE grandchild (id bigint AUTO_INCREMENT PRIMARY KEY, ca int NOT NULL, cb varchar(50) NOT NULL, code char(3),
      UNIQUE KEY gc_pair (cb, ca), UNIQUE KEY gc_prefix (code(2)),
      CONSTRAINT gc_child_fk FOREIGN KEY (ca, cb) REFERENCES child (a, b))`);
    await store.execute(`CREATE VIEW child_view AS SELECT a, b FROM child`);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('opens with dialect mysql, UTC sessions and tandem_ control tables', async () => {
    expect(store.dialect).toBe('mysql');
    expect(store.controlSchema).toBeNull();
    expect(store.controlTable('version_ledger')).toBe('`tandem_version_ledger`');
    expect(store.sql.ident('we`ird')).toBe('`we``ird`');
    expect(store.sql.table('child')).toBe('`child`');
    expect(store.sql.param(3)).toBe('?');
    expect(() => store.sql.ident('')).toThrow();
    const [tz] = await store.query<{ tz: string }>(`SELECT @@SESSION.time_zone AS tz`);
    expect(tz!.tz).toBe('+00:00');
    // every pooled connection gets the session settings, including the ones a transaction holds
    const tzs = await Promise.all(
      Array.from({ length: 6 }, () =>
        store.transaction((tx) => tx.query<{ tz: string }>(`SELECT @@SESSION.time_zone AS tz, SLEEP(0.05) AS s`)),
      ),
    );
    expect(tzs.map((r) => r[0]!.tz)).toEqual(Array(6).fill('+00:00'));
  });

  it('introspects columns, categories, keys and foreign keys', async () => {
    const s = await store.introspect();
    expect([...s.tables.keys()].sort()).toEqual(['child', 'grandchild', 'parent']); // no views
    const child = s.tables.get('child')!;
    expect(child.primaryKey).toEqual(['a', 'b']);
    expect(child.uniqueKeys).toEqual([['big']]); // the prefix index on note is not unique anyway; non-unique ignored
    expect(child.foreignKeys).toEqual([
      { name: 'child_parent_fk', columns: ['parent_id'], refTable: 'parent', refColumns: ['id'] },
    ]);
    expect(child.columns.map((c) => c.name)).toEqual([
      'a',
      'b',
      'amount',
      'at',
      'at_tz',
      'flag',
      'doc',
      'bin',
      'big',
      'u',
      'ubig',
      'small',
      'med',
      'f',
      'd',
      'day',
      'tm',
      'note',
      'kind',
      'parent_id',
    ]);
    const byName = Object.fromEntries(child.columns.map((c) => [c.name, c]));
    expect(byName.a).toMatchObject({
      category: 'integer',
      intBytes: 4,
      unsigned: false,
      nullable: false,
      generated: false,
    });
    expect(byName.b).toMatchObject({ dataType: 'varchar(50)', category: 'text', maxLength: 50, nullable: false });
    expect(byName.amount).toMatchObject({
      dataType: 'decimal(12,2)',
      category: 'decimal',
      precision: 12,
      scale: 2,
      nullable: true,
    });
    expect(byName.at).toMatchObject({ dataType: 'datetime(6)', category: 'timestamp', scale: 6 });
    expect(byName.at_tz).toMatchObject({ category: 'timestamptz', scale: 6 });
    expect(byName.flag).toMatchObject({ dataType: 'tinyint(1)', category: 'boolean' });
    expect(byName.doc.category).toBe('json');
    expect(byName.bin.category).toBe('binary');
    expect(byName.big).toMatchObject({ category: 'integer', intBytes: 8, unsigned: false });
    expect(byName.u).toMatchObject({ category: 'integer', intBytes: 4, unsigned: true });
    expect(byName.ubig).toMatchObject({ category: 'integer', intBytes: 8, unsigned: true });
    expect(byName.small).toMatchObject({ category: 'integer', intBytes: 2 });
    expect(byName.med).toMatchObject({ category: 'integer', intBytes: 3 });
    expect(byName.f).toMatchObject({ category: 'float', floatBytes: 4 });
    expect(byName.d).toMatchObject({ category: 'float', floatBytes: 8 });
    expect(byName.day.category).toBe('date');
    expect(byName.tm).toMatchObject({ category: 'time', scale: 3 });
    expect(byName.note.category).toBe('text');
    expect(byName.note.maxLength).toBeUndefined();
    expect(byName.kind.category).toBe('text');
    const gc = s.tables.get('grandchild')!;
    expect(gc.primaryKey).toEqual(['id']);
    expect(gc.columns[0]).toMatchObject({ name: 'id', generated: true, intBytes: 8 });
    expect(gc.uniqueKeys).toEqual([['cb', 'ca']]); // gc_prefix covers only a prefix of code: left out
    expect(gc.foreignKeys).toEqual([
      { name: 'gc_child_fk', columns: ['ca', 'cb'], refTable: 'child', refColumns: ['a', 'b'] },
    ]);
    expect(s.tables.get('parent')!.columns[1]).toMatchObject({
      name: 'name',
      category: 'text',
      maxLength: 20,
      nullable: false,
    });
    expect(s.tables.get('parent')!.uniqueKeys).toEqual([['name']]);
  });

  it('upserts in bulk idempotently and reads values losslessly', async () => {
    const info = (await store.introspect()).tables.get('child')!.columns;
    const cols = ['a', 'b', 'amount', 'at', 'at_tz', 'big', 'ubig', 'flag', 'doc', 'bin', 'day', 'tm'];
    const rows = [
      [
        1,
        'x',
        '10.50',
        '2020-01-02 03:04:05.123456',
        '2020-01-02T03:04:05.000001Z',
        '9007199254740993',
        '18446744073709551615',
        true,
        { k: [1, 'two'] },
        Buffer.from([0, 255, 10]),
        '2020-02-29',
        '12:34:56.789',
      ],
      [1, 'y', null, null, null, '2', null, false, null, null, null, null],
      [
        2,
        'a',
        '-0.01',
        '1999-12-31 23:59:59',
        '2021-06-01T02:00:00.5+02:00',
        '-9223372036854775808',
        '0',
        null,
        [1, 2],
        Buffer.alloc(0),
        '0001-01-01',
        '-838:59:59',
      ],
    ];
    const up = store.sql.upsert({
      table: 'child',
      columns: cols,
      key: ['a', 'b'],
      rows,
      columnInfo: cols.map((c) => info.find((i) => i.name === c)!),
    });
    expect(up.sql).toMatch(
      /^INSERT INTO `child` .* VALUES \(.*\), \(.*\), \(.*\) ON DUPLICATE KEY UPDATE `amount` = VALUES\(`amount`\)/,
    );
    await store.execute(up.sql, up.params);
    await store.execute(up.sql, up.params); // idempotent
    const all = await store.query(`SELECT ${cols.map((c) => `\`${c}\``).join(', ')} FROM child ORDER BY a, b`);
    expect(all).toHaveLength(3);
    expect(all[0]).toMatchObject({
      a: 1,
      b: 'x',
      amount: '10.50',
      at: '2020-01-02 03:04:05.123456',
      at_tz: '2020-01-02 03:04:05.000001',
      big: '9007199254740993',
      ubig: '18446744073709551615',
      flag: 1,
      day: '2020-02-29',
      tm: '12:34:56.789',
    });
    // JSON as its exact text (issue 13: mysql2's JSON.parse would round integers beyond 2^53)
    expect(JSON.parse(String(all[0]!.doc))).toEqual({ k: [1, 'two'] });
    expect(all[0]!.bin).toEqual(Buffer.from([0, 255, 10]));
    expect(all[1]).toMatchObject({ amount: null, at: null, big: '2', flag: 0 });
    expect(all[2]).toMatchObject({
      amount: '-0.01',
      at: '1999-12-31 23:59:59.000000',
      at_tz: '2021-06-01 00:00:00.500000',
      big: '-9223372036854775808',
      ubig: '0',
      day: '0001-01-01',
      tm: '-838:59:59.000',
    });
    expect(JSON.parse(String(all[2]!.doc))).toEqual([1, 2]);

    // changed values win on the second upsert; a key-only upsert is a no-op on existing rows
    const up2 = store.sql.upsert({
      table: 'child',
      columns: ['a', 'b', 'amount'],
      key: ['a', 'b'],
      rows: [[1, 'y', '99999999.99']],
    });
    await store.execute(up2.sql, up2.params);
    const keyOnly = store.sql.upsert({
      table: 'child',
      columns: ['a', 'b'],
      key: ['a', 'b'],
      rows: [
        [1, 'y'],
        [3, 'new'],
      ],
    });
    expect(keyOnly.sql).toMatch(/ON DUPLICATE KEY UPDATE `a` = `a`$/);
    await store.execute(keyOnly.sql, keyOnly.params);
    expect(
      await store.query(`SELECT a, b, amount, big FROM child WHERE a IN (1, 3) AND b IN ('y', 'new') ORDER BY a`),
    ).toEqual([
      { a: 1, b: 'y', amount: '99999999.99', big: '2' },
      { a: 3, b: 'new', amount: null, big: null },
    ]);
    const none = store.sql.upsert({ table: 'child', columns: ['a', 'b'], key: ['a', 'b'], rows: [] });
    expect(await store.execute(none.sql, none.params)).toBe(0);
    expect(await store.query(`SELECT count(*) AS n FROM child`)).toEqual([{ n: '4' }]); // BIGINT: a string
    const c = store.sql.count('child');
    expect(Number((await store.query<{ n: unknown }>(c.sql, c.params))[0]!.n)).toBe(4);
    await store.execute(`DELETE FROM child WHERE a = 3`);
  });

  it('converts zoned timestamps for datetime columns and leaves other values alone', () => {
    expect(mysqlDateTime('2020-01-02T03:04:05.123456Z')).toBe('2020-01-02 03:04:05.123456');
    expect(mysqlDateTime('2020-01-01T01:00:00-02:30')).toBe('2020-01-01 03:30:00');
    expect(mysqlDateTime('2020-01-01 00:00:00.1+01:00')).toBe('2019-12-31 23:00:00.1');
    expect(mysqlDateTime('2020-01-02 03:04:05')).toBe('2020-01-02 03:04:05');
    expect(mysqlDateTime(5)).toBe(5);
  });

  it('pages by keyset on a composite key with the expanded comparison, served by the index', async () => {
    await store.execute(`CREATE TABLE pages (a int NOT NULL, b varchar(20) NOT NULL, v int, PRIMARY KEY (a, b))`);
    const rows: unknown[][] = [];
    for (let a = 1; a <= 300; a++) for (const b of ['m', 'c', 'x', 'a']) rows.push([a, b, a]);
    const up = store.sql.upsert({ table: 'pages', columns: ['a', 'b', 'v'], key: ['a', 'b'], rows });
    expect(await store.execute(up.sql, up.params)).toBe(1200);
    await store.execute(`ANALYZE TABLE pages`).catch(() => 0);

    const q = { table: 'pages', columns: ['a', 'b'], key: ['a', 'b'], limit: 3 };
    const first = store.sql.keyset({ ...q, after: null });
    expect(first.sql).not.toMatch(/OFFSET/i);
    expect((await store.query(first.sql, first.params)).map((r) => [r.a, r.b])).toEqual([
      [1, 'a'],
      [1, 'c'],
      [1, 'm'],
    ]);
    // after (1, 'm'): the next rows include (2, 'a') whose b is smaller than 'm' — a per-column `a > ? AND b > ?` would
    // skip it
    const next = store.sql.keyset({ ...q, after: [1, 'm'] });
    expect(next.sql).toContain('(`a` > ? OR (`a` = ? AND `b` > ?))');
    expect(next.sql).not.toMatch(/\(`a`, `b`\) >/);
    expect(next.params).toEqual([1, 1, 'm']);
    expect((await store.query(next.sql, next.params)).map((r) => [r.a, r.b])).toEqual([
      [1, 'x'],
      [2, 'a'],
      [2, 'c'],
    ]);
    // bounded segment: (150, 'c') < key <= (151, 'c')
    const seg = store.sql.keyset({ ...q, after: [150, 'c'], upTo: [151, 'c'], limit: 100 });
    expect(seg.sql).toContain('(`a` < ? OR (`a` = ? AND `b` <= ?))');
    expect((await store.query(seg.sql, seg.params)).map((r) => [r.a, r.b])).toEqual([
      [150, 'm'],
      [150, 'x'],
      [151, 'a'],
      [151, 'c'],
    ]);
    // a full scan by pages sees every row once, in order
    const seen: string[] = [];
    let after: unknown[] | null = null;
    for (;;) {
      const st = store.sql.keyset({ ...q, after, limit: 97 });
      const page = await store.query(st.sql, st.params);
      if (page.length === 0) break;
      for (const r of page) seen.push(`${r.a}/${r.b}`);
      const last = page[page.length - 1]!;
      after = [last.a, last.b];
    }
    expect(seen).toHaveLength(1200);
    expect(new Set(seen).size).toBe(1200);
    // the expanded form is served as an index range on the primary key
    const plan = await store.query<Record<string, unknown>>(`EXPLAIN ${next.sql}`, next.params);
    expect(plan[0]).toMatchObject({ key: 'PRIMARY', type: 'range' });
  });

  it('pages bigint keys beyond 2^53 exactly and orders strings by bytes with byteOrder', async () => {
    await store.execute(`CREATE TABLE bigs (id bigint unsigned PRIMARY KEY)`);
    await store.execute(
      `INSERT INTO bigs VALUES (9007199254740992), (9007199254740993), (9007199254740994), (18446744073709551615)`,
    );
    const st = store.sql.keyset({
      table: 'bigs',
      columns: ['id'],
      key: ['id'],
      keyCategories: ['integer'],
      after: ['9007199254740992'],
      limit: 10,
    });
    expect((await store.query(st.sql, st.params)).map((r) => r.id)).toEqual([
      '9007199254740993',
      '9007199254740994',
      '18446744073709551615',
    ]);
    const st2 = store.sql.keyset({
      table: 'bigs',
      columns: ['id'],
      key: ['id'],
      keyCategories: ['integer'],
      after: ['9007199254740993'],
      upTo: ['9007199254740994'],
      limit: 10,
    });
    expect((await store.query(st2.sql, st2.params)).map((r) => r.id)).toEqual(['9007199254740994']);
    // a key value that is not a plain number stays a quoted parameter
    const st3 = store.sql.keyset({
      table: 'bigs',
      columns: ['id'],
      key: ['id'],
      keyCategories: ['integer'],
      after: ['1 OR 1=1'],
      limit: 10,
    });
    // compared as a string ('1 OR 1=1' → 1), not inlined
    expect(await store.query(st3.sql, st3.params)).toHaveLength(4);
    // objects are never inlined through toSqlString: they become JSON text
    const evil = { toSqlString: () => '1; DROP TABLE bigs' };
    expect(await store.query(`SELECT ? AS v`, [evil])).toEqual([{ v: '{}' }]);

    await store.execute(
      `CREATE TABLE strs2 (s varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL, n int NOT NULL, PRIMARY KEY (s, n))`,
    );
    await store.execute(`INSERT INTO strs2 VALUES ('é', 1), ('a', 1), ('z', 1), ('B', 1), ('B', 2)`);
    const collated = store.sql.keyset({ table: 'strs2', columns: ['s', 'n'], key: ['s', 'n'], after: null, limit: 10 });
    expect((await store.query(collated.sql)).map((r) => `${r.s}${r.n}`)).toEqual(['a1', 'B1', 'B2', 'é1', 'z1']);
    const bq = {
      table: 'strs2',
      columns: ['s', 'n'],
      key: ['s', 'n'],
      keyCategories: ['text', 'integer'] as const,
      byteOrder: true,
    };
    const p1 = store.sql.keyset({ ...bq, keyCategories: [...bq.keyCategories], after: null, limit: 2 });
    expect((await store.query(p1.sql, p1.params)).map((r) => `${r.s}${r.n}`)).toEqual(['B1', 'B2']);
    const p2 = store.sql.keyset({ ...bq, keyCategories: [...bq.keyCategories], after: ['B', 2], limit: 2 });
    expect((await store.query(p2.sql, p2.params)).map((r) => `${r.s}${r.n}`)).toEqual(['a1', 'z1']);
    const p3 = store.sql.keyset({ ...bq, keyCategories: [...bq.keyCategories], after: ['z', 1], limit: 2 });
    expect((await store.query(p3.sql, p3.params)).map((r) => `${r.s}${r.n}`)).toEqual(['é1']);
    // upper bound by bytes: 'B' < 'a' < 'é'
    const p4 = store.sql.keyset({
      ...bq,
      keyCategories: [...bq.keyCategories],
      after: ['B', 1],
      upTo: ['a', 1],
      limit: 10,
    });
    expect((await store.query(p4.sql, p4.params)).map((r) => `${r.s}${r.n}`)).toEqual(['B2', 'a1']);
  });

  it('advances the version ledger only for newer versions, in a transaction', async () => {
    for (const m of migrations('mysql'))
      for (const s of m.statements((n) => store.controlTable(n))) await store.execute(s);
    const t = store.controlTable('version_ledger');
    expect([...(await store.introspect()).tables.keys()].some((n) => n.startsWith('tandem_'))).toBe(false);
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
    const won4 = await store.transaction((tx) =>
      store.advanceLedger(tx, t, 'users', [{ key: 'k1', version: 5n, deleted: false }], 'newer'),
    );
    expect([...won4]).toEqual([]);
    // duplicates in one batch: the highest version wins, a tombstone wins a tie; other entities are separate
    const won5 = await store.transaction((tx) =>
      store.advanceLedger(
        tx,
        t,
        'users',
        [
          { key: 'k2', version: 7n, deleted: false },
          { key: 'k2', version: 9n, deleted: false },
          { key: 'k2', version: 9n, deleted: true },
        ],
        'newer',
      ),
    );
    expect([...won5]).toEqual(['k2']);
    await store.transaction((tx) =>
      store.advanceLedger(tx, t, 'orders', [{ key: 'k1', version: 1n, deleted: false }], 'newer'),
    );
    expect(
      await store.query(`SELECT entity, entity_key, version, deleted FROM ${t} ORDER BY entity, entity_key`),
    ).toEqual([
      { entity: 'orders', entity_key: 'k1', version: '1', deleted: 0 },
      { entity: 'users', entity_key: 'k1', version: '5', deleted: 0 },
      { entity: 'users', entity_key: 'k2', version: '9', deleted: 1 },
    ]);
    await expect(
      store.transaction(async (tx) => {
        await store.advanceLedger(tx, t, 'users', [{ key: 'k3', version: 1n, deleted: false }], 'newer');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.query(`SELECT * FROM ${t} WHERE entity_key = 'k3'`)).toEqual([]);
  });

  it('advances big batches in a few statements and serializes concurrent appliers', async () => {
    const t = store.controlTable('version_ledger');
    const entries = Array.from({ length: 3000 }, (_, i) => ({
      key: `b${i}`,
      version: BigInt(i % 7),
      deleted: i % 11 === 0,
    }));
    const won = await store.transaction((tx) => store.advanceLedger(tx, t, 'bulk', entries, 'newer'));
    expect(won.size).toBe(3000);
    let statements = 0;
    const counted = await store.transaction(async (tx) => {
      const spy: Executor = {
        query: <T extends Row = Row>(s: string, p?: unknown[]) => {
          statements++;
          return tx.query<T>(s, p);
        },
        execute: (s: string, p?: unknown[]) => {
          statements++;
          return tx.execute(s, p);
        },
      };
      return store.advanceLedger(
        spy,
        t,
        'bulk',
        entries.map((e) => ({ ...e, version: e.version + 1n })),
        'newer',
      );
    });
    expect(counted.size).toBe(3000);
    expect(statements).toBe(2 + 3000 / 500); // lock, 6 chunked locking reads, one write
    expect(await store.query(`SELECT count(*) AS n, sum(version) AS s FROM ${t} WHERE entity = 'bulk'`)).toEqual([
      { n: '3000', s: String(entries.reduce((a, e) => a + e.version + 1n, 0n)) },
    ]);
    // many appliers racing on the same keys with different versions: each key ends at the highest version, and
    // exactly the appliers that raised it report it
    const keys = ['r1', 'r2', 'r3', 'r4'];
    const versions = [3n, 8n, 1n, 8n, 5n, 2n];
    const results = await Promise.all(
      versions.map((v) =>
        store.transaction((tx) =>
          store.advanceLedger(
            tx,
            t,
            'race',
            keys.map((k) => ({ key: k, version: v, deleted: false })),
            'newer',
          ),
        ),
      ),
    );
    for (const r of results) expect(r.size === 0 || r.size === 4).toBe(true);
    expect(results.filter((r) => r.size === 4).length).toBeGreaterThanOrEqual(1);
    expect(await store.query(`SELECT DISTINCT version FROM ${t} WHERE entity = 'race'`)).toEqual([{ version: '8' }]);
  });

  it('does not deadlock when appliers race on overlapping, partly new key sets', async () => {
    const t = store.controlTable('version_ledger');
    const max = new Map<string, bigint>();
    let seed = 42;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let round = 0; round < 10; round++) {
      const batches = Array.from({ length: 8 }, () =>
        Array.from({ length: 40 }, () => ({
          key: `o${rand(150)}`,
          version: BigInt(rand(1000)),
          deleted: rand(5) === 0,
        })),
      );
      const won = await Promise.all(
        batches.map((b) => store.transaction((tx) => store.advanceLedger(tx, t, 'overlap', b, 'newer'))),
      );
      // a batch only reports its own keys; every key this round raised is reported by some batch
      won.forEach((w, i) => {
        for (const k of w) expect(batches[i]!.some((e) => e.key === k)).toBe(true);
      });
      for (const b of batches)
        for (const e of b) {
          if ((max.get(e.key) ?? -1n) < e.version) {
            max.set(e.key, e.version);
            expect(won.some((w) => w.has(e.key))).toBe(true);
          }
        }
    }
    const rows = await store.query<{ entity_key: string; version: string }>(
      `SELECT entity_key, version FROM ${t} WHERE entity = 'overlap'`,
    );
    expect(rows.length).toBe(max.size);
    for (const r of rows) expect(BigInt(r.version)).toBe(max.get(r.entity_key));
  });

  it('maps rejected statements without values, and rolls back', async () => {
    await store.execute(`CREATE TABLE secrets (id int PRIMARY KEY, hash varchar(100) NOT NULL UNIQUE)`);
    await store.execute(`INSERT INTO secrets VALUES (?, ?)`, [1, '$2y$10$supersecrethashvalue']);
    const err = await store
      .execute(`INSERT INTO secrets VALUES (?, ?)`, [2, '$2y$10$supersecrethashvalue'])
      .catch((e: unknown) => e);
    expect(isTandemError(err, 'STORE_QUERY')).toBe(true);
    expect(String((err as Error).message)).not.toContain('supersecret');
    expect(String((err as Error).message)).toContain('Duplicate entry');
    const cause = (err as Error & { cause?: Error & { sql?: string; errno?: number } }).cause!;
    expect(cause.errno).toBe(1062);
    expect(`${cause.message} ${cause.stack} ${JSON.stringify(cause)} ${cause.sql}`).not.toContain('supersecret');
    const bad = await store.query(`SELEC 1`).catch((e: unknown) => e);
    expect(isTandemError(bad, 'STORE_QUERY')).toBe(true);
    expect(redactServerMessage(`Incorrect integer value: 'abc' for column \`d\`.\`t\`.\`c\` at row 1`)).toBe(
      `Incorrect integer value: '…' for column \`d\`.\`t\`.\`c\` at row 1`,
    );
    // a failed statement inside a transaction rolls everything back and the pool keeps working
    await expect(
      store.transaction(async (tx) => {
        await tx.execute(`INSERT INTO secrets VALUES (3, 'x')`);
        await tx.execute(`INSERT INTO secrets VALUES (3, 'y')`);
      }),
    ).rejects.toSatisfy((e) => isTandemError(e, 'STORE_QUERY'));
    expect(await store.query(`SELECT id FROM secrets ORDER BY id`)).toEqual([{ id: 1 }]);
    // a connection killed mid-transaction is destroyed, not returned to the pool
    await expect(
      store.transaction(async (tx) => {
        const [{ id }] = await tx.query<{ id: unknown }>(`SELECT CONNECTION_ID() AS id`);
        await store.execute(`KILL ${Number(id)}`);
        await tx.query(`SELECT 1`);
      }),
    ).rejects.toSatisfy((e) => isTandemError(e, 'STORE_UNREACHABLE') || isTandemError(e, 'STORE_QUERY'));
    for (let i = 0; i < 6; i++)
      expect(await store.transaction((tx) => tx.query(`SELECT 1 AS one`))).toEqual([{ one: 1 }]);
  });

  it('maps unreachable servers, bad credentials and missing databases to codes', async () => {
    await expect(openStore('mysql://root@127.0.0.1:1/x')).rejects.toSatisfy((e) =>
      isTandemError(e, 'STORE_UNREACHABLE'),
    );
    const server = db.url.replace(/\/[^/]+$/, '');
    await expect(openStore(`${server}/no_such_db_tandem`)).rejects.toSatisfy((e) =>
      isTandemError(e, 'STORE_DATABASE_NOT_FOUND'),
    );
    const user = `tandem_badauth_${randomBytes(4).toString('hex')}`;
    await store.execute(`CREATE USER ?@'%' IDENTIFIED BY ?`, [user, 'right-password']);
    try {
      const hostPort = new URL(server).host;
      const err = await openStore(`mysql://${user}:wrong-password@${hostPort}/${db.name}`).catch((e: unknown) => e);
      expect(isTandemError(err, 'STORE_AUTH')).toBe(true);
      expect((err as Error).message).not.toContain('wrong-password');
      expect((err as Error).message).toContain('***');
    } finally {
      await store.execute(`DROP USER IF EXISTS ?@'%'`, [user]);
    }
    await expect(openStore('oracle://x/y')).rejects.toSatisfy((e) => isTandemError(e, 'URL_SCHEME'));
  });
});
