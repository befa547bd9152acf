import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import type { ColumnInfo, HashColumn, KeyValues, Row, Store, TableInfo, TypeCategory } from '../../src/stores/types.js';
import { canonText, encodeRow, mod64, rowHash } from '../../src/verify/encoding.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * Property: random rows of every type the checksums push down, written to MariaDB, PostgreSQL, PGlite and
 * SQLite, hash equal in every engine (in SQL, per row) and equal to the JS encoding of the values each store
 * reads back (the streamed side). Also: source-side conversions (a MariaDB DECIMAL(14,4) hashed as numeric(14,2),
 * an integer as a decimal, DATETIME(3) as timestamp(6)) equal the target engine's own hash of the stored value.
 * And for composite (integer, string), string and UUID keys: random rows and random cell bounds and ranges give the
 * same cells, counts and sums in every engine, equal to the JS hashes assigned to cells by the test's own byte order.
 */

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

interface Gen {
  id: number;
  i2: number | null;
  i4: number | null;
  i8: string | null;
  d0: string | null;
  d2: string | null;
  d6: string | null;
  d4x: string | null;
  ix: number | null;
  t: string | null;
  tx: string | null;
  tl: string | null;
  b: boolean | null;
  ts: string | null;
  ts3: string | null;
  ts0: string | null;
  tz: string | null;
  dt: string | null;
  tm: string | null;
  bin: Buffer | null;
  u: string | null;
}

const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { freq: 5, nil: null });
const text = fc
  .string({
    unit: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom('|', '~', '\\', "'", '"', ' ', '0', '9', ':', 'é', '☃', '😀', '\t', '\n', 'Z', 'a'),
      },
      { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
    ),
    maxLength: 40,
  })
  .map((s) => s.replace(/\u0000/g, ''));
const decimal = (intDigits: number, scale: number) =>
  fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** BigInt(intDigits + scale) - 1n })).map(([neg, v]) => {
    const s = v.toString().padStart(scale + 1, '0');
    const body = scale ? `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}` : s;
    return neg && v !== 0n ? `-${body}` : body;
  });
const micros = (from: number, to: number) =>
  fc.integer({ min: from, max: to }).chain((sec) => fc.integer({ min: 0, max: 999_999 }).map((us) => ({ sec, us })));
const stamp = (from: number, to: number, digits = 6) =>
  micros(from, to).map(({ sec, us }) => {
    const d = new Date(sec * 1000);
    const frac = digits ? `.${pad(Math.floor(us / 10 ** (6 - digits)) * 10 ** (6 - digits), 6).slice(0, digits)}` : '';
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}`;
  });
const Y1000 = Date.UTC(1000, 0, 1) / 1000,
  Y9999 = Date.UTC(9999, 11, 31) / 1000;
const T1970 = 86_400,
  T2037 = Date.UTC(2037, 11, 31) / 1000;

const rowArb = (id: number): fc.Arbitrary<Gen> =>
  fc.record({
    id: fc.constant(id),
    i2: nullable(fc.integer({ min: -32768, max: 32767 })),
    i4: nullable(fc.integer({ min: -2147483648, max: 2147483647 })),
    i8: nullable(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)),
    d0: nullable(decimal(10, 0)),
    d2: nullable(decimal(10, 2)),
    d6: nullable(decimal(9, 6)), // 15 significant digits: SQLite stores decimals as REAL
    d4x: nullable(decimal(8, 4)),
    ix: nullable(fc.integer({ min: -1_000_000, max: 1_000_000 })),
    t: nullable(text),
    tx: nullable(fc.string({ maxLength: 300 }).map((s) => s.replace(/\u0000/g, ''))),
    tl: nullable(fc.string({ unit: fc.constantFrom('a', 'Z', 'é', 'ß', 'ÿ', 'Ø', '|', '~', ' ', '1'), maxLength: 20 })),
    b: nullable(fc.boolean()),
    ts: nullable(stamp(Y1000, Y9999)),
    ts3: nullable(stamp(Y1000, Y9999, 3)),
    ts0: nullable(stamp(Y1000, Y9999, 0)),
    tz: nullable(stamp(T1970, T2037)),
    dt: nullable(stamp(Y1000, Y9999, 0).map((s) => s.slice(0, 10))),
    tm: nullable(
      micros(0, 86_399).map(
        ({ sec, us }) =>
          `${pad(Math.floor(sec / 3600))}:${pad(Math.floor(sec / 60) % 60)}:${pad(sec % 60)}.${pad(us, 6)}`,
      ),
    ),
    bin: nullable(fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a))),
    u: nullable(fc.uuid({ version: [1, 2, 3, 4, 5] })),
  });

const COLS = [
  'id',
  'i2',
  'i4',
  'i8',
  'd0',
  'd2',
  'd6',
  'd4x',
  'ix',
  't',
  'tx',
  'tl',
  'b',
  'ts',
  'ts3',
  'ts0',
  'tz',
  'dt',
  'tm',
  'bin',
  'u',
] as const;

const DDL = {
  postgres: `CREATE TABLE h (id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, d0 numeric(10,0), d2 numeric(12,2), d6 numeric(15,6),
    d4x numeric(12,2), ix numeric(10,2), t varchar(200), tx text, tl varchar(20), b boolean, ts timestamp(6), ts3 timestamp(6), ts0 timestamp(0), tz timestamptz,
    dt date, tm time(6), bin bytea, u uuid)`,
  mysql: `CREATE TABLE h (id int PRIMARY KEY, i2 smallint, i4 int, i8 bigint, d0 decimal(10,0), d2 decimal(12,2), d6 decimal(15,6),
    d4x decimal(12,4), ix int, t varchar(200), tx text, tl varchar(20) CHARACTER SET latin1, b boolean, ts datetime(6), ts3 datetime(3), ts0 datetime, tz timestamp(6) NULL,
    dt date, tm time(6), bin varbinary(64), u uuid) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
  sqlite: `CREATE TABLE h (id integer PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, d0 decimal(10,0), d2 decimal(12,2), d6 decimal(15,6),
    d4x decimal(12,2), ix decimal(10,2), t varchar(200), tx text, tl varchar(20), b boolean, ts datetime(6), ts3 datetime(6), ts0 datetime(0), tz timestamptz,
    dt date, tm time(6), bin blob, u uuid)`,
};

