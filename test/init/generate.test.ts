/**
 * Issue 13 §1, unit level: the key `tandem init` proposes (one the target can upsert on), the casts and notes on
 * the lines it is unsure of, the columns it leaves to the database, and that every line it writes is valid
 * TypeScript inside the object literal.
 */
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { chooseKey, columnAdvice, propose, renderConfig } from '../../src/init/generate.js';
import type { ColumnInfo, SchemaInfo, TableInfo } from '../../src/stores/types.js';

const col = (name: string, dataType: string, category: ColumnInfo['category'], extra: Partial<ColumnInfo> = {}) =>
  ({ name, dataType, category, nullable: false, ...extra }) as ColumnInfo;
const int = (name: string, extra: Partial<ColumnInfo> = {}) => col(name, 'int', 'integer', { intBytes: 4, ...extra });
const table = (
  name: string,
  columns: ColumnInfo[],
  primaryKey: string[],
  extra: Partial<TableInfo> = {},
): TableInfo => ({
  name,
  columns,
  primaryKey,
  uniqueKeys: [],
  foreignKeys: [],
  ...extra,
});
const schema = (...tables: TableInfo[]): SchemaInfo => ({ tables: new Map(tables.map((t) => [t.name, t])) });

/** Syntax errors of a TypeScript text (a config init wrote must have none). */
function syntaxErrors(text: string): string[] {
  const out = ts.transpileModule(text, { reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext } });
  return (out.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('chooseKey', () => {
  const src = table(
    'payment',
    [int('payment_id'), col('payment_date', 'datetime', 'timestamp'), int('n')],
    ['payment_id'],
  );
  const cols: [string, string][] = [
    ['payment_id', 'payment_id'],
    ['payment_date', 'payment_date'],
    ['n', 'n'],
  ];
  it('keeps the source key when its image is a target key', () => {
    expect(chooseKey(src, table('payment', src.columns, ['payment_id']), cols, {})).toEqual({ key: ['payment_id'] });
    // a unique key of the target serves as well
    const t = table('payment', src.columns, [], { uniqueKeys: [['payment_id']] });
    expect(chooseKey(src, t, cols, {})).toEqual({ key: ['payment_id'] });
  });
  it('takes the target key (partitioned: PK includes the partition column), in its order, and says why', () => {
    const t = table('payment', src.columns, ['payment_date', 'payment_id'], { partitioned: true });
    const k = chooseKey(src, t, cols, {});
    expect(k.key).toEqual(['payment_date', 'payment_id']);
    expect('note' in k && k.note).toBe(
      'target "payment" is partitioned; its primary key is (payment_date, payment_id), not (payment_id): keyed on the source columns (payment_date, payment_id), unique on the source too, as they contain its key',
    );
  });
  it('prefers a key that contains a source key, then the smallest; skips nullable or cast sources', () => {
    const s = table('t', [int('id'), int('a'), int('b', { nullable: true }), int('c')], ['id']);
    const m: [string, string][] = [
      ['tid', 'id'],
      ['a', 'a'],
      ['b', 'b'],
      ['c', 'c'],
    ];
    const t = table('t', s.columns, ['a', 'tid', 'c'], { uniqueKeys: [['a'], ['b', 'tid'], ['c', 'tid']] });
    // (a) is smallest but not proven unique; (b, tid) has a nullable source; (c, tid) contains the source key
    expect(chooseKey(s, t, m, {}).key).toEqual(['c', 'id']);
    // without it: the smallest, with a note that the data is checked
    const t2 = table('t', s.columns, ['a', 'c'], { uniqueKeys: [['a']] });
    const k = chooseKey(s, t2, m, {});
    expect(k.key).toEqual(['a']);
    expect('note' in k && k.note).toMatch(/not proven unique on the source: the backfill checks the data$/);
    // a column mapped with a cast cannot carry the key
    expect(chooseKey(s, t2, m, { a: 'text', c: 'text' })).toMatchObject({ key: null });
  });
  it('gives a reason when the target has no key it can fill', () => {
    expect(chooseKey(src, table('payment', src.columns, []), cols, {})).toEqual({
      key: null,
      reason: 'target table "payment" has no primary or unique key to upsert on',
    });
    const t = table('payment', [...src.columns, int('other')], ['other']);
    expect(chooseKey(src, t, cols, {})).toMatchObject({
      key: null,
      reason: expect.stringMatching(/maps to no target key/),
    });
  });
});

describe('columnAdvice', () => {
  const set = col('features', "set('Trailers','Commentaries')", 'text', { nullable: true });
  const geo = col('location', 'geometry', 'other');
  it('casts a MySQL SET into an array or JSON column, a spatial column into text (wkt) or binary (wkb)', () => {
    expect(columnAdvice(set, col('features', 'text[]', 'array', { nullable: true })).cast).toBe('array');
    expect(columnAdvice(set, col('features', 'jsonb', 'json', { nullable: true })).cast).toBe('array');
    expect(columnAdvice(set, col('features', 'text', 'text', { nullable: true }))).toEqual({});
    expect(columnAdvice(geo, col('location', 'text', 'text'))).toMatchObject({ cast: 'wkt' });
    expect(columnAdvice(geo, col('location', 'bytea', 'binary'))).toMatchObject({ cast: 'wkb' });
    expect(columnAdvice(geo, col('location', 'integer', 'integer')).note).toMatch(/no cast fits/);
  });
  it('ENUM and YEAR as plain renames; missing enum labels, narrower text, NULL into NOT NULL, zero dates noted', () => {
    const rating = col('rating', "enum('G','PG','NC-17')", 'text', { nullable: true });
    expect(columnAdvice(rating, col('rating', 'mpaa_rating', 'text', { nullable: true }))).toEqual({});
    expect(
      columnAdvice(rating, col('rating', 'mpaa_rating', 'text', { nullable: true, enumValues: ['G', 'PG'] })).note,
    ).toBe("target mpaa_rating lacks the label(s) 'NC-17'");
    expect(columnAdvice(col('y', 'year(4)', 'other'), int('y'))).toEqual({});
    expect(columnAdvice(col('t', 'text', 'text'), col('t', 'varchar(20)', 'text', { maxLength: 20 })).note).toBe(
      'source text is wider than target varchar(20): longer values fail',
    );
    expect(columnAdvice(int('n', { nullable: true }), int('n')).note).toMatch(/source allows NULL, target is NOT NULL/);
    const d = col('d', 'datetime', 'timestamp');
    const pd = col('d', 'timestamp without time zone', 'timestamp');
    expect(columnAdvice(d, pd, { sourceZeroDates: true }).note).toMatch(/cast: 'zero-date-null'/);
    expect(columnAdvice(d, pd, { sourceZeroDates: true, targetZeroDates: true })).toEqual({});
    expect(columnAdvice(d, pd)).toEqual({});
    expect(
      columnAdvice(col('n', 'bigint', 'integer', { intBytes: 8 }), col('n', 'integer', 'integer', { intBytes: 4 }))
        .note,
    ).toMatch(/source bigint, target integer: init cannot tell that every value fits/);
  });
});

describe('propose and renderConfig', () => {
  const source = schema(
    table(
      'film',
      [
        int('film_id'),
        col('title', 'varchar(255)', 'text', { maxLength: 255 }),
        col('special_features', "set('Trailers','Commentaries')", 'text', { nullable: true }),
        col('location', 'geometry', 'other', { nullable: true }),
        col("it's", 'text', 'text', { nullable: true }),
      ],
      ['film_id'],
    ),
  );
  const target = schema(
    table(
      'film',
      [
        int('film_id'),
        col('title', 'varchar(100)', 'text', { maxLength: 100 }),
        col('special_features', 'text[]', 'array', { nullable: true }),
        col('location', 'text', 'text', { nullable: true }),
        col('rating', 'mpaa_rating', 'text'),
        col('created', 'timestamptz', 'timestamptz', { hasDefault: true }),
        col('fulltext', 'tsvector', 'other', { filledByTrigger: true }),
        int('serial_no', { generated: true }),
        col('note', 'text', 'text', { nullable: true }),
      ],
      ['film_id'],
      { triggers: ['film_fulltext'] },
    ),
  );
  const p = propose(source, target);
  const text = renderConfig(p, 'mysql://h/db', 'postgres://h/db');

  it('writes the casts into the mapping, leaves what the database fills out, names what it cannot decide', () => {
    expect(text).toContain(
      "special_features: { from: 'special_features', cast: 'array' }, // MySQL SET → text[]: cast 'array' splits the comma-separated labels",
    );
    expect(text).toContain("location: { from: 'location', cast: 'wkt' }, // spatial geometry → text: cast 'wkt'");
    expect(text).toContain(
      "title: 'title', // source varchar(255) is wider than target varchar(100): longer values fail",
    );
    expect(text).toContain(
      '// rating: { value: … }, // NOT NULL without a default and no source column: give a value or a transform',
    );
    expect(text).toContain('// created: left to its default');
    expect(text).toContain('// fulltext: filled by a trigger of the target (film_fulltext)');
    expect(text).toContain('// serial_no: filled by the database (identity, serial or generated)');
    expect(text).toContain('// note: { value: null }, // no source column: left NULL');
    expect(text).toMatch(/\/\/ source column 'it\\'s' has no matching target column/);
    expect(text).not.toMatch(/value: null \}, \/\/ target column/);
    expect(p.problems).toContainEqual({
      entity: 'film',
      table: 'film',
      column: 'rating',
      problem: 'NOT NULL without a default and no source column: give a value or a transform',
    });
    expect(p.problems.map((x) => x.column)).toEqual(
      expect.arrayContaining(['title', 'special_features', 'location', 'rating']),
    );
  });

  it('is valid TypeScript (every undecided line is a comment), and stays so with the undecided lines uncommented', () => {
    expect(syntaxErrors(text)).toEqual([]);
    // the proposal on a commented line is itself a valid property once the user fills it in
    const filled = text.replace('// rating: { value: … },', "rating: { value: 'G' },");
    expect(filled).toContain("rating: { value: 'G' },");
    expect(syntaxErrors(filled)).toEqual([]);
    // the check does find syntax errors (the old `// ?: 'x'` line, uncommented, was one)
    expect(syntaxErrors(text.replace("title: 'title',", "?: 'title',"))).not.toEqual([]);
  });

  it('leaves a table out, with its reason, when no target key can be filled', () => {
    const s = schema(table('t', [int('id'), int('a', { nullable: true })], ['id']));
    const t = schema(table('t', [int('tid'), int('a')], ['a']));
    const q = propose(s, t);
    expect(q.entities).toEqual([]);
    expect(q.skipped).toEqual([
      {
        table: 't',
        reason:
          'no primary or unique key of target table "t" is mapped by name from NOT NULL source columns (the source key (id) maps to no target key)',
      },
    ]);
    expect(q.problems).toEqual([
      { entity: null, table: 't', column: null, problem: `left out: ${q.skipped[0]!.reason}` },
    ]);
  });
});
