import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { Throttle } from '../../src/backfill/throttle.js';
import { backfillThrottleSchema } from '../../src/config/schema.js';
import { pauseBackfill, resumeBackfill, tuneBackfill } from '../../src/control/backfill-control.js';
import { ensureControlSchema } from '../../src/control/control.js';
import type { ThrottleState } from '../../src/control/throttle-state.js';
import { openMigration, type Migration } from '../../src/runtime/migration.js';
import { readMigrationStatus } from '../../src/runtime/status.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, PG_BASE, waitFor, writeConfig } from '../helpers.js';
import { quiet, sleep } from '../runtime/helpers.js';

const USERS = 4000;

/**
 * The backfill's throttle on real stores: a flag file, a throttle query on MariaDB, replica lag read from real
 * `SHOW REPLICA STATUS` / `pg_stat_replication` answers, and the operator's pause, resume and tune of a running
 * backfill through the control plane.
 */
describe('backfill throttle and control', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let m: Migration;
  let dir: string;
  let raw: mysql.Connection;
  const opened: Store[] = [];

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_thr2_src');
    await createLegacyMysql(src.url, USERS);
    tgt = await createPgDatabase('tandem_thr2');
    await createNewPostgres(tgt.url);
    raw = await mysql.createConnection({ uri: src.url });
    await raw.query('CREATE TABLE throttle_knob (v INT NOT NULL)');
    await raw.query('INSERT INTO throttle_knob VALUES (3)');
    dir = mkdtempSync(join(tmpdir(), 'tandem-thr-'));
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, {
        backfill: `{ initialChunkRows: 50, maxChunkRows: 400, chunkSeconds: 0.25, maxRowsPerSecond: 200,
          throttle: { flagFile: ${JSON.stringify(join(dir, 'hold'))}, checkSeconds: 0.2 } }`,
      }),
    );
    m = await openMigration(cfg, { log: quiet });
    await ensureControlSchema(m.stores.new);
  }, 60_000);
  afterAll(async () => {
    await m?.close();
    for (const s of opened) await s.close().catch(() => {});
    await raw?.end().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    await src?.drop();
    await tgt?.drop();
  });

  const throttleOf = (config: Record<string, unknown>) =>
    new Throttle({
      config: backfillThrottleSchema.parse(config),
      source: m.stores.legacy,
      control: m.stores.control,
      log: quiet,
    });

  it('a throttle query holds above its max, releases at or under it, and is re-run at most every checkSeconds', async () => {
    const t = throttleOf({ query: { sql: 'SELECT v FROM throttle_knob', max: 10 }, checkSeconds: 0.5 });
    try {
      expect((await t.check()).verdict).toBeNull();
      await raw.query('UPDATE throttle_knob SET v = 12');
      // the last answer stands until checkSeconds passed
      expect((await t.check()).verdict).toBeNull();
      await sleep(600);
      expect((await t.check()).verdict).toEqual({ reason: 'query', detail: 'throttle query returned 12 > 10' });
      await raw.query('UPDATE throttle_knob SET v = 10');
      expect((await t.check(true)).verdict).toBeNull();
    } finally {
      await t.close();
    }
  });

  it('a throttle query that errs or returns no number holds the backfill with TANDEM_ERR_THROTTLE_CHECK_FAILED', async () => {
    for (const sql of [
      "SELECT 'many' AS v",
      'SELECT v FROM throttle_knob WHERE v < 0',
      'SELECT nope FROM throttle_knob',
    ]) {
      const t = throttleOf({ query: { sql, max: 10 } });
      const { verdict } = await t.check();
      await t.close();
      expect(verdict?.reason, sql).toBe('query');
      expect(verdict?.detail, sql).toMatch(/^throttle query check failed: TANDEM_ERR_THROTTLE_CHECK_FAILED: /);
    }
  });

  it('replica lag: real answers of servers that are not replicas hold the backfill (lag unknown)', async () => {
    // MariaDB: SHOW REPLICA STATUS of a server that replicates nothing is empty
    const my = await openStore(src.url);
    opened.push(my);
    await expect(my.replicaLag!()).rejects.toMatchObject({ code: 'TANDEM_ERR_THROTTLE_CHECK_FAILED' });
    // PostgreSQL primary: no standby of that name in pg_stat_replication; without a name: not a standby
    const pgs = await openStore(`${PG_BASE}/postgres`);
    opened.push(pgs);
    await expect(pgs.replicaLag!({ replicaName: 'tandem_no_such_standby' })).rejects.toThrow(
      /no standby named "tandem_no_such_standby" in pg_stat_replication/,
    );
    await expect(pgs.replicaLag!()).rejects.toThrow(/is not a standby \(pg_is_in_recovery\(\) is false\)/);
    for (const [url, expected] of [
      [src.url, /^replica lag check failed: TANDEM_ERR_THROTTLE_CHECK_FAILED: .* is not a replica/],
      [`${PG_BASE}/postgres`, /^replica lag check failed: TANDEM_ERR_THROTTLE_CHECK_FAILED: .* is not a standby/],
      ['sqlite::memory:', /cannot report replica lag/],
    ] as const) {
      const t = throttleOf({ replicaUrl: url, maxReplicaLagSeconds: 5 });
      const { verdict } = await t.check();
      await t.close();
      expect(verdict?.reason, url).toBe('replica-lag');
      expect(verdict?.detail, url).toMatch(expected);
      expect(verdict?.detail, url).not.toMatch(/password|:\/\/[^@/]*:[^@/]*@/);
    }
  });

  it('a flag file holds a backfill before its first chunk and lets it go when removed; status shows why', async () => {
    const flag = join(dir, 'hold');
    writeFileSync(flag, '');
    const seen: (ThrottleState | null)[] = [];
    const orgs = m.entities.filter((e) => e.name === 'orgs');
    const run = runBackfill({
      config: m.config,
      source: m.stores.legacy,
      target: m.stores.new,
      control: m.stores.control,
      entities: orgs,
      log: quiet,
      onThrottle: (_e, t) => seen.push(t),
    });
    await waitFor(() => seen.length > 0, { timeoutMs: 5000, what: 'the flag-file throttle' });
    await sleep(600);
    const st = (await readMigrationStatus(m)).entities.find((e) => e.name === 'orgs')!;
    expect(st.backfill.copied).toBe(0);
    expect(st.backfill.state).toBe('running');
    expect(st.backfill.throttle).toMatchObject({ reason: 'flag-file', detail: `flag file ${flag} exists` });
    expect(Date.parse(st.backfill.throttle!.since)).toBeGreaterThan(Date.now() - 10_000);
    rmSync(flag);
    const [r] = await run;
    expect(r).toMatchObject({ status: 'done', copied: 20 });
    expect(seen[0]).toMatchObject({ reason: 'flag-file' });
    expect(seen).toContain(null);
    // the entity is done: nothing is throttled any more
    const after = (await readMigrationStatus(m)).entities.find((e) => e.name === 'orgs')!;
    expect(after.backfill.throttle).toBeNull();
  });

  it('pause stops a running backfill within one chunk, tune changes its rate, resume runs it to the end', async () => {
    // orgs first (their rows are the users' parents; already copied when the flag-file test ran)
    const users = m.entities.filter((e) => e.name === 'orgs' || e.name === 'users');
    let copied = 0;
    const marks: { t: number; copied: number }[] = [];
    const rateOver = (from: number, to: number) => {
      const a = marks.find((x) => x.t >= from) ?? marks.at(-1)!;
      const b = [...marks].reverse().find((x) => x.t <= to) ?? a;
      return b.t > a.t ? ((b.copied - a.copied) * 1000) / (b.t - a.t) : 0;
    };
    const run = runBackfill({
      config: m.config,
      source: m.stores.legacy,
      target: m.stores.new,
      control: m.stores.control,
      entities: users,
      log: quiet,
      onChunk: (e, c) => {
        if (e !== 'users') return;
        copied = c;
        marks.push({ t: performance.now(), copied: c });
      },
    });
    try {
      // the config's 200 rows/s
      await waitFor(() => copied >= 100, { timeoutMs: 10_000, what: 'the first chunks' });
      const t1 = performance.now();
      await sleep(1500);
      const slow = rateOver(t1, performance.now());
      expect(slow).toBeGreaterThan(80);
      expect(slow).toBeLessThan(200 * 1.3);
      expect((await tuneBackfill(m.stores.control, { maxRowsPerSecond: 800 })).to.maxRowsPerSecond).toBe(800);
      await sleep(800); // the next chunk picks it up
      const t2 = performance.now();
      await sleep(1200);
      const fast = rateOver(t2, performance.now());
      expect(fast).toBeGreaterThan(2 * slow);
      expect(fast).toBeLessThan(800 * 1.3);

      await pauseBackfill(m.stores.control);
      const pausedAt = performance.now();
      // within one chunk (0.25 s) and one check (0.2 s): well under 2 s
      await waitFor(() => marks.length > 0 && performance.now() - marks.at(-1)!.t > 1000, {
        timeoutMs: 2000,
        what: 'the copy to stop',
      });
      const stoppedAt = copied;
      const lastChunkAt = marks.at(-1)!.t;
      expect(lastChunkAt - pausedAt).toBeLessThan(1000);
      await sleep(1000);
      expect(copied).toBe(stoppedAt);
      expect(stoppedAt).toBeLessThan(USERS);
      const st = (await readMigrationStatus(m)).entities.find((e) => e.name === 'users')!;
      expect(st.backfill.throttle).toMatchObject({ reason: 'paused', detail: 'paused by operator' });
      expect(st.backfill.control).toEqual({ paused: true, maxRowsPerSecond: 800, chunkSeconds: null });
      expect(st.backfill.copied).toBe(stoppedAt);

      await resumeBackfill(m.stores.control);
      const resumedAt = performance.now();
      await tuneBackfill(m.stores.control, { maxRowsPerSecond: 50_000 });
      const r = (await run).find((x) => x.entity === 'users');
      expect(r).toMatchObject({ status: 'done', copiedTotal: USERS });
      expect(r!.copied).toBe(USERS);
      const n = await m.stores.new.query<{ n: unknown }>('SELECT count(*) AS n FROM users');
      expect(Number(n[0]!.n)).toBe(USERS);
      // it moved again after the resume, and ran to the end at the new rate
      expect(marks.find((x) => x.copied > stoppedAt)!.t).toBeGreaterThan(resumedAt);
      // null: the operator's rate is removed (the config's holds again)
      await tuneBackfill(m.stores.control, { maxRowsPerSecond: null });
      const done = (await readMigrationStatus(m)).entities.find((e) => e.name === 'users')!;
      expect(done.backfill.throttle).toBeNull();
      expect(done.backfill.control).toEqual({ paused: false, maxRowsPerSecond: null, chunkSeconds: null });
    } finally {
      await resumeBackfill(m.stores.control).catch(() => {});
      await run.catch(() => {});
    }
  }, 40_000);
});
