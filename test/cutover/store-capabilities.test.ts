import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTandemError } from '../../src/core/errors.js';
import { classifyError } from '../../src/stores/errors.js';
import { openStore } from '../../src/stores/index.js';
import { readOnlyTriggerNames } from '../../src/stores/read-only.js';
import type { SequenceAdvance, Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * The two Store capabilities of cutover on the four engines, for real:
 * - `advanceSequences`: after rows were copied with explicit keys (what backfill does), the next insert without a
 *   key succeeds; a counter is never lowered; identity columns (PostgreSQL/PGlite); a table without a sequence is
 *   reported as such; a dry run changes nothing; a margin is kept.
 * - `setReadOnly`: writes are refused in the database itself with Tandem's message and kind `read_only`, reads
 *   work, undo restores writes and never drops a trigger Tandem did not create.
 */

interface Engine {
  name: string;
  open(): Promise<{ url: string; done: () => Promise<void> }>;
  /** DDL of the sequence tables: `seq_a` numbered (+ `seq_b` where there is a second kind), `seq_none` not. */
  seqDdl: string[];
  /** Numbered tables, and how to insert a row with an explicit key into each. */
  numbered: { table: string; kind: SequenceAdvance['kind']; explicit: (id: number) => string }[];
  /** Sets a numbered table's counter to `n` (next value handed out). */
  setCounter(s: Store, table: string, n: number): Promise<void>;
  /** A user's own trigger on `table` (a no-op), and how to tell it still exists. */
  userTrigger(table: string): string[];
  triggerExists(s: Store, name: string): Promise<boolean>;
  /** A trigger with Tandem's read-only name on `table` that is not Tandem's. */
  impostor(table: string): string[];
  impostorName(table: string): string;
}

const tmp = mkdtempSync(join(tmpdir(), 'tandem-cap-'));

const pgLike = (name: string, open: Engine['open']): Engine => ({
  name,
  open,
  seqDdl: [
    'CREATE TABLE seq_a (id serial PRIMARY KEY, v text)',
    'CREATE TABLE seq_b (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)',
    'CREATE TABLE seq_none (k text PRIMARY KEY, v text)',
  ],
  numbered: [
    { table: 'seq_a', kind: 'sequence', explicit: (id) => `INSERT INTO seq_a (id, v) VALUES (${id}, 'copied')` },
    {
      table: 'seq_b',
      kind: 'identity',
      explicit: (id) => `INSERT INTO seq_b (id, v) OVERRIDING SYSTEM VALUE VALUES (${id}, 'copied')`,
    },
  ],
  setCounter: async (s, table, n) => {
    await s.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), ${n}, false)`);
  },
  userTrigger: (t) => [
    `CREATE OR REPLACE FUNCTION user_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
    `CREATE TRIGGER user_noop BEFORE UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION user_noop()`,
  ],
  triggerExists: async (s, n) => (await s.query(`SELECT 1 FROM pg_trigger WHERE tgname = $1`, [n])).length > 0,
  impostor: (t) => [
    `CREATE OR REPLACE FUNCTION user_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
    `CREATE TRIGGER tandem_read_only BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION user_noop()`,
  ],
  impostorName: () => 'tandem_read_only',
});

const engines: Engine[] = [
  pgLike('postgres', async () => {
    const db = await createPgDatabase('tandem_cap');
    return { url: db.url, done: db.drop };
  }),
  pgLike('pglite', async () => ({ url: 'pglite:memory', done: async () => {} })),
  {
    name: 'mysql',
    open: async () => {
      const db = await createMysqlDatabase('tandem_cap');
      return { url: db.url, done: db.drop };
    },
    seqDdl: [
      'CREATE TABLE seq_a (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)',
      'CREATE TABLE seq_none (k VARCHAR(10) PRIMARY KEY, v TEXT)',
    ],
    numbered: [
      {
        table: 'seq_a',
        kind: 'auto_increment',
        explicit: (id) => `INSERT INTO seq_a (id, v) VALUES (${id}, 'copied')`,
      },
    ],
    setCounter: async (s, table, n) => {
      await s.execute(`ALTER TABLE ${table} AUTO_INCREMENT = ${n}`);
    },
    userTrigger: (t) => [`CREATE TRIGGER user_noop BEFORE UPDATE ON ${t} FOR EACH ROW SET NEW.v = NEW.v`],
    triggerExists: async (s, n) =>
      (
        await s.query(
          `SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?`,
          [n],
        )
      ).length > 0,
    impostor: (t) => [
      `CREATE TRIGGER ${readOnlyTriggerNames(t).insert} BEFORE INSERT ON ${t} FOR EACH ROW SET NEW.v = NEW.v`,
    ],
    impostorName: (t) => readOnlyTriggerNames(t).insert,
  },
  {
    name: 'sqlite',
    open: async () => ({ url: `sqlite:${join(tmp, `cap-${Date.now()}.db`)}`, done: async () => {} }),
    seqDdl: [
      'CREATE TABLE seq_a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)',
      'CREATE TABLE seq_b (id INTEGER PRIMARY KEY, v TEXT)',
      'CREATE TABLE seq_none (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID',
    ],
    numbered: [
      { table: 'seq_a', kind: 'autoincrement', explicit: (id) => `INSERT INTO seq_a (id, v) VALUES (${id}, 'copied')` },
      { table: 'seq_b', kind: 'rowid', explicit: (id) => `INSERT INTO seq_b (id, v) VALUES (${id}, 'copied')` },
    ],
    setCounter: async (s, table, n) => {
      await s.execute(`UPDATE sqlite_sequence SET seq = ? WHERE name = ?`, [n - 1, table]);
    },
    userTrigger: (t) => [`CREATE TRIGGER user_noop AFTER UPDATE ON ${t} BEGIN SELECT 1; END`],
    triggerExists: async (s, n) =>
      (await s.query(`SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?`, [n])).length > 0,
    impostor: (t) => [`CREATE TRIGGER ${readOnlyTriggerNames(t).insert} BEFORE INSERT ON ${t} BEGIN SELECT 1; END`],
    impostorName: (t) => readOnlyTriggerNames(t).insert,
  },
];

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The error `p` rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the statement to fail');
}

const insertNoKey = (table: string) => `INSERT INTO ${table} (v) VALUES ('app')`;

for (const engine of engines) {
  describe(`cutover capabilities on ${engine.name}`, () => {
    let store: Store;
    let done: () => Promise<void>;

    beforeAll(async () => {
      const o = await engine.open();
      done = o.done;
      store = await openStore(o.url);
      for (const s of engine.seqDdl) await store.execute(s);
      await store.execute('CREATE TABLE ro_t (id INT PRIMARY KEY, v VARCHAR(20))');
      await store.execute('CREATE TABLE ro_f (id INT PRIMARY KEY, v VARCHAR(20))');
      await store.execute(`INSERT INTO ro_t (id, v) VALUES (1, 'one')`);
      for (const s of engine.userTrigger('ro_t')) await store.execute(s);
    });
    afterAll(async () => {
      await store?.close();
      await done?.();
    });

    it('advances every sequence past the copied keys, so the next insert without a key succeeds', async () => {
      for (const n of engine.numbered) for (let id = 1; id <= 50; id++) await store.execute(n.explicit(id));
      await store.execute(`INSERT INTO seq_none (k, v) VALUES ('a', 'x')`);
      const tables = [...engine.numbered.map((n) => n.table), 'seq_none'];

      const dry = await store.advanceSequences!(tables, { dryRun: true });
      expect(dry.every((e) => !e.changed)).toBe(true);
      const report = await store.advanceSequences!(tables);
      for (const n of engine.numbered) {
        const e = report.find((r) => r.table === n.table)!;
        expect(e).toMatchObject({ column: 'id', kind: n.kind, max: '50', to: '51' });
        // the dry run said what the real run did
        expect(dry.find((r) => r.table === n.table)).toMatchObject({ from: e.from, to: e.to });
      }
      expect(report.find((r) => r.table === 'seq_none')).toMatchObject({
        kind: 'none',
        column: null,
        sequence: null,
        changed: false,
      });
      if (engine.name === 'postgres' || engine.name === 'pglite') {
        // serial and identity were left at 1 by the copy: the call moved them
        for (const t of ['seq_a', 'seq_b'])
          expect(report.find((r) => r.table === t)).toMatchObject({ from: '1', to: '51', changed: true });
        expect(report.find((r) => r.table === 'seq_b')!.sequence).toMatch(/seq_b_id_seq/);
      }
      for (const n of engine.numbered) {
        await store.execute(insertNoKey(n.table));
        const max = await store.query<{ m: unknown }>(`SELECT max(id) AS m FROM ${n.table}`);
        expect(Number(max[0]!.m)).toBe(51);
      }
    });

    it('never lowers a counter, and keeps a margin when asked', async () => {
      const counted = engine.numbered.filter((n) => n.kind !== 'rowid');
      for (const n of counted) await engine.setCounter(store, n.table, 1000);
      const again = await store.advanceSequences!(counted.map((n) => n.table));
      for (const e of again)
        expect(e).toMatchObject({ from: '1000', to: '1000', changed: false, note: 'already past the keys' });
      for (const n of counted) {
        await store.execute(insertNoKey(n.table));
        expect(Number((await store.query<{ m: unknown }>(`SELECT max(id) AS m FROM ${n.table}`))[0]!.m)).toBe(1000);
      }
      // a margin: max 1000 → the next value handed out is 1000 + 1 + 25
      const withMargin = await store.advanceSequences!(
        counted.map((n) => n.table),
        { margin: 25 },
      );
      for (const e of withMargin) expect(e).toMatchObject({ from: '1001', to: '1026', changed: true });
      for (const n of counted) {
        await store.execute(insertNoKey(n.table));
        expect(Number((await store.query<{ m: unknown }>(`SELECT max(id) AS m FROM ${n.table}`))[0]!.m)).toBe(1026);
      }
      await expect(store.advanceSequences!(['no_such_table'])).rejects.toSatisfy((e) =>
        isTandemError(e, 'TABLE_NOT_FOUND'),
      );
      await expect(store.advanceSequences!(['seq_a'], { margin: -1 })).rejects.toSatisfy((e) =>
        isTandemError(e, 'USAGE'),
      );
    });

    it('makes tables refuse writes in the database, reads still work, and undo restores writes', async () => {
      const on = await store.setReadOnly!(['ro_t'], true);
      expect(on[0]!.created.length).toBeGreaterThan(0);
      expect(await store.readOnlyTables!(['ro_t', 'ro_f'])).toEqual(['ro_t']);
      for (const sql of [
        `INSERT INTO ro_t (id, v) VALUES (2, 'two')`,
        `UPDATE ro_t SET v = 'changed' WHERE id = 1`,
        'DELETE FROM ro_t WHERE id = 1',
      ]) {
        const e = await failure(store.execute(sql));
        expect((e as Error).message).toContain('tandem read-only: table ro_t refuses writes');
        expect(store.classifyError(e)).toBe('read_only');
        expect(classifyError(e)).toBe('read_only');
      }
      if (engine.name === 'postgres' || engine.name === 'pglite')
        expect(store.classifyError(await failure(store.execute('TRUNCATE ro_t')))).toBe('read_only');
      // inside a transaction too, and nothing changed
      await expect(store.transaction((tx) => tx.execute(`UPDATE ro_t SET v = 'tx' WHERE id = 1`))).rejects.toSatisfy(
        (e) => store.classifyError(e) === 'read_only',
      );
      expect(await store.query(`SELECT id, v FROM ro_t ORDER BY id`)).toEqual([{ id: 1, v: 'one' }]);
      // idempotent
      expect((await store.setReadOnly!(['ro_t'], true))[0]!.created).toEqual([]);
      if (engine.name === 'postgres' || engine.name === 'pglite') {
        // a disabled trigger does not count as read-only, and is enforced again
        await store.execute('ALTER TABLE ro_t DISABLE TRIGGER tandem_read_only');
        expect(await store.readOnlyTables!(['ro_t'])).toEqual([]);
        expect((await store.setReadOnly!(['ro_t'], true))[0]!.created).toEqual(['tandem_read_only']);
        expect(store.classifyError(await failure(store.execute(`UPDATE ro_t SET v = 'x'`)))).toBe('read_only');
      }

      const off = await store.setReadOnly!(['ro_t'], false);
      expect(off[0]).toMatchObject({ readOnly: false, dropped: on[0]!.created, foreign: [] });
      expect(await store.readOnlyTables!(['ro_t'])).toEqual([]);
      await store.execute(`UPDATE ro_t SET v = 'again' WHERE id = 1`);
      await store.execute(`INSERT INTO ro_t (id, v) VALUES (2, 'two')`);
      await store.execute('DELETE FROM ro_t WHERE id = 2');
      expect(await store.query(`SELECT id, v FROM ro_t ORDER BY id`)).toEqual([{ id: 1, v: 'again' }]);
      // the user's own trigger on the table survived on and off
      expect(await engine.triggerExists(store, 'user_noop')).toBe(true);
    });

    it("never drops, nor builds on, a trigger of Tandem's name that Tandem did not create", async () => {
      for (const s of engine.impostor('ro_f')) await store.execute(s);
      const name = engine.impostorName('ro_f');
      // refused before any table changes: ro_t (first in the list) gets no trigger either
      await expect(store.setReadOnly!(['ro_t', 'ro_f'], true)).rejects.toSatisfy(
        (e) => isTandemError(e, 'PREPARE_CONFLICT') && (e as Error).message.includes(name),
      );
      expect(await store.readOnlyTables!(['ro_t', 'ro_f'])).toEqual([]);
      await store.execute(`INSERT INTO ro_t (id, v) VALUES (3, 'three')`);
      const off = await store.setReadOnly!(['ro_f'], false);
      expect(off[0]).toMatchObject({ dropped: [], foreign: [name] });
      expect(await engine.triggerExists(store, name)).toBe(true);
      await expect(store.setReadOnly!(['no_such_table'], true)).rejects.toSatisfy((e) =>
        isTandemError(e, 'TABLE_NOT_FOUND'),
      );
    });
  });
}
