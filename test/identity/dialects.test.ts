/**
 * The identity bridge's control-plane SQL (migration v3, ledger write modes, failure counters, the one-query
 * lookup with its derived table) on every dialect family a new store can be: PostgreSQL, MariaDB and SQLite, with
 * the legacy users in MariaDB.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { createLogger } from '../../src/core/logger.js';
import { FailureCounter, IdentityLedger, Semaphore, createIdentityBridge } from '../../src/identity/index.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';
import { FAST_ARGON2, legacyHashOf } from './stores.js';

const drops: (() => Promise<void>)[] = [];
let legacyUrl = '';
const targets: Record<string, string> = {};
const USERS = [
  { id: 1, email: 'Ann@Example.com', password: 'ann-pw-\u00e9' },
  { id: 2, email: 'bob@example.com', password: 'bob-pw' },
  { id: 3, email: 'Cy@example.com', password: 'cy-pw' },
];

beforeAll(async () => {
  const legacy = await createMysqlDatabase('tandem_idd');
  drops.push(legacy.drop);
  legacyUrl = legacy.url;
  const c = await mysql.createConnection({ uri: legacy.url });
  await c.query(
    'CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(254) NOT NULL UNIQUE, pw VARCHAR(255) NOT NULL, version INT NOT NULL)',
  );
  for (const u of USERS)
    await c.query('INSERT INTO accounts VALUES (?, ?, ?, 1)', [
      u.id,
      u.email,
      await legacyHashOf('django-sha1', u.password),
    ]);
  await c.end();
  const my = await createMysqlDatabase('tandem_idd_new');
  drops.push(my.drop);
  const m = await mysql.createConnection({ uri: my.url });
  await m.query('CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(254) NOT NULL UNIQUE, pw TEXT NOT NULL)');
  await m.end();
  targets.mysql = my.url;
  const p = await createPgDatabase('tandem_idd_new');
  drops.push(p.drop);
  const pc = new pg.Client({ connectionString: p.url });
  await pc.connect();
  await pc.query('CREATE TABLE accounts (id int PRIMARY KEY, email varchar(254) NOT NULL UNIQUE, pw text NOT NULL)');
  await pc.end();
  targets.postgres = p.url;
  const file = join(mkdtempSync(join(tmpdir(), 'tandem-idd-')), 'new.db');
  targets.sqlite = `sqlite:${file}`;
  const s = await openStore(targets.sqlite);
  await s.execute('CREATE TABLE accounts (id integer PRIMARY KEY, email text NOT NULL UNIQUE, pw text NOT NULL)');
  await s.close();
});

afterAll(async () => {
  for (const d of drops) await d().catch(() => {});
});

describe.each(['postgres', 'mysql', 'sqlite'])('new store on %s', (dialect) => {
  let source: Store;
  let target: Store;

  beforeAll(async () => {
    source = await openStore(legacyUrl);
    target = await openStore(targets[dialect]!);
  });
  afterAll(async () => {
    await source?.close();
    await target?.close();
  });

  it('ledger write modes and failure counters', async () => {
    await ensureControlSchema(target);
    const ledger = new IdentityLedger(target);
    await ledger.write(
      target,
      'x',
      [
        { key: '["1"]', identifier: 'a', state: 'migrated', scheme: 'mysql41' },
        { key: '["2"]', identifier: 'b', state: 'wrapped', scheme: 'hex-md5' },
      ],
      'overwrite',
    );
    await ledger.write(
      target,
      'x',
      [
        { key: '["1"]', identifier: 'a', state: 'reset_required', scheme: null },
        { key: '["2"]', identifier: 'b', state: 'reset_required', scheme: null },
        { key: '["3"]', identifier: 'c', state: 'reset_required', scheme: 'phpass' },
      ],
      'unless-migrated',
    );
    await ledger.write(
      target,
      'x',
      [
        { key: '["3"]', identifier: 'c', state: 'wrapped', scheme: 'x' },
        { key: '["4"]', identifier: 'd', state: 'wrapped', scheme: 'md5-crypt' },
      ],
      'insert-only',
    );
    const states = await ledger.statesOf('x', ['["1"]', '["2"]', '["3"]', '["4"]', '["5"]']);
    expect(Object.fromEntries(states)).toEqual({
      '["1"]': 'migrated',
      '["2"]': 'reset_required',
      '["3"]': 'reset_required',
      '["4"]': 'wrapped',
    });
    expect(await ledger.countByState('x')).toEqual({ migrated: 1, wrapped: 1, reset_required: 2 });
    expect(await ledger.migratedPerDay('x')).toEqual([{ day: new Date().toISOString().slice(0, 10), count: 1 }]);
    const schemes = await target.query<{ entity_key: string; scheme: string }>(
      `SELECT entity_key, scheme FROM ${ledger.table} WHERE entity = 'x' ORDER BY entity_key`,
    );
    // scheme kept when the write has none
    expect(schemes.map((r) => r.scheme)).toEqual(['mysql41', 'hex-md5', 'phpass', 'md5-crypt']);
    const f = new FailureCounter(target, { freeAttempts: 2, baseDelayMs: 1000, resetAfterMs: 10_000 });
    const now = Date.now();
    for (let i = 0; i < 3; i++) await f.record('fp1', now);
    expect(await f.check('fp1', now + 10)).toEqual({ failures: 3, retryAfterMs: 1990 });
    await f.record('fp1', now + 20_000); // the old counter expired: starts again at 1
    expect(await f.check('fp1', now + 20_000)).toEqual({ failures: 1, retryAfterMs: 0 });
    await f.record('fp2', now - 20_000);
    expect(await f.prune(now)).toBe(1);
    await f.clear('fp1');
    expect(await f.check('fp1', now)).toEqual({ failures: 0, retryAfterMs: 0 });
  });

  it('runs the bridge: migrate, new store, failures, throttle, reset-required', async () => {
    const config = parseConfig({
      source: legacyUrl,
      target: targets[dialect]!,
      entities: {
        users: {
          table: 'accounts',
          key: 'id',
          version: 'version',
          targets: [{ table: 'accounts', columns: { id: 'id', email: 'email', pw: 'pw' } }],
          identity: { identifier: 'email', password: 'pw' },
        },
      },
    });
    const [entity] = await resolveConfig(config, source, target);
    const b = await createIdentityBridge({
      source,
      target,
      entity: entity!,
      argon2: { ...FAST_ARGON2, limiter: new Semaphore(2, 100) },
      floorMs: 0,
      pepper: null,
      logger: createLogger({ level: 'silent' }),
      failures: { freeAttempts: 2, baseDelayMs: 60_000 },
    });
    expect(b.resolved.source.mode).toBe('collation'); // MariaDB utf8mb4_unicode_ci
    expect(b.resolved.target.mode).toBe(dialect === 'mysql' ? 'collation' : 'lower');
    expect(await b.authenticate({ identifier: 'ann@EXAMPLE.com', password: USERS[0]!.password })).toMatchObject({
      ok: true,
      source: 'legacy',
    });
    expect(await b.authenticate({ identifier: 'ANN@example.COM', password: USERS[0]!.password })).toMatchObject({
      ok: true,
      source: 'new',
    });
    const row = await target.query<{ pw: string }>('SELECT pw FROM accounts WHERE id = 1');
    expect(row[0]!.pw).toMatch(/^\$argon2id\$/);
    const fail = { ok: false, reason: 'invalid_credentials' };
    expect(await b.authenticate({ identifier: 'ann@example.com', password: 'no' })).toEqual(fail);
    expect(await b.authenticate({ identifier: 'bob@example.com', password: 'no' })).toEqual(fail);
    expect(await b.authenticate({ identifier: 'nobody@example.com', password: 'no' })).toEqual(fail);
    expect(await b.authenticate({ identifier: 'bob@example.com', password: 'no' })).toEqual(fail);
    expect(await b.authenticate({ identifier: 'bob@example.com', password: USERS[1]!.password })).toMatchObject({
      ok: false,
      reason: 'throttled',
    });
    await new IdentityLedger(target).write(
      target,
      'users',
      [{ key: '["3"]', identifier: 'cy@example.com', state: 'reset_required', scheme: null }],
      'overwrite',
    );
    expect(await b.authenticate({ identifier: 'cy@example.com', password: USERS[2]!.password })).toEqual(fail);
    expect(await target.query('SELECT id FROM accounts ORDER BY id')).toEqual([{ id: 1 }]);
  });
});
