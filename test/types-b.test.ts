import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';

/**
 * Issue 13, item 9 (types-b): spatial values, YEAR, BIT(n), unsigned 64-bit integers, zero dates, INET4/INET6,
 * addresses and networks in text, MAC addresses, intervals (from TIME and from ISO text) and money, MariaDB →
 * PostgreSQL (backfill, verify full and checksum) → a fresh MariaDB with the original schema (backfill from
 * PostgreSQL, verify), where every value equals the original (zero dates excepted: the declared cast made them NULL).
 */

const LEGACY = `CREATE TABLE things (
  id INT NOT NULL PRIMARY KEY,
  g GEOMETRY NULL, p POINT NULL, poly POLYGON NULL,
  y YEAR NULL, b1 BIT(1) NULL, b10 BIT(10) NULL, u BIGINT UNSIGNED NULL,
  d DATE NULL, dt DATETIME NULL,
  ip6 INET6 NULL, ip4 INET4 NULL, net VARCHAR(43) NULL, mac VARCHAR(17) NULL,
  dur TIME(6) NULL, durtxt VARCHAR(40) NULL, price DECIMAL(12,2) NULL
)`;

const NEW = `CREATE TABLE things (
  id integer PRIMARY KEY,
  g bytea, p text, poly bytea,
  y smallint, b1 bit(1), b10 bit(10), u numeric(20,0),
  d date, dt timestamp(0),
  ip6 inet, ip4 inet, net cidr, mac macaddr,
  dur interval, durtxt interval, price money, flag boolean
)`;

const COLUMNS = [
  'id',
  'g',
  'p',
  'poly',
  'y',
  'b1',
  'b10',
  'u',
  'd',
  'dt',
  'ip6',
  'ip4',
  'net',
  'mac',
  'dur',
  'durtxt',
  'price',
];

const geoms = [
  `ST_GeomFromText('POINT(1 2)', 4326)`,
  `ST_GeomFromText('POINT(-71.0603 42.3583)', 0)`,
  `ST_GeomFromText('LINESTRING(0 0,1 1,2 0.5)', 3857)`,
  `ST_GeomFromText('MULTIPOLYGON(((0 0,4 0,4 4,0 0)),((10 10,12 10,12 12,10 10)))', 4326)`,
  `ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))', 0)`,
];
const ip6 = ['2001:DB8::1', '::ffff:10.1.2.3', '2001:db8:0:1:1:1:1:1', 'fe80::', '::1', '2001:0:0:1::1'];
const nets = ['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32', '10.0.0.1/32', '2001:db8::1/128'];
const durs = ['04:05:06.500000', '-12:30:00.500000', '00:00:00.000000', '838:59:59.000000', '-838:59:59.000000'];
const isoDurs = ['P1Y2M3DT4H5M6.5S', 'P-1DT-1S', 'PT0S', 'P1M-1D', 'PT0.000001S', 'P-1Y-2M'];

/** Row i as SQL expressions (geometry built by the server) — row 1 and 2 hold the edge values, 50 NULL-heavy. */
function rowSql(i: number): string {
  if (i === 50)
    return `(50, ${Array(COLUMNS.length - 1)
      .fill('NULL')
      .join(', ')})`;
  const q = (s: string) => `'${s}'`;
  const vals = [
    String(i),
    geoms[i % geoms.length]!,
    `ST_PointFromText('POINT(${i}.25 -${i}.5)', ${i % 2 ? 4326 : 0})`,
    `ST_PolygonFromText('POLYGON((0 0,${i} 0,${i} ${i},0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1))', ${i % 3 ? 0 : 4326})`,
    String(i === 1 ? 1901 : i === 2 ? 2155 : i === 3 ? 0 : 1950 + i),
    `b'${i % 2}'`,
    `b'${((i * 37) % 1024).toString(2)}'`,
    i === 1 ? '18446744073709551615' : i === 2 ? '0' : `${9223372036854775807n + BigInt(i)}`,
    q(i % 5 === 0 ? '0000-00-00' : `2020-01-${String((i % 28) + 1).padStart(2, '0')}`),
    q(i % 7 === 0 ? '0000-00-00 00:00:00' : `2021-06-${String((i % 28) + 1).padStart(2, '0')} 12:34:56`),
    q(ip6[i % ip6.length]!),
    q(`10.0.${i}.${i % 256}`),
    q(nets[i % nets.length]!),
    q(`08:00:2b:01:02:${(i % 256).toString(16).padStart(2, '0')}`),
    q(durs[i % durs.length]!),
    q(isoDurs[i % isoDurs.length]!),
    i === 1 ? '-9999999999.99' : i === 2 ? '9999999999.99' : `${i * 1000 + 0.05}`,
  ];
  return `(${vals.join(', ')})`;
}

