import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUniqueViolation } from '../../src/stores/common.js';
import { classifyError } from '../../src/stores/errors.js';
import { openStore } from '../../src/stores/index.js';
import type { ErrorKind, Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * `Store.classifyError` on real engines: the error each one raises for a duplicate key, a refused value, a bad
 * statement, a lock wait given up and an unreachable server comes out as one kind, whichever engine raised it —
 * and the store-less `classifyError` (used where a unit of work spans two stores) agrees with the store's.
 */

/** The error `p` rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the statement to fail');
}

/** The kind by the store and by the store-less classifier, which must agree. */
function kindOf(store: Store, e: unknown): ErrorKind {
  const k = store.classifyError(e);
  expect(classifyError(e)).toBe(k);
  return k;
}

const cases: { name: string; open: () => Promise<{ url: string; done: () => Promise<void> }> }[] = [
  {
    name: 'postgres',
    open: async () => {
      const db = await createPgDatabase('tandem_classify');
      return { url: db.url, done: db.drop };
    },
  },
  {
    name: 'mysql',
    open: async () => {
      const db = await createMysqlDatabase('tandem_classify');
      return { url: db.url, done: db.drop };
    },
  },
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tandem-classify-'));
      return {
        url: `sqlite:${join(dir, 'db.sqlite')}`,
        done: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  { name: 'pglite', open: async () => ({ url: 'pglite:memory', done: async () => {} }) },
];

describe.each(cases)('classifyError: $name', ({ open }) => {
  let store: Store;
  let done: () => Promise<void>;
  let url: string;
  beforeAll(async () => {
    ({ url, done } = await open());
    store = await openStore(url);
    await store.execute(
      `CREATE TABLE t (id integer PRIMARY KEY, email varchar(10) NOT NULL UNIQUE, n smallint CHECK (n >= 0))`,
    );
    await store.execute(`INSERT INTO t (id, email, n) VALUES (1, 'a@b', 1)`);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await done?.();
  });

  it('a duplicate primary or unique key value is `unique` (and still detail.violation)', async () => {
    for (const sql of [
      `INSERT INTO t (id, email, n) VALUES (1, 'x@y', 1)`,
      `INSERT INTO t (id, email, n) VALUES (2, 'a@b', 1)`,
    ]) {
      const e = await failure(store.execute(sql));
      expect(kindOf(store, e)).toBe('unique');
      expect(isUniqueViolation(e)).toBe(true);
    }
  });

  it('NOT NULL and CHECK violations are `value`; on engines that enforce types, so are too long and out of range', async () => {
    expect(kindOf(store, await failure(store.execute(`INSERT INTO t (id, email, n) VALUES (3, NULL, 1)`)))).toBe(
      'value',
    );
    expect(kindOf(store, await failure(store.execute(`INSERT INTO t (id, email, n) VALUES (4, 'c@d', -1)`)))).toBe(
      'value',
    );
    if (store.capabilities.enforcesTypes) {
      expect(
        kindOf(
          store,
          await failure(store.execute(`INSERT INTO t (id, email, n) VALUES (5, 'much-too-long@example.org', 1)`)),
        ),
      ).toBe('value');
      expect(kindOf(store, await failure(store.execute(`INSERT INTO t (id, email, n) VALUES (6, 'e@f', 99999)`)))).toBe(
        'value',
      );
    }
  });

  it('a statement the engine cannot run is `other`, never retried', async () => {
    const e = await failure(store.query('SELECT nope FROM no_such_table'));
    expect(kindOf(store, e)).toBe('other');
    expect(store.classifyError(new Error('not a store error'))).toBe('other');
  });
});

// PGlite is one in-process backend: nothing else can hold a lock it would wait for
describe.each(cases.filter((c) => c.name !== 'pglite'))('classifyError: $name lock waits', ({ name, open }) => {
  it('a lock wait given up is `lock_timeout`', async () => {
    const { url, done } = await open();
    const store = await openStore(url);
    const other = await openStore(url);
    try {
      await store.execute(`CREATE TABLE t (id integer PRIMARY KEY)`);
      await store.execute(`INSERT INTO t (id) VALUES (1)`);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // SQLite: the holder's write transaction takes the file's write lock; the other waits busy_timeout (5 s)
      const holder = other.transaction(async (tx) => {
        await (name === 'sqlite'
          ? tx.execute(`UPDATE t SET id = 1 WHERE id = 1`)
          : tx.query(`SELECT id FROM t WHERE id = 1 FOR UPDATE`));
        locked();
        await held;
      });
      try {
        await isLocked;
        const e = await failure(
          store.transaction(async (tx) => {
            if (name === 'postgres') await tx.execute(`SET LOCAL lock_timeout = '200ms'`);
            if (name === 'mysql') await tx.execute(`SET SESSION innodb_lock_wait_timeout = 1`);
            await (name === 'sqlite'
              ? tx.execute(`UPDATE t SET id = 1 WHERE id = 1`)
              : tx.query(`SELECT id FROM t WHERE id = 1 FOR UPDATE`));
          }),
        );
        expect(kindOf(store, e)).toBe('lock_timeout');
      } finally {
        release();
        await holder;
      }
    } finally {
      await other.close();
      await store.close();
      await done();
    }
  }, 30_000);
});

describe('classifyError: unreachable servers', () => {
  it('a refused connection is `connection` on PostgreSQL and MySQL', async () => {
    // port 1 on loopback: nothing listens there, the connection is refused at once
    for (const url of ['postgres://postgres@127.0.0.1:1/x', 'mysql://root@127.0.0.1:1/x']) {
      const e = await failure(openStore(url));
      expect(classifyError(e)).toBe('connection');
    }
  });
});
