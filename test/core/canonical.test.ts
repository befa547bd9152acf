import { describe, expect, it } from 'vitest';
import { canonicalize, canonicalDecimal, canonicalJson, canonicalTimestamp } from '../../src/core/canonical.js';
import { snakeCase, renameColumns } from '../../src/core/naming.js';
import type { TypeCategory } from '../../src/stores/types.js';

const c = (category: TypeCategory, extra: { scale?: number; floatBytes?: number } = {}) => ({ category, ...extra });

describe('canonical encoding', () => {
  it('keeps NULL distinct from the empty string', () => {
    expect(canonicalize(null, c('text'))).toBeNull();
    expect(canonicalize('', c('text'))).toBe('');
  });

  it('encodes integers exactly, whatever the driver type', () => {
    expect(canonicalize(42, c('integer'))).toBe('42');
    expect(canonicalize('0042', c('integer'))).toBe('42');
    expect(canonicalize(9007199254740993n, c('integer'))).toBe('9007199254740993');
    expect(canonicalize('-9223372036854775808', c('integer'))).toBe('-9223372036854775808');
    expect(() => canonicalize('4.5', c('integer'))).toThrow(TypeError);
  });

  it('encodes decimals at the column scale, rounding half away from zero', () => {
    expect(canonicalize('10.5', c('decimal', { scale: 2 }))).toBe('10.50');
    expect(canonicalize(10.5, c('decimal', { scale: 2 }))).toBe('10.50');
    expect(canonicalize('0.125', c('decimal', { scale: 2 }))).toBe('0.13');
    expect(canonicalize('-0.125', c('decimal', { scale: 2 }))).toBe('-0.13');
    expect(canonicalize('9.995', c('decimal', { scale: 2 }))).toBe('10.00');
    expect(canonicalize('-0.001', c('decimal', { scale: 2 }))).toBe('0.00');
    expect(canonicalDecimal('1.2300')).toBe('1.23');
    expect(canonicalDecimal(1e21)).toBe('1000000000000000000000');
    expect(canonicalDecimal('1.5e-3', 4)).toBe('0.0015');
    expect(canonicalize(0.1 + 0.2, c('decimal', { scale: 2 }))).toBe('0.30');
  });

  it('encodes timestamps as UTC with microseconds, from every engine spelling', () => {
    const want = '2009-01-01T00:00:00.000000Z';
    expect(canonicalTimestamp('2009-01-01 00:00:00')).toBe(want); // MariaDB DATETIME
    expect(canonicalTimestamp('2009-01-01T00:00:00')).toBe(want); // ISO
    expect(canonicalTimestamp('2009/1/1')).toBe(want); // Chinook's literal form
    expect(canonicalTimestamp('2009-01-01 02:00:00+02')).toBe(want); // PostgreSQL timestamptz text
    expect(canonicalTimestamp('2008-12-31 19:30:00-04:30')).toBe(want);
    expect(canonicalTimestamp(new Date(Date.UTC(2009, 0, 1)))).toBe(want);
    expect(canonicalTimestamp('2020-02-29 23:59:59.123456')).toBe('2020-02-29T23:59:59.123456Z');
    expect(canonicalTimestamp('2020-02-29 23:59:59.1')).toBe('2020-02-29T23:59:59.100000Z');
    expect(() => canonicalTimestamp('yesterday')).toThrow(TypeError);
  });

  it('never rolls an impossible date over; infinity, NaN and the zero date are exact specials', () => {
    for (const v of [
      '2020-02-30',
      '2020-02-30 00:00:00',
      '2020-13-01',
      '2020-00-10',
      '2020-01-00',
      '2021-02-29',
      '0000-02-29',
      '2020-01-01 24:00:00',
      '2020-01-01 23:59:60',
      '0000-00-00 12:00:00',
    ]) {
      expect(() => canonicalTimestamp(v), v).toThrow(TypeError);
      if (v.length === 10) expect(() => canonicalize(v, c('date')), v).toThrow(TypeError);
    }
    expect(canonicalTimestamp('2020-02-29 00:00:00')).toBe('2020-02-29T00:00:00.000000Z');
    expect(canonicalTimestamp('0000-00-00 00:00:00')).toBe('0000-00-00T00:00:00.000000Z');
    expect(canonicalTimestamp('0000-11-30 00:00:00')).toBe('0000-11-30T00:00:00.000000Z');
    expect(canonicalize('0000-00-00', c('date'))).toBe('0000-00-00');
    expect(canonicalTimestamp('infinity')).toBe('infinity');
    expect(canonicalTimestamp('-infinity')).toBe('-infinity');
    expect(canonicalize('infinity', c('date'))).toBe('infinity');
    expect(canonicalize('NaN', c('decimal', { scale: 2 }))).toBe('NaN');
    expect(canonicalize('-Infinity', c('decimal'))).toBe('-Infinity');
    expect(() => canonicalize('abc', c('decimal'))).toThrow(TypeError);
    expect(canonicalize('-00:30:00', c('time'))).toBe('-00:30:00.000000');
    expect(canonicalize('00:30:00', c('time'))).toBe('00:30:00.000000');
    expect(() => canonicalize('', c('float', { floatBytes: 8 }))).toThrow(TypeError);
    expect(() => canonicalize('0x10', c('float', { floatBytes: 8 }))).toThrow(TypeError);
  });

  it('encodes booleans, dates, times, binary, uuid and JSON', () => {
    for (const v of [true, 1, '1', 't', 'true']) expect(canonicalize(v, c('boolean'))).toBe('true');
    for (const v of [false, 0, '0', 'f', 'false']) expect(canonicalize(v, c('boolean'))).toBe('false');
    expect(canonicalize('2024-3-7', c('date'))).toBe('2024-03-07');
    expect(canonicalize('7:05:09', c('time'))).toBe('07:05:09.000000');
    expect(canonicalize(Buffer.from([0, 255, 16]), c('binary'))).toBe('00ff10');
    expect(canonicalize('\\x00FF10', c('binary'))).toBe('00ff10');
    expect(canonicalize('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', c('uuid'))).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    expect(canonicalize('{"b": 1, "a": [1, {"d": null, "c": "x"}]}', c('json'))).toBe(
      '{"a":[1,{"c":"x","d":null}],"b":1}',
    );
    expect(canonicalJson({ b: 2, a: 1 })).toBe(canonicalJson(JSON.parse('{"a":1,"b":2}')));
  });

  it('encodes floats by their double value, single precision to 6 digits', () => {
    expect(canonicalize('0.1', c('float', { floatBytes: 8 }))).toBe('0.1');
    expect(canonicalize(Math.fround(3.14), c('float', { floatBytes: 4 }))).toBe('3.14');
    expect(canonicalize('3.14', c('float', { floatBytes: 4 }))).toBe('3.14');
  });
});

describe('naming', () => {
  it('turns PascalCase and acronyms into snake_case', () => {
    expect(snakeCase('AlbumId')).toBe('album_id');
    expect(snakeCase('InvoiceLine')).toBe('invoice_line');
    expect(snakeCase('HTTPServer')).toBe('http_server');
    expect(snakeCase('userID2')).toBe('user_id2');
    expect(snakeCase('already_snake')).toBe('already_snake');
  });
  it('builds column maps with overrides', () => {
    expect(renameColumns(['AlbumId', 'Title', 'Secret'], snakeCase, { Title: 'name', Secret: null })).toEqual({
      album_id: 'AlbumId',
      name: 'Title',
    });
  });
});