const config = (src: string, tgt: string, columns: string, extra = true) => `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(src)},
  target: ${JSON.stringify(tgt)},
  entities: {
    things: { table: 'things', key: 'id', targets: [{ table: 'things', columns: ${columns} }] },${
      extra
        ? `
    plain: { table: 'things', key: 'id', targets: [{ table: 'plain', columns: ${PLAIN_SIMPLE} }] },`
        : ''
    }
  },
});
`;

const FORWARD = `{ id: 'id', g: { from: 'g', cast: 'ewkb' }, p: { from: 'p', cast: 'ewkt' }, poly: { from: 'poly', cast: 'ewkb' },
  y: 'y', b1: 'b1', b10: 'b10', u: 'u', d: { from: 'd', cast: 'zero-date-null' }, dt: { from: 'dt', cast: 'zero-date-null' },
  ip6: 'ip6', ip4: 'ip4', net: 'net', mac: 'mac', dur: 'dur', durtxt: 'durtxt', price: 'price', flag: 'b1' }`;
/** Columns both engines encode in SQL: the checksum of this entity is pushed down on both sides. */
const PLAIN_SIMPLE = `{ id: 'id', y: 'y', b1: 'b1', b10: 'b10', u: 'u', ip4: 'ip4', price: 'price' }`;
const PLAIN = `{ ${COLUMNS.map((c) => `${c}: '${c}'`).join(', ')} }`;

/** Every row of `things` as the server prints each value (text, so bytes and types compare exactly). */
async function dumpMysql(url: string): Promise<Record<string, unknown>[]> {
  const c = await mysql.createConnection({ uri: url });
  const [rows] = await c.query(
    `SELECT id, HEX(g) g, HEX(p) p, HEX(poly) poly, y, BIN(b1) b1, BIN(b10) b10, CAST(u AS CHAR) u, CAST(d AS CHAR) d,
            CAST(dt AS CHAR) dt, CAST(ip6 AS CHAR) ip6, CAST(ip4 AS CHAR) ip4, net, mac, CAST(dur AS CHAR) dur, durtxt,
            CAST(price AS CHAR) price FROM things ORDER BY id`,
  );
  await c.end();
  return rows as Record<string, unknown>[];
}

