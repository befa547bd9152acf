import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/apply/apply.js';
import { SKIP } from '../src/config/schema.js';
import { isTandemError } from '../src/core/errors.js';
import { keyString } from '../src/core/mapping.js';
import { compileWhere } from '../src/core/where.js';
import { ensureControlSchema } from '../src/control/control.js';
import { openMigration } from '../src/runtime/migration.js';
import { sqlFor } from '../src/stores/dialects.js';
import { postgresChecksum } from '../src/stores/postgres/checksum.js';
import type { EntityChecksumResult } from '../src/verify/checksum.js';
import { runVerify } from '../src/verify/run.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';

/**
 * Issue 13, items 3, 4 and 7 on MariaDB → PostgreSQL: every problem of a config in one table (exit 2, nothing
 * written), `where` leaving rows out of backfill, verify and the relay, SKIP from a transform counted as skipped,
 * and a row refused by the target (no partition for it) named by entity, table and key without its values.
 */
describe('rows: where, SKIP, all problems at once, errors that name the row', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_rows_src');
    tgt = await createPgDatabase('tandem_rows');
    const c = await mysql.createConnection({ uri: src.url, multipleStatements: true });
    await c.query(`
      CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100) NULL,
        status VARCHAR(10) NOT NULL, deleted_at DATETIME NULL, born VARCHAR(20) NULL, version INT NOT NULL);
      CREATE TABLE payments (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(8,2) NOT NULL,
        region VARCHAR(10) NOT NULL, version INT NOT NULL);
      CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(50) NOT NULL);
      CREATE TABLE orders (id INT PRIMARY KEY, status VARCHAR(10) NOT NULL, total DECIMAL(10,2) NOT NULL);
    `);
    await c.query('INSERT INTO orders VALUES ?', [
      Array.from({ length: 30 }, (_, i) => [i + 1, i % 3 === 0 ? 'void' : "it's ok?", (i + 1) * 1.5]),
    ]);
    // 40 customers: every 10th banned, every 7th deleted, every 5th without e-mail, 3 with an unreadable birth date
    const rows = Array.from({ length: 40 }, (_, i) => {
      const id = i + 1;
      return [
        id,
        `Name ${id}`,
        id % 5 === 0 ? null : `c${id}@example.test`,
        id % 10 === 0 ? 'banned' : 'active',
        id % 7 === 0 ? '2024-01-01 00:00:00' : null,
        id <= 3 ? 'n/a' : '1990-01-02',
        1,
      ];
    });
    await c.query('INSERT INTO customers VALUES ?', [rows]);
    await c.query('INSERT INTO payments VALUES ?', [
      [
        [1, 1, 10.5, 'eu', 1],
        [2, 2, 20.25, 'us', 1],
        [3, 3, 7777.77, 'mars', 1],
        [4, 4, 40, 'eu', 1],
      ],
    ]);
    await c.query('INSERT INTO notes VALUES (1, ?)', ['hello']);
    await c.end();
    const p = new pg.Client({ connectionString: tgt.url });
    await p.connect();
    await p.query(`
      CREATE TABLE customers (id int PRIMARY KEY, name varchar(50) NOT NULL, email varchar(100) NOT NULL,
        status varchar(10) NOT NULL, born date NULL);
      CREATE TABLE payment (payment_id int NOT NULL, customer_id int NOT NULL, amount numeric(8,2) NOT NULL,
        region varchar(10) NOT NULL, PRIMARY KEY (payment_id, region)) PARTITION BY LIST (region);
      CREATE TABLE payment_eu PARTITION OF payment FOR VALUES IN ('eu');
      CREATE TABLE payment_us PARTITION OF payment FOR VALUES IN ('us');
      CREATE TABLE notes (id int NOT NULL, body varchar(50) NOT NULL);
      CREATE TABLE orders (id int PRIMARY KEY, status varchar(10) NOT NULL, total numeric(10,2) NOT NULL);
      CREATE TABLE fk_parent (id int PRIMARY KEY);
      CREATE TABLE pay_fk (payment_id int PRIMARY KEY, customer_id int NOT NULL REFERENCES fk_parent (id),
        amount numeric(8,2) NOT NULL);
    `);
    await p.end();
  }, 120_000);
  afterAll(async () => {
    await src?.drop();
    await tgt?.drop();
  });

  const pgQuery = async (sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows;
    } finally {
      await c.end();
    }
  };

  const config = (entities: string) => `import { defineConfig, SKIP } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(src.url)},
  target: ${JSON.stringify(tgt.url)},
  entities: { ${entities} },
});
`;

  it('checks the where text: empty, ;, comments, quotes, params', () => {
    expect(compileWhere('e', { sql: "status <> ? AND name <> 'it''s ?'", params: ['x'] }).params).toEqual(['x']);
    for (const bad of [
      '',
      '  ',
      'a = 1; DROP TABLE x',
      'a = 1 -- rest',
      "a = 'open",
      { sql: 'a = ? AND b = ?', params: [1] },
    ])
      expect(() => compileWhere('e', bad as never)).toThrow(/TANDEM_ERR_WHERE_INVALID|where/);
    expect(compileWhere('e', { sql: 'a = ?', params: ['secret-value'] }).sql).toBe('a = ?');
    let err: unknown;
    try {
      compileWhere('e', { sql: "a = 'secret-value' AND ?", params: [] });
    } catch (e) {
      err = e;
    }
    expect(isTandemError(err, 'WHERE_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/^entity e: where has 1 \? placeholder but 0 params$/);
  });

  it('splices the where into each dialect with its own placeholders, after the statement own', () => {
    const where = compileWhere('e', { sql: "status <> ? AND note <> 'why?' AND n > ?", params: ['banned', 3] });
    const q = {
      table: 't',
      columns: ['id'],
      key: ['id'],
      keyCategories: ['integer' as const],
      after: [7],
      limit: 10,
      where,
    };
    const pgq = sqlFor('postgres').keyset(q);
    expect(pgq.sql).toContain(`("id") > ($1) AND (status <> $2 AND note <> 'why?' AND n > $3)`);
    expect(pgq.params).toEqual([7, 'banned', 3]);
    for (const d of ['mysql', 'sqlite'] as const) {
      const st = sqlFor(d).keyset(q);
      expect(st.sql).toContain(`(status <> ? AND note <> 'why?' AND n > ?)`);
      expect(st.params).toEqual([7, 'banned', 3]);
    }
    const cs = postgresChecksum('public').checksum({
      table: 't',
      key: ['id'],
      keyCategories: ['integer'],
      after: [1],
      upTo: [9],
      cells: [],
      hashes: [],
      where,
    });
    expect(cs.sql).toContain('AND (status <> $3 AND');
    expect(cs.params).toEqual([1, 9, 'banned', 3]);
  });

  it('reports every problem of every entity as one table, exit 2, nothing written', async () => {
    const file = writeConfig(
      config(`
    customers: { table: 'customers', key: 'id', version: 'version',
      targets: [{ table: 'customers', columns: { id: 'id', name: 'name', email: 'email', status: 'status', born: 'born' } }] },
    payments: { table: 'payments', key: 'id',
      targets: [{ table: 'payment', columns: { payment_id: 'id', customer_id: 'customer', amout: 'amount', region: 'region' } }] },
    notes: { table: 'notes', key: 'id', targets: [{ table: 'notes', columns: { id: 'id', body: 'body' } }] },
    broken: { table: 'notes', key: 'id', where: 'body = 1; DELETE FROM notes',
      targets: [{ table: 'notes', columns: { id: 'id', body: 'body' } }] },`),
    );
    const r = await runCli(['backfill', '--config', file]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^TANDEM_ERR_PREFLIGHT_FAILED: \d+ problems in 4 entities/);
    expect(lines[1]).toMatch(/^entity\s+table\s+column\s+problem\s+fix$/);
    const body = lines.slice(3).join('\n');
    // schema problems of three entities and the data problems of the one that resolved, all in one run
    expect(body).toMatch(/payments\s+payments\s+customer\s+mapped column does not exist/);
    expect(body).toMatch(/payments\s+payment\s+amout\s+the mapping writes a column.*"amount" instead of "amout"/);
    expect(body).toMatch(/customers\s+customers\s+born\s+.*"born": \{ from: "born", cast: 'date' \}/);
    expect(body).toMatch(/notes\s+notes\s+id\s+no primary key or unique index.*add a unique index on notes \(id\)/);
    expect(body).toMatch(/broken\s+notes\s+-\s+where contains ";"/);
    expect(body).toMatch(
      /customers\s+customers\s+email\s+the value is NULL but the column is NOT NULL \(8 of 40.*where: 'email IS NOT NULL'/,
    );
    expect(body).toMatch(/customers\s+customers\s+born\s+the value cannot be read as date \(3 of 40/);
    // no value of a row is printed
    expect(r.stderr).not.toMatch(/n\/a|example\.test|Name \d/);
    // nothing written, not even the control plane
    expect(await pgQuery(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'tandem'`)).toEqual([{ n: 0 }]);
    expect(await pgQuery('SELECT count(*)::int AS n FROM customers')).toEqual([{ n: 0 }]);
    // --json prints the list
    const j = await runCli(['verify', '--config', file, '--json']);
    expect(j.code).toBe(2);
    const out = JSON.parse(j.stdout) as { error: { code: string; problems: { entity: string; fix: string }[] } };
    expect(out.error.code).toBe('TANDEM_ERR_PREFLIGHT_FAILED');
    expect(out.error.problems.length).toBeGreaterThanOrEqual(6);
    expect(out.error.problems.every((p) => typeof p.fix === 'string' && p.fix.length > 0)).toBe(true);
  }, 120_000);

  it('one problem keeps its own code and one line', async () => {
    const file = writeConfig(
      config(
        `notes: { table: 'notes', key: 'id', targets: [{ table: 'notes', columns: { id: 'id', body: 'body' } }] },`,
      ),
    );
    const r = await runCli(['plan', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^TANDEM_ERR_TARGET_KEY_MISSING: entity notes/);
  }, 120_000);

  const customers = `customers: { table: 'customers', key: 'id', version: 'version',
      where: { sql: 'status <> ? AND deleted_at IS NULL', params: ['banned'] },
      targets: [{ table: 'customers', columns: { id: 'id', name: 'name', email: { transform: (r) => r.email ?? SKIP },
        status: 'status', born: { transform: (r) => (r.born === 'n/a' ? null : r.born) } } }] },`;

  it('where leaves rows out of backfill and verify; SKIP rows are counted as skipped; verify exits 0', async () => {
    const file = writeConfig(config(customers));
    const b = await runCli(['backfill', '--config', file]);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    // kept: not banned (id % 10), not deleted (id % 7), with an e-mail (id % 5: SKIP)
    const want = Array.from({ length: 40 }, (_, i) => i + 1).filter((id) => id % 10 && id % 7 && id % 5);
    const got = await pgQuery('SELECT id FROM customers ORDER BY id');
    expect(got.map((r) => r.id)).toEqual(want);
    const inWhere = Array.from({ length: 40 }, (_, i) => i + 1).filter((id) => id % 10 && id % 7).length;
    // the streamed comparison (text report) and the checksum tier (JSON), whose source side streams: a transform
    const t = await runCli(['verify', '--config', file, '--mode', 'full']);
    expect(t.code, t.stderr + t.stdout).toBe(0);
    expect(t.stdout).toContain(`customers: skipped=${inWhere - want.length}`);
    const m = await openMigration(file, { legacyWrites: 'never' });
    const v = await runVerify(m.stores.legacy, m.stores.new, m.entities, {
      mode: 'checksum',
      pageRows: 9,
      maxReportedDifferences: 5,
    }).finally(() => m.close());
    expect(v.exitCode).toBe(0);
    // the JSON report is this object (src/cli/verify.ts prints it)
    const e = JSON.parse(JSON.stringify(v.entities[0])) as EntityChecksumResult;
    // a TypeScript transform (which may return SKIP) cannot run in SQL: the source side streams
    expect(e.pushdown.source).toBe('stream');
    expect(e.skipped).toBe(inWhere - want.length);
    expect(e.missing).toBe(0);
    expect(e.sourceRows).toBe(want.length);
    expect(e.matched).toBe(want.length);
  }, 120_000);

  it('the relay deletes a row updated out of the where (tombstone), and brings it back when it matches again', async () => {
    const file = writeConfig(config(customers));
    const m = await openMigration(file, { legacyWrites: 'never' });
    try {
      const e = m.entities.find((x) => x.name === 'customers')!;
      const key = (id: number) => ({ key: keyString([id], e.keyColumns), keyValues: [id] });
      const c = await mysql.createConnection({ uri: src.url });
      await c.query(`UPDATE customers SET status = 'banned', version = version + 1 WHERE id = 1`);
      let r = await applyChanges(m.stores.legacy, m.stores.new, e, [key(1)]);
      expect(r.deleted).toBe(1);
      expect(await pgQuery('SELECT id FROM customers WHERE id = 1')).toEqual([]);
      const led = await pgQuery(
        `SELECT version::int AS v, deleted FROM tandem.version_ledger WHERE entity = 'customers' AND entity_key = $1`,
        [key(1).key],
      );
      expect(led).toEqual([{ v: 2, deleted: true }]);
      // applying the same change again changes nothing
      r = await applyChanges(m.stores.legacy, m.stores.new, e, [key(1)]);
      expect(r.deleted).toBe(0);
      // a row that gets an e-mail back stops being skipped; one that matches the where again comes back
      await c.query(`UPDATE customers SET status = 'active', version = version + 1 WHERE id = 1`);
      await c.end();
      r = await applyChanges(m.stores.legacy, m.stores.new, e, [key(1)]);
      expect(r.applied).toBe(1);
      expect(await pgQuery('SELECT id, status FROM customers WHERE id = 1')).toEqual([{ id: 1, status: 'active' }]);
      expect(SKIP).toBe(Symbol.for('tandem.skip'));
    } finally {
      await m.close();
    }
  }, 120_000);

  it('a declarative entity with where: pushed-down checksum, sample and quick tiers read only matching rows', async () => {
    const file = writeConfig(
      config(`orders: { table: 'orders', key: 'id', where: { sql: "status <> ? AND status <> 'x?'", params: ['void'] },
      targets: [{ table: 'orders', columns: { id: 'id', status: 'status', total: 'total' } }] },`),
    );
    const m = await openMigration(file, { legacyWrites: 'never' });
    try {
      await ensureControlSchema(m.stores.new);
      const svc = m.services.backfill({});
      await svc.start();
      const [res] = await svc.wait();
      expect(res!.rowsTotal).toBe(20);
      expect(await pgQuery('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 20 }]);
      const opts = { pageRows: 7, maxReportedDifferences: 5 };
      const cs = await runVerify(m.stores.legacy, m.stores.new, m.entities, { ...opts, mode: 'checksum' });
      expect(cs.exitCode).toBe(0);
      const e = cs.entities[0] as EntityChecksumResult;
      expect(e.pushdown.source).toBe('sql');
      expect(e.sourceRows).toBe(20);
      for (const mode of ['sample', 'quick', 'full'] as const) {
        const r = await runVerify(m.stores.legacy, m.stores.new, m.entities, { ...opts, mode });
        expect(r.ok, mode).toBe(true);
      }
      // a target row of a key the where leaves out is extra
      await pgQuery(`INSERT INTO orders VALUES (1, 'void', 1.5)`);
      const again = await runVerify(m.stores.legacy, m.stores.new, m.entities, { ...opts, mode: 'checksum' });
      expect(again.ok).toBe(false);
      expect((again.entities[0] as EntityChecksumResult).extra).toBe(1);
    } finally {
      await m.close();
    }
  }, 120_000);

  it('a row with no partition fails naming entity, table and key, with no value in the message', async () => {
    const file = writeConfig(
      config(`payments: { table: 'payments', key: ['id', 'region'], version: 'version',
      targets: [{ table: 'payment', columns: { payment_id: 'id', customer_id: 'customer_id', amount: 'amount', region: 'region' } }] },`),
    );
    const r = await runCli(['backfill', '--config', file]);
    expect(r.code).toBe(2);
    const line = r.stderr.trim().split('\n')[0]!;
    expect(line).toMatch(/^TANDEM_ERR_VALUE_DOES_NOT_FIT: entity payments key \["3","mars"\]/);
    expect(line).toContain('the value for payment.region');
    expect(line).toMatch(/no partition/);
    // the engine's DETAIL quotes the partition key's values: they are masked
    expect(line).toContain('(region) = (…)');
    expect(r.stderr).not.toMatch(/7777|= \(mars\)|Failing row contains \(\d/);
    // the chunk rolled back: no row of it stays
    expect(await pgQuery('SELECT count(*)::int AS n FROM payment')).toEqual([{ n: 0 }]);
  }, 120_000);

  it('a row whose foreign key has no parent fails naming entity, table, constraint and key, with no value', async () => {
    const file = writeConfig(
      config(`payments: { table: 'payments', key: 'id', version: 'version',
      targets: [{ table: 'pay_fk', columns: { payment_id: 'id', customer_id: 'customer_id', amount: 'amount' } }] },`),
    );
    const r = await runCli(['backfill', '--config', file]);
    expect(r.code).toBe(2);
    const line = r.stderr.trim().split('\n')[0]!;
    expect(line).toMatch(
      /^TANDEM_ERR_REFERENCE_MISSING: entity payments key \["1"\]: target table pay_fk refused the row: a foreign key \(pay_fk_customer_id_fkey\)/,
    );
    // the engine's DETAIL quotes the missing parent key: it is masked
    expect(r.stderr).not.toMatch(/=\(1\)|10\.50/);
    expect(await pgQuery('SELECT count(*)::int AS n FROM pay_fk')).toEqual([{ n: 0 }]);
  }, 120_000);
});
