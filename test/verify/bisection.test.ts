import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRows } from '../../src/apply/apply.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ensureControlSchema } from '../../src/control/control.js';
import type { ResolvedEntity } from '../../src/core/mapping.js';
import { openStore } from '../../src/stores/index.js';
import type { Row, Store } from '../../src/stores/types.js';
import { checksumEntities } from '../../src/verify/checksum.js';
import { runContinuous, type CycleReport } from '../../src/verify/continuous.js';
import { verifyEntities, type KeyDifference } from '../../src/verify/verify.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * Checksum bisection against the full verify, for three pairs: SQLite → PGlite in-process, and MariaDB →
 * PostgreSQL and PostgreSQL → MariaDB on the real servers (databases with unique names, dropped after). Tiny
 * segments, a split factor of 4 and a row threshold of 8 force several levels of splitting; composite string keys
 * in byte order (MariaDB's utf8mb4_unicode_ci orders and compares them otherwise); a cast and a constant pushed
 * down on the source; a json column the target cannot encode in SQL and casts the source cannot (those columns alone are compared by
 * streaming, the others pushed down); a TypeScript transform (the
 * source side streams); a UUID key. Property: for random damage to the target, the checksum tier reports exactly
 * the keys and columns the full verify reports.
 */
const TENANTS = ['Zeta', 'alpha', 'Émile', 'beta', 'zulu', '10', '9', '_x', 'Ä', '😀'];
const N = 1500;

type SourceDialect = 'sqlite' | 'mysql' | 'postgres';
type TargetDialect = 'postgres' | 'mysql';

const SOURCE_DDL: Record<SourceDialect, string[]> = {
  sqlite: [
    'CREATE TABLE items (tenant text NOT NULL, id integer NOT NULL, name text, qty integer NOT NULL, price decimal(10,2), seen datetime(6), flag boolean, doc text, PRIMARY KEY (tenant, id))',
    'CREATE TABLE notes (id integer PRIMARY KEY, body text, n integer)',
    'CREATE TABLE accounts (id uuid PRIMARY KEY, n integer)',
    'CREATE TABLE tags (tenant text NOT NULL, id integer NOT NULL, label text, w decimal(10,2), PRIMARY KEY (tenant, id))',
  ],
  mysql: [
    'CREATE TABLE items (tenant varchar(20) NOT NULL, id int NOT NULL, name text, qty int NOT NULL, price decimal(10,2), seen datetime(6), flag boolean, doc text, PRIMARY KEY (tenant, id))',
    'CREATE TABLE notes (id int PRIMARY KEY, body text, n int)',
    'CREATE TABLE accounts (id uuid PRIMARY KEY, n int)',
    'CREATE TABLE tags (tenant varchar(20) NOT NULL, id int NOT NULL, label varchar(100), w decimal(10,2), PRIMARY KEY (tenant, id))',
  ],
  postgres: [
    'CREATE TABLE items (tenant varchar(20) NOT NULL, id int NOT NULL, name text, qty int NOT NULL, price numeric(10,2), seen timestamp(6), flag boolean, doc text, PRIMARY KEY (tenant, id))',
    'CREATE TABLE notes (id int PRIMARY KEY, body text, n int)',
    'CREATE TABLE accounts (id uuid PRIMARY KEY, n int)',
    'CREATE TABLE tags (tenant varchar(20) NOT NULL, id int NOT NULL, label varchar(100), w numeric(10,2), PRIMARY KEY (tenant, id))',
  ],
};
const TARGET_DDL: Record<TargetDialect, string[]> = {
  postgres: [
    'CREATE TABLE items (tenant varchar(20) NOT NULL, id int NOT NULL, name text, qty bigint NOT NULL, price numeric(10,2), seen timestamp(6), flag boolean, source text NOT NULL, doc jsonb, PRIMARY KEY (tenant, id))',
    'CREATE TABLE notes (id int PRIMARY KEY, body text, n int, shout text)',
    'CREATE TABLE accounts (id uuid PRIMARY KEY, n int)',
    'CREATE TABLE tags (tenant varchar(20) NOT NULL, id int NOT NULL, label varchar(100), w numeric(10,2), PRIMARY KEY (tenant, id))',
  ],
  mysql: [
    'CREATE TABLE items (tenant varchar(20) NOT NULL, id int NOT NULL, name text, qty bigint NOT NULL, price decimal(10,2), seen datetime(6), flag boolean, source text NOT NULL, doc json, PRIMARY KEY (tenant, id))',
    'CREATE TABLE notes (id int PRIMARY KEY, body text, n int, shout text)',
    'CREATE TABLE accounts (id uuid PRIMARY KEY, n int)',
    'CREATE TABLE tags (tenant varchar(20) NOT NULL, id int NOT NULL, label varchar(100), w decimal(10,2), PRIMARY KEY (tenant, id))',
  ],
};
const TABLES = ['items', 'notes', 'accounts', 'tags'];
const TAGS = 600;

/** Damage statements in the target's dialect. */
const DAMAGE: Record<
  TargetDialect,
  {
    set: Record<string, string>;
    insert: string;
    note: string;
    tag: Record<'label' | 'space' | 'w', string>;
    tagInsert: string;
  }
> = {
  postgres: {
    set: {
      name: `name = coalesce(name, '') || '!'`,
      qty: 'qty = qty + 1',
      price: 'price = coalesce(price, 0) + 0.01',
      seen: `seen = seen + interval '1 microsecond'`,
      flag: 'flag = NOT coalesce(flag, false)',
      source: `source = 'new'`,
      doc: `doc = '{"z":1}'`,
    },
    insert: `INSERT INTO items (tenant, id, qty, source) VALUES ($1, $2, 1, 'x') ON CONFLICT DO NOTHING`,
    note: `UPDATE notes SET shout = coalesce(shout, '') || '?' WHERE id = $1`,
    tag: {
      label: `label = coalesce(label, '') || '!'`,
      space: `label = coalesce(label, '') || ' '`,
      w: 'w = coalesce(w, 0) + 1',
    },
    tagInsert: `INSERT INTO tags (tenant, id, label) VALUES ($1, $2, 'new') ON CONFLICT DO NOTHING`,
  },
  mysql: {
    set: {
      name: `name = CONCAT(COALESCE(name, ''), '!')`,
      qty: 'qty = qty + 1',
      price: 'price = COALESCE(price, 0) + 0.01',
      seen: 'seen = seen + INTERVAL 1 MICROSECOND',
      flag: 'flag = NOT COALESCE(flag, false)',
      source: `source = 'new'`,
      doc: `doc = '{"z":1}'`,
    },
    // under utf8mb4_unicode_ci ('a', id) is a duplicate of ('Ä', id): ignored, as both verifies see
    insert: `INSERT IGNORE INTO items (tenant, id, qty, source) VALUES (?, ?, 1, 'x')`,
    note: `UPDATE notes SET shout = CONCAT(COALESCE(shout, ''), '?') WHERE id = ?`,
    // a trailing space: equal to the old value under the PAD SPACE collation, different bytes
    tag: {
      label: `label = CONCAT(COALESCE(label, ''), '!')`,
      space: `label = CONCAT(COALESCE(label, ''), ' ')`,
      w: 'w = COALESCE(w, 0) + 1',
    },
    tagInsert: `INSERT IGNORE INTO tags (tenant, id, label) VALUES (?, ?, 'new')`,
  },
};

interface Pair {
  name: string;
  source: SourceDialect;
  target: TargetDialect;
  /**
   * Property runs: the in-process pair is cheap; the server pairs do the same with fewer (each run is ~2 full
   * verifies).
   */
  numRuns: number;
  open(): Promise<{ source: Store; target: Store; sourceUrl: string; targetUrl: string; drop(): Promise<void> }>;
  /**
   * How items is compared: both sides in SQL, but its json column (no engine encodes json in SQL but SQLite) and,
   * off SQLite (the one engine that pushes the mapping's casts down), its cast columns fall back to the streamed
   * comparison one by one (`streamedColumns`). `tags` (plain columns, a composite string key) is SQL on both
   * sides in every pair.
   */
  itemsStreamed: string[];
  itemsNote: RegExp;
}

const PAIRS: Pair[] = [
  {
    name: 'SQLite → PGlite',
    source: 'sqlite',
    target: 'postgres',
    numRuns: 15,
    itemsStreamed: ['doc'],
    itemsNote: /doc \(jsonb\)/,
    open: async () => ({
      source: await openStore('sqlite::memory:'),
      target: await openStore('pglite:memory'),
      sourceUrl: 'sqlite::memory:',
      targetUrl: 'pglite:memory',
      drop: async () => {},
    }),
  },
  {
    name: 'MariaDB → PostgreSQL',
    source: 'mysql',
    target: 'postgres',
    numRuns: 12,
    itemsStreamed: ['qty', 'doc'],
    itemsNote: /doc \(jsonb\)/,
    open: async () => {
      const my = await createMysqlDatabase('tandem_bis');
      const pgdb = await createPgDatabase('tandem_bis');
      return {
        source: await openStore(my.url),
        target: await openStore(pgdb.url),
        sourceUrl: my.url,
        targetUrl: pgdb.url,
        drop: async () => {
          await my.drop();
          await pgdb.drop();
        },
      };
    },
  },
  {
    name: 'PostgreSQL → MariaDB',
    source: 'postgres',
    target: 'mysql',
    numRuns: 12,
    itemsStreamed: ['qty', 'doc'],
    itemsNote: /doc \(longtext\)/,
    open: async () => {
      const pgdb = await createPgDatabase('tandem_bis');
      const my = await createMysqlDatabase('tandem_bis');
      return {
        source: await openStore(pgdb.url),
        target: await openStore(my.url),
        sourceUrl: pgdb.url,
        targetUrl: my.url,
        drop: async () => {
          await pgdb.drop();
          await my.drop();
        },
      };
    },
  },
];

const summary = (ds: KeyDifference[]) =>
  ds
    .map(
      (d) => `${d.entity} ${d.key} ${d.kind} ${d.columns.map((c) => `${c.table}.${c.column}=${c.target}`).join(',')}`,
    )
    .sort();

describe.each(PAIRS)('checksum bisection finds exactly what the full verify finds (property): $name', (pair) => {
  let source: Store;
  let target: Store;
  let drop: (() => Promise<void>) | undefined;
  let entities: ResolvedEntity[];
  const p = (s: Store, i: number) => s.sql.param(i);
  const cols = (s: Store, names: string[]) => names.map((c) => s.sql.ident(c)).join(', ');

  /**
   * Puts the target tables back as the backfill left them (the damage of a run is committed: servers pool connections).
   */
  async function restoreTarget() {
    for (const t of TABLES) {
      await target.execute(`DELETE FROM ${t}`);
      await target.execute(`INSERT INTO ${t} SELECT * FROM ${t}_pristine`);
    }
  }

  beforeAll(async () => {
    const opened = await pair.open();
    ({ source, target } = opened);
    drop = opened.drop;
    for (const ddl of SOURCE_DDL[pair.source]) await source.execute(ddl);
    for (const ddl of TARGET_DDL[pair.target]) await target.execute(ddl);
    const rows: unknown[][] = [];
    for (let i = 0; i < N; i++)
      rows.push([
        TENANTS[i % TENANTS.length],
        Math.floor(i / TENANTS.length) * 7 - 300,
        i % 11 ? `name ${i} | ~` : null,
        i * 3,
        (i * 1.07).toFixed(2),
        `2021-03-04 05:06:07.${String(i).padStart(6, '0')}`,
        i % 3 === 0,
        i % 5 ? JSON.stringify({ b: i, a: [i, 'x'] }) : null,
      ]);
    for (let i = 0; i < rows.length; i += 500) {
      const batch = rows.slice(i, i + 500);
      let n = 0;
      await source.execute(
        `INSERT INTO items VALUES ${batch.map((r) => `(${r.map(() => p(source, ++n)).join(', ')})`).join(', ')}`,
        batch.flat(),
      );
    }
    for (let i = 1; i <= 400; i++)
      await source.execute(`INSERT INTO notes VALUES (${p(source, 1)}, ${p(source, 2)}, ${p(source, 3)})`, [
        i * 3,
        i % 4 ? `note ${i}` : null,
        i,
      ]);
    for (let i = 1; i <= 300; i++)
      await source.execute(`INSERT INTO accounts VALUES (${p(source, 1)}, ${p(source, 2)})`, [
        `${((i * 2654435761) % 2 ** 32).toString(16).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`,
        i,
      ]);
    for (let i = 0; i < TAGS; i += 300) {
      const batch = Array.from({ length: Math.min(300, TAGS - i) }, (_, j) => [
        TENANTS[(i + j) % TENANTS.length],
        Math.floor((i + j) / TENANTS.length) * 5 - 100,
        (i + j) % 7 ? `tag ${i + j}${(i + j) % 4 ? '' : ' '}` : null,
        ((i + j) * 0.37).toFixed(2),
      ]);
      let n = 0;
      await source.execute(
        `INSERT INTO tags VALUES ${batch.map((r) => `(${r.map(() => p(source, ++n)).join(', ')})`).join(', ')}`,
        batch.flat(),
      );
    }
    const config = parseConfig({
      source: opened.sourceUrl,
      target: opened.targetUrl,
      entities: {
        items: {
          table: 'items',
          key: ['tenant', 'id'],
          targets: [
            {
              table: 'items',
              columns: {
                tenant: 'tenant',
                id: 'id',
                name: 'name',
                qty: { from: 'qty', cast: 'integer' },
                price: 'price',
                seen: 'seen',
                flag: 'flag',
                source: { value: 'legacy' },
                doc: { from: 'doc', cast: 'json' },
              },
            },
          ],
        },
        accounts: { table: 'accounts', key: 'id', targets: [{ table: 'accounts', columns: { id: 'id', n: 'n' } }] },
        tags: {
          table: 'tags',
          key: ['tenant', 'id'],
          targets: [{ table: 'tags', columns: { tenant: 'tenant', id: 'id', label: 'label', w: 'w' } }],
        },
        notes: {
          table: 'notes',
          key: 'id',
          targets: [
            {
              table: 'notes',
              columns: {
                id: 'id',
                body: 'body',
                n: 'n',
                shout: { transform: (r: Row) => (r.body === null ? null : String(r.body).toUpperCase()) },
              },
            },
          ],
        },
      },
    });
    entities = await resolveConfig(config, source, target);
    await ensureControlSchema(target);
    for (const e of entities) {
      const all = await source.query<Row>(`SELECT ${cols(source, e.readColumns)} FROM ${e.source.name}`);
      for (let i = 0; i < all.length; i += 500)
        await target.transaction((tx) => applyRows(target, tx, e, all.slice(i, i + 500)));
    }
    for (const t of TABLES) await target.execute(`CREATE TABLE ${t}_pristine AS SELECT * FROM ${t}`);
  }, 120_000);
  afterAll(async () => {
    await source?.close();
    await target?.close();
    await drop?.();
  });

  const opts = {
    pageRows: 100,
    maxReportedDifferences: 1000,
    initialSegmentRows: 200,
    minSegmentRows: 50,
    maxSegmentRows: 400,
    factor: 4,
    rowThreshold: 8,
  };

  it('plans pushdown per side and agrees with the full verify at parity', async () => {
    const r = await checksumEntities(source, target, entities, opts);
    expect(r.ok).toBe(true);
    // equal rows checksum equal on both sides: no segment differed, none needed its rows compared
    expect(r.entities.map((e) => [e.entity, e.differingSegments, e.transient])).toEqual(
      r.entities.map((e) => [e.entity, 0, 0]),
    );
    const items = r.entities.find((e) => e.entity === 'items')!;
    expect(items.pushdown).toEqual({ source: 'sql', targets: { items: 'sql' } });
    expect(items.streamedColumns).toEqual({ items: pair.itemsStreamed });
    // segments at once: PGlite and SQLite have one connection (sequential); the servers' pools allow the default 4
    expect(items.concurrency).toBe(pair.source === 'sqlite' ? 1 : 4);
    expect(items.notes.join(' ')).toMatch(pair.itemsNote);
    expect(items.sourceRows).toBe(N);
    expect(items.segments).toBeGreaterThan(3);
    expect(r.entities.find((e) => e.entity === 'notes')!.pushdown).toEqual({
      source: 'stream',
      targets: { notes: 'sql' },
    });
    expect(r.entities.find((e) => e.entity === 'accounts')!.pushdown).toEqual({
      source: 'sql',
      targets: { accounts: 'sql' },
    });
    const tags = r.entities.find((e) => e.entity === 'tags')!;
    expect(tags.pushdown).toEqual({ source: 'sql', targets: { tags: 'sql' } });
    expect(tags.segments).toBeGreaterThan(1);
  });

  it('random damage to the target: same keys, kinds and columns as the full verify', async () => {
    const itemKeys = (await target.query<Row>(`SELECT tenant, id FROM items`)).map(
      (r) => [r.tenant, r.id] as [string, number],
    );
    const tagKeys = (await target.query<Row>(`SELECT tenant, id FROM tags`)).map(
      (r) => [r.tenant, r.id] as [string, number],
    );
    const damage = fc.oneof(
      fc.record({
        op: fc.constant('update' as const),
        k: fc.nat(itemKeys.length - 1),
        col: fc.constantFrom('name', 'qty', 'price', 'seen', 'flag', 'source', 'doc'),
      }),
      fc.record({ op: fc.constant('delete' as const), k: fc.nat(itemKeys.length - 1) }),
      fc.record({
        op: fc.constant('insert' as const),
        tenant: fc.constantFrom(...TENANTS, 'Ω', 'a', ''),
        id: fc.integer({ min: -1000, max: 2000 }),
      }),
      fc.record({ op: fc.constant('note' as const), id: fc.integer({ min: 1, max: 1200 }) }),
      fc.record({ op: fc.constant('account' as const), n: fc.integer({ min: 1, max: 300 }) }),
      fc.record({
        op: fc.constant('tag' as const),
        k: fc.nat(tagKeys.length - 1),
        change: fc.constantFrom('label' as const, 'space' as const, 'w' as const, 'delete' as const),
      }),
      // under MariaDB's utf8mb4_unicode_ci 'A' and 'a' equal 'Ä', 'zeta' equals 'Zeta': ignored there, new keys
      // elsewhere
      fc.record({
        op: fc.constant('tagInsert' as const),
        tenant: fc.constantFrom(...TENANTS, 'A', 'a', 'zeta', ''),
        id: fc.integer({ min: -120, max: 320 }),
      }),
    );
    const sql = DAMAGE[pair.target];
    const keyWhere = `tenant = ${p(target, 1)} AND id = ${p(target, 2)}`;
    let damaged = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(damage, { minLength: 1, maxLength: 6 }), async (ops) => {
        try {
          for (const o of ops) {
            if (o.op === 'update')
              await target.execute(`UPDATE items SET ${sql.set[o.col]} WHERE ${keyWhere}`, itemKeys[o.k]!);
            else if (o.op === 'delete') await target.execute(`DELETE FROM items WHERE ${keyWhere}`, itemKeys[o.k]!);
            else if (o.op === 'insert') await target.execute(sql.insert, [o.tenant, o.id]);
            else if (o.op === 'note') await target.execute(sql.note, [o.id]);
            else if (o.op === 'tag') {
              if (o.change === 'delete') await target.execute(`DELETE FROM tags WHERE ${keyWhere}`, tagKeys[o.k]!);
              else await target.execute(`UPDATE tags SET ${sql.tag[o.change]} WHERE ${keyWhere}`, tagKeys[o.k]!);
            } else if (o.op === 'tagInsert') await target.execute(sql.tagInsert, [o.tenant, o.id]);
            else await target.execute(`UPDATE accounts SET n = -n WHERE n = ${p(target, 1)}`, [o.n]);
          }
          const full = await verifyEntities(source, target, entities, { pageRows: 100, maxReportedDifferences: 1000 });
          const cs = await checksumEntities(source, target, entities, opts);
          if (full.differences.length) damaged++;
          expect(summary(cs.differences)).toEqual(summary(full.differences));
          for (const e of full.entities)
            expect(cs.entities.find((x) => x.entity === e.entity)).toMatchObject({
              missing: e.missing,
              extra: e.extra,
              different: e.different,
              sourceRows: e.sourceRows,
              transient: 0,
            });
          // (transient: a range whose checksums differed while its rows match; nothing changes during a run, so none)
        } finally {
          await restoreTarget();
        }
      }),
      { numRuns: pair.numRuns, endOnFailure: true },
    );
    // some ops change nothing (an insert of a key that exists, a note id that does not): most runs still differ
    expect(damaged).toBeGreaterThan(pair.numRuns / 2);
  });

  it('stops at --max-differences with a partial result', async () => {
    try {
      await target.execute(`UPDATE items SET qty = qty + 1 WHERE id % 3 = 0`);
      const r = await checksumEntities(source, target, entities, { ...opts, maxDifferences: 5 });
      expect(r.complete).toBe(false);
      expect(r.differences.length).toBeGreaterThanOrEqual(5);
      expect(r.differences.length).toBeLessThan(60);
    } finally {
      await restoreTarget();
    }
  });

  it('continuous: rechecks recently applied keys and confirms what still differs after the lag', async () => {
    const cycles: CycleReport[] = [];
    const items = entities.find((e) => e.name === 'items')!;
    let clock = Date.now();
    try {
      await runContinuous(source, target, target, [items], {
        intervalSeconds: 0,
        lagSeconds: 1,
        cycles: 3,
        pageRows: 100,
        maxReportedDifferences: 100,
        checksum: opts,
        now: () => clock,
        onCycle: async (c) => {
          cycles.push(c);
          if (c.cycle === 1) {
            // the relay applies a change, then something damages the row behind the ledger's back
            await source.execute(`UPDATE items SET qty = qty + 100 WHERE tenant = 'beta' AND id = -300`);
            const [row] = await source.query<Row>(
              `SELECT ${cols(source, items.readColumns)} FROM items WHERE tenant = 'beta' AND id = -300`,
            );
            await target.transaction((tx) => applyRows(target, tx, items, [row!]));
            await target.execute(`UPDATE items SET name = 'damaged' WHERE tenant = 'beta' AND id = -300`);
          }
          clock += 2_000;
        },
      });
    } finally {
      await source.execute(`UPDATE items SET qty = qty - 100 WHERE tenant = 'beta' AND id = -300`);
    }
    // cycle 2 finds it (pass and recent keys): pending; cycle 3, past the lag window, confirms it
    expect(cycles.map((c) => c.mismatches.items)).toEqual([
      { pending: 0, confirmed: 0, repaired: 0, resolved: 0 },
      { pending: 1, confirmed: 0, repaired: 0, resolved: 0 },
      { pending: 0, confirmed: 1, repaired: 0, resolved: 0 },
    ]);
    expect(cycles[1]!.recent.items).toEqual({ checked: 1, differing: 1 });
  });
});
