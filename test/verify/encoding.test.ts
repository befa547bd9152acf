import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { postgresChecksum } from '../../src/stores/postgres/checksum.js';
import { mysqlChecksum } from '../../src/stores/mysql/checksum.js';
import type { ColumnInfo, TypeCategory } from '../../src/stores/types.js';
import {
  addMod64,
  codePoints,
  encodeRow,
  hashForm,
  isTracked,
  mod64,
  rowHash,
  unreadableText,
} from '../../src/verify/encoding.js';
import { gauge, metricsText, snapshot } from '../../src/core/metrics.js';
import { rawKeyFromCanonical } from '../../src/verify/rows.js';
import { exitCodeOf } from '../../src/verify/run.js';
import { wilsonUpper } from '../../src/verify/sample.js';

describe('row hash encoding', () => {
  it('writes values joined by |, NULL as ~, free-text lengths last, timestamps without T and Z', () => {
    expect(
      encodeRow(
        ['42', 'a|b', null, '2020-01-02T03:04:05.000006Z', null, '10.50'],
        ['integer', 'text', 'text', 'timestamp', 'date', 'decimal'],
      ),
    ).toBe('42|a|b|~|2020-01-02 03:04:05.000006|~|10.50|3|~');
    expect(encodeRow(['1', 'true'], ['integer', 'boolean'])).toBe('1|true');
    expect(hashForm('2020-01-02T03:04:05.000006Z', 'timestamptz')).toBe('2020-01-02 03:04:05.000006');
    expect(hashForm('12:00:00.000000', 'time')).toBe('12:00:00.000000');
    expect(codePoints('a😀é')).toBe(3);
  });

  it('is injective on near pairs: one field changed, a length moved between neighbours, NULL vs empty (property)', () => {
    // the mix of a row: free text, fixed-alphabet values, unreadable values (raw text with | ~ < > inside)
    const cats: TypeCategory[] = ['text', 'integer', 'text', 'timestamp', 'uuid', 'decimal'];
    const unit = fc.constantFrom('|', '~', '1', '2', ':', 'a', '<', '>', '😀');
    const free = fc.option(fc.string({ unit, maxLength: 6 }), { nil: null });
    const fixed = (c: TypeCategory) =>
      fc.option(
        fc.oneof(
          fc.integer().map(String),
          fc.string({ unit, maxLength: 6 }).map((raw) => unreadableText(c, raw)),
        ),
        { nil: null },
      );
    const arbs = cats.map((c) => (isTracked(c) ? free : fixed(c)));
    const row = fc.tuple(...arbs) as fc.Arbitrary<(string | null)[]>;
    /** A row near `r`: one field replaced, characters moved from one field to its neighbour, or NULL ↔ ''. */
    const near = (r: (string | null)[]) =>
      fc.oneof(
        fc.nat(r.length - 1).chain((i) => arbs[i]!.map((v) => r.map((x, j) => (j === i ? v : x)))),
        fc.tuple(fc.nat(r.length - 2), fc.nat(6), fc.boolean()).map(([i, n, left]) => {
          const out = [...r];
          const a = out[i] ?? '',
            b = out[i + 1] ?? '';
          if (left) [out[i], out[i + 1]] = [a + b.slice(0, n), b.slice(n)];
          else [out[i], out[i + 1]] = [a.slice(0, Math.max(0, a.length - n)), a.slice(Math.max(0, a.length - n)) + b];
          return out;
        }),
        fc.nat(r.length - 1).map((i) => r.map((x, j) => (j === i ? (x === null ? '' : x === '' ? null : x) : x))),
      );
    fc.assert(
      fc.property(
        row.chain((a) => near(a).map((b) => [a, b] as const)),
        ([a, b]) => {
          if (JSON.stringify(a) === JSON.stringify(b)) return;
          expect(encodeRow(a, cats), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).not.toBe(encodeRow(b, cats));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('hashes to the first 64 bits of MD5, unsigned; sums mod 2^64', () => {
    const s = '1|x|1';
    expect(rowHash(s)).toBe(BigInt(`0x${createHash('md5').update(s).digest('hex').slice(0, 16)}`));
    expect(addMod64(2n ** 64n - 1n, 2n)).toBe(1n);
    expect(mod64(-1n)).toBe(2n ** 64n - 1n);
    expect(mod64(2n ** 70n + 5n)).toBe(5n);
  });
});

describe('checksum SQL', () => {
  const col = (name: string, category: TypeCategory, extra: Partial<ColumnInfo> = {}): ColumnInfo => ({
    name,
    dataType: category,
    category,
    nullable: true,
    ...extra,
  });

  it('refuses what the engine cannot encode exactly (floats, json, casts, mixed categories)', () => {
    for (const cs of [postgresChecksum('public'), mysqlChecksum()]) {
      expect(cs.supports({ column: col('f', 'float'), as: col('f', 'float') })).toBe(false);
      expect(cs.supports({ column: col('j', 'json'), as: col('j', 'json') })).toBe(false);
      expect(cs.supports({ column: col('t', 'text'), as: col('t', 'text'), cast: 'lower' })).toBe(false);
      expect(cs.supports({ column: col('t', 'text'), as: col('d', 'date') })).toBe(false);
      expect(cs.supports({ column: col('i', 'integer'), as: col('d', 'decimal', { scale: 2 }) })).toBe(true);
      expect(cs.supports({ column: null, constant: 'x', as: col('t', 'text') })).toBe(true);
    }
  });

  it('numbers cells by a binary search over the bounds, each bound once, parameters in statement order', () => {
    const q = {
      table: 't',
      key: ['a', 'b'],
      keyCategories: ['text', 'integer'] as TypeCategory[],
      after: ['x', 1],
      upTo: ['z', 9],
      cells: [
        ['xa', 2],
        ['y', 3],
        ['yb', 4],
      ],
      hashes: [
        [
          { column: col('a', 'text'), as: col('a', 'text') },
          { column: null, constant: 'k', as: col('c', 'text') },
        ],
      ],
    };
    const my = mysqlChecksum().checksum(q);
    expect((my.sql.match(/\?/g) ?? []).length).toBe(my.params.length);
    expect(my.sql).toMatch(
      /^SELECT CASE WHEN .* AS cell, COUNT\(\*\) AS n, SUM\(CAST\(CONV\(LEFT\(MD5\(CONCAT_WS\(_utf8mb4'\|' COLLATE utf8mb4_bin/,
    );
    expect(my.params.map(String)).toEqual([
      'y',
      'y',
      '3',
      'xa',
      'xa',
      '2',
      'yb',
      'yb',
      '4',
      'k',
      '1',
      'x',
      'x',
      '1',
      'z',
      'z',
      '9',
    ]);
    const pg = postgresChecksum('public').checksum(q);
    expect(pg.sql).toContain(
      `CASE WHEN ("a" COLLATE "C", "b") <= ($5, $6) THEN CASE WHEN ("a" COLLATE "C", "b") <= ($7, $8) THEN 0 ELSE 1 END ELSE CASE WHEN ("a" COLLATE "C", "b") <= ($9, $10) THEN 2 ELSE 3 END END`,
    );
    expect(pg.params.slice(4, 10)).toEqual(['y', 3, 'xa', 2, 'yb', 4]);
    expect(pg.sql).toMatch(/GROUP BY 1$/);
    expect(postgresChecksum('public').checksum({ ...q, cells: [] }).sql).not.toContain('GROUP BY');
  });
});

describe('helpers', () => {
  it('exit codes are a bitmask: 1 differences, 4 partial, 8 not every row compared', () => {
    expect(exitCodeOf({ ok: true, complete: true, exhaustive: true })).toBe(0);
    expect(exitCodeOf({ ok: false, complete: true, exhaustive: true })).toBe(1);
    expect(exitCodeOf({ ok: true, complete: false, exhaustive: true })).toBe(4);
    expect(exitCodeOf({ ok: false, complete: false, exhaustive: true })).toBe(5);
    expect(exitCodeOf({ ok: true, complete: true, exhaustive: false })).toBe(8);
    expect(exitCodeOf({ ok: false, complete: true, exhaustive: false })).toBe(9);
    expect(exitCodeOf({ ok: true, complete: true })).toBe(8); // unknown strength: not a proof
  });

  it('raw key values from canonical keys', () => {
    expect(rawKeyFromCanonical('["42","a"]', [{ category: 'integer' }, { category: 'text' }])).toEqual(['42', 'a']);
    expect(
      rawKeyFromCanonical('["00ff","2020-01-01T00:00:00.000001Z","true"]', [
        { category: 'binary' },
        { category: 'timestamp' },
        { category: 'boolean' },
      ]),
    ).toEqual([Buffer.from([0, 255]), '2020-01-01 00:00:00.000001', true]);
  });

  it('gauges render in the Prometheus text format', async () => {
    const g = gauge('tandem_test_parity_ratio', 'parity', ['entity']);
    g.set({ entity: 'users' }, 0.5);
    g.set({ entity: 'a"b' }, 1);
    const text = await metricsText();
    expect(text).toContain('# TYPE tandem_test_parity_ratio gauge');
    expect(text).toContain('tandem_test_parity_ratio{entity="users"} 0.5');
    expect(text).toContain('tandem_test_parity_ratio{entity="a\\"b"} 1');
    expect(snapshot().tandem_test_parity_ratio).toHaveLength(2);
  });

  it('the Wilson upper bound of a clean sample shrinks with its size', () => {
    expect(wilsonUpper(0, 1000)).toBeGreaterThan(0.003);
    expect(wilsonUpper(0, 1000)).toBeLessThan(0.004);
    expect(wilsonUpper(0, 100_000)).toBeLessThan(wilsonUpper(0, 1000));
  });
});
