import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/core/canonical.js';
import { applyCast } from '../../src/core/mapping.js';
import { openStore } from '../../src/stores/index.js';
import type { ColumnInfo, Store } from '../../src/stores/types.js';
import { createPgDatabase } from '../helpers.js';

/**
 * PostgreSQL and PGlite column types of issue 13 through the Store interface: introspection of arrays, enum
 * types, domains (over a scalar and over an array) and character(n); the bulk upsert (`unnest`) writes them;
 * reads give JS arrays (arrays of enums and domains included) whose canonical text is the written value's.
 */
const DDL = [
  `CREATE TYPE mpaa AS ENUM ('G', 'PG', 'NC-17')`,
  `CREATE DOMAIN year_d AS integer CHECK (VALUE BETWEEN 1901 AND 2155)`,
  `CREATE DOMAIN feats AS text[]`,
  `CREATE DOMAIN code_d AS varchar(10)`,
  `CREATE TABLE film (id int PRIMARY KEY, rating mpaa, ratings mpaa[], y year_d, ys year_d[], f text[], ff feats,
     m int[][], big int8[], dd date[], lang character(20), codes character(3)[], code code_d, j jsonb)`,
];

const ROWS: unknown[][] = [
  [
    1,
    'PG',
    ['G', 'NC-17'],
    2006,
    [1999, 2001],
    ['a,b', 'c"d', null, 'e\\f', '{g}'],
    ['Trailers'],
    [
      [1, 2],
      [3, 4],
    ],
    ['9007199254740993'],
    ['2020-01-02'],
    'English',
    ['ab', 'c'],
    'x1',
    '{"b":1.0,"a":12345678901234567890}',
  ],
  [2, null, [], null, null, [], null, null, null, null, null, null, null, null],
  // array literals (what a PostgreSQL source returns for arrays it does not parse) and JSON array text
  [3, 'G', '{PG}', 1901, '{1950}', '["x","y"]', '{"a b"}', '{{5},{6}}', '{1}', '{2021-03-04}', ' pad', '{x}', '', '[]'],
];

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`${kind}: arrays, enum types, domains, character(n)`, () => {
    let store: Store;
    let drop: (() => Promise<void>) | undefined;
    let cols: ColumnInfo[];

    beforeAll(async () => {
      if (kind === 'postgres') {
        const db = await createPgDatabase('tandem_pgtypes');
        drop = db.drop;
        store = await openStore(db.url);
      } else store = await openStore('pglite:memory');
      for (const s of DDL) await store.execute(s);
      cols = (await store.introspect()).tables.get('film')!.columns;
    });
    afterAll(async () => {
      await store?.close();
      await drop?.();
    });

    it('introspects arrays with their element, enums with labels, domains by their base type, char(n) as padded', () => {
      const by = Object.fromEntries(cols.map((c) => [c.name, c]));
      expect(by.rating).toMatchObject({ category: 'text', enumValues: ['G', 'PG', 'NC-17'] });
      expect(by.ratings).toMatchObject({
        category: 'array',
        element: { category: 'text', enumValues: ['G', 'PG', 'NC-17'] },
      });
      expect(by.y).toMatchObject({ category: 'integer', intBytes: 4, domain: 'year_d', dataType: 'integer' });
      expect(by.ys).toMatchObject({ category: 'array', element: { category: 'integer', domain: 'year_d' } });
      expect(by.f).toMatchObject({ category: 'array', dataType: 'text[]', element: { category: 'text' } });
      expect(by.ff).toMatchObject({
        category: 'array',
        dataType: 'text[]',
        domain: 'feats',
        element: { category: 'text' },
      });
      expect(by.m).toMatchObject({ category: 'array', element: { category: 'integer' } });
      expect(by.lang).toMatchObject({ category: 'text', padded: true, maxLength: 20 });
      expect(by.codes).toMatchObject({ category: 'array', element: { category: 'text', padded: true } });
      expect(by.code).toMatchObject({ category: 'text', maxLength: 10, domain: 'code_d' });
      expect(by.code!.padded).toBeUndefined();
      expect(by.j!.category).toBe('json');
      // facts of the column itself stay
      expect(by.id).toMatchObject({ category: 'integer', nullable: false });
      expect(by.rating!.nullable).toBe(true);
    });

    it('writes every form through the bulk upsert and reads back values with the same canonical text', async () => {
      const names = cols.map((c) => c.name);
      const st = store.sql.upsert({ table: 'film', columns: names, key: ['id'], rows: ROWS, columnInfo: cols });
      await store.transaction((tx) => tx.execute(st.sql, st.params));
      // again: the upsert updates in place
      await store.transaction((tx) => tx.execute(st.sql, st.params));
      const got = await store.query(`SELECT ${names.map((n) => `"${n}"`).join(', ')} FROM film ORDER BY id`);
      expect(got.length).toBe(3);
      expect(got[0]!.ratings).toEqual(['G', 'NC-17']);
      expect(got[0]!.ys).toEqual(['1999', '2001']);
      expect(got[0]!.f).toEqual(['a,b', 'c"d', null, 'e\\f', '{g}']);
      expect(got[0]!.big).toEqual(['9007199254740993']);
      expect(got[0]!.dd).toEqual(['2020-01-02']);
      expect(got[0]!.j).toBe('{"a": 12345678901234567890, "b": 1.0}');
      expect(got[2]!.f).toEqual(['x', 'y']);
      got.forEach((row, i) =>
        cols.forEach((c, j) =>
          expect(canonicalize(row[c.name], c), `row ${i + 1} ${c.name}`).toBe(canonicalize(ROWS[i]![j], c)),
        ),
      );
    });

    it('refuses a label that is not in the enum, and a domain CHECK, as a value error', async () => {
      const names = ['id', 'rating'];
      const info = names.map((n) => cols.find((c) => c.name === n)!);
      const bad = store.sql.upsert({
        table: 'film',
        columns: names,
        key: ['id'],
        rows: [[9, 'PG-13']],
        columnInfo: info,
      });
      const e1 = await store.execute(bad.sql, bad.params).catch((e: unknown) => e);
      expect(store.classifyError(e1)).toBe('value');
      const yi = ['id', 'y'].map((n) => cols.find((c) => c.name === n)!);
      const bad2 = store.sql.upsert({
        table: 'film',
        columns: ['id', 'y'],
        key: ['id'],
        rows: [[9, 1800]],
        columnInfo: yi,
      });
      const e2 = await store.execute(bad2.sql, bad2.params).catch((e: unknown) => e);
      expect(store.classifyError(e2)).toBe('value');
    });

    it('writes 10,000 rows with array columns in one statement about as fast as without', async () => {
      const names = ['id', 'f', 'ratings'];
      const info = names.map((n) => cols.find((c) => c.name === n)!);
      const rows = Array.from({ length: 10_000 }, (_, i) => [1000 + i, [`a${i}`, 'b c', null], ['G', 'PG']]);
      const t0 = performance.now();
      const st = store.sql.upsert({ table: 'film', columns: names, key: ['id'], rows, columnInfo: info });
      await store.execute(st.sql, st.params);
      const arrays = performance.now() - t0;
      const plainInfo = ['id', 'rating', 'lang'].map((n) => cols.find((c) => c.name === n)!);
      const plain = rows.map((r) => [(r[0] as number) + 100_000, 'PG', 'x']);
      const t1 = performance.now();
      const st2 = store.sql.upsert({
        table: 'film',
        columns: ['id', 'rating', 'lang'],
        key: ['id'],
        rows: plain,
        columnInfo: plainInfo,
      });
      await store.execute(st2.sql, st2.params);
      const scalars = performance.now() - t1;
      const n = await store.query<{ n: string }>(`SELECT count(*)::text AS n FROM film WHERE cardinality(f) = 3`);
      expect(n[0]!.n).toBe('10000');
      console.log(
        `${kind}: 10,000 rows with two array columns ${arrays.toFixed(0)} ms, with two scalar columns ${scalars.toFixed(0)} ms`,
      );
      // generous: a shared machine; an array column costs a cast per row, not a statement per row
      expect(arrays).toBeLessThan(Math.max(5 * scalars, 3000));
    });
  });
}

describe('sqlite: the array cast into a JSON column (no arrays on the engine)', () => {
  it('writes the JSON array, which compares equal to the cast value; trailing spaces stay data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-pgtypes-'));
    const store = await openStore(`sqlite:${join(dir, 't.db')}`);
    try {
      await store.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, features JSON, name CHAR(10))');
      const cols = (await store.introspect()).tables.get('t')!.columns;
      expect(cols.find((c) => c.name === 'name')!.padded).toBeUndefined();
      const features = applyCast('Trailers,Deleted Scenes', 'array');
      const st = store.sql.upsert({
        table: 't',
        columns: ['id', 'features', 'name'],
        key: ['id'],
        rows: [[1, features, 'ab  ']],
        columnInfo: cols,
      });
      await store.execute(st.sql, st.params);
      const [row] = await store.query('SELECT features, name FROM t');
      expect(row!.features).toBe('["Trailers","Deleted Scenes"]');
      expect(row!.name).toBe('ab  ');
      const json = cols.find((c) => c.name === 'features')!;
      expect(canonicalize(row!.features, json)).toBe(canonicalize(features, json));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
