import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDeletes, applyRows } from '../src/apply/apply.js';
import { loadConfig } from '../src/config/load.js';
import { resolveConfig } from '../src/config/resolve.js';
import { ensureControlSchema } from '../src/control/control.js';
import type { ResolvedEntity } from '../src/core/mapping.js';
import { copyField } from '../src/stores/postgres/bulk.js';
import { openStore } from '../src/stores/index.js';
import type { Executor, Row, Store } from '../src/stores/types.js';
import { createPgDatabase, writeConfig } from './helpers.js';

/**
 * Issue 15: the PostgreSQL bulk-load write path (src/stores/postgres/bulk.ts) — COPY text into a staging table,
 * then one statement that advances the version ledger and upserts the rows whose version won. Values that need
 * escaping in COPY's text format (tab, newline, carriage return, backslash, `\N` and `\.` as text, NULL vs the
 * empty string, bytea, arrays, json, non-ASCII) arrive exactly as the source holds them; a staged row with an
 * older version, or of a key with a tombstone, writes nothing; a value the target refuses still fails with
 * TANDEM_ERR_VALUE_DOES_NOT_FIT naming the key (the two-step path finds the row); an unchanged re-apply writes
 * nothing (no UPDATE).
 */
const DDL = `
CREATE DOMAIN small_d AS integer CHECK (VALUE < 1000);
CREATE TABLE things (
  id bigint PRIMARY KEY,
  label text,
  note varchar(200),
  raw bytea,
  tags text[],
  nums int[],
  doc jsonb,
  flag boolean,
  amount numeric(12,2),
  at timestamp(6),
  small small_d,
  version int NOT NULL
);`;

/** Texts COPY's text format must escape, or could take for something else. */
const NASTY = [
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  'back\\slash',
  '\\N',
  '\\.',
  '',
  'ünïcödé — 日本語 🚀',
  'quote " and \' both',
  '{braces},[brackets]',
  'trailing backslash \\',
  '\\x41 not bytea',
];

function thing(i: number, version = 1): unknown[] {
  const s = NASTY[i % NASTY.length]!;
  return [
    i,
    i % 13 === 6 ? null : s,
    i % 5 === 0 ? '' : `${s}|${i}`,
    i % 4 === 0 ? null : Buffer.from([0, 9, 10, 13, 92, 255, i % 256]),
    i % 6 === 0 ? null : i % 6 === 1 ? '{}' : `{${JSON.stringify(s)},"b\\\\c",NULL,"x y"}`,
    i % 3 === 0 ? null : `{${i},-${i},0}`,
    i % 7 === 0 ? null : JSON.stringify({ s, n: i, a: [1, 'two', null], nested: { t: '\t' } }),
    i % 2 === 0,
    (i * 1.25).toFixed(2),
    `2024-01-${String((i % 28) + 1).padStart(2, '0')} 12:34:56.${String(i).padStart(6, '0')}`,
    i % 9 === 0 ? null : i,
    version,
  ];
}

const N = 300;

