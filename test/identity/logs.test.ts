/**
 * Nothing sensitive reaches the logs: the bridge's logger is captured at level `trace` while users log in on every
 * path (legacy migration for each scheme, new store, wrapped, wrong passwords on the three failure paths, throttled,
 * malformed hashes on both sides, a wrong pepper, a full Argon2 semaphore), while the backfill copies weak hashes
 * and `wrapAtRest` wraps them. The captured text is then searched for every password, every legacy hash, every hash
 * the new store held at any point (whole, and their salt and digest parts), the pepper, and the identifiers.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { createLogger } from '../../src/core/logger.js';
import {
  Semaphore,
  createIdentityBridge,
  resolveIdentity,
  wrapAtRest,
  type IdentityBridgeOptions,
} from '../../src/identity/index.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { FAST_ARGON2, createIdentityStores, type IdentityStores } from './stores.js';

let S: IdentityStores;
let source: Store;
let target: Store;
const captured: string[] = [];
const sink = new Writable({
  write(chunk, _enc, cb) {
    captured.push(String(chunk));
    cb();
  },
});
const log = createLogger({ level: 'trace', destination: sink });
const PEPPER = 'pepper-never-logged-7d1e';
const seenHashes = new Set<string>();

async function snapshotTargetHashes(): Promise<void> {
  for (const r of (await S.pg.query('SELECT password_hash FROM users')).rows) seenHashes.add(r.password_hash);
}

beforeAll(async () => {
  S = await createIdentityStores(30);
  source = await openStore(S.mysqlUrl);
  target = await openStore(S.pgUrl);
});

afterAll(async () => {
  await source?.close();
  await target?.close();
  await S?.drop();
});

it('logs no password, no hash, no pepper and no identifier on any path', async () => {
  const entities = await resolveConfig(S.config, source, target);
  const users = entities.find((e) => e.name === 'users')!;
  const base: IdentityBridgeOptions = {
    source,
    target,
    entity: users,
    argon2: { ...FAST_ARGON2, limiter: new Semaphore(2, 100) },
    floorMs: 0,
    pepper: PEPPER,
    logger: log,
    legacyBudget: { perSecond: 1e6 },
  };
  const b = await createIdentityBridge(base);
  const u = (id: number) => S.users[id - 1]!;
  // malformed hashes on the legacy side
  await S.my.query("UPDATE users SET password_hash = '$2b$04$truncated' WHERE id = 29");
  await S.my.query(
    "UPDATE users SET password_hash = CONCAT('$6$rounds=999999999$salt$', REPEAT('a', 86)) WHERE id = 30",
  );
  // legacy migrations, one per scheme, then the new store
  for (let id = 1; id <= 9; id++) {
    expect(await b.authenticate({ identifier: u(id).email, password: u(id).password })).toMatchObject({
      ok: true,
      source: 'legacy',
    });
    expect(await b.authenticate({ identifier: u(id).email.toUpperCase(), password: u(id).password })).toMatchObject({
      ok: true,
      source: 'new',
    });
  }
  await snapshotTargetHashes();
  // the three failure paths, and malformed legacy hashes
  for (const [identifier, password] of [
    ['nobody@example.com', u(1).password],
    [u(1).email, u(2).password],
    [u(12).email, u(1).password],
    [u(29).email, 'x'],
    [u(30).email, 'x'],
  ]) {
    expect(await b.authenticate({ identifier: identifier!, password: password! })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
  }
  // the backfill copies weak hashes (its own logs captured too), the wrap wraps them
  await runBackfill({
    config: S.config,
    source,
    target,
    entities: [entities.find((e) => e.name === 'orgs')!, users],
    log,
    progressOut: null,
  });
  await snapshotTargetHashes();
  const resolved = await resolveIdentity(users, source, target);
  await wrapAtRest(target, resolved, { argon2: FAST_ARGON2, pepper: PEPPER, logger: log });
  await snapshotTargetHashes();
  // wrapped logins (unwrap + upgrade), wrong passwords against wrapped hashes
  for (let id = 10; id <= 18; id++) {
    await b.authenticate({ identifier: u(id).email, password: `${u(id).password}-wrong` });
    await b.authenticate({ identifier: u(id).email, password: u(id).password });
  }
  await snapshotTargetHashes();
  // a malformed hash in the new store, a wrong pepper
  await S.pg.query("UPDATE users SET password_hash = '$argon2id$v=19$m=1024,t=1,p=1$AAAA$BBBB' WHERE id = 20");
  expect(await b.authenticate({ identifier: u(20).email, password: u(20).password })).toEqual({
    ok: false,
    reason: 'invalid_credentials',
  });
  const wrongPepper = await createIdentityBridge({ ...base, pepper: 'another pepper' });
  await wrongPepper.authenticate({ identifier: u(21).email, password: u(21).password });
  // throttled, then a full semaphore
  const strict = await createIdentityBridge({ ...base, failures: { freeAttempts: 1, baseDelayMs: 60_000 } });
  await strict.authenticate({ identifier: u(22).email, password: 'nope' });
  expect(await strict.authenticate({ identifier: u(22).email, password: u(22).password })).toMatchObject({
    reason: 'throttled',
  });
  const busy = await createIdentityBridge({
    ...base,
    argon2: { memoryCost: 8192, timeCost: 2, parallelism: 1, limiter: new Semaphore(1, 0) },
  });
  const settled = await Promise.allSettled(
    [1, 2, 3, 4, 5, 6, 7, 8].map(() => busy.authenticate({ identifier: u(1).email, password: u(1).password })),
  );
  expect(settled.some((s) => s.status === 'rejected')).toBe(true);
  await snapshotTargetHashes();

  const text = captured.join('');
  expect(text.length).toBeGreaterThan(1000); // the capture saw the logs (trace level: every login)
  expect(text).toContain('identity.hash_invalid');
  expect(text).toContain('identity.migrated');
  expect(text).toContain('identity.error');
  const secrets: [string, string][] = [['pepper', PEPPER]];
  for (const x of S.users) {
    secrets.push(
      [`password of ${x.id}`, x.password],
      [`legacy hash of ${x.id}`, x.hash],
      [`identifier of ${x.id}`, x.email],
      [`lower-case identifier of ${x.id}`, x.email.toLowerCase()],
    );
    // the digest part of the legacy hash (after the last $ or the whole value)
    const digest = x.hash.slice(x.hash.lastIndexOf('$') + 1).replace(/^\{SSHA\}/, '');
    if (digest.length >= 16) secrets.push([`legacy digest of ${x.id}`, digest]);
  }
  for (const h of seenHashes) {
    secrets.push(['new-store hash', h]);
    for (const part of h.split('$'))
      if (part.length >= 16 && !/^[a-z0-9=,-]+$/.test(part)) secrets.push(['new-store hash part', part]);
  }
  expect(seenHashes.size).toBeGreaterThan(S.users.length);
  for (const [what, secret] of secrets) expect(text.includes(secret), `${what} found in the logs`).toBe(false);
});
