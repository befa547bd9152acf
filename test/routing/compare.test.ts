import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../../src/apply/apply.js';
import { runRelay } from '../../src/apply/relay.js';
import { fromMysql } from '../../src/capture/adapters.js';
import { createDualWriter, type DualWriter } from '../../src/capture/writer.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { CONTROL_SCHEMA_VERSION } from '../../src/control/schema.js';
import { setPhase } from '../../src/control/phase.js';
import { createLogger } from '../../src/core/logger.js';
import { keyString } from '../../src/core/mapping.js';
import { outboxInsert, pendingForKey } from '../../src/outbox/outbox.js';
import {
  createResultComparator,
  createStoredRowComparator,
  type SettledComparison,
} from '../../src/routing/compare.js';
import type { CompareOutcome, ReadObserver } from '../../src/routing/types.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { Migration, openMigration } from '../../src/runtime/migration.js';
import { runContinuous, type CycleReport } from '../../src/verify/continuous.js';
import { listMismatches, recordMismatches } from '../../src/verify/mismatches.js';
import { formatCycle } from '../../src/verify/report.js';
import { runCli, waitFor } from '../helpers.js';
import { migrationFixture, quiet } from '../runtime/helpers.js';

/** Comparisons the comparator reported itself (the settled outcomes of lagging keys), and every log line. */
function recorder() {
  const seen: [string, CompareOutcome][] = [];
  const settled: SettledComparison[] = [];
  const observer: ReadObserver = { read: () => {}, comparison: (entity, outcome) => seen.push([entity, outcome]) };
  return { seen, settled, observer, onSettled: (s: SettledComparison) => settled.push(s) };
}