describe('types beyond the common ones (MariaDB → PostgreSQL → MariaDB)', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let back: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let c: pg.Client;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_tb_src');
    back = await createMysqlDatabase('tandem_tb_back');
    tgt = await createPgDatabase('tandem_tb');
    for (const url of [src.url, back.url]) {
      const m = await mysql.createConnection({ uri: url });
      await m.query(`SET SESSION sql_mode = 'STRICT_TRANS_TABLES'`);
      await m.query(LEGACY);
      if (url === src.url)
        await m.query(`INSERT INTO things VALUES ${Array.from({ length: 50 }, (_, i) => rowSql(i + 1)).join(', ')}`);
      await m.end();
    }
    c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    await c.query(NEW);
    await c.query(
      'CREATE TABLE plain (id integer PRIMARY KEY, y smallint, b1 bit(1), b10 bit(10), u numeric(20,0), ip4 inet, price money)',
    );
    await c.query('SET IntervalStyle = iso_8601');
  });
  afterAll(async () => {
    await c?.end();
    await src?.drop();
    await back?.drop();
    await tgt?.drop();
  });

  it('without the cast, a zero date into a PostgreSQL date is a pre-flight misfit that names the fix, and nothing is written', async () => {
    const cfg = writeConfig(
      config(src.url, tgt.url, FORWARD.replace(/\{ from: 'd', cast: 'zero-date-null' \}/, "'d'")),
    );
    const r = await runCli(['backfill', '--config', cfg]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/things/);
    expect(r.stderr).toMatch(/\bd\b/);
    expect(r.stderr).toContain("cast: 'zero-date-null'");
    expect((await c.query('SELECT count(*)::int AS n FROM things')).rows[0].n).toBe(0);
  });

  it('backfills, and verify --mode full and --mode checksum exit 0; the report names the columns that stream', async () => {
    const cfg = writeConfig(config(src.url, tgt.url, FORWARD));
    const bf = await runCli(['backfill', '--config', cfg]);
    expect(bf.code, bf.stderr).toBe(0);
    const full = await runCli(['verify', '--config', cfg, '--mode', 'full']);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const sum = await runCli(['verify', '--config', cfg, '--mode', 'checksum', '--json']);
    expect(sum.code, sum.stdout + sum.stderr).toBe(0);
    const report = JSON.parse(sum.stdout) as {
      entities: { entity: string; matched: number; pushdown: unknown; notes: string[] }[];
    };
    const things = report.entities.find((e) => e.entity === 'things')!;
    const plain = report.entities.find((e) => e.entity === 'plain')!;
    expect([things.matched, plain.matched]).toEqual([50, 50]);
    // PostgreSQL encodes every column in SQL (inet, interval, bit, money included)
    // the casts and INET6 cannot be encoded in MariaDB's SQL: those columns alone fall back to the streamed
    // comparison (the others stay pushed down on both sides), and the notes name each one
    expect(things.pushdown).toEqual({ source: 'sql', targets: { things: 'sql' } });
    expect(things.notes.join('\n')).toMatch(
      /compared by streaming \(mysql cannot encode g as binary cast ewkb, .*ip6 as inet/,
    );
    expect((things as unknown as { streamedColumns: Record<string, string[]> }).streamedColumns.things).toEqual(
      expect.arrayContaining(['g', 'ip6']),
    );
    // YEAR, BIT(n), BIGINT UNSIGNED, INET4 and DECIMAL → money push down on both sides
    expect(plain.pushdown).toEqual({ source: 'sql', targets: { plain: 'sql' } });
    expect(plain.notes).toEqual([]);

    const r = await c.query(
      `SELECT id, encode(g, 'hex') g, p, y, b1::text b1, b10::text b10, u::text u, d::text d, dt::text dt, ip6::text ip6,
              net::text net, mac::text mac, dur::text dur, durtxt::text durtxt, price::numeric::text price, flag
         FROM things WHERE id IN (1, 2, 3, 5, 7, 50) ORDER BY id`,
    );
    const [one, two, three, five, seven, fifty] = r.rows;
    expect(one).toMatchObject({
      p: 'SRID=4326;POINT(1.25 -1.5)',
      y: 1901,
      b1: '1',
      b10: '0000100101',
      u: '18446744073709551615',
      ip6: '::ffff:10.1.2.3/128',
      net: '192.168.1.0/24',
      mac: '08:00:2b:01:02:01',
      dur: 'PT-12H-30M-0.5S',
      durtxt: 'P-1DT-1S',
      price: '-9999999999.99',
      flag: true, // BIT(1) → boolean
    });
    expect(two).toMatchObject({ y: 2155, u: '0', b1: '0', flag: false, p: 'POINT(2.25 -2.5)', price: '9999999999.99' });
    expect(three.y).toBe(0);
    expect(five.g).toBe('0101000020e6100000000000000000f03f0000000000000040'); // SRID 4326 kept (EWKB)
    expect(one.g).toMatch(/^0101000000/); // SRID 0: plain WKB
    expect(five.d).toBeNull(); // zero date → NULL by the declared cast
    expect(seven.dt).toBeNull();
    expect(fifty).toMatchObject({ g: null, y: null, b10: null, u: null, dur: null, price: null });
  });

  it('a changed inet, bit and interval value is found, and repaired', async () => {
    const cfg = writeConfig(config(src.url, tgt.url, FORWARD));
    await c.query(`UPDATE things SET ip6 = '2001:db8::2', b10 = B'1111111111', durtxt = '30 days' WHERE id = 4`);
    const v = await runCli(['verify', '--config', cfg, '--mode', 'checksum', '--json']);
    expect(v.code, v.stdout).not.toBe(0);
    const diffs = JSON.parse(v.stdout).differences as { key: string; columns: { column: string }[] }[];
    expect(diffs.map((d) => [d.key, d.columns.map((x) => x.column).sort()])).toEqual([
      ['["4"]', ['b10', 'durtxt', 'ip6']],
    ]);
    // repair re-applies key 4 from the source (the round trip below compares every value with the original)
    const rp = await runCli(['repair', '--config', cfg, '--include-pending']);
    expect(rp.code, rp.stdout + rp.stderr).toBe(0);
  });

  it('back to MariaDB with the original schema: every value equals the original, verify exits 0', async () => {
    const cfg = writeConfig(config(tgt.url, back.url, PLAIN, false));
    const bf = await runCli(['backfill', '--config', cfg]);
    expect(bf.code, bf.stderr).toBe(0);
    const v = await runCli(['verify', '--config', cfg, '--mode', 'checksum']);
    expect(v.code, `${v.stdout}${v.stderr}`).toBe(0);
    const original = await dumpMysql(src.url);
    const roundTrip = await dumpMysql(back.url);
    expect(roundTrip).toHaveLength(50);
    const expected = original.map((r) => ({
      ...r,
      d: r.d === '0000-00-00' ? null : r.d,
      dt: r.dt === '0000-00-00 00:00:00' ? null : r.dt,
    }));
    expect(roundTrip).toEqual(expected);
    // the edge values really are there
    expect(original[0]).toMatchObject({ y: 1901, u: '18446744073709551615', b1: '1' });
    expect(original.filter((r) => r.d === '0000-00-00').length).toBeGreaterThan(0);
  });
});
