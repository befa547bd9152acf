import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import type { ColumnInfo, HashColumn, Row, Store, TableInfo } from '../../src/stores/types.js';
import { canonText, encodeRow, mod64, rowHash } from '../../src/verify/encoding.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * Property: random rows of every type the checksums push down, written to MariaDB, PostgreSQL, PGlite and
 * SQLite, hash equal in every engine (in SQL, per row) and equal to the JS encoding of the values each store
 * reads back (the streamed side). Also: source-side conversions (a MariaDB DECIMAL(14,4) hashed as numeric(14,2),
 * an integer as a decimal, DATETIME(3) as timestamp(6)) equal the target engine's own hash of the stored value.
 */

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

interface Gen {
  id: number;
  i2: number | null; i4: number | null; i8: string | null;
  d0: string | null; d2: string | null; d6: string | null; d4x: string | null; ix: number | null;
  t: string | null; tx: string | null; tl: string | null; b: boolean | null;
  ts: string | null; ts3: string | null; ts0: string | null; tz: string | null;
  dt: string | null; tm: string | null; bin: Buffer | null; u: string | null;
}

const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { freq: 5, nil: null });
const text = fc.string({ unit: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('|', '~', '\\', "'", '"', ' ', '0', '9', ':', 'é', '☃', '😀', '\t', '\n', 'Z', 'a') }, { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) }), maxLength: 40 })
  .map((s) => s.replace(/\u0000/g, ''));
const decimal = (intDigits: number, scale: number) =>
  fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** BigInt(intDigits + scale) - 1n })).map(([neg, v]) => {
    const s = v.toString().padStart(scale + 1, '0');
    const body = scale ? `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}` : s;
    return neg && v !== 0n ? `-${body}` : body;
  });
