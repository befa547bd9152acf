import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRows } from '../../src/apply/apply.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ensureControlSchema } from '../../src/control/control.js';
import type { ResolvedEntity } from '../../src/core/mapping.js';
import { openStore } from '../../src/stores/index.js';
import type { Row, Store } from '../../src/stores/types.js';
import { checksumEntities } from '../../src/verify/checksum.js';
import { effectiveConcurrency } from '../../src/verify/limit.js';
import { defaultMode, runVerify } from '../../src/verify/run.js';
import { verifyEntities } from '../../src/verify/verify.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';

/**
 * Verify in parallel (issue 15): segments checksummed concurrently on MariaDB → PostgreSQL give the sequential
 * run's report (same differences in the same order, same counts); the queries in flight stay within the bound;
 * single-connection stores degrade to one at a time; a float column falls back alone to the streamed comparison;
 * `tandem verify` without `--mode` runs the checksum tier and says so.
 */
const N = 3000;

/** `store` with a counter of the queries in flight (the real store underneath). */
function counting(store: Store): { store: Store; max: () => number; reset: () => void } {
  let now = 0;
  let max = 0;
  const wrapped: Store = {
    ...store,
    query: async (sql, params) => {
      now++;
      max = Math.max(max, now);
      try {
        return await store.query(sql, params);
      } finally {
        now--;
      }
    },
  };
  return { store: wrapped, max: () => max, reset: () => (max = 0) };
}

