import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/core/canonical.js';
import {
  bitBytes,
  canonicalBit,
  canonicalGeometry,
  canonicalInet,
  canonicalInterval,
  canonicalMacaddr,
  ewkbFromMysql,
  intervalAsTime,
  isZeroDate,
  mysqlGeometryBytes,
  toEwkt,
  toWkb,
  toWkt,
} from '../../src/core/extra-types.js';

describe('bit(n)', () => {
  it('MySQL BIT(n) bytes and PostgreSQL bit text meet as n binary digits', () => {
    expect(canonicalBit(Buffer.from([0x02, 0xaa]), 10)).toBe('1010101010');
    expect(canonicalBit('1010101010', 10)).toBe('1010101010');
    expect(canonicalBit(Buffer.from([1]), 1)).toBe('1');
    expect(canonicalBit(Buffer.from([0]), 1)).toBe('0');
    expect(canonicalBit(5, 4)).toBe('0101');
    expect(canonicalize(Buffer.from([0x05]), { category: 'bit', bits: 4 } as never)).toBe('0101');
    expect(() => canonicalBit(Buffer.from([0x12]), 4)).toThrow(TypeError);
    expect(() => canonicalBit('012')).toThrow(TypeError);
  });
  it('a BIT(1) flag reads as a boolean, and a boolean as a bit', () => {
    expect(canonicalize(Buffer.from([1]), { category: 'boolean' })).toBe('true');
    expect(canonicalize(Buffer.from([0]), { category: 'boolean' })).toBe('false');
    expect(() => canonicalize(Buffer.from([2]), { category: 'boolean' })).toThrow(TypeError);
    expect(canonicalBit(true, 1)).toBe('1');
    expect((bitBytes(false, 1) as Buffer).toString('hex')).toBe('00');
  });
  it('bitBytes writes the big-endian bytes BIT(n) stores', () => {
    expect((bitBytes('1010101010') as Buffer).toString('hex')).toBe('02aa');
    expect((bitBytes('1') as Buffer).toString('hex')).toBe('01');
    expect((bitBytes('') as Buffer).toString('hex')).toBe('00');
  });
});

describe('inet', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.1/32', '10.0.0.1'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/128', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::ffff:0102:0304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['::1', '::1'],
    ['::', '::'],
    ['1::', '1::'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['2001:db8::/32', '2001:db8::/32'],
  ])('%s → %s (as PostgreSQL prints it)', (input, out) => {
    expect(canonicalInet(input)).toBe(out);
  });
  it('refuses what is not an address', () => {
    for (const bad of ['10.0.0.256', '1:2:3:4:5:6:7:8:9', '10.0.0.1/33', 'host', '1::2::3', ''])
      expect(() => canonicalInet(bad)).toThrow(TypeError);
  });
  it('reads 4- and 16-byte binary values', () => {
    expect(canonicalInet(Buffer.from([10, 0, 0, 1]))).toBe('10.0.0.1');
    expect(canonicalInet(Buffer.from('20010db8000000000000000000000001', 'hex'))).toBe('2001:db8::1');
  });
});

describe('macaddr', () => {
  it('every spelling becomes lower-case colon pairs', () => {
    for (const s of ['08:00:2B:01:02:03', '08-00-2b-01-02-03', '08002b:010203', '0800.2b01.0203', '08002b010203'])
      expect(canonicalMacaddr(s)).toBe('08:00:2b:01:02:03');
    expect(canonicalMacaddr('08:00:2b:01:02:03:04:05')).toBe('08:00:2b:01:02:03:04:05');
    expect(canonicalMacaddr('08:00:2b:01:02:03', true)).toBe('08:00:2b:ff:fe:01:02:03');
    expect(() => canonicalMacaddr('08:00:2b:01:02')).toThrow(TypeError);
  });
});

describe('interval', () => {
  it.each([
    ['1 year 2 mons 3 days 04:05:06.5', 'P1Y2M3DT4H5M6.5S'],
    ['P1Y2M3DT4H5M6.5S', 'P1Y2M3DT4H5M6.5S'],
    ['-1 days -00:00:01', 'P-1DT-1S'],
    ['00:00:00', 'PT0S'],
    ['1 mon -1 days', 'P1M-1D'],
    ['-01:30:00', 'PT-1H-30M'],
    ['00:00:00.000001', 'PT0.000001S'],
    ['-1 years -2 mons', 'P-1Y-2M'],
    ['100:00:00', 'PT100H'],
    ['838:59:59.000000', 'PT838H59M59S'],
    ['-00:00:00.5', 'PT-0.5S'],
    ['P2W', 'P14D'],
    ['5 hours', 'PT5H'],
  ])('%s → %s (PostgreSQL iso_8601 output)', (input, out) => {
    expect(canonicalInterval(input)).toBe(out);
  });
  it('days are never folded into months, nor hours into days', () => {
    expect(canonicalInterval('30 days')).not.toBe(canonicalInterval('1 mon'));
    expect(canonicalInterval('24:00:00')).not.toBe(canonicalInterval('1 day'));
  });
  it("reads pg's interval object", () => {
    expect(
      canonicalInterval({ years: 1, months: 2, days: 3, hours: 4, minutes: 5, seconds: 6, milliseconds: 500 }),
    ).toBe('P1Y2M3DT4H5M6.5S');
  });
  it('a time-only interval is a TIME literal, others are not', () => {
    expect(intervalAsTime('PT-12H-30M-0.5S')).toBe('-12:30:00.500000');
    expect(intervalAsTime('P1D')).toBeNull();
  });
  it('refuses what is not an interval', () => {
    for (const bad of ['P', 'PT', '1 fortnight', 'abc', '1.5 mons'])
      expect(() => canonicalInterval(bad)).toThrow(TypeError);
  });
});

