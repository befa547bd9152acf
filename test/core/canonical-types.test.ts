import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/core/canonical.js';
import {
  joinDelimited,
  normalizeJsonNumber,
  parseJsonExact,
  parsePgArray,
  pgArrayLiteral,
  splitDelimited,
} from '../../src/core/composite.js';
import { hashColumnText } from '../../src/core/encoding.js';
import { applyCast } from '../../src/core/mapping.js';
import { parseConfig } from '../../src/config/load.js';
import { enumLabels, mysqlColumn } from '../../src/stores/mysql/introspect.js';
import type { ColumnInfo } from '../../src/stores/types.js';

const text = { category: 'text' } as const;
const int = { category: 'integer' } as const;
const arr = (element: Partial<ColumnInfo> & Pick<ColumnInfo, 'category'>) => ({ category: 'array' as const, element });

describe('canonical encoding of arrays (issue 13)', () => {
  it('is the JSON array of the elements’ canonical texts, whatever form the driver gives', () => {
    expect(canonicalize(['a', 'b c', null], arr(text))).toBe('["a","b c",null]');
    expect(canonicalize('{a,"b c",NULL}', arr(text))).toBe('["a","b c",null]');
    expect(canonicalize('["a","b c",null]', arr(text))).toBe('["a","b c",null]');
    expect(canonicalize([], arr(text))).toBe('[]');
    expect(canonicalize('{}', arr(text))).toBe('[]');
    // elements by their category: 1, '1', '001' are one integer
    expect(canonicalize([1, '2', '003'], arr(int))).toBe('["1","2","3"]');
    expect(canonicalize('{1,2,3}', arr(int))).toBe(canonicalize([1, 2, 3], arr(int)));
    // more dimensions nest
    expect(
      canonicalize(
        [
          [1, 2],
          [3, null],
        ],
        arr(int),
      ),
    ).toBe('[["1","2"],["3",null]]');
    expect(canonicalize('{{1,2},{3,NULL}}', arr(int))).toBe('[["1","2"],["3",null]]');
    expect(canonicalize('[0:1]={7,8}', arr(int))).toBe('["7","8"]');
  });

  it('keeps distinct arrays distinct: the text NULL, an empty string, order, nesting', () => {
    const all = [['NULL'], [null], [''], [], ['a', 'b'], ['b', 'a'], ['a,b'], [['a'], ['b']], ['a"b'], ['a\\b']].map(
      (v) => canonicalize(v, arr(text)),
    );
    expect(new Set(all).size).toBe(all.length);
    expect(canonicalize('{"NULL",NULL}', arr(text))).toBe('["NULL",null]');
  });

  it('round-trips values through PostgreSQL array literals', () => {
    const xs = ['a', 'b c', 'd"e', 'f\\g', '{h}', 'i,j', '', null, ' k '];
    expect(parsePgArray(pgArrayLiteral(xs))).toEqual(xs);
    expect(
      parsePgArray(
        pgArrayLiteral([
          ['1', '2'],
          ['3', null],
        ]),
      ),
    ).toEqual([
      ['1', '2'],
      ['3', null],
    ]);
  });

  it('throws on what is no array (verify then keeps it as an unreadable value)', () => {
    expect(() => canonicalize('a,b', arr(text))).toThrow(TypeError);
    expect(() => canonicalize('{a', arr(text))).toThrow(TypeError);
    expect(() => canonicalize(['x'], arr(int))).toThrow(TypeError);
  });

  it('the array cast splits a SET (or any delimited string) and joins back', () => {
    expect(applyCast('Trailers,Deleted Scenes', 'array')).toEqual(['Trailers', 'Deleted Scenes']);
    expect(applyCast('', 'array')).toEqual([]);
    expect(applyCast(null, 'array')).toBeNull();
    expect(applyCast('a|b c|{d}', 'array', '|')).toEqual(['a', 'b c', '{d}']);
    expect(applyCast('{x,y}', 'array')).toEqual(['x', 'y']);
    expect(applyCast('[1, 2]', 'array')).toEqual(['1', '2']);
    expect(splitDelimited('a::b', '::')).toEqual(['a', 'b']);
    expect(joinDelimited(['Trailers', 'Deleted Scenes'], ',')).toBe('Trailers,Deleted Scenes');
    expect(joinDelimited('{a,"b c"}', '|')).toBe('a|b c');
    expect(joinDelimited([], ',')).toBe('');
    expect(joinDelimited(null, ',')).toBeNull();
    // the streamed comparison of a cast column: cast, then encoded by the target type
    const element: ColumnInfo = { name: 's', dataType: 'text', category: 'text', nullable: true };
    const h = {
      column: { name: 's', dataType: 'set', category: 'text' as const, nullable: true },
      as: { category: 'array' as const, element },
    };
    expect(hashColumnText({ ...h, cast: 'array' }, 'a,b')).toBe('["a","b"]');
    expect(hashColumnText({ ...h, cast: 'array', separator: ';' }, 'a,b;c')).toBe('["a,b","c"]');
  });

  it('validates separator: only with the array cast, never empty', () => {
    const cfg = (spec: unknown) => ({
      source: 'sqlite::memory:',
      target: 'sqlite::memory:',
      entities: { e: { table: 't', key: 'id', targets: [{ table: 't', columns: { id: 'id', x: spec } }] } },
    });
    expect(() => parseConfig(cfg({ from: 'x', cast: 'array', separator: '|' }))).not.toThrow();
    expect(() => parseConfig(cfg({ from: 'x', cast: 'text', separator: '|' }))).toThrow(/separator/);
    expect(() => parseConfig(cfg({ from: 'x', cast: 'array', separator: '' }))).toThrow(/separator/);
  });
});