/** Values as each engine accepts them (SQLite keeps what it is given: give it the other engines' forms). */
function values(store: Store, r: Gen): unknown[] {
  return COLS.map((c) => {
    const v = r[c];
    if (v === null) return null;
    if (c === 'tz') return store.dialect === 'mysql' ? v : `${v}Z`;
    if (c === 'd4x' && store.dialect !== 'mysql') return roundHalfAway(v as string, 2); // what PostgreSQL stores
    if (c === 'ix' && store.dialect === 'sqlite') return `${v}.00`;
    return v;
  });
}

function roundHalfAway(v: string, scale: number): string {
  const neg = v.startsWith('-');
  const [i, f = ''] = v.replace('-', '').split('.');
  const scaled = BigInt(i + f.padEnd(scale + 1, '0').slice(0, scale + 1));
  const r = (scaled + 5n) / 10n;
  const s = r.toString().padStart(scale + 1, '0');
  const out = `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}`;
  return neg && r !== 0n ? `-${out}` : out;
}

/**
 * Key shapes other than one integer: a composite (integer, string) key, a string key and a UUID key. String keys
 * compare by UTF-8 bytes in every engine, whatever the column collation (MariaDB's utf8mb4_unicode_ci here, which
 * folds case and accents and pads spaces; PostgreSQL's database collation; SQLite's BINARY), so a cell bound sends
 * a key to the same cell everywhere. The alphabet mixes characters whose byte order differs from collation order
 * ('a' < 'B' by collation, 'B' < 'a' by bytes; 'é' < 'f' by collation, 'f' < 'é' by bytes) and from UTF-16 order
 * ('\uFF5E' sorts above '😀' by UTF-16 code units, 0xFF5E > 0xD83D, and below it by code points and UTF-8 bytes).
 */
const KEY_ALPHABET = [
  'a',
  'A',
  'b',
  'B',
  'e',
  'é',
  'E',
  'f',
  'ß',
  's',
  'Ä',
  'z',
  ' ',
  '_',
  '-',
  '0',
  '9',
  '~',
  '|',
  '\uFF5E',
  '😀',
  '\u00A0',
];
const keyText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...KEY_ALPHABET), maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }).map((s) => s.replace(/\u0000/g, '')) },
);
// UUIDs sharing a prefix, so comparisons reach the later bytes; version 1 too (MariaDB stores those with the
// time fields swapped: its native order is not the text order)
const keyUuid = fc
  .tuple(
    fc.constantFrom('00000000', '0000000a', '7fffffff', '80000000', 'ffffffff', null),
    fc.uuid({ version: [1, 4] }),
  )
  .map(([p, u]) => (p === null ? u : `${p}${u.slice(8)}`));

