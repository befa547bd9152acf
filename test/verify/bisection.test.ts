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

/**
 * Checksum bisection against the full verify, in-process (SQLite source, PGlite target): tiny segments, a split
 * factor of 4 and a row threshold of 8 force several levels of splitting; composite string keys in byte order;
 * a cast and a constant pushed down on SQLite; a json column that PGlite cannot encode (its side streams); a
 * TypeScript transform (the source side streams). Property: for random damage to the target, the checksum tier
 * reports exactly the keys and columns the full verify reports.
 */
const TENANTS = ['Zeta', 'alpha', 'Émile', 'beta', 'zulu', '10', '9', '_x', 'Ä', '😀'];
const N = 1500;

const summary = (ds: KeyDifference[]) => ds.map((d) => `${d.entity} ${d.key} ${d.kind} ${d.columns.map((c) => `${c.table}.${c.column}=${c.target}`).join(',')}`).sort();

describe('checksum bisection finds exactly what the full verify finds (property)', () => {
  let source: Store;
  let target: Store;
  let entities: ResolvedEntity[];

  beforeAll(async () => {
    source = await openStore('sqlite::memory:');
    target = await openStore('pglite:memory');
    await source.execute(`CREATE TABLE items (tenant text NOT NULL, id integer NOT NULL, name text, qty integer NOT NULL, price decimal(10,2), seen datetime(6), flag boolean, doc text, PRIMARY KEY (tenant, id))`);
    await source.execute(`CREATE TABLE notes (id integer PRIMARY KEY, body text, n integer)`);
    await source.execute(`CREATE TABLE accounts (id uuid PRIMARY KEY, n integer)`);
    await target.execute(`CREATE TABLE items (tenant varchar(20) NOT NULL, id int NOT NULL, name text, qty bigint NOT NULL, price numeric(10,2), seen timestamp(6), flag boolean, source text NOT NULL, doc jsonb, PRIMARY KEY (tenant, id))`);
    await target.execute(`CREATE TABLE notes (id int PRIMARY KEY, body text, n int, shout text)`);
    await target.execute(`CREATE TABLE accounts (id uuid PRIMARY KEY, n int)`);
    const rows: unknown[][] = [];
    for (let i = 0; i < N; i++) rows.push([TENANTS[i % TENANTS.length], Math.floor(i / TENANTS.length) * 7 - 300, i % 11 ? `name ${i} | ~` : null, i * 3, (i * 1.07).toFixed(2), `2021-03-04 05:06:07.${String(i).padStart(6, '0')}`, i % 3 === 0, i % 5 ? JSON.stringify({ b: i, a: [i, 'x'] }) : null]);
    for (let i = 0; i < rows.length; i += 500) {
      const batch = rows.slice(i, i + 500);
      await source.execute(`INSERT INTO items VALUES ${batch.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`, batch.flat());
    }
    for (let i = 1; i <= 400; i++) await source.execute(`INSERT INTO notes VALUES (?, ?, ?)`, [i * 3, i % 4 ? `note ${i}` : null, i]);
    for (let i = 1; i <= 300; i++) await source.execute(`INSERT INTO accounts VALUES (?, ?)`, [`${(i * 2654435761 % 2 ** 32).toString(16).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`, i]);
    const config = parseConfig({
      source: 'sqlite::memory:', target: 'pglite:memory',
      entities: {
        items: { table: 'items', key: ['tenant', 'id'], targets: [{ table: 'items', columns: { tenant: 'tenant', id: 'id', name: 'name', qty: { from: 'qty', cast: 'integer' }, price: 'price', seen: 'seen', flag: 'flag', source: { value: 'legacy' }, doc: { from: 'doc', cast: 'json' } } }] },
        accounts: { table: 'accounts', key: 'id', targets: [{ table: 'accounts', columns: { id: 'id', n: 'n' } }] },
        notes: { table: 'notes', key: 'id', targets: [{ table: 'notes', columns: { id: 'id', body: 'body', n: 'n', shout: { transform: (r: Row) => (r.body === null ? null : String(r.body).toUpperCase()) } } }] },
      },
    });
    entities = await resolveConfig(config, source, target);
    await ensureControlSchema(target);
    for (const e of entities) {
      const all = await source.query<Row>(`SELECT ${e.readColumns.map((c) => `"${c}"`).join(', ')} FROM ${e.source.name}`);
      for (let i = 0; i < all.length; i += 500) await target.transaction((tx) => applyRows(target, tx, e, all.slice(i, i + 500)));
    }
  }, 120_000);
  afterAll(async () => {
    await source?.close();
    await target?.close();
  });

  const opts = { pageRows: 100, maxReportedDifferences: 1000, initialSegmentRows: 200, minSegmentRows: 50, maxSegmentRows: 400, factor: 4, rowThreshold: 8 };

  it('plans pushdown per side and agrees with the full verify at parity', async () => {
    const r = await checksumEntities(source, target, entities, opts);
    expect(r.ok).toBe(true);
    const items = r.entities.find((e) => e.entity === 'items')!;
    expect(items.pushdown).toEqual({ source: 'sql', targets: { items: 'stream' } });
    expect(items.notes.join(' ')).toMatch(/doc \(jsonb\)/);
    expect(items.sourceRows).toBe(N);
    expect(items.segments).toBeGreaterThan(3);
    expect(r.entities.find((e) => e.entity === 'notes')!.pushdown).toEqual({ source: 'stream', targets: { notes: 'sql' } });
  });

  it('random damage to the target: same keys, kinds and columns as the full verify', async () => {
    const itemKeys = (await target.query<Row>(`SELECT tenant, id FROM items`)).map((r) => [r.tenant, r.id] as [string, number]);
    const damage = fc.oneof(
      fc.record({ op: fc.constant('update' as const), k: fc.nat(itemKeys.length - 1), col: fc.constantFrom('name', 'qty', 'price', 'seen', 'flag', 'source', 'doc') }),
      fc.record({ op: fc.constant('delete' as const), k: fc.nat(itemKeys.length - 1) }),
      fc.record({ op: fc.constant('insert' as const), tenant: fc.constantFrom(...TENANTS, 'Ω', 'a', ''), id: fc.integer({ min: -1000, max: 2000 }) }),
      fc.record({ op: fc.constant('note' as const), id: fc.integer({ min: 1, max: 1200 }) }),
      fc.record({ op: fc.constant('account' as const), n: fc.integer({ min: 1, max: 300 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(damage, { minLength: 1, maxLength: 6 }), async (ops) => {
        await target.execute('BEGIN');
        try {
          for (const o of ops) {
            if (o.op === 'update') {
              const [t, id] = itemKeys[o.k]!;
              const set = { name: `name = coalesce(name, '') || '!'`, qty: 'qty = qty + 1', price: 'price = coalesce(price, 0) + 0.01', seen: `seen = seen + interval '1 microsecond'`, flag: 'flag = NOT coalesce(flag, false)', source: `source = 'new'`, doc: `doc = '{"z":1}'` }[o.col];
              await target.execute(`UPDATE items SET ${set} WHERE tenant = $1 AND id = $2`, [t, id]);
            } else if (o.op === 'delete') {
              const [t, id] = itemKeys[o.k]!;
              await target.execute(`DELETE FROM items WHERE tenant = $1 AND id = $2`, [t, id]);
            } else if (o.op === 'insert') {
              await target.execute(`INSERT INTO items (tenant, id, qty, source) VALUES ($1, $2, 1, 'x') ON CONFLICT DO NOTHING`, [o.tenant, o.id]);
            } else if (o.op === 'note') {
              await target.execute(`UPDATE notes SET shout = coalesce(shout, '') || '?' WHERE id = $1`, [o.id]);
            } else {
              await target.execute(`UPDATE accounts SET n = -n WHERE n = $1`, [o.n]);
            }
          }
          const full = await verifyEntities(source, target, entities, { pageRows: 100, maxReportedDifferences: 1000 });
          const cs = await checksumEntities(source, target, entities, opts);
          expect(summary(cs.differences)).toEqual(summary(full.differences));
          for (const e of full.entities) expect(cs.entities.find((x) => x.entity === e.entity)).toMatchObject({ missing: e.missing, extra: e.extra, different: e.different, sourceRows: e.sourceRows });
        } finally {
          await target.execute('ROLLBACK');
        }
      }),
      { numRuns: 15, endOnFailure: true },
    );
  });

  it('stops at --max-differences with a partial result', async () => {
    await target.execute('BEGIN');
    try {
      await target.execute(`UPDATE items SET qty = qty + 1 WHERE id % 3 = 0`);
      const r = await checksumEntities(source, target, entities, { ...opts, maxDifferences: 5 });
      expect(r.complete).toBe(false);
      expect(r.differences.length).toBeGreaterThanOrEqual(5);
      expect(r.differences.length).toBeLessThan(60);
    } finally {
      await target.execute('ROLLBACK');
    }
  });

  it('continuous: rechecks recently applied keys and confirms what still differs after the lag', async () => {
    const cycles: CycleReport[] = [];
    const items = entities.find((e) => e.name === 'items')!;
    let clock = Date.now();
    await runContinuous(source, target, target, [items], {
      intervalSeconds: 0, lagSeconds: 1, cycles: 3, pageRows: 100, maxReportedDifferences: 100, checksum: opts,
      now: () => clock,
      onCycle: async (c) => {
        cycles.push(c);
        if (c.cycle === 1) {
          // the relay applies a change, then something damages the row behind the ledger's back
          await source.execute(`UPDATE items SET qty = qty + 100 WHERE tenant = 'beta' AND id = -300`);
          const [row] = await source.query<Row>(`SELECT ${items.readColumns.map((x) => `"${x}"`).join(', ')} FROM items WHERE tenant = 'beta' AND id = -300`);
          await target.transaction((tx) => applyRows(target, tx, items, [row!]));
          await target.execute(`UPDATE items SET name = 'damaged' WHERE tenant = 'beta' AND id = -300`);
        }
        clock += 2_000;
      },
    });
    // cycle 2 finds it (pass and recent keys): pending; cycle 3, past the lag window, confirms it
    expect(cycles.map((c) => c.mismatches.items)).toEqual([
      { pending: 0, confirmed: 0, repaired: 0, resolved: 0 },
      { pending: 1, confirmed: 0, repaired: 0, resolved: 0 },
      { pending: 0, confirmed: 1, repaired: 0, resolved: 0 },
    ]);
    expect(cycles[1]!.recent.items).toEqual({ checked: 1, differing: 1 });
    await source.execute(`UPDATE items SET qty = qty - 100 WHERE tenant = 'beta' AND id = -300`);
  });
});