const micros = (from: number, to: number) => fc.integer({ min: from, max: to }).chain((sec) => fc.integer({ min: 0, max: 999_999 }).map((us) => ({ sec, us })));
const stamp = (from: number, to: number, digits = 6) =>
  micros(from, to).map(({ sec, us }) => {
    const d = new Date(sec * 1000);
    const frac = digits ? `.${pad(Math.floor(us / 10 ** (6 - digits)) * 10 ** (6 - digits), 6).slice(0, digits)}` : '';
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}`;
  });
const Y1000 = Date.UTC(1000, 0, 1) / 1000, Y9999 = Date.UTC(9999, 11, 31) / 1000;
const T1970 = 86_400, T2037 = Date.UTC(2037, 11, 31) / 1000;

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
    tm: nullable(micros(0, 86_399).map(({ sec, us }) => `${pad(Math.floor(sec / 3600))}:${pad(Math.floor(sec / 60) % 60)}:${pad(sec % 60)}.${pad(us, 6)}`)),
    bin: nullable(fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a))),
    u: nullable(fc.uuid({ version: [1, 2, 3, 4, 5] })),
  });

const COLS = ['id', 'i2', 'i4', 'i8', 'd0', 'd2', 'd6', 'd4x', 'ix', 't', 'tx', 'tl', 'b', 'ts', 'ts3', 'ts0', 'tz', 'dt', 'tm', 'bin', 'u'] as const;

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

describe('row hashes are equal across engines (property)', () => {
  let my: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pgdb: Awaited<ReturnType<typeof createPgDatabase>>;
  let dir: string;
  const stores: Store[] = [];
  const tables = new Map<Store, TableInfo>();

  beforeAll(async () => {
    my = await createMysqlDatabase('tandem_vx');
    pgdb = await createPgDatabase('tandem_vx');
    dir = mkdtempSync(join(tmpdir(), 'tandem-vx-'));
    stores.push(await openStore(my.url), await openStore(pgdb.url), await openStore(`sqlite:${join(dir, 'h.db')}`), await openStore('pglite:memory'));
    for (const s of stores) {
      await s.execute(DDL[s.dialect === 'pglite' ? 'postgres' : s.dialect]);
      tables.set(s, (await s.introspect()).tables.get('h')!);
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
    const st = s.sql.checksum!.checksum({ table: 'h', key: ['id'], keyCategories: ['integer'], after: null, upTo: null, cells: ids.slice(0, -1).map((i) => [i]), hashes: [hashes] });
    const cells = st.parse(await s.query(st.sql, st.params));
    expect(cells.every((c) => c.count === 1)).toBe(true);
    return new Map(cells.map((c) => [ids[c.cell]!, c.sums[0]!]));
  }

  /** Per-row hashes of the values the store reads back, encoded in JS (the streamed side). */
  async function jsHashes(s: Store): Promise<Map<number, bigint>> {
    const t = tables.get(s)!;
    const rows = await s.query<Row>(`SELECT * FROM h ORDER BY id`);
    return new Map(rows.map((r) => [Number(r.id), rowHash(encodeRow(t.columns.map((c) => canonText(r[c.name], c)), t.columns.map((c) => c.category)))]));
  }

  it('MariaDB, PostgreSQL, PGlite, SQLite and JS agree on every row', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rowArb(i + 1)))), async (rows) => {
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
          expect([...own].map(([k, v]) => [k, v.toString(16)]), `${s.dialect}: SQL vs JS`).toEqual([...js].map(([k, v]) => [k, v.toString(16)]));
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
        for (const id of ids) expect(cross.get(id)!.toString(16), `MariaDB (as PostgreSQL types) vs PostgreSQL, row ${JSON.stringify(rows.find((r) => r.id === id))}`).toBe(pgH!.get(id)!.toString(16));
      }),
      { numRuns: 40, endOnFailure: true },
    );
  });

  it('sums per cell are the sums of the row hashes, mod 2^64, whatever the engine', async () => {
    const ids: number[] = [];
    for (const s of stores) await s.execute('DELETE FROM h');
    for (let id = 1; id <= 300; id++) {
      ids.push(id);
      for (const s of stores) await s.execute(`INSERT INTO h (id, i8, t) VALUES (${s.sql.param(1)}, ${s.sql.param(2)}, ${s.sql.param(3)})`, [id, String(BigInt(id) * 30_000_000_000_000_000n), `row ${id}`]);
    }
    const totals: string[] = [];
    for (const s of stores) {
      const per = await jsHashes(s);
      const want = mod64([...per.values()].reduce((a, b) => a + b, 0n));
      const t = tables.get(s)!;
      const st = s.sql.checksum!.checksum({ table: 'h', key: ['id'], keyCategories: ['integer'], after: [0], upTo: null, cells: [], hashes: [t.columns.map((c) => ({ column: c, as: c }))] });
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
      const ddl = { mysql: 'CREATE TABLE f (id int PRIMARY KEY, c char(5), f4 float, f8 double, j json)', postgres: 'CREATE TABLE f (id int PRIMARY KEY, c char(5), f4 real, f8 double precision, j jsonb)', sqlite: 'CREATE TABLE f (id integer PRIMARY KEY, c char(5), f4 float, f8 double, j json)' };
      const rows = [[1, 'ab', 0.1, 1e21, '{"b":1,"a":[1,2]}'], [2, '', 123456789, -0.000001, '[]'], [3, null, null, 1.0000000000000002, null], [4, 'x |~', 3.4e38, 5e-324, '{"é":"☃"}']];
      for (const s of stores) {
        await s.execute(ddl[s.dialect as 'mysql' | 'postgres' | 'sqlite']);
        for (const r of rows) await s.execute(`INSERT INTO f VALUES (${r.map((_, i) => s.sql.param(i + 1)).join(', ')})`, r);
        const t = (await s.introspect()).tables.get('f')!;
        const cs = s.sql.checksum!;
        const supported = t.columns.filter((c) => cs.supports({ column: c, as: c })).map((c) => c.name);
        expect(supported, s.dialect).toEqual(s.dialect === 'sqlite' ? ['id', 'c', 'f4', 'f8', 'j'] : ['id', 'c']);
        const cols = t.columns.filter((c) => supported.includes(c.name));
        const st = cs.checksum({ table: 'f', key: ['id'], keyCategories: ['integer'], after: null, upTo: null, cells: [[1], [2], [3]], hashes: [cols.map((c) => ({ column: c, as: c }))] });
        const cells = st.parse(await s.query(st.sql, st.params));
        const back = await s.query<Row>('SELECT * FROM f ORDER BY id');
        expect(cells.map((c) => c.sums[0]), s.dialect).toEqual(back.map((r) => rowHash(encodeRow(cols.map((c) => canonText(r[c.name], c)), cols.map((c) => c.category)))));
      }
    } finally {
      for (const s of stores) await s.close();
      await my.drop();
      await pgdb.drop();
    }
  });
});
