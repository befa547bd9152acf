import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/apply/apply.js';
import { runBackfill } from '../src/backfill/backfill.js';
import { parseConfig } from '../src/config/load.js';
import { resolveConfig } from '../src/config/resolve.js';
import { ensureControlSchema } from '../src/control/control.js';
import { createLogger } from '../src/core/logger.js';
import type { ResolvedEntity } from '../src/core/mapping.js';
import { isUniqueViolation, upsertByKey } from '../src/stores/common.js';
import { openStore } from '../src/stores/index.js';
import type { ColumnInfo, Dialect, Store } from '../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from './helpers.js';

/**
 * Unique indexes other than the key (`email`) on every target dialect: the same scenarios, the same expected end
 * state, whatever the engine. A row must be written only where its own key is: on MySQL/MariaDB a plain
 * `INSERT … ON DUPLICATE KEY UPDATE` would instead update whichever row holds the email (issue 9, defect 1).
 * The source is MariaDB (the legacy side of the fixtures); the target is each dialect in turn. Relay batches go
 * through `applyChanges` (what the relay and the broker consumer run per batch), backfill chunks through
 * `runBackfill`.
 */

const quiet = createLogger({ level: 'silent' });
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d().catch(() => {});
});

const TARGET_DDL =
  'CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100) NOT NULL UNIQUE, name varchar(100) NOT NULL)';

/** A fresh, empty target database of `dialect`: its URL. */
async function targetUrl(dialect: Dialect): Promise<string> {
  switch (dialect) {
    case 'postgres': {
      const db = await createPgDatabase('tandem_uc');
      drops.push(db.drop);
      return db.url;
    }
    case 'mysql': {
      const db = await createMysqlDatabase('tandem_uc');
      drops.push(db.drop);
      return db.url;
    }
    case 'sqlite':
      return `sqlite:${join(mkdtempSync(join(tmpdir(), 'tandem-uc-')), 't.db')}`;
    case 'pglite':
      return 'pglite:memory';
  }
}

interface World {
  source: Store;
  target: Store;
  /** A plain connection to the source, as the application has. */
  app: mysql.Connection;
  users: ResolvedEntity;
  /** Runs a backfill of users (from the first key with `restart`), `chunk` rows at a time. */
  backfill(o?: { restart?: boolean; chunk?: number }): Promise<void>;
  /** Applies the changed keys as one relay batch. */
  relay(...ids: number[]): Promise<void>;
  /** `[id, email, name]` of every row, in key order. */
  targetRows(): Promise<string[][]>;
  sourceRows(): Promise<string[][]>;
  close(): Promise<void>;
}

/** Source MariaDB `users` with the given rows (version 1), target of `dialect` with the same table, empty. */
async function world(dialect: Dialect, rows: [number, string, string][]): Promise<World> {
  const src = await createMysqlDatabase('tandem_uc_src');
  drops.push(src.drop);
  const app = await mysql.createConnection({ uri: src.url });
  await app.query(
    'CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, name VARCHAR(100) NOT NULL, version INT NOT NULL)',
  );
  if (rows.length)
    await app.query('INSERT INTO users (id, email, name, version) VALUES ?', [rows.map((r) => [...r, 1])]);
  const source = await openStore(src.url);
  const target = await openStore(await targetUrl(dialect));
  await target.execute(TARGET_DDL);
  await ensureControlSchema(target);
  const config = (chunk = 1000) =>
    parseConfig({
      source: src.url,
      target: 'unused://',
      backfill: { initialChunkRows: chunk, maxChunkRows: chunk },
      entities: {
        users: {
          table: 'users',
          key: 'id',
          version: 'version',
          targets: [{ table: 'users', columns: { id: 'id', email: 'email', name: 'name' } }],
        },
      },
    });
  const [users] = await resolveConfig(config(), source, target);
  const read = async (s: Store) =>
    (await s.query<{ id: unknown; email: string; name: string }>('SELECT id, email, name FROM users ORDER BY id')).map(
      (r) => [String(r.id), r.email, r.name],
    );
  return {
    source,
    target,
    app,
    users: users!,
    async backfill(o = {}) {
      const r = await runBackfill({
        config: config(o.chunk),
        source,
        target,
        entities: [users!],
        log: quiet,
        progressOut: null,
        restart: o.restart,
      });
      expect(r[0]!.status).toBe('done');
    },
    async relay(...ids) {
      await applyChanges(
        source,
        target,
        users!,
        ids.map((id) => ({ key: JSON.stringify([String(id)]), keyValues: [id] })),
      );
    },
    targetRows: () => read(target),
    sourceRows: () => read(source),
    async close() {
      await app.end();
      await source.close();
      await target.close();
    },
  };
}