interface KeyShape {
  table: string;
  key: string[];
  /** Key categories every engine must introspect. */
  categories: TypeCategory[];
  ddl: Record<'postgres' | 'mysql' | 'sqlite', string>;
  arb: fc.Arbitrary<unknown[]>;
}

const KEY_SHAPES: KeyShape[] = [
  {
    table: 'kc',
    key: ['a', 'b'],
    categories: ['integer', 'text'],
    ddl: {
      postgres: 'CREATE TABLE kc (a int NOT NULL, b varchar(40) NOT NULL, v text, n bigint, PRIMARY KEY (a, b))',
      mysql: 'CREATE TABLE kc (a int NOT NULL, b varchar(40) NOT NULL, v text, n bigint, PRIMARY KEY (a, b))',
      sqlite: 'CREATE TABLE kc (a integer NOT NULL, b varchar(40) NOT NULL, v text, n bigint, PRIMARY KEY (a, b))',
    },
    // few distinct integers: most comparisons are decided by the string column
    arb: fc.tuple(fc.integer({ min: -2, max: 2 }), keyText),
  },
  {
    table: 'ks',
    key: ['k'],
    categories: ['text'],
    ddl: {
      postgres: 'CREATE TABLE ks (k varchar(40) PRIMARY KEY, v text, n bigint)',
      mysql: 'CREATE TABLE ks (k varchar(40) PRIMARY KEY, v text, n bigint)',
      sqlite: 'CREATE TABLE ks (k varchar(40) PRIMARY KEY, v text, n bigint)',
    },
    arb: keyText.map((s) => [s]),
  },
  {
    table: 'ku',
    key: ['k'],
    categories: ['uuid'],
    ddl: {
      postgres: 'CREATE TABLE ku (k uuid PRIMARY KEY, v text, n bigint)',
      mysql: 'CREATE TABLE ku (k uuid PRIMARY KEY, v text, n bigint)',
      sqlite: 'CREATE TABLE ku (k uuid PRIMARY KEY, v text, n bigint)',
    },
    arb: keyUuid.map((u) => [u]),
  },
];

/** The test's own key order (not the code under test's): integers by value, strings and UUIDs by UTF-8 bytes. */
function keyOrder(a: unknown[], b: unknown[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i],
      y = b[i];
    const c =
      typeof x === 'number'
        ? x - (y as number)
        : Buffer.compare(Buffer.from(String(x), 'utf8'), Buffer.from(String(y), 'utf8'));
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}