describe('canonical encoding of char(n) (pad semantics)', () => {
  it('drops the trailing spaces of a padded column, and only those', () => {
    const padded = { category: 'text' as const, padded: true };
    expect(canonicalize('English             ', padded)).toBe('English');
    expect(canonicalize('English', padded)).toBe('English');
    expect(canonicalize('  lead', padded)).toBe('  lead');
    expect(canonicalize('tab\t', padded)).toBe('tab\t');
    expect(canonicalize('   ', padded)).toBe('');
    // an unpadded column keeps them: varchar's trailing spaces are data
    expect(canonicalize('English ', text)).toBe('English ');
    // char(n) elements of an array
    expect(canonicalize(['a  ', 'b'], arr(padded))).toBe('["a","b"]');
  });
});

describe('canonical encoding of JSON numbers', () => {
  const json = { category: 'json' } as const;
  it('writes every number in one exact form', () => {
    expect(normalizeJsonNumber('1.0')).toBe('1');
    expect(normalizeJsonNumber('1e2')).toBe('100');
    expect(normalizeJsonNumber('1E+2')).toBe('100');
    expect(normalizeJsonNumber('-0')).toBe('0');
    expect(normalizeJsonNumber('-0.0e5')).toBe('0');
    expect(normalizeJsonNumber('2.50')).toBe('2.5');
    expect(normalizeJsonNumber('1.5e-3')).toBe('0.0015');
    expect(normalizeJsonNumber('-12.340e1')).toBe('-123.4');
    expect(normalizeJsonNumber('12345678901234567890')).toBe('12345678901234567890');
    expect(normalizeJsonNumber('1e400')).toBe('1e400');
    expect(normalizeJsonNumber('1e-500')).toBe('1e-500');
    expect(normalizeJsonNumber('1e-5')).toBe('0.00001');
    expect(() => normalizeJsonNumber('0x10')).toThrow(TypeError);
  });

  it('compares JSON by value: key order, white space and number spelling do not matter, big integers do', () => {
    const a = canonicalize('{"b": 1.0, "a": [1e2, -0, 2.50], "big": 12345678901234567890}', json);
    expect(a).toBe('{"a":[100,0,2.5],"b":1,"big":12345678901234567890}');
    expect(canonicalize('{"big":12345678901234567890,"a":[100,0,2.5],"b":1}', json)).toBe(a);
    expect(canonicalize({ b: 1, a: [100, 0, 2.5], big: 12345678901234567890n }, json)).toBe(a);
    expect(canonicalize('{"b": 1.0, "a": [1e2, -0, 2.50], "big": 12345678901234567891}', json)).not.toBe(a);
    // a number and a string that spells it stay apart
    expect(canonicalize('{"a":1}', json)).not.toBe(canonicalize('{"a":"1"}', json));
    expect(canonicalize(Buffer.from('[1.50]'), json)).toBe('[1.5]');
    expect(() => canonicalize('{"a":}', json)).toThrow(SyntaxError);
  });

  it('parses like JSON.parse apart from numbers (escapes, duplicate keys: last wins)', () => {
    const t = '{"s":"a\\"b\\u00e9\\n","d":1,"d":2,"n":null,"t":[true,false,{}]}';
    const exact = parseJsonExact(t) as Record<string, unknown>;
    const plain = JSON.parse(t) as Record<string, unknown>;
    expect(exact.s).toBe(plain.s);
    expect(canonicalize(t, json)).toBe('{"d":2,"n":null,"s":"a\\"bé\\n","t":[true,false,{}]}');
    expect(canonicalize('{"__proto__": {"x": 1}}', json)).toBe('{"__proto__":{"x":1}}');
  });
});

describe('MySQL/MariaDB column types of issue 13', () => {
  const row = (columnType: string, dataType: string) => ({
    name: 'c',
    columnType,
    dataType,
    nullable: true,
    extra: '',
    maxLength: 20,
  });
  it('reads ENUM and SET labels (quotes doubled), SET as isSet, CHAR(n) as padded', () => {
    expect(enumLabels("enum('a','it''s','b\\\\c','Mixed Case','')")).toEqual(['a', "it's", 'b\\c', 'Mixed Case', '']);
    const e = mysqlColumn(row("enum('G','PG-13')", 'enum'));
    expect(e).toMatchObject({ category: 'text', enumValues: ['G', 'PG-13'] });
    expect(e.isSet).toBeUndefined();
    expect(mysqlColumn(row("set('Trailers','Deleted Scenes')", 'set'))).toMatchObject({
      category: 'text',
      enumValues: ['Trailers', 'Deleted Scenes'],
      isSet: true,
    });
    expect(mysqlColumn(row('char(20)', 'char')).padded).toBe(true);
    expect(mysqlColumn(row('varchar(20)', 'varchar')).padded).toBeUndefined();
  });
});
