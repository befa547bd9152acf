import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTandemError } from '../../src/core/errors.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * The database's own error text echoes refused values. Each case here makes a real server (PostgreSQL, PGlite,
 * MariaDB) refuse a value that stands for a password hash, and checks that no part of it reaches the
 * TandemError: its message, its detail, or its cause however a logger would serialize it (util.inspect walks
 * the cause with all its fields).
 */
const SECRET = 'Zq7Hx2Wv9Kp4';

/** Every 5-character run of `secret`. */
function leaks(text: string, secret: string): string[] {
  if (secret.length < 5) return text.includes(secret) ? [secret] : [];
  const out: string[] = [];
  for (let i = 0; i + 5 <= secret.length; i++)
    if (text.includes(secret.slice(i, i + 5))) out.push(secret.slice(i, i + 5));
  return out;
}

async function refused(p: Promise<unknown>): Promise<Error & { detail?: Record<string, unknown>; cause?: unknown }> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e, 'the statement must fail').not.toBeNull();
  expect(isTandemError(e, 'STORE_QUERY'), String(e)).toBe(true);
  return e as Error & { detail?: Record<string, unknown> };
}

function expectClean(e: Error & { detail?: Record<string, unknown>; cause?: unknown }, secret: string): void {
  const everything = `${e.message}\n${JSON.stringify(e.detail)}\n${inspect(e, { depth: 10 })}\n${JSON.stringify(e.cause)}`;
  expect(leaks(everything, secret), everything).toEqual([]);
}

const pgCases: { name: string; sql: string; params?: (s: string) => unknown[]; secret?: string; names?: RegExp }[] = [
  { name: 'uuid', sql: 'SELECT $1::uuid', names: /uuid/ },
  { name: 'uuid with a quote inside', sql: 'SELECT $1::uuid', params: (s) => [`ab"${s}`] },
  { name: 'integer', sql: 'SELECT $1::int', names: /integer/ },
  { name: 'integer out of range', sql: 'SELECT $1::int', params: () => ['98765432109'], secret: '98765432109' },
  { name: 'enum', sql: 'SELECT $1::mood', names: /mood/ },
  { name: 'timestamp', sql: 'SELECT $1::timestamp', params: (s) => [`2020-01-01 ${s}`] },
  { name: 'date/time out of range', sql: 'SELECT $1::date', params: () => ['2031-02-30'], secret: '2031-02-30' },
  { name: 'json (message, detail, where)', sql: 'SELECT $1::json', params: (s) => [`{"password": ${s}}`] },
  { name: 'array literal', sql: 'SELECT $1::int[]' },
  {
    name: 'unique violation (detail Key (…)=(…))',
    sql: 'INSERT INTO secrets (id, hash) VALUES (2, $1)',
    params: () => ['dup-Zq7Hx2Wv9Kp4'],
    names: /secrets_hash_key/,
  },
  {
    name: 'check violation (Failing row contains)',
    sql: 'INSERT INTO checked (id, v) VALUES (1, $1)',
    names: /checked/,
  },
  { name: 'foreign key (Key (…)=(…) is not present)', sql: 'INSERT INTO child (parent_hash) VALUES ($1)' },
  {
    name: 'byte sequence',
    sql: `SELECT convert_from(decode($1, 'hex'), 'UTF8')`,
    params: () => ['41e9c3d1f7a0'],
    secret: '0xe9',
  },
];

async function pgSchema(store: Store): Promise<void> {
  await store.execute(`CREATE TYPE mood AS ENUM ('ok', 'sad')`);
  await store.execute(`CREATE TABLE secrets (id int PRIMARY KEY, hash text NOT NULL UNIQUE)`);
  await store.execute(`INSERT INTO secrets VALUES (1, 'dup-Zq7Hx2Wv9Kp4')`);
  await store.execute(`CREATE TABLE checked (id int PRIMARY KEY, v text CHECK (length(v) < 5))`);
  await store.execute(`CREATE TABLE child (id serial PRIMARY KEY, parent_hash text REFERENCES secrets (hash))`);
}

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`${kind}: values in the server's messages never reach an error`, () => {
    let store: Store;
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      if (kind === 'postgres') {
        const db = await createPgDatabase('tandem_msgs');
        drop = db.drop;
        store = await openStore(db.url);
      } else store = await openStore('pglite:memory');
      await pgSchema(store);
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await drop?.();
    });

    for (const c of pgCases) {
      it(c.name, async () => {
        const secret = c.secret ?? SECRET;
        const e = await refused(store.query(c.sql, c.params ? c.params(SECRET) : [SECRET]));
        expectClean(e, secret);
        if (c.names) expect(e.message).toMatch(c.names);
      });
    }
  });
}

describe("mariadb: values in the server's messages never reach an error", () => {
  let store: Store;
  let db: Awaited<ReturnType<typeof createMysqlDatabase>>;
  beforeAll(async () => {
    db = await createMysqlDatabase('tandem_msgs');
    store = await openStore(db.url);
    await store.execute(
      `CREATE TABLE t (id int PRIMARY KEY, n int, d datetime(6), x decimal(10,2), h varchar(100) UNIQUE, s varchar(100) CHARACTER SET latin1)`,
    );
    await store.execute(`INSERT INTO t (id, h) VALUES (1, 'dup-Zq7Hx2Wv9Kp4')`);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });
  const cases: { name: string; sql: string; params: unknown[]; names?: RegExp }[] = [
    { name: 'integer', sql: 'INSERT INTO t (id, n) VALUES (2, ?)', params: [SECRET], names: /column/ },
    {
      name: 'integer with quotes inside',
      sql: 'INSERT INTO t (id, n) VALUES (3, ?)',
      params: [`a'b' for column 'x' ${SECRET}`],
    },
    { name: 'datetime', sql: 'INSERT INTO t (id, d) VALUES (4, ?)', params: [SECRET] },
    { name: 'decimal', sql: 'INSERT INTO t (id, x) VALUES (5, ?)', params: [SECRET] },
    {
      name: 'duplicate entry',
      sql: 'INSERT INTO t (id, h) VALUES (6, ?)',
      params: ['dup-Zq7Hx2Wv9Kp4'],
      names: /for key/,
    },
    { name: 'string value (bytes)', sql: 'INSERT INTO t (id, s) VALUES (7, ?)', params: [`☃${SECRET}`] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const e = await refused(store.execute(c.sql, c.params));
      expectClean(e, SECRET);
      if (c.names) expect(e.message).toMatch(c.names);
    });
  }
});
