/**
 * The identity bridge end to end, MariaDB legacy → PostgreSQL new: lazy migration on login for every common legacy
 * scheme (through the guarded apply path, with the version and identity ledgers), identifier normalisation on both
 * sides, the three failure paths answering alike and writing nothing, compare-and-set (a newer record is never
 * overwritten), wrap at rest and transparent unwrap, the shared failure counter with exponential delay, the legacy
 * query budget, the Argon2 semaphore, report and sunset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { createLogger } from '../../src/core/logger.js';
import type { ResolvedEntity } from '../../src/core/mapping.js';
import {
  Semaphore,
  TokenBucket,
  createIdentityBridge,
  hashPassword,
  identityReport,
  isWrappedHash,
  resolveIdentity,
  sunsetIdentities,
  verifyPassword,
  wrapAtRest,
  type IdentityBridge,
  type IdentityBridgeOptions,
  type SunsetEntry,
} from '../../src/identity/index.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { FAST_ARGON2, SCHEMES, createIdentityStores, type IdentityStores } from './stores.js';

const N = 60;
let S: IdentityStores;
let source: Store;
let target: Store;
let users: ResolvedEntity;
let orgs: ResolvedEntity;
const quiet = createLogger({ level: 'silent' });

function bridge(o: Partial<IdentityBridgeOptions> = {}): Promise<IdentityBridge> {
  return createIdentityBridge({
    source,
    target,
    entity: users,
    argon2: { ...FAST_ARGON2, limiter: new Semaphore(2, 1000) },
    floorMs: 0,
    pepper: null,
    logger: quiet,
    legacyBudget: { perSecond: 10_000, burst: 10_000 },
    ...o,
  });
}

const user = (id: number) => S.users.find((u) => u.id === id)!;

async function targetRow(
  id: number,
): Promise<{ email_address: string; password_hash: string; given_name: string } | undefined> {
  const r = await S.pg.query(
    'SELECT u.email_address, u.password_hash, p.given_name FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id WHERE u.id = $1',
    [id],
  );
  return r.rows[0];
}

async function ledgerRow(
  id: number,
): Promise<{ state: string; scheme: string | null; identifier: string } | undefined> {
  const r = await S.pg.query(
    `SELECT state, scheme, identifier FROM tandem.identity_ledger WHERE entity = 'users' AND entity_key = $1`,
    [JSON.stringify([String(id)])],
  );
  return r.rows[0];
}

beforeAll(async () => {
  S = await createIdentityStores(N, {
    1: 'Zoe\u0308.Mu\u0308ller@Example.ORG', // NFD, mixed case
    2: 'ANNA@EXAMPLE.COM',
  });
  source = await openStore(S.mysqlUrl);
  target = await openStore(S.pgUrl);
  const entities = await resolveConfig(S.config, source, target);
  users = entities.find((e) => e.name === 'users')!;
  orgs = entities.find((e) => e.name === 'orgs')!;
});

afterAll(async () => {
  await source?.close();
  await target?.close();
  await S?.drop();
});

describe('lazy migration on login', () => {
  it('migrates a legacy user of every common scheme: Argon2id in the new store, ledgers written, legacy untouched', async () => {
    const b = await bridge();
    for (let id = 10; id < 10 + SCHEMES.length; id++) {
      const u = user(id);
      expect(await targetRow(id)).toBeUndefined();
      const r = await b.authenticate({ identifier: u.email, password: u.password });
      expect(r, u.scheme).toEqual({
        ok: true,
        key: [expect.anything()],
        identifier: u.email.toLowerCase(),
        source: 'legacy',
        upgraded: true,
      });
      if (r.ok) expect(String(r.key[0])).toBe(String(id));
      const row = await targetRow(id);
      expect(row?.email_address).toBe(u.email);
      expect(row?.given_name).toBeTruthy(); // the whole user went through the mapping, profile included
      expect(row?.password_hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
      expect((await verifyPassword(u.password, row!.password_hash)).ok).toBe(true);
      expect(await ledgerRow(id)).toMatchObject({
        state: 'migrated',
        scheme: u.scheme === 'ldap-ssha' ? 'ldap-ssha' : expect.any(String),
      });
      const v = await S.pg.query(
        `SELECT version FROM tandem.version_ledger WHERE entity = 'users' AND entity_key = $1`,
        [JSON.stringify([String(id)])],
      );
      expect(v.rows).toHaveLength(1);
      const [legacy] = await S.my.query('SELECT password_hash FROM users WHERE id = ?', [id]);
      expect((legacy as { password_hash: string }[])[0]!.password_hash).toBe(u.hash);
      // the bridge is closed for this user: the next login is served by the new store
      expect(await b.authenticate({ identifier: u.email, password: u.password })).toMatchObject({
        ok: true,
        source: 'new',
        upgraded: false,
      });
    }
    expect(b.stats()).toMatchObject({ migrated: SCHEMES.length, failed: 0, errors: 0 });
  });

  it('normalises identifiers the same way on both sides (trim, case, NFC vs NFD)', async () => {
    const b = await bridge();
    // stored NFD + mixed case in MariaDB; typed NFC, other case, with spaces
    const r1 = await b.authenticate({ identifier: '  zo\u00eb.m\u00fcller@EXAMPLE.org ', password: user(1).password });
    expect(r1).toMatchObject({ ok: true, source: 'legacy', identifier: 'zo\u00eb.m\u00fcller@example.org' });
    // now in PostgreSQL, still stored as the legacy wrote it (NFD, mixed case): found through lower() and NFD
    expect((await targetRow(1))?.email_address).toBe('Zoe\u0308.Mu\u0308ller@Example.ORG');
    expect(
      await b.authenticate({ identifier: 'ZOE\u0308.MU\u0308LLER@example.org', password: user(1).password }),
    ).toMatchObject({ ok: true, source: 'new' });
    expect(await b.authenticate({ identifier: 'anna@example.com', password: user(2).password })).toMatchObject({
      ok: true,
      source: 'legacy',
    });
    expect(await b.authenticate({ identifier: 'Anna@Example.Com', password: user(2).password })).toMatchObject({
      ok: true,
      source: 'new',
    });
  });
});

describe('no enumeration: the three failure paths', () => {
  it('answer alike and write nothing before the password verifies', async () => {
    const b = await bridge();
    const migrated = user(10); // migrated above: in the new store
    const legacy = user(30);
    expect(await targetRow(30)).toBeUndefined();
    const unknown = await b.authenticate({ identifier: 'nobody@example.com', password: 'x' });
    const wrongNew = await b.authenticate({ identifier: migrated.email, password: `${migrated.password}!` });
    const wrongLegacy = await b.authenticate({ identifier: legacy.email, password: `${legacy.password}!` });
    expect(unknown).toEqual({ ok: false, reason: 'invalid_credentials' });
    expect(wrongNew).toEqual(unknown);
    expect(wrongLegacy).toEqual(unknown);
    expect(Object.keys(wrongLegacy)).toEqual(Object.keys(unknown));
    // nothing created for the legacy user: no row, no ledger entries
    expect(await targetRow(30)).toBeUndefined();
    expect(await ledgerRow(30)).toBeUndefined();
    const v = await S.pg.query(`SELECT 1 FROM tandem.version_ledger WHERE entity = 'users' AND entity_key = $1`, [
      JSON.stringify(['30']),
    ]);
    expect(v.rows).toHaveLength(0);
    // the new-store password of the migrated user is unchanged
    expect((await verifyPassword(migrated.password, (await targetRow(10))!.password_hash)).ok).toBe(true);
  });

  it('never accepts the legacy password of a user the new store holds', async () => {
    const b = await bridge();
    const u = user(11);
    // the user changed the password in the new system
    await S.pg.query('UPDATE users SET password_hash = $1 WHERE id = 11', [
      await hashPassword('a brand new password', FAST_ARGON2),
    ]);
    expect(await b.authenticate({ identifier: u.email, password: u.password })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    expect(await b.authenticate({ identifier: u.email, password: 'a brand new password' })).toMatchObject({
      ok: true,
      source: 'new',
    });
  });

  it('rejects empty, oversized and non-string identifiers with the same answer', async () => {
    const b = await bridge();
    for (const identifier of ['', '   ', 'a'.repeat(600), 42 as unknown as string]) {
      expect(await b.authenticate({ identifier, password: 'x' })).toEqual({ ok: false, reason: 'invalid_credentials' });
    }
    await expect(b.authenticate({ identifier: 'a@b', password: undefined as unknown as string })).rejects.toThrow(
      TypeError,
    );
  });

  it('holds every failure to the time floor', async () => {
    const b = await bridge({ floorMs: 120 });
    for (const [identifier, password] of [
      ['nobody2@example.com', 'x'],
      [user(10).email, 'wrong'],
      [user(31).email, 'wrong'],
    ] as const) {
      const t0 = performance.now();
      await b.authenticate({ identifier, password });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(119.5);
    }
    expect(b.stats()).toMatchObject({ attempts: 3, failed: 3 });
  });
});

describe('compare-and-set against the new store', () => {
  it('never overwrites a newer record: the login then verifies against the new store', async () => {
    const b = await bridge();
    const u = user(32);
    // the new store already holds user 32 at a newer version, under another e-mail (changed there)
    await S.pg.query(
      `INSERT INTO users (id, organisation_id, email_address, password_hash, status, balance, created_at, updated_at, origin)
       VALUES (32, 1, 'renamed32@example.com', $1, 'active', 0, now(), now(), 'new')`,
      [await hashPassword('newer password', FAST_ARGON2)],
    );
    await S.pg.query(
      `INSERT INTO user_profiles (user_id, given_name, family_name, display_name) VALUES (32, 'Newer', 'Record', 'Newer Record')`,
    );
    await S.pg.query(
      `INSERT INTO tandem.version_ledger (entity, entity_key, version, deleted) VALUES ('users', $1, 1000, false)`,
      [JSON.stringify(['32'])],
    );
    // legacy login by the old e-mail: the legacy hash verifies, but the apply is refused by the version ledger
    expect(await b.authenticate({ identifier: u.email, password: u.password })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    expect(await targetRow(32)).toMatchObject({ email_address: 'renamed32@example.com', given_name: 'Newer' });
    expect(await ledgerRow(32)).toBeUndefined();
    expect(await b.authenticate({ identifier: 'renamed32@example.com', password: 'newer password' })).toMatchObject({
      ok: true,
      source: 'new',
    });
  });

  it('upgrades a backfilled weak hash in place (compare-and-set on the old value)', async () => {
    await runBackfill({ config: S.config, source, target, entities: [orgs, users], log: quiet, progressOut: null });
    const u = user(33); // backfilled with its legacy hash
    expect((await targetRow(33))?.password_hash).toBe(u.hash);
    const b = await bridge();
    expect(await b.authenticate({ identifier: u.email, password: `${u.password}?` })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    expect((await targetRow(33))?.password_hash).toBe(u.hash);
    expect(await b.authenticate({ identifier: u.email, password: u.password })).toMatchObject({
      ok: true,
      source: 'new',
      upgraded: true,
    });
    expect((await targetRow(33))?.password_hash).toMatch(/^\$argon2id\$/);
    expect(await ledgerRow(33)).toMatchObject({ state: 'migrated', scheme: u.scheme });
    // the backfilled user 32 with the newer record kept it
    expect(await targetRow(32)).toMatchObject({ given_name: 'Newer' });
  });
});

describe('wrap at rest', () => {
  it('wraps the fast hashes left in the new store, and a login unwraps and upgrades them', async () => {
    const resolved = await resolveIdentity(users, source, target);
    const pepper = 'test pepper \u00e9';
    const dry = await wrapAtRest(target, resolved, { argon2: FAST_ARGON2, pepper, dryRun: true });
    const r = await wrapAtRest(target, resolved, { argon2: FAST_ARGON2, pepper, concurrency: 2, pageRows: 7 });
    expect(r.wrapped).toBe(dry.wrapped);
    expect(r.wrapped).toBeGreaterThan(20);
    expect(Object.keys(r.slow)).toEqual(['bcrypt']); // bcrypt is slow already: left as it is
    expect(r.argon2).toBeGreaterThan(5);
    expect(r.malformed + r.unknown + r.changedMeanwhile).toBe(0);
    // idempotent
    expect((await wrapAtRest(target, resolved, { argon2: FAST_ARGON2, pepper })).wrapped).toBe(0);
    const b = await bridge({ pepper });
    const ids = S.users.filter((u) => u.id >= 37 && u.id <= 48 && u.scheme !== 'bcrypt').map((u) => u.id);
    expect(new Set(ids.map((id) => user(id).scheme)).size).toBe(SCHEMES.length - 1);
    for (const id of ids) {
      const u = user(id);
      const before = (await targetRow(id))!.password_hash;
      expect(isWrappedHash(before), u.scheme).toBe(true);
      expect(before).not.toContain(u.hash);
      expect(await ledgerRow(id)).toMatchObject({ state: 'wrapped', scheme: u.scheme });
      expect(await b.authenticate({ identifier: u.email, password: `x${u.password}` })).toEqual({
        ok: false,
        reason: 'invalid_credentials',
      });
      expect(await b.authenticate({ identifier: u.email, password: u.password }), u.scheme).toMatchObject({
        ok: true,
        source: 'new',
        upgraded: true,
      });
      expect((await targetRow(id))!.password_hash).toMatch(/^\$argon2id\$/);
      expect(await ledgerRow(id)).toMatchObject({ state: 'migrated', scheme: u.scheme });
    }
    // without the pepper a wrapped hash cannot be verified (reported, answered as a failure)
    const noPepper = await bridge({ pepper: null });
    expect(isWrappedHash((await targetRow(51))!.password_hash)).toBe(true);
    expect(await noPepper.authenticate({ identifier: user(51).email, password: user(51).password })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
  });
});

describe('failure counter, budgets, semaphore', () => {
  it('counts failures per identifier across both stores, with exponential delay', async () => {
    const b = await bridge({ failures: { freeAttempts: 2, baseDelayMs: 400 }, pepper: 'test pepper \u00e9' });
    const u = user(50); // in the new store (backfilled, then wrapped)
    expect(await b.authenticate({ identifier: u.email, password: 'wrong-1' })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    // the same identifier typed differently counts on the same counter
    expect(await b.authenticate({ identifier: u.email.toUpperCase(), password: 'wrong-2' })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    const t = await b.authenticate({ identifier: u.email, password: u.password });
    expect(t).toMatchObject({ ok: false, reason: 'throttled' });
    if (!t.ok && t.reason === 'throttled') expect(t.retryAfterMs).toBeGreaterThan(0);
    // unknown identifiers are throttled exactly the same way
    await b.authenticate({ identifier: 'ghost@example.com', password: 'a' });
    await b.authenticate({ identifier: 'ghost@example.com', password: 'b' });
    expect(await b.authenticate({ identifier: 'ghost@example.com', password: 'c' })).toMatchObject({
      ok: false,
      reason: 'throttled',
    });
    // waits as long as the answer says (+5 ms: Date.now() and the timer clock round differently), no fixed sleep
    const wait = (r: { ok: boolean; retryAfterMs?: number }) =>
      new Promise((res) => setTimeout(res, (r.retryAfterMs ?? 0) + 5));
    await wait(t);
    // after the delay: allowed; one more failure doubles it (800 ms from that failure)
    const before = performance.now();
    expect(await b.authenticate({ identifier: u.email, password: 'wrong-3' })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    const t2 = await b.authenticate({ identifier: u.email, password: u.password });
    const elapsed = performance.now() - before; // at least the time since the failure was recorded
    expect(t2).toMatchObject({ ok: false, reason: 'throttled' });
    if (!t2.ok && t2.reason === 'throttled') {
      // exact whatever the machine's speed: 800 − (time since the failure), rounded up; an undoubled delay would
      // be at most 400 − that, below the lower bound whenever the two calls took under 400 ms
      expect(t2.retryAfterMs).toBeLessThanOrEqual(800);
      expect(t2.retryAfterMs).toBeGreaterThanOrEqual(Math.floor(800 - elapsed));
    }
    await wait(t2);
    expect(await b.authenticate({ identifier: u.email, password: u.password })).toMatchObject({ ok: true });
    const c = await S.pg.query('SELECT count(*)::int AS n FROM tandem.identity_failures WHERE failures > 0');
    expect(c.rows[0].n).toBeGreaterThan(0); // ghost's counter remains; the user's was cleared by the success
  });

  it('spends a global budget of legacy queries: excess attempts get TANDEM_ERR_IDENTITY_BUSY, migrated users are not affected', async () => {
    const b = await bridge({ legacyBudget: new TokenBucket({ perSecond: 0.5, burst: 1, maxWaitMs: 0 }) });
    expect(await b.authenticate({ identifier: 'spray1@example.com', password: 'x' })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    await expect(b.authenticate({ identifier: 'spray2@example.com', password: 'x' })).rejects.toMatchObject({
      code: 'TANDEM_ERR_IDENTITY_BUSY',
      detail: { reason: 'legacy budget' },
    });
    // a wrong password for a user of the new store also reads the legacy store: same answer under exhaustion
    await expect(b.authenticate({ identifier: user(10).email, password: 'x' })).rejects.toMatchObject({
      code: 'TANDEM_ERR_IDENTITY_BUSY',
    });
    // a correct login served by the new store does not touch the legacy store
    expect(await b.authenticate({ identifier: user(10).email, password: user(10).password })).toMatchObject({
      ok: true,
      source: 'new',
    });
  });

  it('answers TANDEM_ERR_IDENTITY_BUSY when the Argon2 semaphore is full, never crashes', async () => {
    const b = await bridge({ argon2: { memoryCost: 8192, timeCost: 2, parallelism: 1, limiter: new Semaphore(1, 1) } });
    const u = user(10);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => b.authenticate({ identifier: u.email, password: u.password })),
    );
    const busy = results.filter((r) => r.status === 'rejected');
    expect(busy.length).toBeGreaterThan(0);
    for (const r of busy)
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'TANDEM_ERR_IDENTITY_BUSY' });
    expect(results.some((r) => r.status === 'fulfilled' && r.value.ok)).toBe(true);
  });
});

describe('operators: report and sunset', () => {
  it('reports users by state and scheme, and migrations per day', async () => {
    const resolved = await resolveIdentity(users, source, target);
    const r = await identityReport(source, target, resolved, { pageRows: 9 });
    expect(r.legacyUsers).toBe(N);
    const total = r.states.legacy_only + r.states.wrapped + r.states.migrated + r.states.reset_required;
    expect(total).toBe(N);
    const ledger = await S.pg.query(
      `SELECT state, count(*)::int AS n FROM tandem.identity_ledger WHERE entity = 'users' GROUP BY state`,
    );
    for (const row of ledger.rows) expect(r.states[row.state as 'migrated']).toBe(row.n);
    expect(Object.keys(r.bySchemes).sort()).toEqual([...SCHEMES].sort());
    expect(
      Object.values(r.bySchemes).reduce((a, c) => a + c.legacy_only + c.wrapped + c.migrated + c.reset_required, 0),
    ).toBe(N);
    expect(r.newStore.users).toBe(N);
    expect(r.newStore.hashes.argon2id).toBeGreaterThanOrEqual(r.states.migrated - 1);
    expect(Object.keys(r.newStore.hashes).some((k) => k.startsWith('wrapped:'))).toBe(true);
    expect(r.migratedPerDay).toEqual([{ day: new Date().toISOString().slice(0, 10), count: r.states.migrated }]);
  });

  it('sunsets the users that have not migrated: reset-required, exported without hashes, legacy credentials refused', async () => {
    const resolved = await resolveIdentity(users, source, target);
    await expect(
      sunsetIdentities(source, target, resolved, { before: new Date(Date.now() + 86_400_000) }),
    ).rejects.toMatchObject({ code: 'TANDEM_ERR_CONFIG_INVALID' });
    const entries: SunsetEntry[] = [];
    const r = await sunsetIdentities(source, target, resolved, {
      before: new Date(Date.now() - 1000),
      onEntry: (e) => void entries.push(e),
    });
    const migrated = (
      await S.pg.query(
        `SELECT count(*)::int AS n FROM tandem.identity_ledger WHERE entity = 'users' AND state = 'migrated'`,
      )
    ).rows[0].n;
    expect(r).toMatchObject({ scanned: N, migrated, resetRequired: N - migrated, alreadyResetRequired: 0 });
    expect(entries).toHaveLength(N - migrated);
    const text = JSON.stringify(entries);
    for (const u of S.users) expect(text.includes(u.hash)).toBe(false);
    expect(new Set(entries.map((e) => e.previousState))).toEqual(new Set(['legacy_only', 'wrapped']));
    const b = await bridge({ pepper: 'test pepper \u00e9' });
    const legacyOnly = S.users.find((u) =>
      entries.some((e) => e.key === String(u.id) && e.previousState === 'legacy_only'),
    )!;
    const wrapped = S.users.find((u) => entries.some((e) => e.key === String(u.id) && e.previousState === 'wrapped'))!;
    expect(await b.authenticate({ identifier: legacyOnly.email, password: legacyOnly.password })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    expect(await b.authenticate({ identifier: wrapped.email, password: wrapped.password })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    // the application's reset flow writes an Argon2id hash: accepted, and the user becomes migrated
    await S.pg.query('UPDATE users SET password_hash = $1 WHERE id = $2', [
      await hashPassword('reset-done', FAST_ARGON2),
      wrapped.id,
    ]);
    expect(await b.authenticate({ identifier: wrapped.email, password: 'reset-done' })).toMatchObject({
      ok: true,
      source: 'new',
    });
    expect(await ledgerRow(wrapped.id)).toMatchObject({ state: 'migrated' });
    // a second run finds the rest already reset-required
    const again = await sunsetIdentities(source, target, resolved, {
      before: new Date(Date.now() - 1000),
      dryRun: true,
    });
    expect(again).toMatchObject({ resetRequired: N - migrated - 1, alreadyResetRequired: N - migrated - 1 });
  });
});