describe('geometry', () => {
  const point4326 = Buffer.from('e61000000101000000000000000000f03f0000000000000040', 'hex'); // MySQL internal
  it('MySQL internal format → EWKB, and back, byte for byte', () => {
    const ewkb = ewkbFromMysql(point4326);
    expect(ewkb.toString('hex')).toBe('0101000020e6100000000000000000f03f0000000000000040');
    expect((mysqlGeometryBytes(ewkb) as Buffer).equals(point4326)).toBe(true);
    const srid0 = Buffer.from('000000000101000000000000000000f83f00000000000000c0', 'hex');
    expect(ewkbFromMysql(srid0).toString('hex')).toBe('0101000000000000000000f83f00000000000000c0');
    expect((mysqlGeometryBytes(ewkbFromMysql(srid0)) as Buffer).equals(srid0)).toBe(true);
  });
  it('WKB, EWKB, WKT, EWKT and hex of the same geometry have one canonical text', () => {
    const c = canonicalGeometry('SRID=4326;POINT(1 2)');
    expect(c).toBe('0101000020e6100000000000000000f03f0000000000000040');
    expect(canonicalGeometry(ewkbFromMysql(point4326))).toBe(c);
    expect(canonicalGeometry('0101000020E6100000000000000000F03F0000000000000040')).toBe(c);
    // big-endian WKB reads as the same point
    expect(canonicalGeometry(Buffer.from('00000000013ff00000000000004000000000000000', 'hex'))).toBe(
      canonicalGeometry('POINT(1 2)'),
    );
    expect(canonicalGeometry('POINT(1 2)')).not.toBe(c); // SRID 0 differs from 4326
  });
  it('casts: wkt, ewkt, wkb', () => {
    const poly = 'SRID=4326;POLYGON((0 0,1 0,1 1,0 0))';
    expect(toWkt(poly)).toBe('POLYGON((0 0,1 0,1 1,0 0))');
    expect(toEwkt(poly)).toBe(poly);
    expect(toEwkt('POINT(1 2)')).toBe('POINT(1 2)');
    expect(toWkb(poly).subarray(0, 5).toString('hex')).toBe('0103000000');
  });
  it('refuses what is not spatial', () => {
    expect(() => canonicalGeometry('not a shape')).toThrow(TypeError);
    expect(() => canonicalGeometry(Buffer.from('0102', 'hex'))).toThrow(TypeError);
  });
});

describe('zero dates', () => {
  it('recognises the zero date and timestamp only', () => {
    expect(isZeroDate('0000-00-00')).toBe(true);
    expect(isZeroDate('0000-00-00 00:00:00')).toBe(true);
    expect(isZeroDate('0000-00-00 00:00:00.000000')).toBe(true);
    expect(isZeroDate('0000-00-00 12:00:00')).toBe(false);
    expect(isZeroDate('2020-01-01')).toBe(false);
    expect(isZeroDate(null)).toBe(false);
  });
});