describe('row hashes are equal across engines (property)', () => {
  let my: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pgdb: Awaited<ReturnType<typeof createPgDatabase>>;
  let dir: string;
  const stores: Store[] = [];
  const tables = new Map<Store, TableInfo>();
  const keyTables = new Map<Store, Map<string, TableInfo>>();

  beforeAll(async () => {
    my = await createMysqlDatabase('tandem_vx');
    pgdb = await createPgDatabase('tandem_vx');
    dir = mkdtempSync(join(tmpdir(), 'tandem-vx-'));
    stores.push(
      await openStore(my.url),
      await openStore(pgdb.url),
      await openStore(`sqlite:${join(dir, 'h.db')}`),
      await openStore('pglite:memory'),
    );
    for (const s of stores) {
      const d = s.dialect === 'pglite' ? 'postgres' : s.dialect;
      await s.execute(DDL[d]);
      for (const k of KEY_SHAPES) await s.execute(k.ddl[d]);
      const info = (await s.introspect()).tables;
      tables.set(s, info.get('h')!);
      keyTables.set(s, new Map(KEY_SHAPES.map((k) => [k.table, info.get(k.table)!])));
    }
  }, 120_000);
  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => {});
    await my?.drop();
    await pgdb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Per-row hashes computed by the engine (one cell per row), keyed by id. */
  async function sqlHashes(s: Store, as: (c: ColumnInfo) => ColumnInfo, ids: number[]): Promise<Map<number, bigint>> {
    const t = tables.get(s)!;
    const hashes: HashColumn[] = t.columns.map((c) => ({ column: c, as: as(c) }));
    const st = s.sql.checksum!.checksum({
      table: 'h',
      key: ['id'],
      keyCategories: ['integer'],
      after: null,
      upTo: null,
      cells: ids.slice(0, -1).map((i) => [i]),
      hashes: [hashes],
    });
    const cells = st.parse(await s.query(st.sql, st.params));
    expect(cells.every((c) => c.count === 1)).toBe(true);
    return new Map(cells.map((c) => [ids[c.cell]!, c.sums[0]!]));
  }

  /** Per-row hashes of the values the store reads back, encoded in JS (the streamed side). */
  async function jsHashes(s: Store): Promise<Map<number, bigint>> {
    const t = tables.get(s)!;
    const rows = await s.query<Row>(`SELECT * FROM h ORDER BY id`);
    return new Map(
      rows.map((r) => [
        Number(r.id),
        rowHash(
          encodeRow(
            t.columns.map((c) => canonText(r[c.name], c)),
            t.columns.map((c) => c.category),
          ),
        ),
      ]),
    );
  }

  it('MariaDB, PostgreSQL, PGlite, SQLite and JS agree on every row', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rowArb(i + 1)))),
        async (rows) => {
          const ids = rows.map((r) => r.id);
          for (const s of stores) {
            await s.execute('DELETE FROM h');
            const ph = COLS.map((_, i) => s.sql.param(i + 1)).join(', ');
            for (const r of rows) await s.execute(`INSERT INTO h (${COLS.join(', ')}) VALUES (${ph})`, values(s, r));
          }
          const pgT = tables.get(stores[1]!)!;
          const pgCol = (name: string) => pgT.columns.find((c) => c.name === name)!;
          const results: Map<number, bigint>[] = [];
          for (const s of stores) {
            const own = await sqlHashes(s, (c) => c, ids);
            const js = await jsHashes(s);
            expect(
              [...own].map(([k, v]) => [k, v.toString(16)]),
              `${s.dialect}: SQL vs JS`,
            ).toEqual([...js].map(([k, v]) => [k, v.toString(16)]));
            results.push(own);
          }
          const [, pgH, sqH, pglH] = results;
          for (const id of ids) {
            const row = rows.find((r) => r.id === id)!;
            const want = pgH!.get(id)!.toString(16);
            expect(sqH!.get(id)!.toString(16), `SQLite vs PostgreSQL, row ${JSON.stringify(row)}`).toBe(want);
            expect(pglH!.get(id)!.toString(16), `PGlite vs PostgreSQL`).toBe(want);
          }
          // MariaDB's columns hashed as PostgreSQL's types, as a source side is (DECIMAL(12,4) as numeric(12,2),
          // int as numeric(10,2), DATETIME(3) as timestamp(6)): equal to PostgreSQL's hash of what it stores
          const cross = await sqlHashes(stores[0]!, (c) => pgCol(c.name), ids);
          for (const id of ids)
            expect(
              cross.get(id)!.toString(16),
              `MariaDB (as PostgreSQL types) vs PostgreSQL, row ${JSON.stringify(rows.find((r) => r.id === id))}`,
            ).toBe(pgH!.get(id)!.toString(16));
        },
      ),
      { numRuns: 40, endOnFailure: true },
    );
  });

  it('composite (integer, string), string and UUID keys: same cells, counts and sums in every engine as in JS', async () => {
    for (const shape of KEY_SHAPES) {
      const cols = keyTables.get(stores[1]!)!.get(shape.table)!.columns; // PostgreSQL's: the reference types
      const names = cols.map((c) => c.name);
      for (const s of stores) {
        const t = keyTables.get(s)!.get(shape.table)!;
        expect(
          shape.key.map((k) => t.columns.find((c) => c.name === k)!.category),
          `${s.dialect} ${shape.table}`,
        ).toEqual(shape.categories);
      }
      const rowsArb = fc.uniqueArray(
        fc.tuple(
          shape.arb,
          nullable(text),
          nullable(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)),
        ),
        { minLength: 1, maxLength: 25, selector: ([k]) => JSON.stringify(k) },
      );
      const boundsArb = fc.record({
        random: fc.array(shape.arb, { maxLength: 6 }),
        fromRows: fc.array(fc.nat(), { maxLength: 3 }),
        ranged: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(rowsArb, boundsArb, async (generated, b) => {
          // MariaDB first: its collation may call two generated keys equal ('a' and 'A ', two emoji); the rows it
          // kept are the rows every engine holds
          const my = stores[0]!;
          const all = generated.map(([k, v, n]) => [...k, v, n]);
          await my.execute(`DELETE FROM ${shape.table}`);
          await my.execute(
            `INSERT IGNORE INTO ${shape.table} (${names.join(', ')}) VALUES ${all.map(() => `(${names.map(() => '?').join(', ')})`).join(', ')}`,
            all.flat(),
          );
          const kept = new Set(
            (await my.query<Row>(`SELECT ${shape.key.join(', ')} FROM ${shape.table}`)).map((r) =>
              JSON.stringify(shape.key.map((k) => r[k])),
            ),
          );
          const rows = all.filter((r) => kept.has(JSON.stringify(r.slice(0, shape.key.length))));
          expect(rows.length).toBe(kept.size);
          for (const s of stores.slice(1)) {
            await s.execute(`DELETE FROM ${shape.table}`);
            let i = 0;
            await s.execute(
              `INSERT INTO ${shape.table} (${names.join(', ')}) VALUES ${rows.map(() => `(${names.map(() => s.sql.param(++i)).join(', ')})`).join(', ')}`,
              rows.flat(),
            );
          }
          const keyOf = (r: unknown[]) => r.slice(0, shape.key.length);
          const hashOf = (r: unknown[]) =>
            rowHash(
              encodeRow(
                cols.map((c, i) => canonText(r[i], c)),
                cols.map((c) => c.category),
              ),
            );
          const sorted = [...rows].sort((x, y) => keyOrder(keyOf(x), keyOf(y)));
          const run = async (s: Store, after: KeyValues | null, upTo: KeyValues | null, cells: KeyValues[]) => {
            const t = keyTables.get(s)!.get(shape.table)!;
            const st = s.sql.checksum!.checksum({
              table: shape.table,
              key: shape.key,
              keyCategories: shape.categories,
              after,
              upTo,
              cells,
              hashes: [t.columns.map((c) => ({ column: c, as: c }))],
            });
            return st
              .parse(await s.query(st.sql, st.params))
              .map((c) => ({ cell: c.cell, count: c.count, sum: c.sums[0]!.toString(16) }))
              .sort((x, y) => x.cell - y.cell);
          };
          // 1. one cell per row (bounds: every key but the last, in byte order): each engine's row hash is the
          //    JS hash of the generated values, in the cell of its own key
          const perRow = sorted.map((r, cell) => ({ cell, count: 1, sum: hashOf(r).toString(16) }));
          for (const s of stores)
            expect(
              await run(s, null, null, sorted.slice(0, -1).map(keyOf)),
              `${s.dialect} ${shape.table}: one row per cell`,
            ).toEqual(perRow);
          // 2. bounds that are not keys (and some that are), with an (after, upTo] range: counts and sums per cell
          //    as the test's own byte order assigns the rows
          const picked = [...b.random, ...b.fromRows.map((i) => keyOf(sorted[i % sorted.length]!))]
            .sort(keyOrder)
            .filter((k, i, a) => i === 0 || keyOrder(a[i - 1]!, k) !== 0);
          const ranged = b.ranged && picked.length >= 2;
          const after = ranged ? picked[0]! : null;
          const upTo = ranged ? picked[picked.length - 1]! : null;
          const cells = ranged ? picked.slice(1, -1) : picked;
          const want = new Map<number, { count: number; sum: bigint }>();
          for (const r of sorted) {
            const k = keyOf(r);
            if ((after && keyOrder(k, after) <= 0) || (upTo && keyOrder(k, upTo) > 0)) continue;
            let cell = cells.findIndex((c) => keyOrder(k, c) <= 0);
            if (cell < 0) cell = cells.length;
            const w = want.get(cell) ?? { count: 0, sum: 0n };
            want.set(cell, { count: w.count + 1, sum: mod64(w.sum + hashOf(r)) });
          }
          const expected = [...want]
            .sort(([x], [y]) => x - y)
            .map(([cell, w]) => ({ cell, count: w.count, sum: w.sum.toString(16) }));
          for (const s of stores)
            expect(
              await run(s, after, upTo, cells),
              `${s.dialect} ${shape.table}: after ${JSON.stringify(after)}, up to ${JSON.stringify(upTo)}, cells ${JSON.stringify(cells)}`,
            ).toEqual(expected);
        }),
        { numRuns: 30, endOnFailure: true },
      );
    }
  });

  it('sums per cell are the sums of the row hashes, mod 2^64, whatever the engine', async () => {
    const ids: number[] = [];
    for (const s of stores) await s.execute('DELETE FROM h');
    for (let id = 1; id <= 300; id++) {
      ids.push(id);
      for (const s of stores)
        await s.execute(`INSERT INTO h (id, i8, t) VALUES (${s.sql.param(1)}, ${s.sql.param(2)}, ${s.sql.param(3)})`, [
          id,
          String(BigInt(id) * 30_000_000_000_000_000n),
          `row ${id}`,
        ]);
    }
    const totals: string[] = [];
    for (const s of stores) {
      const per = await jsHashes(s);
      const want = mod64([...per.values()].reduce((a, b) => a + b, 0n));
      const t = tables.get(s)!;
      const st = s.sql.checksum!.checksum({
        table: 'h',
        key: ['id'],
        keyCategories: ['integer'],
        after: [0],
        upTo: null,
        cells: [],
        hashes: [t.columns.map((c) => ({ column: c, as: c }))],
      });
      const [cell] = st.parse(await s.query(st.sql, st.params));
      expect(cell!.count).toBe(300);
      expect(cell!.sums[0]).toBe(want);
      totals.push(cell!.sums[0]!.toString(16));
    }
    expect(new Set(totals).size).toBe(1);
  });
});

