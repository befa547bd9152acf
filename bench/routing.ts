/**
 * Routed-read benchmark: what `migration.reads()` costs a read, against a plain legacy read.
 *
 *   npm run bench:routing -- [--users 2000] [--reads 2000] [--slow-reads 200] [--budget 50] [--keep]
 *
 * Setup (not timed): a MariaDB legacy database (test/fixtures.ts createLegacyMysql, `--users` users) and a
 * PostgreSQL target (createNewPostgres) holding the same users, both uniquely named and dropped at the end. The
 * application's reads are real queries: legacy `SELECT id, email FROM users WHERE id = ?` on a mysql2 pool, new
 * `SELECT id, email_address FROM users WHERE id = $1` on a pg pool that goes through a TCP proxy (test/proxy.ts).
 * The new store is *healthy*, *slowed* (each new read first runs `SELECT pg_sleep(0.2)`: 200 ms) or *failing* (the
 * proxy refuses connections).
 *
 * Each mode times `--reads` reads (`--slow-reads` for canary slowed, where every read waits for the budget),
 * sequentially on random ids, alternating one plain legacy read and one routed read so that load on the machine
 * falls on both alike; p50/p99 of each are printed with the difference of the p99s.
 *
 * - shadow 100 %: every read is legacy + a detached new read (concurrency cap 64, deadline 1 s). Target: the p99 of
 *   a routed read is within 1 ms of the plain read's, whatever new does.
 * - canary 100 %: every read is served by new with fallback (`--budget` ms). Target with new failing or slowed:
 *   p99 ≤ budget + the plain read's p99.
 *
 * Each routed read is also timed beyond its own legacy query ("beyond-legacy": the read's time minus the time
 * spent inside the application's legacy function in that call): in shadow mode, Tandem's part on the caller's path,
 * free of the database's noise. "timer late" is how late a `--budget` ms timer fires meanwhile (machine load).
 *
 * Last line: `routing p99_plain_ms=… shadow_p99_extra_ms=<worst of healthy/slowed/failing>
 * shadow_p99_beyond_legacy_ms=… canary_fail_p99_ms=… canary_slow_p99_ms=… budget_ms=… load1=…`.
 */
import { loadavg } from 'node:os';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ensureControlSchema } from '../src/control/control.js';
import { setPhase } from '../src/control/phase.js';
import { createLogger } from '../src/core/logger.js';
import { setCanaryPercent, setShadowPercent } from '../src/routing/state.js';
import type { CompareOutcome, ReadSample } from '../src/routing/types.js';
import { openMigration } from '../src/runtime/migration.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../test/fixtures.js';
import { createMysqlDatabase, createPgDatabase, quantile, writeConfig } from '../test/helpers.js';
import { TcpProxy } from '../test/proxy.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const USERS = arg('users', 2000);
const READS = arg('reads', 2000);
const SLOW_READS = arg('slow-reads', 200);
const BUDGET = arg('budget', 50);
const KEEP = process.argv.includes('--keep');

type Row = { id: number; email: string | null };

