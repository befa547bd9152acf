/**
 * Issue 13 §1, introspection: partitioned tables (partitions folded into their root parent, foreign keys
 * declared on the partitions read as the parent's, references to a partition read as references to the root),
 * `hasDefault`, user `triggers` and `filledByTrigger`, on PostgreSQL, PGlite, MariaDB and SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assignsNew } from '../../src/stores/postgres/introspect.js';
import { setsNew } from '../../src/stores/mysql/introspect.js';
import { updatedColumns } from '../../src/stores/sqlite/introspect.js';
import { openStore } from '../../src/stores/index.js';
import type { SchemaInfo, Store } from '../../src/stores/types.js';
import { orderEntities } from '../../src/config/resolve.js';
import type { ResolvedEntity } from '../../src/core/mapping.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/** A PostgreSQL schema with a partitioned table whose foreign keys are declared on its partitions only. */
const PG_PARTITIONED = [
  `CREATE TABLE customer (customer_id int PRIMARY KEY, name text NOT NULL)`,
  `CREATE TABLE payment (payment_id int NOT NULL, customer_id int NOT NULL, amount numeric(5,2) NOT NULL,
     payment_date timestamp NOT NULL, created timestamptz NOT NULL DEFAULT now(), last_update timestamp NOT NULL,
     PRIMARY KEY (payment_date, payment_id)) PARTITION BY RANGE (payment_date)`,
  `CREATE TABLE payment_p2020 PARTITION OF payment FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')`,
  `CREATE TABLE payment_p2021 PARTITION OF payment FOR VALUES FROM ('2021-01-01') TO ('2022-01-01')`,
  `ALTER TABLE payment_p2020 ADD CONSTRAINT payment_p2020_customer_fk FOREIGN KEY (customer_id) REFERENCES customer (customer_id)`,
  `ALTER TABLE payment_p2021 ADD CONSTRAINT payment_p2021_customer_fk FOREIGN KEY (customer_id) REFERENCES customer (customer_id)`,
  `CREATE TABLE refund (refund_id serial PRIMARY KEY, payment_id int NOT NULL, payment_date timestamp NOT NULL,
     doubled int GENERATED ALWAYS AS (payment_id * 2) STORED,
     FOREIGN KEY (payment_date, payment_id) REFERENCES payment_p2020 (payment_date, payment_id))`,
  `CREATE FUNCTION set_last_update() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.amount = OLD.amount THEN NULL; END IF;
       NEW.last_update = now();
       RETURN NEW;
     END $$`,
  `CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON payment FOR EACH ROW EXECUTE FUNCTION set_last_update()`,
  `CREATE TABLE film (film_id int PRIMARY KEY, title text NOT NULL, fulltext tsvector NOT NULL)`,
  `CREATE TRIGGER film_fulltext BEFORE INSERT OR UPDATE ON film FOR EACH ROW
     EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title)`,
  `CREATE FUNCTION tandem_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.title := 'x'; RETURN NEW; END $$`,
  `CREATE TRIGGER tandem_own BEFORE INSERT ON film FOR EACH ROW EXECUTE FUNCTION tandem_noop()`,
];

function expectPgFacts(s: SchemaInfo) {
  expect([...s.tables.keys()].sort()).toEqual(['customer', 'film', 'payment', 'refund']);
  const payment = s.tables.get('payment')!;
  expect(payment.partitioned).toBe(true);
  expect(payment.primaryKey).toEqual(['payment_date', 'payment_id']);
  // two partitions declare the same foreign key: one, on the parent
  expect(payment.foreignKeys.map(({ columns, refTable, refColumns }) => ({ columns, refTable, refColumns }))).toEqual([
    { columns: ['customer_id'], refTable: 'customer', refColumns: ['customer_id'] },
  ]);
  expect(s.tables.get('refund')!.foreignKeys).toMatchObject([
    { columns: ['payment_date', 'payment_id'], refTable: 'payment', refColumns: ['payment_date', 'payment_id'] },
  ]);
  expect(s.tables.get('customer')!.partitioned).toBeFalsy();
  const col = (t: string, c: string) => s.tables.get(t)!.columns.find((x) => x.name === c)!;
  expect(col('payment', 'created').hasDefault).toBe(true);
  expect(col('payment', 'amount').hasDefault).toBe(false);
  expect(col('refund', 'refund_id')).toMatchObject({ generated: true, hasDefault: false });
  expect(col('refund', 'doubled').hasDefault).toBe(false);
  expect(payment.triggers).toEqual(['last_updated']);
  expect(col('payment', 'last_update').filledByTrigger).toBe(true);
  // compared in an IF, not assigned
  expect(col('payment', 'amount').filledByTrigger).toBe(false);
  expect(s.tables.get('film')!.triggers).toEqual(['film_fulltext']);
  expect(col('film', 'fulltext').filledByTrigger).toBe(true);
  // Tandem's own trigger is no user trigger
  expect(col('film', 'title').filledByTrigger).toBe(false);
  // fill order: the partitioned table after the table its partitions reference, the referencing table after it
  const fake = [...s.tables.values()].map(
    (t) => ({ name: t.name, targets: [{ table: t }] }) as unknown as ResolvedEntity,
  );
  const order = orderEntities(fake).map((e) => e.name);
  expect(order.indexOf('customer')).toBeLessThan(order.indexOf('payment'));
  expect(order.indexOf('payment')).toBeLessThan(order.indexOf('refund'));
}