describe('shadow comparison: MariaDB (legacy) → PostgreSQL (new)', () => {
  let f: Awaited<ReturnType<typeof migrationFixture>>;
  let m: Migration;
  let dual: DualWriter;
  let app: mysql.Connection;
  let pgc: pg.Client;
  const logs: string[] = [];

  const relayOnce = () =>
    runRelay({
      primary: m.stores.legacy,
      secondary: m.stores.new,
      control: m.stores.control,
      entities: m.entities,
      log: quiet,
      untilEmpty: true,
    });
  /** An application write through the dual writer (outbox row in the same transaction, no fast path). */
  const appUpdate = (id: number, bio: string) =>
    dual.write(fromMysql(app), async (tx) => {
      await app.query('UPDATE users SET bio = ?, version = version + 1 WHERE id = ?', [bio, id]);
      tx.changed('users', id);
    });
  const mismatchRows = async () =>
    (
      await pgc.query(
        'SELECT entity, entity_key, kind, columns_differing, state, origin FROM tandem.mismatches ' +
          'ORDER BY entity, entity_key',
      )
    ).rows;

  beforeAll(async () => {
    f = await migrationFixture('tandem_shcmp', 60);
    const log = createLogger({
      level: 'debug',
      destination: new Writable({
        write: (c, _e, cb) => {
          logs.push(String(c));
          cb();
        },
      }),
    });
    m = await openMigration(f.cfg, { log });
    await ensureControlSchema(m.stores.new);
    await ensureControlSchema(m.stores.legacy);
    await setPhase(m.stores.control, 'dual_write');
    await setPhase(m.stores.control, 'shadow', { force: true });
    await m.readPhase();
    const backfill = m.services.backfill();
    await backfill.start();
    await backfill.wait();
    dual = await createDualWriter({ config: f.cfg, budgetMs: 0, log: quiet });
    app = await mysql.createConnection({ uri: f.src.url });
    pgc = new pg.Client({ connectionString: f.tgt.url });
    await pgc.connect();
  }, 60_000);
  afterAll(async () => {
    await app?.end();
    await pgc?.end();
    await dual?.close();
    await m?.close();
    await f?.drop();
  });

  it('matching key: matched; planted difference: mismatched, recorded confirmed, origin shadow', async () => {
    const r = recorder();
    const cmp = createStoredRowComparator(m, 'users', { observer: r.observer });
    try {
      expect(await cmp.compare([4], null, null)).toBe('matched');
      await pgc.query(`UPDATE users SET status = 'planted' WHERE id = 5`);
      expect(await cmp.compare([5], 'ignored', 'ignored')).toBe('mismatched');
      expect(cmp.pending).toBe(0);
      expect(r.seen).toEqual([]); // first outcomes are the caller's to count
      expect(await mismatchRows()).toEqual([
        {
          entity: 'users',
          entity_key: '["5"]',
          kind: 'different',
          columns_differing: '["users.status"]',
          state: 'confirmed',
          origin: 'shadow',
        },
      ]);
      const listed = await listMismatches(m.stores.control, 'users', ['confirmed']);
      expect(listed.map((x) => [x.key, x.origin])).toEqual([['["5"]', 'shadow']]);
      // a key of the wrong arity, or an unknown entity, is dropped, never thrown
      expect(await cmp.compare([1, 2], null, null)).toBe('dropped');
      const unknown = createStoredRowComparator(m, 'nope');
      expect(await unknown.compare([1], null, null)).toBe('dropped');
    } finally {
      await cmp.close();
    }
  });

  it('in-flight change (outbox entry, relay not run): lagging, then matched after the relay', async () => {
    const r = recorder();
    const cmp = createStoredRowComparator(m, 'users', {
      observer: r.observer,
      onSettled: r.onSettled,
      recheckMs: 100,
      lagWindowMs: 20_000,
    });
    try {
      await appUpdate(7, 'changed in flight');
      const key = keyString([7], m.entities.find((e) => e.name === 'users')!.keyColumns);
      expect(await pendingForKey(m.stores.legacy, 'users', key)).toBe(1);
      expect(await cmp.compare([7], null, null)).toBe('lagging');
      expect(await cmp.compare([7], null, null)).toBe('lagging'); // a second answer waits on the same key
      expect(cmp.pending).toBe(1);
      // still lagging while the relay does not run: three rechecks pass without settling it
      await waitFor(() => cmp.rechecks >= 3, { what: 'three rechecks' });
      expect(r.seen).toEqual([]);
      expect(cmp.pending).toBe(1);
      const stats = await relayOnce();
      expect(stats.applied).toBe(1);
      await waitFor(() => r.seen.length === 2, { what: 'the lagging answers to settle' });
      expect(r.seen).toEqual([
        ['users', 'matched'],
        ['users', 'matched'],
      ]);
      expect(r.settled.map((s) => [s.key, s.outcome])).toEqual([
        [[7], 'matched'],
        [[7], 'matched'],
      ]);
      expect(cmp.pending).toBe(0);
      expect((await mismatchRows()).map((x) => x.entity_key)).toEqual(['["5"]']); // no row for 7
    } finally {
      await cmp.close();
    }
  });

  it('a lagging key whose relay never runs becomes mismatched after the window', async () => {
    const r = recorder();
    const cmp = createStoredRowComparator(m, 'users', {
      observer: r.observer,
      onSettled: r.onSettled,
      recheckMs: 100,
      lagWindowMs: 1200,
    });
    try {
      await appUpdate(9, 'stuck in the outbox');
      const t0 = Date.now();
      expect(await cmp.compare([9], null, null)).toBe('lagging');
      await waitFor(() => r.seen.length === 1, { what: 'the window to pass' });
      expect(r.seen).toEqual([['users', 'mismatched']]);
      // not before the window: 1200 ms (the clock of the tracker and of this test are the same)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1200);
      expect(r.settled[0]!.waitedMs).toBeGreaterThanOrEqual(1200);
      const rows = await mismatchRows();
      expect(rows.find((x) => x.entity_key === '["9"]')).toMatchObject({
        kind: 'different',
        columns_differing: '["user_profiles.bio"]',
        state: 'confirmed',
        origin: 'shadow',
      });
    } finally {
      await cmp.close();
    }
  });

  it('ledger behind the primary version (no outbox entry): lagging too, clears once applied', async () => {
    const r = recorder();
    const cmp = createStoredRowComparator(m, 'users', { observer: r.observer, recheckMs: 100, lagWindowMs: 20_000 });
    try {
      // a write that bypassed the outbox (trigger capture or binlog not read yet): only the version tells
      await app.query(`UPDATE users SET status = 'moved', version = version + 1 WHERE id = 11`);
      expect(await cmp.compare([11], null, null)).toBe('lagging');
      const e = m.entities.find((x) => x.name === 'users')!;
      await applyChanges(m.stores.legacy, m.stores.new, e, [{ key: keyString([11], e.keyColumns), keyValues: [11] }]);
      await waitFor(() => r.seen.length === 1, { what: 'the ledger to catch up' });
      expect(r.seen).toEqual([['users', 'matched']]);
    } finally {
      await cmp.close();
    }
  });

  it('composite keys: a changed and a missing membership are mismatched, a matching one matched', async () => {
    const cmp = createStoredRowComparator(m, 'memberships');
    try {
      const rows = (await pgc.query(`SELECT organisation_id, user_id FROM memberships ORDER BY user_id LIMIT 3`))
        .rows as { organisation_id: number; user_id: string }[];
      const [a, b, c] = rows.map((x) => [x.organisation_id, Number(x.user_id)]);
      expect(await cmp.compare(a!, null, null)).toBe('matched');
      await pgc.query(`UPDATE memberships SET role = 'owner' WHERE organisation_id = $1 AND user_id = $2`, b);
      await pgc.query(`DELETE FROM memberships WHERE organisation_id = $1 AND user_id = $2`, c);
      expect(await cmp.compare(b!, null, null)).toBe('mismatched');
      expect(await cmp.compare(c!, null, null)).toBe('mismatched');
      const list = await listMismatches(m.stores.control, 'memberships', ['confirmed']);
      expect(list.map((x) => [x.key, x.kind, x.columns, x.origin])).toEqual([
        [JSON.stringify(b!.map(String)), 'different', ['memberships.role'], 'shadow'],
        [JSON.stringify(c!.map(String)), 'missing', [], 'shadow'],
      ]);
      expect(list[0]!.keyValues.map(Number)).toEqual(b);
    } finally {
      await cmp.close();
    }
  });

  it('a sensitive column difference is named, its values nowhere (mismatches table, logs)', async () => {
    const cmp = createStoredRowComparator(m, 'users');
    try {
      const secret = 'planted-hash-6f1d2a';
      await pgc.query(`UPDATE users SET password_hash = $1 WHERE id = 13`, [secret]);
      expect(await cmp.compare([13], null, null)).toBe('mismatched');
      const row = (await pgc.query(`SELECT * FROM tandem.mismatches WHERE entity = 'users' AND entity_key = '["13"]'`))
        .rows[0];
      expect(row).toMatchObject({ columns_differing: '["users.password_hash"]', origin: 'shadow' });
      const legacyHash = (
        (await app.query('SELECT password_hash FROM users WHERE id = 13')) as unknown as [{ password_hash: string }[]]
      )[0][0]!.password_hash;
      const everything = JSON.stringify((await pgc.query(`SELECT * FROM tandem.mismatches`)).rows) + logs.join('');
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(legacyHash);
    } finally {
      await cmp.close();
    }
  });

  it('user compare: true matched; false, nothing in flight: mismatched; false in flight: lagging', async () => {
    const r = recorder();
    const byEmail = (a: unknown, b: unknown) => (a as { email: string }).email === (b as { email: string }).email;
    const read = {
      legacy: async (k: unknown[]) => ({
        email: (
          (await app.query('SELECT email, bio FROM users WHERE id = ?', k)) as unknown as [
            { email: string; bio: string }[],
          ]
        )[0][0]!.email,
      }),
      // the new read code has a bug for user 16 (it upper-cases the address): the data agree, the results do not
      new: async (k: unknown[]) => {
        const email = (
          (await pgc.query('SELECT email_address AS email FROM users WHERE id = $1', k)).rows[0] as { email: string }
        ).email;
        return { email: k[0] === 16 ? email.toUpperCase() : email };
      },
    };
    const cmp = createResultComparator(byEmail, m, 'users', {
      observer: r.observer,
      recheckMs: 100,
      lagWindowMs: 20_000,
      reread: read,
    });
    const plain = createResultComparator(
      () => {
        throw new Error('a bug in the compare');
      },
      m,
      'users',
    );
    try {
      expect(await cmp.compare([15], await read.legacy([15]), await read.new([15]))).toBe('matched');
      // the stored rows agree, the results do not (a bug in the new read code): a mismatch, column (result).compare
      expect(await cmp.compare([16], await read.legacy([16]), await read.new([16]))).toBe('mismatched');
      expect((await mismatchRows()).find((x) => x.entity_key === '["16"]')).toMatchObject({
        columns_differing: '["(result).compare"]',
        origin: 'shadow',
        state: 'confirmed',
      });
      // an in-flight change explains the difference: lagging, then the reads agree once the relay ran
      await dual.write(fromMysql(app), async (tx) => {
        await app.query(`UPDATE users SET email = 'moved-17@example.com', version = version + 1 WHERE id = 17`);
        tx.changed('users', 17);
      });
      const legacyNow = await read.legacy([17]);
      const newNow = await read.new([17]);
      expect(byEmail(legacyNow, newNow)).toBe(false);
      expect(await cmp.compare([17], legacyNow, newNow)).toBe('lagging');
      await relayOnce();
      await waitFor(() => r.seen.length === 1, { what: 'the lagging result to settle' });
      expect(r.seen).toEqual([['users', 'matched']]);
      expect((await mismatchRows()).some((x) => x.entity_key === '["17"]')).toBe(false);
      expect(await plain.compare([15], {}, {})).toBe('dropped');
      // without the reads to run again, a lagging result settles by the stored rows once the change has landed
      const r2 = recorder();
      const blind = createResultComparator(byEmail, m, 'users', {
        observer: r2.observer,
        recheckMs: 100,
        lagWindowMs: 20_000,
      });
      try {
        await dual.write(fromMysql(app), async (tx) => {
          await app.query(`UPDATE users SET email = 'moved-23@example.com', version = version + 1 WHERE id = 23`);
          tx.changed('users', 23);
        });
        expect(await blind.compare([23], await read.legacy([23]), await read.new([23]))).toBe('lagging');
        await relayOnce();
        await waitFor(() => r2.seen.length === 1, { what: 'the blind lagging result to settle' });
        expect(r2.seen).toEqual([['users', 'matched']]);
        // and with nothing in flight its false counts at once (the data agree: column (result).compare)
        expect(await blind.compare([24], { email: 'a' }, { email: 'b' })).toBe('mismatched');
      } finally {
        await blind.close();
      }
    } finally {
      await cmp.close();
      await plain.close();
    }
  });

  it('close() settles waiting keys as dropped; more than maxPending waiting keys are dropped at once', async () => {
    const r = recorder();
    const cmp = createStoredRowComparator(m, 'users', {
      observer: r.observer,
      recheckMs: 5000,
      lagWindowMs: 60_000,
      maxPending: 1,
    });
    await appUpdate(19, 'one');
    await appUpdate(21, 'two');
    expect(await cmp.compare([19], null, null)).toBe('lagging');
    expect(await cmp.compare([21], null, null)).toBe('dropped');
    await cmp.close();
    expect(r.seen).toEqual([['users', 'dropped']]);
    expect(await cmp.compare([19], null, null)).toBe('dropped');
    await relayOnce();
  });

  it('continuous verification keeps the origin of the shadow mismatches it finds again, and shows it', async () => {
    let cycle: CycleReport | null = null;
    await runContinuous(m.stores.legacy, m.stores.new, m.stores.control, m.entities, {
      intervalSeconds: 0,
      lagSeconds: 60,
      cycles: 1,
      pageRows: 1000,
      maxReportedDifferences: 100,
      onCycle: (c) => {
        cycle = c;
      },
    });
    const c = cycle as CycleReport | null;
    const open = (await listMismatches(m.stores.control, 'users', ['pending', 'confirmed'])).length;
    expect(open).toBeGreaterThan(0);
    expect(c!.origins!.users).toEqual({ verify: 0, shadow: open });
    expect(formatCycle(c!)).toContain(`(open: verify 0, shadow ${open})`);
  });

  it('tandem repair fixes the shadow mismatches (origin shown), and verify then exits 0', async () => {
    const rep = await runCli(['repair', '--config', f.cfg]);
    expect(rep.code, rep.stdout + rep.stderr).toBe(0);
    expect(rep.stdout).toMatch(/users: \d+ key\(s\): .* repaired \[found by shadow \d+\]/);
    expect(rep.stdout).toMatch(/memberships: 2 key\(s\): 2 re-applied, 0 deleted, 2 repaired \[found by shadow 2\]/);
    expect((await pgc.query(`SELECT status FROM users WHERE id = 5`)).rows[0].status).not.toBe('planted');
    const states = (await pgc.query(`SELECT DISTINCT state, origin FROM tandem.mismatches ORDER BY state`)).rows;
    expect(states).toEqual([
      { state: 'repaired', origin: 'shadow' },
      { state: 'resolved', origin: 'shadow' },
    ]);
    // resolved by continuous verification, not repaired: the result-only mismatches (the data agree), and 9, whose
    // change stuck in the outbox past the window was applied by a later relay run
    const resolved = (
      await pgc.query(`SELECT entity_key FROM tandem.mismatches WHERE state = 'resolved' ORDER BY entity_key`)
    ).rows;
    expect(resolved.map((x) => x.entity_key)).toEqual(['["16"]', '["24"]', '["9"]']);
    const v = await runCli(['verify', '--config', f.cfg]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 60_000);

  it('after write cutover the comparison runs the other way round: new is primary, legacy the secondary', async () => {
    // the reverse relay leaves legacy columns the mapping does not cover out of its upsert (src/core/reverse.ts):
    // the fixture's legacy `version` needs a default for that
    await app.query('ALTER TABLE users MODIFY version INT NOT NULL DEFAULT 1');
    await setPhase(m.stores.control, 'new_primary', { force: true });
    await m.readPhase();
    const r = recorder();
    const cmp = createStoredRowComparator(m, 'users', { observer: r.observer, recheckMs: 100, lagWindowMs: 20_000 });
    try {
      expect(await cmp.compare([25], null, null)).toBe('matched');
      // a legacy row that went wrong: the reversed mapping's difference, in legacy column names
      await app.query(`UPDATE users SET status = 'legacy-only' WHERE id = 26`);
      expect(await cmp.compare([26], null, null)).toBe('mismatched');
      const row = (await mismatchRows()).find((x) => x.entity_key === '["26"]' && x.state === 'confirmed');
      expect(row).toMatchObject({ kind: 'different', columns_differing: '["users.status"]', origin: 'shadow' });
      // an application write on new with its outbox row (the reverse outbox, in the new store): lagging until the
      // reverse relay ran
      await pgc.query('BEGIN');
      await pgc.query(`UPDATE users SET status = 'suspended' WHERE id = 27`);
      const ins = outboxInsert('postgres', [{ entity: 'users', key: '["27"]', keyValues: [27] }]);
      await pgc.query(ins.sql, ins.params);
      await pgc.query('COMMIT');
      expect(await cmp.compare([27], null, null)).toBe('lagging');
      const roles = m.roles();
      expect(roles.primaryName).toBe('new');
      await runRelay({
        primary: roles.primary,
        secondary: roles.secondary,
        control: m.stores.control,
        entities: roles.entities,
        log: quiet,
        untilEmpty: true,
        maxAttempts: 3,
      });
      await waitFor(() => r.seen.length === 1, { what: 'the reverse relay to catch up' });
      expect(r.seen).toEqual([['users', 'matched']]);
    } finally {
      await cmp.close();
      await setPhase(m.stores.control, 'shadow', { force: true });
      await m.readPhase();
    }
  });
});

describe('shadow comparison: SQLite (legacy) → PGlite (new)', () => {
  it('matched, planted difference mismatched with origin shadow, in-flight lagging then matched', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { openStore } = await import('../../src/stores/index.js');
    const file = join(mkdtempSync(join(tmpdir(), 'tandem-shcmp-')), 'legacy.db');
    const raw = await openStore(`sqlite:${file}`);
    await raw.execute(
      'CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, name text NOT NULL, version integer NOT NULL)',
    );
    await raw.execute(
      "INSERT INTO users VALUES (1, 'ada@example.com', 'Ada', 1), (2, 'alan@example.com', 'Alan', 1), " +
        "(3, 'grace@example.com', 'Grace', 1)",
    );
    const config = {
      source: `sqlite:${file}`,
      target: 'pglite:memory',
      entities: {
        users: {
          table: 'users',
          key: 'id',
          version: 'version',
          targets: [{ table: 'people', columns: { id: 'id', email: 'email', name: 'name', version: 'version' } }],
        },
      },
    };
    // PGlite in memory lives in this process, and starting it is slow: open once, create the new table, resolve
    const bare = await openMigration(config, { log: quiet, entities: null });
    await bare.stores.new.execute(
      'CREATE TABLE people (id integer PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100) NOT NULL, ' +
        'version integer NOT NULL)',
    );
    const mig = new Migration(
      bare.config,
      null,
      bare.stores,
      await resolveConfig(bare.config, bare.stores.legacy, bare.stores.new),
      quiet,
      1000,
    );
    const r = recorder();
    const cmp = createStoredRowComparator(mig, 'users', { observer: r.observer, recheckMs: 50, lagWindowMs: 20_000 });
    try {
      await ensureControlSchema(mig.stores.new);
      await ensureControlSchema(raw);
      await setPhase(mig.stores.control, 'dual_write');
      await mig.readPhase();
      const b = mig.services.backfill();
      await b.start();
      await b.wait();
      expect(await cmp.compare([1], null, null)).toBe('matched');
      await mig.stores.new.execute(`UPDATE people SET name = 'Grace B. Hopper' WHERE id = 3`);
      expect(await cmp.compare([3], null, null)).toBe('mismatched');
      expect(
        (await listMismatches(mig.stores.control, 'users', ['confirmed'])).map((x) => [x.key, x.columns, x.origin]),
      ).toEqual([['["3"]', ['people.name'], 'shadow']]);
      // an application write with its outbox row, in one SQLite transaction
      const e = mig.entities[0]!;
      await raw.transaction(async (tx) => {
        await tx.execute(`UPDATE users SET name = 'Alan M. Turing', version = version + 1 WHERE id = 2`);
        const ins = outboxInsert('sqlite', [{ entity: 'users', key: keyString([2], e.keyColumns), keyValues: [2] }]);
        await tx.execute(ins.sql, ins.params);
      });
      expect(await cmp.compare([2], null, null)).toBe('lagging');
      await runRelay({
        primary: mig.stores.legacy,
        secondary: mig.stores.new,
        control: mig.stores.control,
        entities: mig.entities,
        log: quiet,
        untilEmpty: true,
      });
      await waitFor(() => r.seen.length === 1, { what: 'the lagging key to settle' });
      expect(r.seen).toEqual([['users', 'matched']]);
      // stores that fail (closed here) make a comparison dropped, never an exception
      const late = createStoredRowComparator(mig, 'users');
      await mig.close();
      expect(await late.compare([1], null, null)).toBe('dropped');
    } finally {
      await cmp.close();
      await mig.close();
      await raw.close();
    }
  }, 60_000);

  it('an upgrade from schema 5 gives existing mismatches origin verify; new ones carry theirs', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { openStore } = await import('../../src/stores/index.js');
    const { migrations } = await import('../../src/control/schema.js');
    const s = await openStore(`sqlite:${join(mkdtempSync(join(tmpdir(), 'tandem-v7-')), 'c.db')}`);
    try {
      const t = (n: string) => s.controlTable(n);
      await s.execute(
        `CREATE TABLE ${t('schema_migrations')} (version integer NOT NULL PRIMARY KEY, description text NOT NULL, ` +
          "applied_at text NOT NULL DEFAULT 'x')",
      );
      for (const mig of migrations(s.dialect).filter((x) => x.version <= 5)) {
        for (const st of mig.statements(t)) await s.execute(st);
        await s.execute(`INSERT INTO ${t('schema_migrations')} (version, description) VALUES (?, ?)`, [
          mig.version,
          mig.description,
        ]);
      }
      await s.execute(
        `INSERT INTO ${t('mismatches')} (entity, entity_key, key_values, kind, columns_differing, state, ` +
          'first_seen_ms, last_seen_ms, state_ms, checks) ' +
          `VALUES ('users', '["1"]', '[1]', 'different', '["users.status"]', 'confirmed', 1, 1, 1, 1)`,
      );
      expect(await ensureControlSchema(s)).toBe(CONTROL_SCHEMA_VERSION);
      const diff = (key: string) => ({
        difference: { entity: 'users', key, kind: 'different' as const, columns: [] },
        keyValues: [JSON.parse(key)[0]],
      });
      await recordMismatches(s, 'users', [diff('["1"]'), diff('["2"]')], 10, true, 'shadow');
      await recordMismatches(s, 'users', [diff('["3"]')], 10);
      const list = await listMismatches(s, 'users', ['confirmed', 'pending']);
      expect(list.map((x) => [x.key, x.origin])).toEqual([
        ['["1"]', 'verify'],
        ['["2"]', 'shadow'],
        ['["3"]', 'verify'],
      ]);
      expect((await listMismatches(s, 'users', ['confirmed', 'pending'], 10, ['shadow'])).map((x) => x.key)).toEqual([
        '["2"]',
      ]);
    } finally {
      await s.close();
    }
  });
});