describe('bulk load into PostgreSQL (COPY into a staging table, one ledger + upsert statement)', () => {
  let src: Awaited<ReturnType<typeof createPgDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let source: Store;
  let target: Store;
  let entity: ResolvedEntity;

  beforeAll(async () => {
    src = await createPgDatabase('tandem_bulk_src');
    tgt = await createPgDatabase('tandem_bulk_tgt');
    for (const url of [src.url, tgt.url]) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(DDL);
      await c.end();
    }
    const c = new pg.Client({ connectionString: src.url });
    await c.connect();
    for (let i = 1; i <= N; i++)
      await c.query(
        'INSERT INTO things VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
        thing(i).map((v) => (v === null ? null : v)),
      );
    await c.end();
    const cfg = writeConfig(`export default {
  source: ${JSON.stringify(src.url)},
  target: ${JSON.stringify(tgt.url)},
  entities: {
    things: {
      table: 'things', key: 'id', version: 'version',
      targets: [{ table: 'things', columns: { id: 'id', label: 'label', note: 'note', raw: 'raw', tags: 'tags', nums: 'nums', doc: 'doc', flag: 'flag', amount: 'amount', at: 'at', small: 'small', version: 'version' } }],
    },
  },
};
`);
    const config = await loadConfig(cfg);
    source = await openStore(src.url);
    target = await openStore(tgt.url);
    await ensureControlSchema(target);
    [entity] = (await resolveConfig(config, source, target, ['things'])) as [ResolvedEntity];
  });
  afterAll(async () => {
    await source?.close();
    await target?.close();
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  /** Applies rows in one target transaction; counts the COPY loads the apply ran. */
  async function apply(rows: Row[]): Promise<{ applied: number; skipped: number; copies: number }> {
    let copies = 0;
    const r = await target.transaction((tx) => {
      const counted: Executor = {
        query: (s, p) => tx.query(s, p),
        execute: (s, p) => tx.execute(s, p),
        copyFrom: (s, d) => {
          copies++;
          return tx.copyFrom!(s, d);
        },
      };
      return applyRows(target, counted, entity, rows);
    });
    return { applied: r.applied, skipped: r.skipped, copies };
  }

  const sourceRows = () => source.query<Row>('SELECT * FROM things ORDER BY id');
  const text = async (url: string, where = '') => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(`SELECT t::text AS t FROM things t ${where} ORDER BY id`)).rows.map((r) => r.t as string);
    } finally {
      await c.end();
    }
  };

  it('escapes a COPY field: NULL as \\N, the empty string as nothing, tab/newline/CR/backslash, bytea', () => {
    expect(copyField(null)).toBe('\\N');
    expect(copyField(undefined)).toBe('\\N');
    expect(copyField('')).toBe('');
    expect(copyField('\\N')).toBe('\\\\N');
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField(Buffer.from([0, 255]))).toBe('\\\\x00ff');
    expect(copyField(true)).toBe('t');
    expect(copyField(12n)).toBe('12');
  });

  it('writes every value exactly as the source holds it, through COPY', async () => {
    const r = await apply(await sourceRows());
    expect(r).toMatchObject({ applied: N, skipped: 0, copies: 1 });
    expect(await text(tgt.url)).toEqual(await text(src.url));
    const ledger = await target.query<{ n: string }>(
      `SELECT count(*)::int AS n FROM tandem.version_ledger WHERE entity = 'things'`,
    );
    expect(Number(ledger[0]!.n)).toBe(N);
  });

  it('writes nothing when the same rows come again (no UPDATE of an unchanged row, the ledger skips them)', async () => {
    const before = await target.query<{ x: string }>(`SELECT xmin::text AS x FROM things ORDER BY id`);
    const r = await apply(await sourceRows());
    expect(r).toMatchObject({ applied: 0, skipped: N });
    expect(await target.query<{ x: string }>(`SELECT xmin::text AS x FROM things ORDER BY id`)).toEqual(before);
  });

  it('does not overwrite a newer row with a staged row of an older version, and applies a newer one', async () => {
    const rows = await sourceRows();
    // a few keys move to version 5 (a small batch: the one-statement path, no COPY)
    const newer = rows.filter((r) => Number(r.id) <= 10).map((r) => ({ ...r, version: 5, note: `v5 ${r.id}` }));
    expect(await apply(newer)).toMatchObject({ applied: 10, copies: 0 });
    // then a stale chunk through COPY: version 3 (older than 5) for keys 1..10, version 1 again for the rest
    const stale = rows.map((r) => (Number(r.id) <= 10 ? { ...r, version: 3, note: 'stale' } : { ...r, note: 'stale' }));
    expect(await apply(stale)).toMatchObject({ applied: 0, skipped: N, copies: 1 });
    const got = await target.query<{ id: string; note: string; version: number }>(
      'SELECT id, note, version FROM things ORDER BY id',
    );
    expect(got).toHaveLength(N);
    for (const g of got) {
      if (Number(g.id) <= 10) expect(g).toMatchObject({ note: `v5 ${g.id}`, version: 5 });
      else expect(g.note).not.toBe('stale');
    }
    // and a newer chunk through COPY is applied, except where the ledger holds a newer version
    const fresh = rows.map((r) => ({ ...r, version: 4, note: `v4 ${r.id}` }));
    expect(await apply(fresh)).toMatchObject({ applied: N - 10, skipped: 10, copies: 1 });
    const v = await target.query<{ version: number; n: number }>(
      'SELECT version, count(*)::int AS n FROM things GROUP BY version ORDER BY version',
    );
    expect(v).toEqual([
      { version: 4, n: N - 10 },
      { version: 5, n: 10 },
    ]);
  });

  it('does not bring back a row whose tombstone is in the ledger', async () => {
    const rows = await sourceRows();
    const victim = rows.find((r) => Number(r.id) === 30)!;
    await target.transaction((tx) => applyDeletes(target, tx, entity, [{ key: '["30"]', keyValues: [30] }]));
    expect(await target.query('SELECT id FROM things WHERE id = 30')).toHaveLength(0);
    expect(await apply([{ ...victim, version: 99 }])).toMatchObject({ applied: 0, skipped: 1 });
    expect(await target.query('SELECT id FROM things WHERE id = 30')).toHaveLength(0);
  });

  it('a value the target refuses fails with TANDEM_ERR_VALUE_DOES_NOT_FIT naming the key, and writes nothing', async () => {
    const rows = await sourceRows();
    const bad = rows.map((r) => ({ ...r, version: 50, small: Number(r.id) === 104 ? 5000 : r.small }));
    await expect(apply(bad)).rejects.toMatchObject({
      code: 'TANDEM_ERR_VALUE_DOES_NOT_FIT',
      message: expect.stringContaining('key ["104"]'),
    });
    const v = await target.query<{ n: number }>('SELECT count(*)::int AS n FROM things WHERE version = 50');
    expect(v[0]!.n).toBe(0);
    // the connection's staging table is usable afterwards
    const ok = bad.map((r) => ({ ...r, small: 1 }));
    expect(await apply(ok)).toMatchObject({ applied: N - 1, copies: 1 });
  });
});