describe('types the engines cannot encode in SQL', () => {
  it('SQLite encodes float, json and char(n) exactly as JS; PostgreSQL keeps char(n) padding; floats and json stream elsewhere', async () => {
    const my = await createMysqlDatabase('tandem_vy');
    const pgdb = await createPgDatabase('tandem_vy');
    const stores = [await openStore(my.url), await openStore(pgdb.url), await openStore('sqlite::memory:')];
    try {
      const ddl = {
        mysql: 'CREATE TABLE f (id int PRIMARY KEY, c char(5), f4 float, f8 double, j json)',
        postgres: 'CREATE TABLE f (id int PRIMARY KEY, c char(5), f4 real, f8 double precision, j jsonb)',
        sqlite: 'CREATE TABLE f (id integer PRIMARY KEY, c char(5), f4 float, f8 double, j json)',
      };
      const rows = [
        [1, 'ab', 0.1, 1e21, '{"b":1,"a":[1,2]}'],
        [2, '', 123456789, -0.000001, '[]'],
        [3, null, null, 1.0000000000000002, null],
        [4, 'x |~', 3.4e38, 5e-324, '{"é":"☃"}'],
      ];
      for (const s of stores) {
        await s.execute(ddl[s.dialect as 'mysql' | 'postgres' | 'sqlite']);
        for (const r of rows)
          await s.execute(`INSERT INTO f VALUES (${r.map((_, i) => s.sql.param(i + 1)).join(', ')})`, r);
        const t = (await s.introspect()).tables.get('f')!;
        const cs = s.sql.checksum!;
        const supported = t.columns.filter((c) => cs.supports({ column: c, as: c })).map((c) => c.name);
        expect(supported, s.dialect).toEqual(s.dialect === 'sqlite' ? ['id', 'c', 'f4', 'f8', 'j'] : ['id', 'c']);
        const cols = t.columns.filter((c) => supported.includes(c.name));
        const st = cs.checksum({
          table: 'f',
          key: ['id'],
          keyCategories: ['integer'],
          after: null,
          upTo: null,
          cells: [[1], [2], [3]],
          hashes: [cols.map((c) => ({ column: c, as: c }))],
        });
        const cells = st.parse(await s.query(st.sql, st.params));
        const back = await s.query<Row>('SELECT * FROM f ORDER BY id');
        expect(
          cells.map((c) => c.sums[0]),
          s.dialect,
        ).toEqual(
          back.map((r) =>
            rowHash(
              encodeRow(
                cols.map((c) => canonText(r[c.name], c)),
                cols.map((c) => c.category),
              ),
            ),
          ),
        );
      }
    } finally {
      for (const s of stores) await s.close();
      await my.drop();
      await pgdb.drop();
    }
  });
});
