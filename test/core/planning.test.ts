import { describe, expect, it } from 'vitest';
import { Pacer } from '../../src/backfill/pacer.js';
import { progressLine } from '../../src/backfill/progress.js';
import { orderEntities } from '../../src/config/resolve.js';
import { isTandemError } from '../../src/core/errors.js';
import type { ResolvedEntity } from '../../src/core/mapping.js';
import { propose, renderConfig } from '../../src/init/generate.js';
import type { ColumnInfo, SchemaInfo, TableInfo } from '../../src/stores/types.js';

const col = (name: string, category: ColumnInfo['category'] = 'integer', nullable = false): ColumnInfo => ({
  name,
  dataType: category === 'integer' ? 'int' : 'text',
  category,
  nullable,
});
const tbl = (name: string, cols: ColumnInfo[], pk: string[], fks: [string, string][] = []): TableInfo => ({
  name,
  columns: cols,
  primaryKey: pk,
  uniqueKeys: [],
  foreignKeys: fks.map(([c, ref], i) => ({ name: `fk${i}`, columns: [c], refTable: ref, refColumns: ['id'] })),
});
const entity = (name: string, table: TableInfo) => ({ name, targets: [{ table }] }) as unknown as ResolvedEntity;

describe('fill order', () => {
  const artist = tbl('artist', [col('id')], ['id']);
  const album = tbl('album', [col('id'), col('artist_id')], ['id'], [['artist_id', 'artist']]);
  const track = tbl(
    'track',
    [col('id'), col('album_id'), col('parent_id')],
    ['id'],
    [
      ['album_id', 'album'],
      ['parent_id', 'track'],
    ],
  );

  it('puts parents first from the target foreign keys, ignoring self references', () => {
    expect(
      orderEntities([entity('track', track), entity('album', album), entity('artist', artist)]).map((e) => e.name),
    ).toEqual(['artist', 'album', 'track']);
  });

  it('follows an explicit order, then FK order for the rest', () => {
    expect(
      orderEntities([entity('track', track), entity('album', album), entity('artist', artist)], ['album']).map(
        (e) => e.name,
      ),
    ).toEqual(['album', 'artist', 'track']);
    expect(() => orderEntities([entity('artist', artist)], ['nope'])).toThrow(/unknown entity "nope"/);
  });

  it('reports a cycle with a code that says to name an order', () => {
    const a = tbl('a', [col('id'), col('b_id')], ['id'], [['b_id', 'b']]);
    const b = tbl('b', [col('id'), col('a_id')], ['id'], [['a_id', 'a']]);
    let err: unknown;
    try {
      orderEntities([entity('a', a), entity('b', b)]);
    } catch (e) {
      err = e;
    }
    expect(isTandemError(err, 'FK_CYCLE')).toBe(true);
    expect(orderEntities([entity('a', a), entity('b', b)], ['b', 'a']).map((e) => e.name)).toEqual(['b', 'a']);
  });
});

describe('pacing and progress', () => {
  it('grows chunks toward the target chunk time and shrinks them when slow', () => {
    const p = new Pacer({ chunkSeconds: 0.5, initialChunkRows: 1000, maxChunkRows: 50_000 });
    p.record(1000, 0.05);
    expect(p.size).toBe(2000); // at most ×2 per step
    p.record(2000, 0.4);
    expect(p.size).toBe(2500);
    p.record(2500, 5);
    expect(p.size).toBe(1250); // at most ÷2 per step
    p.record(10, 0.001); // a short last page does not resize
    expect(p.size).toBe(1250);
  });

  it('throttles to max-rows-per-second and says so', () => {
    const p = new Pacer({ chunkSeconds: 0.5, initialChunkRows: 1000, maxChunkRows: 50_000, maxRowsPerSecond: 1000 });
    const wait = p.record(1000, 0.01);
    expect(wait).toBeGreaterThan(900);
    expect(wait).toBeLessThanOrEqual(1000);
    expect(p.throttle).toBe('max-rows-per-second=1000');
    expect(p.size).toBeLessThanOrEqual(500); // one chunk never exceeds half a second of the allowed rate
  });

  it('prints a gh-ost style line', () => {
    expect(
      progressLine({
        entity: 'users',
        copied: 45_000,
        total: 100_000,
        rate: 12_345,
        chunkRows: 5000,
        throttle: null,
        done: false,
      }),
    ).toBe('users: copied 45,000/100,000 (45.0%), 12,345 rows/s, ETA 4s, chunk 5,000, state: running');
    expect(
      progressLine({
        entity: 'users',
        copied: 1,
        total: 10,
        rate: 0,
        chunkRows: 1,
        throttle: 'max-rows-per-second=5',
        done: false,
      }),
    ).toContain('ETA ?, chunk 1, state: throttled (max-rows-per-second=5)');
  });
});