async function main(): Promise<void> {
  const src = await createMysqlDatabase('tandem_bench_rt_src');
  const tgt = await createPgDatabase('tandem_bench_rt_tgt');
  const proxy = new TcpProxy(Number(new URL(tgt.url).port || 5432));
  let legacyDb: mysql.Pool | undefined;
  let newDb: pg.Pool | undefined;
  try {
    await createLegacyMysql(src.url, USERS);
    await createNewPostgres(tgt.url);
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    await c.query(`INSERT INTO organisations SELECT g, 'o' FROM generate_series(1, 20) g`);
    const lc = await mysql.createConnection({ uri: src.url });
    const [lrows] = await lc.query('SELECT id, org_id, email FROM users');
    await lc.end();
    const us = lrows as { id: number; org_id: number; email: string }[];
    // the same e-mail addresses as legacy: shadow comparisons match
    await c.query(
      `INSERT INTO users SELECT u.id, u.org, u.email, 'h', 'active', 0, now(), now(), 'legacy' FROM unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, org, email)`,
      [us.map((x) => x.id), us.map((x) => x.org_id), us.map((x) => x.email)],
    );
    await c.end();
    await proxy.start();
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url).replace(
        '  backfill:',
        `  routing: { refreshMs: 200, budgetMs: ${BUDGET}, maxConcurrentShadow: 64, shadowDeadlineMs: 1000 },\n  backfill:`,
      ),
    );
    const m = await openMigration(cfg, { entities: ['users'], log: createLogger({ level: 'silent' }) });
    await ensureControlSchema(m.stores.control);
    legacyDb = mysql.createPool({ uri: src.url, connectionLimit: 4 });
    const u = new URL(tgt.url);
    newDb = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${proxy.port}${u.pathname}`, max: 80 });
    newDb.on('error', () => {});
    const mode = { slowMs: 0 };
    const ldb = legacyDb;
    const ndb = newDb;
    // the time spent inside the legacy read of the current routed call (its own query), to isolate Tandem's part
    const inner = { legacyMs: 0 };
    const legacy = async (id: number): Promise<Row> => {
      const t0 = performance.now();
      const [rows] = await ldb.query('SELECT id, email FROM users WHERE id = ?', [id]);
      inner.legacyMs += performance.now() - t0;
      return { id, email: (rows as { email: string }[])[0]?.email ?? null };
    };
    const next = async (id: number): Promise<Row> => {
      if (mode.slowMs) await ndb.query('SELECT pg_sleep($1)', [mode.slowMs / 1000]);
      const r = await ndb.query('SELECT id, email_address FROM users WHERE id = $1', [id]);
      return { id, email: r.rows[0]?.email_address ?? null };
    };
    const outcomes = new Map<string, number>();
    const observer = {
      read: (s: ReadSample) =>
        void outcomes.set(`${s.origin}:${s.outcome}`, (outcomes.get(`${s.origin}:${s.outcome}`) ?? 0) + 1),
      comparison: (_e: string, o: CompareOutcome) => void outcomes.set(`cmp:${o}`, (outcomes.get(`cmp:${o}`) ?? 0) + 1),
    };
    const reader = m.reads<number, Row>('users', {
      legacy,
      new: next,
      observer,
      compare: (a, b) => a.email === b.email,
    });
    const rnd = () => 1 + Math.floor(Math.random() * USERS);
    // warm-up: pools, JIT
    for (let i = 0; i < 200; i++) await legacy(rnd()), await next(rnd());

    const results: Record<string, { plain: number[]; routed: number[]; late: number[]; own: number[] }> = {};
    const run = async (name: string, n: number) => {
      outcomes.clear();
      const plain: number[] = [];
      const routed: number[] = [];
      const late: number[] = [];
      const own: number[] = [];
      for (let i = 0; i < n; i++) {
        const time = async (f: () => Promise<unknown>, into: number[]) => {
          inner.legacyMs = 0;
          const t0 = performance.now();
          await f();
          const took = performance.now() - t0;
          into.push(took);
          // a routed call: what it took beyond its legacy query (shadow: Tandem's own part on the caller's path)
          if (into === routed) own.push(took - inner.legacyMs);
        };
        if (i % 2) {
          await time(() => legacy(rnd()), plain);
          await time(() => reader.read(rnd()), routed);
        } else {
          await time(() => reader.read(rnd()), routed);
          await time(() => legacy(rnd()), plain);
        }
        // how late a timer of the budget fires on the machine now: the budget itself is such a timer
        if (i % 10 === 0) {
          const t0 = performance.now();
          await new Promise((r) => setTimeout(r, BUDGET));
          late.push(performance.now() - t0 - BUDGET);
        }
      }
      results[name] = { plain, routed, late, own };
      const f = (x: number) => x.toFixed(3);
      const p = (xs: number[], q: number) => quantile(xs, q);
      process.stdout.write(
        `${name.padEnd(22)} n=${String(n).padStart(5)}  plain p50 ${f(p(plain, 0.5))} p99 ${f(p(plain, 0.99))}  routed p50 ${f(p(routed, 0.5))} p99 ${f(p(routed, 0.99))}  ` +
          `p99 extra ${f(p(routed, 0.99) - p(plain, 0.99))}  beyond-legacy p50 ${f(p(own, 0.5))} p99 ${f(p(own, 0.99))}  timer late p99 ${f(p(late, 0.99))}  [${[...outcomes].map(([k, v]) => `${k}=${v}`).join(' ')}]\n`,
      );
    };
    const settle = () => new Promise((r) => setTimeout(r, 1500));

    await setPhase(m.stores.control, 'shadow', { force: true });
    await setShadowPercent(m.stores.control, 100);
    await m.refreshRouting();
    process.stdout.write(`routing bench: ${USERS} users, MariaDB legacy, PostgreSQL new through a TCP proxy; ms\n`);
    await run('shadow100 healthy', READS);
    await settle();
    mode.slowMs = 200;
    await run('shadow100 slowed200', READS);
    mode.slowMs = 0;
    await settle();
    await proxy.cut();
    await run('shadow100 failing', READS);
    await proxy.restore();
    await settle();

    await setPhase(m.stores.control, 'canary', { force: true });
    await setShadowPercent(m.stores.control, 0);
    await setCanaryPercent(m.stores.control, 100);
    await m.refreshRouting();
    await run('canary100 healthy', READS);
    mode.slowMs = 200;
    await run('canary100 slowed200', SLOW_READS);
    mode.slowMs = 0;
    await settle();
    await proxy.cut();
    await run('canary100 failing', READS);
    await proxy.restore();

    const p99 = (xs: number[]) => quantile(xs, 0.99);
    const plainP99 = p99(results['shadow100 healthy']!.plain);
    const shadowExtra = Math.max(
      ...['shadow100 healthy', 'shadow100 slowed200', 'shadow100 failing'].map(
        (k) => p99(results[k]!.routed) - p99(results[k]!.plain),
      ),
    );
    const failP99 = p99(results['canary100 failing']!.routed);
    const slowP99 = p99(results['canary100 slowed200']!.routed);
    const slowPlain = p99(results['canary100 slowed200']!.plain);
    const failPlain = p99(results['canary100 failing']!.plain);
    const slowLate = p99(results['canary100 slowed200']!.late);
    const shadowOwn = Math.max(
      ...['shadow100 healthy', 'shadow100 slowed200', 'shadow100 failing'].map((k) => p99(results[k]!.own)),
    );
    process.stdout.write(
      `\nshadow at 100 %: worst p99 extra over plain ${shadowExtra.toFixed(3)} ms (target < 1 ms): ${shadowExtra < 1 ? 'ok' : 'MISSED'}; worst p99 of a read beyond its own legacy query ${shadowOwn.toFixed(3)} ms: ${shadowOwn < 1 ? 'ok' : 'MISSED'}\n`,
    );
    process.stdout.write(
      `canary, new failing: p99 ${failP99.toFixed(3)} ms ≤ budget ${BUDGET} + plain p99 ${failPlain.toFixed(3)}: ${failP99 <= BUDGET + failPlain ? 'ok' : 'MISSED'}\n`,
    );
    process.stdout.write(
      `canary, new slowed: p99 ${slowP99.toFixed(3)} ms ≤ budget ${BUDGET} + plain p99 ${slowPlain.toFixed(3)}: ${slowP99 <= BUDGET + slowPlain ? 'ok' : `MISSED (a ${BUDGET} ms timer fired up to ${slowLate.toFixed(1)} ms late at p99 meanwhile: ${slowP99 <= BUDGET + slowPlain + slowLate ? 'within budget + plain + timer lateness' : 'beyond timer lateness too'})`}\n`,
    );
    process.stdout.write(
      `routing p99_plain_ms=${plainP99.toFixed(3)} shadow_p99_extra_ms=${shadowExtra.toFixed(3)} shadow_p99_beyond_legacy_ms=${shadowOwn.toFixed(3)} canary_fail_p99_ms=${failP99.toFixed(3)} canary_slow_p99_ms=${slowP99.toFixed(3)} budget_ms=${BUDGET} load1=${loadavg()[0]!.toFixed(1)}\n`,
    );
    await m.close();
  } finally {
    await legacyDb?.end();
    await newDb?.end().catch(() => {});
    await proxy.close();
    if (!KEEP) {
      await src.drop().catch(() => {});
      await tgt.drop().catch(() => {});
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