const DIALECTS: Dialect[] = ['postgres', 'mysql', 'sqlite', 'pglite'];

describe.each(DIALECTS)('unique conflicts on a %s target', (dialect) => {
  it('inserts a new row whose email is still held by a row whose change is not yet relayed, and leaves the holder its own columns', async () => {
    const w = await world(dialect, [
      [1, 'a@x', 'Ann'],
      [2, 'b@x', 'Bob'],
    ]);
    try {
      await w.backfill();
      // user 1 moves to a2@x (not relayed yet); a new user 3 takes a@x
      await w.app.query(`UPDATE users SET email = 'a2@x', version = version + 1 WHERE id = 1`);
      await w.app.query(`INSERT INTO users VALUES (3, 'a@x', 'Cy', 1)`);
      await w.relay(3);
      // user 1 keeps its own name (it is not overwritten with user 3's columns) and user 3 exists
      expect(await w.targetRows()).toEqual([
        ['1', 'a2@x', 'Ann'],
        ['2', 'b@x', 'Bob'],
        ['3', 'a@x', 'Cy'],
      ]);
      // the change of user 1 arrives later: nothing moves, both sides match
      await w.relay(1);
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });

  it('inserts, in a multi-row relay batch, new rows taking emails freed by changes not yet relayed', async () => {
    const seed: [number, string, string][] = Array.from({ length: 40 }, (_, i) => [
      i + 1,
      `u${i + 1}@x`,
      `User ${i + 1}`,
    ]);
    const w = await world(dialect, seed);
    try {
      await w.backfill();
      // users 5 and 30 move away; new users 41 and 42 take their emails; the batch also updates users 10..20
      await w.app.query(`UPDATE users SET email = CONCAT('moved-', email), version = version + 1 WHERE id IN (5, 30)`);
      await w.app.query(`INSERT INTO users VALUES (41, 'u5@x', 'New 41', 1), (42, 'u30@x', 'New 42', 1)`);
      await w.app.query(
        `UPDATE users SET name = CONCAT(name, ' v2'), version = version + 1 WHERE id BETWEEN 10 AND 20`,
      );
      await w.relay(41, 42, ...Array.from({ length: 11 }, (_, i) => 10 + i));
      const rows = await w.targetRows();
      expect(rows).toHaveLength(42);
      expect(rows.find((r) => r[0] === '5')).toEqual(['5', 'moved-u5@x', 'User 5']);
      expect(rows.find((r) => r[0] === '30')).toEqual(['30', 'moved-u30@x', 'User 30']);
      expect(rows.find((r) => r[0] === '41')).toEqual(['41', 'u5@x', 'New 41']);
      expect(rows.find((r) => r[0] === '42')).toEqual(['42', 'u30@x', 'New 42']);
      await w.relay(5, 30);
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });

  it('applies two users swapping emails in one batch without losing either row', async () => {
    const w = await world(dialect, [
      [1, 'a@x', 'Ann'],
      [2, 'b@x', 'Bob'],
      [3, 'c@x', 'Cy'],
    ]);
    try {
      await w.backfill();
      await w.app.query(`UPDATE users SET email = 'tmp@x' WHERE id = 1`);
      await w.app.query(`UPDATE users SET email = 'a@x', version = version + 1 WHERE id = 2`);
      await w.app.query(`UPDATE users SET email = 'b@x', version = version + 1 WHERE id = 1`);
      await w.relay(1, 2);
      expect(await w.targetRows()).toEqual([
        ['1', 'b@x', 'Ann'],
        ['2', 'a@x', 'Bob'],
        ['3', 'c@x', 'Cy'],
      ]);
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });

  it('applies a change whose new email is still held by a row changed later, one change at a time', async () => {
    const w = await world(dialect, [
      [1, 'a@x', 'Ann'],
      [2, 'b@x', 'Bob'],
      [3, 'c@x', 'Cy'],
    ]);
    try {
      await w.backfill();
      await w.app.query(`UPDATE users SET email = 'moved-away@x', version = version + 1 WHERE id = 1`);
      await w.app.query(`UPDATE users SET email = 'a@x', version = version + 1 WHERE id = 3`);
      await w.relay(3);
      expect(await w.targetRows()).toEqual([
        ['1', 'moved-away@x', 'Ann'],
        ['2', 'b@x', 'Bob'],
        ['3', 'a@x', 'Cy'],
      ]);
      await w.relay(1);
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });

  it('frees an email held by a row deleted on the primary but not yet relayed', async () => {
    const w = await world(dialect, [
      [1, 'a@x', 'Ann'],
      [2, 'b@x', 'Bob'],
      [3, 'c@x', 'Cy'],
    ]);
    try {
      await w.backfill();
      await w.app.query(`DELETE FROM users WHERE id = 2`);
      await w.app.query(`UPDATE users SET email = 'b@x', version = version + 1 WHERE id = 3`);
      await w.relay(3);
      expect(await w.targetRows()).toEqual([
        ['1', 'a@x', 'Ann'],
        ['3', 'b@x', 'Cy'],
      ]);
      await w.relay(2);
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });

  // a rotation of emails among users whose changes have not arrived: each holder's fresh email is held by the
  // next stale row. Holders used to be found one link per round (5 rounds), so a chain of 6+ never resolved —
  // the relay retried such a change until it was dead-lettered, and a backfill chunk failed on every restart
  // (chaos: "backfill looping on duplicate key … accounts_email_address_key", rows of the chunk on never copied)
  const ROTATION = 8;
  const rotate = async (w: World, firstId: number) => {
    await w.app.query('START TRANSACTION');
    await w.app.query(
      `UPDATE users SET email = CONCAT('tmp-', email) WHERE id BETWEEN ${firstId} AND ${firstId + ROTATION - 1}`,
    );
    for (let i = 0; i < ROTATION; i++) {
      const email = i === ROTATION - 1 ? 'free@x' : `e${firstId + i + 1}@x`;
      await w.app.query(`UPDATE users SET email = ?, version = version + 1 WHERE id = ?`, [email, firstId + i]);
    }
    await w.app.query('COMMIT');
  };

  it('applies one change of a rotation of emails among 8 users whose changes are not relayed yet', async () => {
    const w = await world(
      dialect,
      Array.from({ length: ROTATION }, (_, i) => [i + 1, `e${i + 1}@x`, `U${i + 1}`] as [number, string, string]),
    );
    try {
      await w.backfill();
      await rotate(w, 1);
      await w.relay(1);
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });

  it('backfills a new row whose email is held at the head of a chain of 8 stale holders', async () => {
    const w = await world(
      dialect,
      Array.from({ length: ROTATION }, (_, i) => [i + 2, `e${i + 2}@x`, `U${i + 2}`] as [number, string, string]),
    );
    try {
      await w.backfill();
      // users 2..9 rotate (2 takes e3@x, …, 9 takes free@x); new user 1 takes e2@x, still held by 2 in the target
      await rotate(w, 2);
      await w.app.query(`INSERT INTO users VALUES (1, 'e2@x', 'New 1', 1)`);
      await w.backfill({ restart: true, chunk: 1 });
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });

  it('backfills a chunk in which a new row takes the email of a later row of the same chunk', async () => {
    const w = await world(dialect, [[2, 'a@x', 'Bob']]);
    try {
      await w.backfill();
      // user 2 moves to b@x; new user 1 (lower key, so first in the chunk) takes a@x
      await w.app.query(`UPDATE users SET email = 'b@x', version = version + 1 WHERE id = 2`);
      await w.app.query(`INSERT INTO users VALUES (1, 'a@x', 'Ann', 1)`);
      await w.backfill({ restart: true });
      expect(await w.targetRows()).toEqual([
        ['1', 'a@x', 'Ann'],
        ['2', 'b@x', 'Bob'],
      ]);
    } finally {
      await w.close();
    }
  });

  it('backfills a chunk in which a new row takes the email of a row of a later chunk', async () => {
    const w = await world(dialect, [
      [5, 'a@x', 'Eve'],
      [6, 'f@x', 'Fay'],
    ]);
    try {
      await w.backfill();
      // user 5 moves away; new users 1..3 (chunk 1) — user 2 takes a@x, still held by 5 (chunk 2) in the target
      await w.app.query(`UPDATE users SET email = 'e@x', version = version + 1 WHERE id = 5`);
      await w.app.query(`INSERT INTO users VALUES (1, 'p@x', 'Pat', 1), (2, 'a@x', 'Ann', 1), (3, 'q@x', 'Quin', 1)`);
      await w.backfill({ restart: true, chunk: 3 });
      expect(await w.targetRows()).toEqual([
        ['1', 'p@x', 'Pat'],
        ['2', 'a@x', 'Ann'],
        ['3', 'q@x', 'Quin'],
        ['5', 'e@x', 'Eve'],
        ['6', 'f@x', 'Fay'],
      ]);
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  });
});

/**
 * A surrogate primary key the database fills, per dialect: the entity key is then a unique key, not the primary key.
 */
const SURROGATE: Record<Dialect, string> = {
  postgres: 'sid serial PRIMARY KEY',
  pglite: 'sid serial PRIMARY KEY',
  mysql: 'sid int AUTO_INCREMENT PRIMARY KEY',
  sqlite: 'sid INTEGER PRIMARY KEY',
};

/**
 * The store contract the apply relies on (`upsertByKey`, Store.upsert): a row is written where its key is and
 * nowhere else; a value of another unique key held by another row is refused as a unique violation — for a new
 * row and for an existing one, whether the key is the primary key or (with a surrogate primary key, the email's
 * unique index created before the key's) another unique key.
 */
describe.each(DIALECTS)('rows written by key on %s', (dialect) => {
  it.each([
    [
      'the primary key',
      (_d: Dialect) =>
        'CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL UNIQUE, name varchar(100) NOT NULL)',
    ],
    [
      'a unique key',
      (d: Dialect) =>
        `CREATE TABLE accounts (${SURROGATE[d]}, email varchar(100) NOT NULL UNIQUE, id bigint NOT NULL UNIQUE, name varchar(100) NOT NULL)`,
    ],
  ])('touch only the row of their own key when the key is %s', async (_what, ddl) => {
    const store = await openStore(await targetUrl(dialect));
    try {
      await store.execute(ddl(dialect));
      const info = (await store.introspect()).tables.get('accounts')!;
      const columns = ['id', 'email', 'name'];
      const columnInfo = columns.map((c) => info.columns.find((x) => x.name === c)!) as ColumnInfo[];
      const write = (rows: unknown[][]) =>
        store.transaction((tx) =>
          upsertByKey(store, tx, { table: 'accounts', columns, key: ['id'], rows, columnInfo }),
        );
      const read = async () =>
        (
          await store.query<{ id: unknown; email: string; name: string }>(
            'SELECT id, email, name FROM accounts ORDER BY id',
          )
        ).map((r) => [String(r.id), r.email, r.name]);
      const surrogates = async () =>
        info.columns.some((c) => c.name === 'sid')
          ? (await store.query<{ id: unknown; sid: unknown }>('SELECT id, sid FROM accounts ORDER BY id')).map(
              (r) => `${r.id}:${r.sid}`,
            )
          : [];
      await write([
        [1, 'a@x', 'Ann'],
        [2, 'b@x', 'Bob'],
      ]);
      const sids = await surrogates();
      const seeded = [
        ['1', 'a@x', 'Ann'],
        ['2', 'b@x', 'Bob'],
      ];
      expect(await read()).toEqual(seeded);
      // a new row whose email another row holds
      await expect(write([[3, 'a@x', 'Cy']])).rejects.toSatisfy(isUniqueViolation);
      expect(await read()).toEqual(seeded);
      // an existing row moving to an email another row holds, alone and after rows that write nothing wrong
      await expect(write([[1, 'b@x', 'Ann']])).rejects.toSatisfy(isUniqueViolation);
      await expect(
        write([
          [5, 'e@x', 'Eve'],
          [2, 'b@x', 'Bob 2'],
          [1, 'b@x', 'Ann'],
        ]),
      ).rejects.toSatisfy(isUniqueViolation);
      expect(await read()).toEqual(seeded);
      // two new rows of one batch with one email
      await expect(
        write([
          [6, 'f@x', 'Fay'],
          [7, 'f@x', 'Gus'],
        ]),
      ).rejects.toSatisfy(isUniqueViolation);
      expect(await read()).toEqual(seeded);
      // updates in place and inserts; an email freed earlier in the batch can be taken later in it
      await write([
        [1, 'a2@x', 'Ann 2'],
        [4, 'd@x', 'Dee'],
        [2, 'a@x', 'Bob 2'],
      ]);
      expect(await read()).toEqual([
        ['1', 'a2@x', 'Ann 2'],
        ['2', 'a@x', 'Bob 2'],
        ['4', 'd@x', 'Dee'],
      ]);
      expect((await surrogates()).slice(0, 2)).toEqual(sids); // rows 1 and 2 updated where they were
      // the same rows again change nothing; no rows is no statement
      await write([
        [1, 'a2@x', 'Ann 2'],
        [4, 'd@x', 'Dee'],
        [2, 'a@x', 'Bob 2'],
      ]);
      await write([]);
      expect(await read()).toEqual([
        ['1', 'a2@x', 'Ann 2'],
        ['2', 'a@x', 'Bob 2'],
        ['4', 'd@x', 'Dee'],
      ]);
      // a statement refused for something else is not a unique violation
      await expect(store.execute('INSERT INTO accounts (id, email, name) VALUES (9, NULL, NULL)')).rejects.toSatisfy(
        (e) => !isUniqueViolation(e),
      );
    } finally {
      await store.close();
    }
  });
});