describe('tandem init proposals', () => {
  const source: SchemaInfo = {
    tables: new Map([
      [
        'InvoiceLine',
        tbl(
          'InvoiceLine',
          [
            col('InvoiceLineId'),
            col('InvoiceId'),
            col('Note', 'text', true),
            col('LegacyOnly', 'text', true),
            col('version'),
          ],
          ['InvoiceLineId'],
        ),
      ],
      ['Invoice', tbl('Invoice', [col('InvoiceId')], ['InvoiceId'])],
      ['NoKey', tbl('NoKey', [col('x')], [])],
      ['Orphan', tbl('Orphan', [col('id')], ['id'])],
    ]),
  };
  const target: SchemaInfo = {
    tables: new Map([
      [
        'invoice_line',
        tbl(
          'invoice_line',
          [
            col('invoice_line_id'),
            col('invoice_id'),
            col('note', 'text', true),
            col('created_by', 'text', true),
            col('version'),
          ],
          ['invoice_line_id'],
          [['invoice_id', 'invoice']],
        ),
      ],
      ['invoice', tbl('invoice', [col('invoice_id')], ['invoice_id'])],
      ['no_key', tbl('no_key', [col('x')], [])],
    ]),
  };

  it('matches tables and columns by snake_case, guesses the version, orders by FKs, lists what it left out', () => {
    const p = propose(source, target);
    expect(p.order).toEqual(['invoice', 'invoice_line']);
    const line = p.entities.find((e) => e.name === 'invoice_line')!;
    expect(line).toMatchObject({
      sourceTable: 'InvoiceLine',
      targetTable: 'invoice_line',
      key: ['InvoiceLineId'],
      version: 'version',
      unmappedSource: ['LegacyOnly'],
      unmappedTarget: ['created_by'],
    });
    expect(line.columns).toEqual([
      ['invoice_line_id', 'InvoiceLineId'],
      ['invoice_id', 'InvoiceId'],
      ['note', 'Note'],
      ['version', 'version'],
    ]);
    expect(p.skipped).toEqual([
      { table: 'NoKey', reason: 'target table "no_key" has no primary or unique key to upsert on' },
      { table: 'Orphan', reason: 'no matching target table' },
    ]);
    const text = renderConfig(p, 'mysql://root:pw@h/db', 'postgres://h/db');
    // a URL with a password is read from the environment, never written (not even masked)
    expect(text).toContain("source: env('SOURCE_URL')");
    expect(text).not.toContain('***');
    expect(text).toContain("target: process.env.TARGET_URL ?? 'postgres://h/db'");
    expect(text).not.toContain(':pw@');
    expect(text).toContain("order: ['invoice', 'invoice_line']");
    expect(text).toContain("invoice_line_id: 'InvoiceLineId',");
  });
});

describe('static fit analysis', async () => {
  const { staticFit } = await import('../../src/core/mapping.js');
  const c = (category: ColumnInfo['category'], extra: Partial<ColumnInfo> = {}): ColumnInfo => ({
    name: 'x',
    dataType: category,
    category,
    nullable: true,
    ...extra,
  });
  it('skips run-time checks only where the source type guarantees the fit', () => {
    expect(staticFit(c('text', { maxLength: 60 }), c('text', { maxLength: 100 }), true)).toBe('none');
    expect(staticFit(c('text', { maxLength: 200 }), c('text', { maxLength: 100 }), true)).toBe('full');
    expect(staticFit(c('text'), c('text', { maxLength: 100 }), true)).toBe('full'); // TEXT into varchar(100)
    expect(staticFit(c('integer', { intBytes: 4 }), c('integer', { intBytes: 8 }), true)).toBe('none');
    expect(staticFit(c('integer', { intBytes: 8 }), c('integer', { intBytes: 4 }), true)).toBe('full');
    expect(staticFit(c('integer', { intBytes: 4, unsigned: true }), c('integer', { intBytes: 4 }), true)).toBe('full');
    expect(staticFit(c('integer', { intBytes: 4, unsigned: true }), c('integer', { intBytes: 8 }), true)).toBe('none');
    expect(staticFit(c('decimal', { precision: 10, scale: 2 }), c('decimal', { precision: 12, scale: 2 }), true)).toBe(
      'none',
    );
    expect(staticFit(c('decimal', { precision: 12, scale: 2 }), c('decimal', { precision: 10, scale: 2 }), true)).toBe(
      'full',
    );
    expect(staticFit(c('decimal', { precision: 10, scale: 4 }), c('decimal', { precision: 12, scale: 2 }), true)).toBe(
      'full',
    );
    expect(staticFit(c('timestamp'), c('timestamptz'), true)).toBe('none');
    expect(staticFit(c('text'), c('integer'), true)).toBe('full');
    // NOT NULL targets still get the cheap null check from a nullable source
    expect(staticFit(c('integer', { intBytes: 4 }), c('integer', { intBytes: 8, nullable: false }), true)).toBe('null');
    expect(
      staticFit(c('integer', { intBytes: 4, nullable: false }), c('integer', { intBytes: 8, nullable: false }), true),
    ).toBe('none');
    // SQLite does not enforce declared types
    expect(staticFit(c('text', { maxLength: 60 }), c('text', { maxLength: 100 }), false)).toBe('full');
  });
});