describe('introspection of partitions, defaults and triggers', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });
  const open = async (url: string): Promise<Store> => {
    const s = await openStore(url);
    cleanups.push(() => s.close());
    return s;
  };

  it('PostgreSQL', async () => {
    const db = await createPgDatabase('tandem_init_i');
    cleanups.push(db.drop);
    const s = await open(db.url);
    for (const q of PG_PARTITIONED) await s.execute(q);
    expectPgFacts(await s.introspect());
  });

  it('PGlite', async () => {
    const s = await open('pglite:memory');
    for (const q of PG_PARTITIONED) await s.execute(q);
    expectPgFacts(await s.introspect());
  });

  it('MariaDB', async () => {
    const db = await createMysqlDatabase('tandem_init_i');
    cleanups.push(db.drop);
    const s = await open(db.url);
    await s.execute(`CREATE TABLE t (id int PRIMARY KEY AUTO_INCREMENT, a varchar(10) NOT NULL DEFAULT 'x', b int NULL,
      lu timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(), c int NOT NULL,
      d varchar(10) NOT NULL, e datetime NULL ON UPDATE current_timestamp())`);
    await s.execute("CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.c = 1, NEW.`d` = 'z'");
    await s.execute('CREATE TRIGGER t_au AFTER UPDATE ON t FOR EACH ROW SET @x = NEW.a');
    await s.execute('CREATE TRIGGER tandem_x BEFORE UPDATE ON t FOR EACH ROW SET NEW.b = 2');
    const t = (await s.introspect()).tables.get('t')!;
    const col = (c: string) => t.columns.find((x) => x.name === c)!;
    expect(t.triggers!.sort()).toEqual(['t_au', 't_bi']);
    expect(Object.fromEntries(t.columns.map((c) => [c.name, [c.hasDefault, c.filledByTrigger]]))).toEqual({
      id: [false, false],
      a: [true, false],
      b: [false, false],
      lu: [true, false],
      c: [false, true],
      d: [false, true],
      e: [true, false],
    });
    expect(col('id').generated).toBe(true);
  });

  it('SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-init-i-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const s = await open(`sqlite:${join(dir, 'x.db')}`);
    await s.execute(
      `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL DEFAULT 'x', b TEXT, c TEXT NOT NULL DEFAULT '', lu TEXT)`,
    );
    await s.execute(`CREATE TABLE other (id INTEGER PRIMARY KEY, z TEXT)`);
    await s.execute(`CREATE TRIGGER t_au AFTER UPDATE ON t BEGIN
      UPDATE t SET lu = datetime('now'), "b" = upper(NEW.b) WHERE id = NEW.id;
      UPDATE other SET z = 'y' WHERE id = NEW.id;
    END`);
    await s.execute(`CREATE TRIGGER tandem_y AFTER INSERT ON t BEGIN UPDATE t SET c = 'q' WHERE id = NEW.id; END`);
    const schema = await s.introspect();
    const t = schema.tables.get('t')!;
    expect(t.triggers).toEqual(['t_au']);
    expect(Object.fromEntries(t.columns.map((c) => [c.name, [c.hasDefault, c.filledByTrigger]]))).toEqual({
      id: [false, false],
      a: [true, false],
      b: [false, true],
      c: [true, false],
      lu: [false, true],
    });
    expect(schema.tables.get('other')!.columns.find((c) => c.name === 'z')!.filledByTrigger).toBe(false);
  });
});

describe('trigger assignment heuristics', () => {
  it('PL/pgSQL: := anywhere, = at the start of a statement, comparisons not, quoted names exactly', () => {
    expect(assignsNew('BEGIN NEW.last_update := now(); RETURN NEW; END', 'last_update')).toBe(true);
    expect(assignsNew('begin\n  new.Last_Update = now();\n  return new;\nend', 'last_update')).toBe(true);
    expect(assignsNew('BEGIN IF NEW.last_update = OLD.last_update THEN RETURN NULL; END IF; END', 'last_update')).toBe(
      false,
    );
    expect(assignsNew('BEGIN NEW.last_update_by := 1; END', 'last_update')).toBe(false);
    expect(assignsNew('BEGIN NEW."LastUpdate" := now(); END', 'LastUpdate')).toBe(true);
    expect(assignsNew('BEGIN NEW.lastupdate := now(); END', 'LastUpdate')).toBe(false);
    expect(assignsNew('BEGIN IF x THEN NEW.n = 1; ELSE NEW.m = 2; END IF; END', 'm')).toBe(true);
  });
  it('MySQL: SET NEW.col = and later items of one SET list', () => {
    expect(setsNew('SET NEW.last_update = NOW()', 'last_update')).toBe(true);
    expect(setsNew('BEGIN SET NEW.a = 1, NEW.`Last Update` := 2; END', 'Last Update')).toBe(true);
    expect(setsNew('BEGIN IF NEW.a = 1 THEN SET @x = 1; END IF; END', 'a')).toBe(false);
    expect(setsNew('SET NEW.ab = 1', 'a')).toBe(false);
  });
  it('SQLite: UPDATE of the same table, SET list up to WHERE', () => {
    expect(updatedColumns(`BEGIN UPDATE "T" SET a = 1, [b] = coalesce(x, 2) WHERE id = NEW.id; END`, 't')).toEqual([
      'a',
      'b',
    ]);
    expect(updatedColumns('BEGIN UPDATE u SET a = 1; END', 't')).toEqual([]);
  });
});