describe('checksum tier in parallel, MariaDB → PostgreSQL', () => {
  let my: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pgdb: Awaited<ReturnType<typeof createPgDatabase>>;
  let source: Store;
  let target: Store;
  let entities: ResolvedEntity[];
  let cfgText: string;

  beforeAll(async () => {
    my = await createMysqlDatabase('tandem_vconc');
    pgdb = await createPgDatabase('tandem_vconc');
    source = await openStore(my.url);
    target = await openStore(pgdb.url);
    await source.execute(
      'CREATE TABLE items (id int NOT NULL PRIMARY KEY, name varchar(40), qty int NOT NULL, score double, note text)',
    );
    await target.execute(
      'CREATE TABLE items (id int PRIMARY KEY, name varchar(40), qty int NOT NULL, score double precision, note text)',
    );
    for (let i = 0; i < N; i += 500) {
      const rows = Array.from({ length: Math.min(500, N - i) }, (_, j) => {
        const id = (i + j + 1) * 3;
        return [id, `item ${id}`, id % 97, id % 5 ? id / 7 : null, id % 11 ? `note ${id}` : null];
      });
      await source.execute(`INSERT INTO items VALUES ${rows.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, rows.flat());
    }
    cfgText = `export default {
  source: ${JSON.stringify(my.url)},
  target: ${JSON.stringify(pgdb.url)},
  entities: { items: { table: 'items', key: 'id',
    targets: [{ table: 'items', columns: { id: 'id', name: 'name', qty: 'qty', score: 'score', note: 'note' } }] } },
};
`;
    const config = parseConfig({
      source: my.url,
      target: pgdb.url,
      entities: {
        items: {
          table: 'items',
          key: 'id',
          targets: [{ table: 'items', columns: { id: 'id', name: 'name', qty: 'qty', score: 'score', note: 'note' } }],
        },
      },
    });
    entities = await resolveConfig(config, source, target);
    await ensureControlSchema(target);
    const all = await source.query<Row>('SELECT id, name, qty, score, note FROM items');
    for (let i = 0; i < all.length; i += 500)
      await target.transaction((tx) => applyRows(target, tx, entities[0]!, all.slice(i, i + 500)));
    // damage spread over the key range: pushed-down columns, the float column, missing and extra rows
    await target.execute(`UPDATE items SET name = concat(name, '!') WHERE id % 601 = 0`);
    await target.execute('UPDATE items SET score = score + 1 WHERE id % 757 = 0');
    await target.execute('UPDATE items SET qty = qty + 1, score = -1 WHERE id = 4500');
    await target.execute('DELETE FROM items WHERE id % 1009 = 0');
    await target.execute(`INSERT INTO items VALUES (1, 'extra', 1, 0.5, NULL), (9001, 'extra', 2, NULL, 'x')`);
  }, 120_000);
  afterAll(async () => {
    await source?.close();
    await target?.close();
    await my?.drop();
    await pgdb?.drop();
  });

  const opts = {
    pageRows: 200,
    maxReportedDifferences: 1000,
    initialSegmentRows: 200,
    minSegmentRows: 50,
    maxSegmentRows: 300,
    factor: 4,
    rowThreshold: 8,
  };

  it('pushes every column down but the float, which falls back alone to the streamed comparison', () => {
    const { mode, reason } = defaultMode(source, target, entities);
    expect(mode).toBe('checksum');
    expect(reason).toMatch(/some columns compared by streaming in items\.items/);
  });

  it('reports what the sequential run reports, in the same order; what the full verify finds', async () => {
    const s = counting(source);
    const t = counting(target);
    const seq = await checksumEntities(s.store, t.store, entities, { ...opts, concurrency: 1 });
    expect(seq.entities[0]!.concurrency).toBe(1);
    const seqMax = [s.max(), t.max()];
    s.reset();
    t.reset();
    const par = await checksumEntities(s.store, t.store, entities, { ...opts, concurrency: 4 });
    const e = par.entities[0]!;
    expect(e.concurrency).toBe(4);
    expect(e.pushdown).toEqual({ source: 'sql', targets: { items: 'sql' } });
    expect(e.streamedColumns).toEqual({ items: ['score'] });
    expect(e.notes.join(' ')).toMatch(
      /score compared by streaming \(postgres cannot encode score \(double precision\)/,
    );
    // same differences in the same order, same figures (segment counts follow the timing-driven sizes)
    expect(par.differences).toEqual(seq.differences);
    const figures = (x: typeof e) => [
      x.sourceRows,
      x.targetRows,
      x.matched,
      x.missing,
      x.extra,
      x.different,
      x.complete,
    ];
    expect(figures(e)).toEqual(figures(seq.entities[0]!));
    expect([par.ok, par.complete]).toEqual([false, true]);
    // the full verify finds the same keys and columns
    const full = await verifyEntities(source, target, entities, { pageRows: 500, maxReportedDifferences: 1000 });
    const norm = (ds: typeof par.differences) =>
      ds.map((d) => `${d.kind} ${d.key} ${d.columns.map((c) => c.column).join(',')}`).sort();
    expect(norm(par.differences)).toEqual(norm(full.differences));
    expect(par.differences.find((d) => d.key === '["4500"]')!.columns.map((c) => c.column)).toEqual(['qty', 'score']);
    // queries in flight: more than one segment at once, never more than the bound allows (a segment's SQL
    // query and its float stream per slot, plus the key probes)
    expect(Math.max(s.max(), t.max())).toBeGreaterThan(Math.max(...seqMax));
    expect(s.max()).toBeLessThanOrEqual(4 * 2 + 1);
    expect(t.max()).toBeLessThanOrEqual(4 * 2);
  });

  it('lists the same first keys under a short listing, and stops at a budget with a partial report', async () => {
    const a = await checksumEntities(source, target, entities, { ...opts, concurrency: 1, maxReportedDifferences: 3 });
    const b = await checksumEntities(source, target, entities, { ...opts, concurrency: 4, maxReportedDifferences: 3 });
    expect(b.differences).toEqual(a.differences);
    expect(b.differences).toHaveLength(3);
    const c = await checksumEntities(source, target, entities, { ...opts, concurrency: 4, maxDifferences: 2 });
    expect(c.complete).toBe(false);
    expect(c.entities[0]!.missing + c.entities[0]!.extra + c.entities[0]!.different).toBeGreaterThanOrEqual(2);
  });

  it('a throttled run checksums one segment at a time', async () => {
    const r = await checksumEntities(source, target, entities, { ...opts, concurrency: 4, maxRowsPerSecond: 1e9 });
    expect(r.entities[0]!.concurrency).toBe(1);
  });

  it('tandem verify without --mode runs checksum, keeps the foundation table, and says which mode ran', async () => {
    const cfg = writeConfig(cfgText);
    const text = await runCli(['verify', '--config', cfg]);
    expect(text.code, text.stderr).toBe(1);
    // the foundation's table: entity, source rows, target rows, missing, extra, different, parity
    expect(text.stdout).toMatch(/^entity\s+source rows\s+target rows\s+missing\s+extra\s+different\s+parity\s+time$/m);
    expect(text.stdout).toMatch(/items\s+3,000\s+3,000\s+2\s+2\s+\d+\s+9\d\.\d{3}%/);
    expect(text.stdout).toMatch(/^mode: checksum \(the default: the fastest exhaustive mode/m);
    expect(text.stdout).toMatch(/items: items: score compared by streaming/);
    const json = await runCli(['verify', '--config', cfg, '--json', '--concurrency', '2']);
    const r = JSON.parse(json.stdout);
    expect([r.mode, r.modeChosen, r.exhaustive, r.exitCode]).toEqual(['checksum', 'default', true, 1]);
    expect(r.modeReason).toMatch(/^the default: /);
    expect(r.entities[0]).toMatchObject({ mode: 'checksum', concurrency: 2, streamedColumns: { items: ['score'] } });
    const full = JSON.parse((await runCli(['verify', '--config', cfg, '--json', '--mode', 'full'])).stdout);
    expect([full.mode, full.modeChosen, full.modeReason]).toEqual(['full', 'flag', undefined]);
    expect(full.differenceCount).toBe(r.differenceCount);
    for (const [args, msg] of [
      [['--concurrency', '0'], /--concurrency must be a positive integer/],
      [['--concurrency', '2', '--mode', 'full'], /--concurrency applies to the checksum tier/],
    ] as const) {
      const bad = await runCli(['verify', '--config', cfg, ...args]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/TANDEM_ERR_USAGE/);
      expect(bad.stderr).toMatch(msg);
    }
  });
});

describe('single-connection stores and stores without checksum SQL', () => {
  it('SQLite runs one segment at a time; pooled stores are bounded by their pools', async () => {
    // (PGlite's single connection is checked by test/verify/bisection.test.ts, SQLite → PGlite)
    const lite = await openStore('sqlite::memory:');
    const pgdb = await createPgDatabase('tandem_vconc1');
    const pg = await openStore(pgdb.url);
    try {
      expect(lite.connections).toBe(1);
      expect(effectiveConcurrency(4, lite, lite)).toBe(1);
      expect(effectiveConcurrency(4, pg, lite)).toBe(1);
      expect(effectiveConcurrency(4, pg, pg)).toBe(4);
      expect(effectiveConcurrency(64, pg, pg)).toBe((pg.connections ?? 1) - 1);
      expect(effectiveConcurrency(4, { ...pg, connections: undefined }, pg)).toBe(1);
    } finally {
      await lite.close();
      await pg.close();
      await pgdb.drop();
    }
  });

  it('the default runs full when no side can be checksummed in SQL, and says why', async () => {
    const a = await openStore('sqlite::memory:');
    const b = await openStore('sqlite::memory:');
    try {
      await a.execute('CREATE TABLE t (id integer PRIMARY KEY, v text)');
      await b.execute('CREATE TABLE t (id integer PRIMARY KEY, v text)');
      await a.execute(`INSERT INTO t VALUES (1, 'a'), (2, 'b')`);
      await b.execute(`INSERT INTO t VALUES (1, 'a'), (2, 'b')`);
      // a user's store without checksum SQL on both sides
      const plain = (s: Store): Store => ({ ...s, sql: { ...s.sql, checksum: undefined } });
      const config = parseConfig({
        source: 'sqlite::memory:',
        target: 'sqlite::memory:',
        entities: { t: { table: 't', key: 'id', targets: [{ table: 't', columns: { id: 'id', v: 'v' } }] } },
      });
      const es = await resolveConfig(config, a, b);
      const r = await runVerify(plain(a), plain(b), es, { pageRows: 100, maxReportedDifferences: 10 });
      expect([r.mode, r.modeChosen, r.exitCode]).toEqual(['full', 'default', 0]);
      expect(r.modeReason).toMatch(/t: no side checksummed in SQL/);
      const c = await runVerify(a, b, es, { pageRows: 100, maxReportedDifferences: 10 });
      expect([c.mode, c.modeChosen, c.exitCode, c.headline]).toEqual([
        'checksum',
        'default',
        0,
        'parity: 100% — source and target match (every row compared: 2 source rows)',
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