describe('introspection, reads and range checks of these types', () => {
  it('MySQL/MariaDB columns get their categories', async () => {
    const { mysqlColumn } = await import('../../src/stores/mysql/introspect.js');
    const col = (columnType: string, dataType: string) =>
      mysqlColumn({ name: 'c', columnType, dataType, nullable: true, extra: '' });
    expect(col('year(4)', 'year')).toMatchObject({ category: 'integer', intBytes: 2 });
    expect(col('bit(10)', 'bit')).toMatchObject({ category: 'bit', bits: 10 });
    for (const t of ['geometry', 'point', 'polygon', 'multipolygon', 'geometrycollection'])
      expect(col(t, t).category).toBe('geometry');
    expect(col('inet6', 'inet6').category).toBe('inet');
    expect(col('inet4', 'inet4').category).toBe('inet');
    expect(col('bigint(20) unsigned', 'bigint')).toMatchObject({ category: 'integer', intBytes: 8, unsigned: true });
    expect(col('date', 'date').zeroDates).toBe(true);
    expect(col('datetime', 'datetime').zeroDates).toBe(true);
  });
  it('PostgreSQL columns get their categories', async () => {
    const { pgColumn } = await import('../../src/stores/postgres/introspect.js');
    const col = (dataType: string, typname: string, typmod = -1) =>
      pgColumn('c', dataType, typname, 'b', typmod, true, false);
    expect(col('bit(10)', 'bit', 10)).toMatchObject({ category: 'bit', bits: 10 });
    expect(col('bit varying', 'varbit').category).toBe('bit');
    expect(col('inet', 'inet').category).toBe('inet');
    expect(col('cidr', 'cidr').category).toBe('inet');
    expect(col('macaddr8', 'macaddr8').category).toBe('macaddr');
    expect(col('interval', 'interval').category).toBe('interval');
    expect(col('money', 'money')).toMatchObject({ category: 'decimal', scale: 2 });
    expect(col('date', 'date').zeroDates).toBeUndefined();
  });
  it('money text is read as plain decimal text', async () => {
    const { moneyText } = await import('../../src/stores/postgres/connection.js');
    expect(moneyText('$1,234.56')).toBe('1234.56');
    expect(moneyText('-$0.50')).toBe('-0.50');
    expect(moneyText('($1.00)')).toBe('-1.00');
    expect(moneyText('$92,233,720,368,547,758.07')).toBe('92233720368547758.07');
  });
  it('misfits: YEAR range, unsigned 64-bit both ways, zero dates into a column that cannot hold them', async () => {
    const { misfit } = await import('../../src/core/mapping.js');
    const year = { name: 'y', dataType: 'year(4)', category: 'integer', nullable: true, intBytes: 2 } as const;
    expect(misfit(1901, year)).toBeNull();
    expect(misfit(0, year)).toBeNull();
    expect(misfit(1900, year)).toMatch(/out of range/);
    expect(misfit(2156, year)).toMatch(/out of range/);
    const ubig = {
      name: 'u',
      dataType: 'bigint unsigned',
      category: 'integer',
      nullable: true,
      intBytes: 8,
      unsigned: true,
    } as const;
    expect(misfit('18446744073709551615', ubig)).toBeNull();
    expect(misfit('18446744073709551616', ubig)).toMatch(/out of range/);
    expect(misfit('-1', ubig)).toMatch(/out of range/);
    const pgBig = { name: 'u', dataType: 'bigint', category: 'integer', nullable: true, intBytes: 8 } as const;
    expect(misfit('9223372036854775808', pgBig)).toMatch(/out of range/);
    const numeric20 = {
      name: 'u',
      dataType: 'numeric(20,0)',
      category: 'decimal',
      nullable: true,
      precision: 20,
      scale: 0,
    } as const;
    expect(misfit('18446744073709551615', numeric20)).toBeNull();
    const pgDate = { name: 'd', dataType: 'date', category: 'date', nullable: true } as const;
    expect(misfit('0000-00-00', pgDate)).toContain("cast: 'zero-date-null'");
    expect(misfit('0000-00-00', { ...pgDate, zeroDates: true })).toBeNull();
    const pgTs = {
      name: 'dt',
      dataType: 'timestamp without time zone',
      category: 'timestamp',
      nullable: true,
    } as const;
    expect(misfit('0000-00-00 00:00:00', pgTs)).toContain("cast: 'zero-date-null'");
    const bit4 = { name: 'b', dataType: 'bit(4)', category: 'bit', nullable: true, bits: 4 } as const;
    expect(misfit(Buffer.from([0x12]), bit4)).toMatch(/cannot be read/);
    expect(misfit(Buffer.from([0x05]), bit4)).toBeNull();
  });
  it('casts: zero-date-null changes only zero dates; the spatial casts convert', async () => {
    const { applyCast } = await import('../../src/core/mapping.js');
    expect(applyCast('0000-00-00', 'zero-date-null')).toBeNull();
    expect(applyCast('0000-00-00 00:00:00', 'zero-date-null')).toBeNull();
    expect(applyCast('2020-01-02', 'zero-date-null')).toBe('2020-01-02');
    const ewkb = Buffer.from('0101000020e6100000000000000000f03f0000000000000040', 'hex');
    expect(applyCast(ewkb, 'ewkt')).toBe('SRID=4326;POINT(1 2)');
    expect(applyCast(ewkb, 'wkt')).toBe('POINT(1 2)');
    expect((applyCast(ewkb, 'ewkb') as Buffer).equals(ewkb)).toBe(true);
    expect((applyCast(ewkb, 'wkb') as Buffer).toString('hex')).toBe('0101000000000000000000f03f0000000000000040');
  });
});
