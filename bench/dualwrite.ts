/**
 * Dual-write benchmark: what Tandem costs an application write, and how fast the relay drains the outbox.
 *
 *   npm run bench:dualwrite -- [--rows 50000] [--writes 20000] [--block 250] [--concurrency 8] [--concurrent-writes
 * 20000]
 *                              [--relay-changes 50000] [--batch-sizes 2000,500] [--pipeline on|off|both] [--inproc-workers 4] [--relay-procs
 * 2,4] [--relay-repeats 3]
 *                              [--hung-writes 300] [--hung-seconds 30] [--only relay] [--keep]
 *
 * Setup (not timed): a MariaDB legacy database (test/fixtures.ts createLegacyMysql: orgs, users, memberships;
 * `--rows` users) and a PostgreSQL target (createNewPostgres: users split into users + user_profiles, UNIQUE
 * email), both uniquely named and dropped at the end (`--keep` keeps them). The target is backfilled in-process
 * (runBackfill) and the phase set to `dual_write` (setPhase).
 *
 * 1. Latency of one application write — `UPDATE users SET balance = balance + 1, version = version + 1 WHERE
 *    id = ?` on a random id — on ONE mysql2 connection, sequentially, `--writes` writes per mode, the modes taking
 *    turns in blocks of `--block` writes (so drift and other load on the machine hit every mode alike), after a
 *    warm-up:
 *      (1) plain:      BEGIN; UPDATE; COMMIT (no Tandem)
 *      (2) outbox:     DualWriter.write(fromMysql(conn)) with budgetMs 0 — BEGIN; UPDATE; outbox INSERT; COMMIT
 *      (3) fast path:  budgetMs 50, PostgreSQL up (direct connection)
 *      (4) PG down:    budgetMs 50, the DualWriter's target URL points at a proxy that refuses (connection reset /
 *                      ECONNREFUSED at once)
 *      (5) PG hung:    budgetMs 50, the proxy accepts connections and drops every byte (no RST: a hung server or a
 *                      partition). Capped at `--hung-writes` writes or `--hung-seconds` s (it can be very slow).
 *                      (5a) with the default phase TTL (1 s), (5b) with the phase cached for an hour, which isolates
 *                      the fast path from the phase read (the control store is PostgreSQL here).
 *    Then the same with `--concurrency` connections writing at once (`--concurrent-writes` in all per mode).
 * 2. Relay throughput: the outbox left by part 1 is drained (not timed). Then, per batch size, `--relay-changes`
 *    changes are queued in outbox mode (every user updated once, 8 connections) and `runRelay({ untilEmpty })`
 *    drains them in-process, timed, with each step timed by wrapping the stores (bench/dualwrite-profile.ts).
 *    `--pipeline off` runs the relay without its pipeline (one batch in flight), `both` runs each without, then
 *    with it. Then `--inproc-workers` runRelay loops at once in this process, and per `--relay-procs` count that
 *    many `tandem relay --until-empty` processes (CLI), timed from the first change taken to an empty outbox — both
 *    at the first batch size.
 *    `--only relay` skips part 1 (setup, part 2 and the checks only: a quick relay run, e.g. `--only relay
 *    --relay-changes 50000 --relay-procs 1,2,4`) and queues the changes in bulk (fillOutboxBulk: the same outbox
 *    rows and source rows, 1000 changes per transaction).
 * 3. Checks: outbox empty, no dead letter, and per user: the ledger's version and the target balance equal the
 *    source's — except users whose last write was a plain one (mode 1 bypasses Tandem on purpose).
 *
 * Last line: `dualwrite p99_plain_ms=… p99_outbox_ms=… p99_fastpath_ms=… p99_pg_down_ms=… relay_changes_per_s=…`
 * (single connection; relay = one in-process relay at the first batch size, default 2000, pipelined, median of
 * `--relay-repeats` runs);
 * with `--only relay`: `dualwrite relay_changes_per_s=…`.
 *
 * Environment: TANDEM_BENCH_MYSQL / TANDEM_TEST_MYSQL, TANDEM_BENCH_PG / TANDEM_TEST_PG (as the tests).
 */
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { runRelay } from '../src/apply/relay.js';
import { fromMysql } from '../src/capture/adapters.js';
import { createDualWriter, type DualWriter } from '../src/capture/writer.js';
import { keyString } from '../src/core/mapping.js';
import { outboxInsert } from '../src/outbox/outbox.js';
import { openMigration, type Migration } from '../src/runtime/migration.js';
import { runBackfill } from '../src/backfill/backfill.js';
import { ensureControlSchema } from '../src/control/control.js';
import { setPhase } from '../src/control/phase.js';
import { createLogger } from '../src/core/logger.js';
import { prng } from '../src/demo/users.js';
import type { Store } from '../src/stores/types.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../test/fixtures.js';
import { createMysqlDatabase, createPgDatabase, spawnCli, writeConfig } from '../test/helpers.js';
import { int, serverCpu } from './common.js';
import { classifyPrimary, classifySecondary, StepProfile, timedStore } from './dualwrite-profile.js';
import { SwitchProxy } from './dualwrite-proxy.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    writes: { type: 'string', default: '20000' },
    block: { type: 'string', default: '250' },
    concurrency: { type: 'string', default: '8' },
    'concurrent-writes': { type: 'string', default: '20000' },
    'relay-changes': { type: 'string', default: '50000' },
    'batch-sizes': { type: 'string', default: '2000,500' },
    pipeline: { type: 'string', default: 'on' },
    'relay-procs': { type: 'string', default: '2,4' },
    'inproc-workers': { type: 'string', default: '4' },
    'relay-repeats': { type: 'string', default: '3' },
    'hung-writes': { type: 'string', default: '300' },
    'hung-seconds': { type: 'string', default: '30' },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(
    'usage: npm run bench:dualwrite -- [--rows N] [--writes N] [--block N] [--concurrency N] [--concurrent-writes N] [--relay-changes N] [--batch-sizes a,b] [--relay-procs a,b] [--hung-writes N] [--hung-seconds S] [--only relay] [--keep]',
  );
  process.exit(0);
}
const ROWS = Number(args.rows);
const WRITES = Number(args.writes);
const BLOCK = Math.max(1, Number(args.block));
const CONC = Number(args.concurrency);
const CONC_WRITES = Number(args['concurrent-writes']);
const RELAY_CHANGES = Number(args['relay-changes']);
const BATCH_SIZES = String(args['batch-sizes']).split(',').filter(Boolean).map(Number);
const PIPELINE = String(args.pipeline);
if (!['on', 'off', 'both'].includes(PIPELINE)) {
  console.error(`--pipeline takes on, off or both (got "${PIPELINE}")`);
  process.exit(2);
}
const RELAY_PROCS = String(args['relay-procs'])
  .split(',')
  .filter(Boolean)
  .map(Number)
  .filter((n) => n > 0);
const INPROC_WORKERS = Number(args['inproc-workers']);
const RELAY_REPEATS = Math.max(1, Number(args['relay-repeats']));
const HUNG_WRITES = Number(args['hung-writes']);
const HUNG_SECONDS = Number(args['hung-seconds']);
const ONLY = args.only;
if (ONLY !== undefined && ONLY !== 'relay') {
  console.error(`--only takes "relay" (got "${ONLY}")`);
  process.exit(2);
}

const quiet = createLogger({ level: 'silent' });
const UPDATE = 'UPDATE users SET balance = balance + 1, version = version + 1 WHERE id = ?';

// ---------------------------------------------------------------------------------------------------------------
// statistics

interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

function dist(samples: number[]): Dist {
  const s = Float64Array.from(samples).sort();
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : NaN);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: s.length ? s[s.length - 1]! : NaN,
    mean: sum / Math.max(1, s.length),
  };
}

/**
 * 95% bootstrap interval of `stat(b) − stat(a)` where a and b were measured in the same rounds (blocks taking
 * turns): rounds are resampled with replacement, keeping each round's pair together.
 */
function pairedBootstrap(a: number[][], b: number[][], stat: (d: Dist) => number, iterations = 400): [number, number] {
  const rnd = prng(7);
  const diffs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const sa: number[] = [];
    const sb: number[] = [];
    for (let r = 0; r < a.length; r++) {
      const j = Math.floor(rnd() * a.length);
      for (const v of a[j]!) sa.push(v);
      for (const v of b[j]!) sb.push(v);
    }
    diffs.push(stat(dist(sb)) - stat(dist(sa)));
  }
  diffs.sort((x, y) => x - y);
  return [diffs[Math.floor(0.025 * iterations)]!, diffs[Math.floor(0.975 * iterations)]!];
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2) : '-');
const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '-');

function table(headers: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (align[i] === 'l' ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(headers), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// the application's writes

type WriteFn = (conn: mysql.Connection, id: number) => Promise<void>;

/** Keys whose last write bypassed Tandem (mode 1): the target is allowed to be behind on them at the end. */
const lastWritePlain = new Set<number>();

const plainWrite: WriteFn = async (conn, id) => {
  lastWritePlain.add(id);
  await conn.query('BEGIN');
  try {
    await conn.query(UPDATE, [id]);
    await conn.query('COMMIT');
  } catch (e) {
    await conn.query('ROLLBACK').catch(() => {});
    throw e;
  }
};

const dualWrite =
  (dual: DualWriter): WriteFn =>
  async (conn, id) => {
    lastWritePlain.delete(id);
    await dual.write(fromMysql(conn), async (tx) => {
      await conn.query(UPDATE, [id]);
      tx.changed('users', id);
    });
  };

/** Runs `n` writes on `conn`, sequentially, on random ids; returns each write's ms. Stops early at `deadline`. */
async function runWrites(
  conn: mysql.Connection,
  write: WriteFn,
  n: number,
  rnd: () => number,
  deadline = Infinity,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = 1 + Math.floor(rnd() * ROWS);
    const t0 = performance.now();
    await write(conn, id);
    out.push(performance.now() - t0);
    if (performance.now() > deadline) break;
  }
  return out;
}

/** `n` writes in all on `conns` at once (each connection sequential); returns each write's ms and the wall time. */
async function runConcurrent(
  conns: mysql.Connection[],
  write: WriteFn,
  n: number,
  rnd: () => number,
): Promise<{ samples: number[]; wallMs: number }> {
  const samples: number[] = [];
  let left = n;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      while (left > 0) {
        left--;
        const id = 1 + Math.floor(rnd() * ROWS);
        const s = performance.now();
        await write(c, id);
        samples.push(performance.now() - s);
      }
    }),
  );
  return { samples, wallMs: performance.now() - t0 };
}

/** Counts the phase reads a DualWriter makes (its control store is the target: `query` is only the phase read). */
function countPhaseReads(dual: DualWriter): { reads: number; failed: number; ms: number; maxMs: number } {
  const control = dual.migration.stores.control;
  const stat = { reads: 0, failed: 0, ms: 0, maxMs: 0 };
  const orig = control.query.bind(control);
  control.query = (async (sql: string, params?: unknown[]) => {
    const t = performance.now();
    stat.reads++;
    try {
      return await orig(sql, params);
    } catch (e) {
      stat.failed++;
      throw e;
    } finally {
      const ms = performance.now() - t;
      stat.ms += ms;
      stat.maxMs = Math.max(stat.maxMs, ms);
    }
  }) as Store['query'];
  return stat;
}

/**
 * Times `phase()` as the write path calls it and `afterCommit()` (the fast path) of a DualWriter, per call, for
 * the write-path breakdown. The fast path calls `phase()` too (synchronously, as afterCommit starts): those calls
 * are counted apart (`fastPathPhase`), their time being part of the fast path's.
 */
interface DualProbe {
  phase: number[];
  after: number[];
  fastPathPhase: number;
}
function probeDual(dual: DualWriter): DualProbe {
  const probe: DualProbe = { phase: [], after: [], fastPathPhase: 0 };
  const phase = dual.phase.bind(dual);
  const after = dual.afterCommit.bind(dual);
  let inAfterCommit = false;
  dual.phase = async () => {
    if (inAfterCommit) {
      probe.fastPathPhase++;
      return phase();
    }
    const t = performance.now();
    try {
      return await phase();
    } finally {
      probe.phase.push(performance.now() - t);
    }
  };
  dual.afterCommit = async (entries) => {
    const t = performance.now();
    inAfterCommit = true;
    let p: Promise<void>;
    try {
      p = after(entries);
    } finally {
      inAfterCommit = false;
    }
    try {
      return await p;
    } finally {
      probe.after.push(performance.now() - t);
    }
  };
  return probe;
}

const inflightOf = (dual: DualWriter) => (dual as unknown as { inflight: Set<unknown> }).inflight.size;

// ---------------------------------------------------------------------------------------------------------------
// relay

async function outboxCount(conn: mysql.Connection): Promise<number> {
  const [r] = (await conn.query('SELECT count(*) AS n FROM tandem_outbox')) as [{ n: number }[], unknown];
  return Number(r[0]!.n);
}

/**
 * Queues `n` changes in outbox mode: every user in a shuffled order (wrapping around when n > rows), `CONC`
 * connections.
 */
async function fillOutbox(conns: mysql.Connection[], dual: DualWriter, n: number, seed: number): Promise<number> {
  const rnd = prng(seed);
  const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const write = dualWrite(dual);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      while (next < n) {
        const id = ids[next++ % ids.length]!;
        await write(c, id);
      }
    }),
  );
  return performance.now() - t0;
}

/**
 * `--only relay`: queues `n` changes as the dual writer's outbox mode would leave them, but in bulk — per 1000
 * users (shuffled, wrapping around when n > rows) one transaction of the same UPDATE for all of them and one
 * multi-row outbox INSERT (the writer's own `outboxInsert`, the writer's key encoding). The outbox and the source
 * rows end up as after `n` single writes; the fill takes seconds instead of a minute.
 */
async function fillOutboxBulk(conn: mysql.Connection, dual: DualWriter, n: number, seed: number): Promise<number> {
  const rnd = prng(seed);
  const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const users = dual.migration.entities.find((e) => e.name === 'users')!;
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const chunk = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ids[(i + j) % ids.length]!);
    for (const id of chunk) lastWritePlain.delete(id);
    const st = outboxInsert(
      'mysql',
      chunk.map((id) => ({ entity: 'users', key: keyString([id], users.keyColumns), keyValues: [id] })),
    );
    await conn.query('BEGIN');
    await conn.query(`UPDATE users SET balance = balance + 1, version = version + 1 WHERE id IN (${chunk.join(', ')})`);
    await conn.query(st.sql, st.params);
    await conn.query('COMMIT');
  }
  return performance.now() - t0;
}

interface RelayRun {
  label: string;
  changes: number;
  ms: number;
  perS: number;
  applied: number;
  skipped: number;
  batches: number;
  deadLettered: number;
  retried: number;
  cpu: { node: number; mariadb: number; postgres: number } | null;
  profile: StepProfile | null;
  /** The relay's warn/error log events by name, and one message of each. */
  events: Map<string, { n: number; sample: string }>;
}

/** Counts pino JSON lines by `event`. */
function countEvents(
  lines: string[],
  into = new Map<string, { n: number; sample: string }>(),
): Map<string, { n: number; sample: string }> {
  for (const line of lines) {
    if (!line.trim().startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as { event?: string; err?: string; msg?: string; level?: number };
      if ((o.level ?? 0) < 40) continue;
      const k = o.event ?? 'other';
      const e = into.get(k) ?? { n: 0, sample: String(o.err ?? o.msg ?? '').slice(0, 200) };
      e.n++;
      into.set(k, e);
    } catch {
      /* not a log line */
    }
  }
  return into;
}

/** A logger at warn whose lines are kept, to count the relay's warnings (batch failures, retries). */
function captureLogger(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = {
    write: (chunk: string) => {
      lines.push(...chunk.split('\n').filter(Boolean));
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { log: createLogger({ level: 'warn', destination }), lines };
}

/** Creates or upgrades the control plane where a migration writes (the new store, the control store). */
async function prepareControlOf(m: Migration): Promise<void> {
  await ensureControlSchema(m.stores.new);
  if (m.stores.control !== m.stores.new) await ensureControlSchema(m.stores.control);
}

async function relayInProcess(
  cfgPath: string,
  batchSize: number,
  expected: number,
  workers = 1,
  pipeline = true,
): Promise<RelayRun> {
  const m = await openMigration(cfgPath, { log: quiet });
  try {
    await prepareControlOf(m);
    // what `tandem relay` works with: the roles of the current phase
    const roles = m.roles(await m.readPhase());
    const ctx = { control: m.stores.control, entities: roles.entities };
    const prof = new StepProfile();
    const primary = timedStore(roles.primary, 'primary:', classifyPrimary, prof);
    const secondary = timedStore(roles.secondary, 'secondary:', classifySecondary, prof);
    const c0 = process.cpuUsage();
    const s0 = serverCpu();
    const t0 = performance.now();
    const cap = captureLogger();
    const all = await Promise.all(
      Array.from({ length: workers }, () =>
        runRelay({
          primary,
          secondary,
          control: ctx.control,
          entities: ctx.entities,
          log: cap.log,
          batchSize,
          pipeline,
          untilEmpty: true,
        }),
      ),
    );
    const stats = all.reduce((a, b) => ({
      ...a,
      batches: a.batches + b.batches,
      changes: a.changes + b.changes,
      applied: a.applied + b.applied,
      deleted: a.deleted + b.deleted,
      skipped: a.skipped + b.skipped,
      retried: a.retried + b.retried,
      deadLettered: a.deadLettered + b.deadLettered,
    }));
    const ms = performance.now() - t0;
    const c1 = process.cpuUsage(c0);
    const s1 = serverCpu();
    if (expected >= 0 && stats.changes !== expected)
      console.log(`  note: relay handled ${stats.changes} changes, ${expected} were queued`);
    return {
      label:
        workers > 1
          ? `in-process, ${workers} × runRelay at once, batchSize ${batchSize}${pipeline ? '' : ', no pipeline'}`
          : `in-process, batchSize ${batchSize}${pipeline ? '' : ', no pipeline'}`,
      changes: stats.changes,
      ms,
      perS: stats.changes / (ms / 1000),
      applied: stats.applied,
      skipped: stats.skipped,
      batches: stats.batches,
      deadLettered: stats.deadLettered,
      retried: stats.retried,
      cpu: { node: (c1.user + c1.system) / 1e6, mariadb: s1.mariadb - s0.mariadb, postgres: s1.postgres - s0.postgres },
      profile: prof,
      events: countEvents(cap.lines),
    };
  } finally {
    await m.close();
  }
}

/** `procs` × `tandem relay --until-empty` (CLI); the drain is timed from the first change taken to an empty outbox. */
async function relayProcesses(
  cfgPath: string,
  procs: number,
  batchSize: number,
  poll: mysql.Connection,
  expected: number,
): Promise<RelayRun & { wallMs: number }> {
  const s0 = serverCpu();
  const t0 = performance.now();
  const children = Array.from({ length: procs }, () =>
    spawnCli(['relay', '--config', cfgPath, '--until-empty', '--batch-size', String(batchSize), '--json']),
  );
  const outs = children.map((ch) => {
    let out = '';
    let err = '';
    ch.stdout!.on('data', (d) => (out += d));
    ch.stderr!.on('data', (d) => (err += d));
    return new Promise<{ code: number | null; out: string; err: string }>((res) =>
      ch.on('close', (code) => res({ code, out, err })),
    );
  });
  let first = 0;
  let empty = 0;
  let done = false;
  const all = Promise.all(outs).then((r) => {
    done = true;
    return r;
  });
  while (!done) {
    const n = await outboxCount(poll);
    const now = performance.now();
    if (!first && n < expected) first = now;
    if (!empty && n === 0) empty = now;
    await new Promise((r) => setTimeout(r, 100));
  }
  const results = await all;
  const wallMs = performance.now() - t0;
  const s1 = serverCpu();
  let changes = 0,
    applied = 0,
    skipped = 0,
    batches = 0,
    dead = 0,
    retried = 0;
  const events = new Map<string, { n: number; sample: string }>();
  for (const r of results) {
    countEvents(r.err.split('\n'), events);
    if (r.code !== 0) throw new Error(`relay process exited ${r.code}: ${r.err.slice(0, 2000)}`);
    const s = JSON.parse(r.out.trim().split('\n').pop()!);
    changes += s.changes;
    applied += s.applied;
    skipped += s.skipped;
    batches += s.batches;
    dead += s.deadLettered;
    retried += s.retried;
  }
  if (!empty) empty = performance.now();
  const ms = empty - (first || t0);
  return {
    label: `${procs} × tandem relay (CLI), batch ${batchSize}`,
    changes,
    ms,
    perS: changes / (ms / 1000),
    applied,
    skipped,
    batches,
    deadLettered: dead,
    retried,
    cpu: { node: NaN, mariadb: s1.mariadb - s0.mariadb, postgres: s1.postgres - s0.postgres },
    profile: null,
    wallMs,
    events,
  };
}

function printProfile(r: RelayRun): void {
  const p = r.profile!;
  const measured = p.total();
  const rows = [...p.steps]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([k, s]) => [
      k,
      int(s.count),
      f2(s.ms / 1000) + ' s',
      `${((s.ms / r.ms) * 100).toFixed(1)}%`,
      f3(s.ms / s.count),
      f3((s.ms / r.changes) * 1000),
    ]);
  const js = r.ms - measured;
  rows.push([
    js >= 0
      ? 'JS and waits outside statements (map, checks, keys, event loop) = wall − above'
      : 'wall − above < 0: the pipeline overlaps the steps of two batches',
    '',
    f2(js / 1000) + ' s',
    `${((js / r.ms) * 100).toFixed(1)}%`,
    '',
    f3((js / r.changes) * 1000),
  ]);
  rows.push(['relay wall', '', f2(r.ms / 1000) + ' s', '100%', '', f3((r.ms / r.changes) * 1000)]);
  console.log(table(['step', 'calls', 'time', 'share', 'ms/call', 'µs/change'], rows, ['l', 'r', 'r', 'r', 'r', 'r']));
  if (r.cpu)
    console.log(
      `  CPU during the run: node ${f2(r.cpu.node)} s, MariaDB ${f2(r.cpu.mariadb)} s, PostgreSQL ${f2(r.cpu.postgres)} s, in ${f2(r.ms / 1000)} s of wall time on ${availableParallelism()} cores`,
    );
}

// ---------------------------------------------------------------------------------------------------------------
// main

/** The machine's 1-minute load average, for the record (other work on the machine skews every figure). */
const load = () => loadavg()[0]!.toFixed(1);

interface Mode {
  key: string;
  label: string;
  write: WriteFn;
  before?: () => Promise<void>;
  after?: () => Promise<void>;
  dual?: DualWriter;
}

/** `total` writes per mode, in blocks of `block`, the modes taking turns (order rotated every round). */
async function interleaved(
  modes: Mode[],
  total: number,
  block: number,
  run: (m: Mode, n: number) => Promise<number[]>,
): Promise<Map<string, number[][]>> {
  const samples = new Map<string, number[][]>(modes.map((m) => [m.key, []]));
  const rounds = Math.ceil(total / block);
  const t0 = performance.now();
  let lastReport = t0;
  for (let r = 0; r < rounds; r++) {
    const n = Math.min(block, total - r * block);
    for (let i = 0; i < modes.length; i++) {
      const m = modes[(i + r) % modes.length]!;
      await m.before?.();
      try {
        samples.get(m.key)!.push(await run(m, n));
      } finally {
        await m.after?.();
      }
    }
    if (performance.now() - lastReport > 15_000 || r === rounds - 1) {
      lastReport = performance.now();
      process.stdout.write(`  ${r + 1}/${rounds} rounds (${f2((lastReport - t0) / 1000)} s, load ${load()})\n`);
    }
  }
  return samples;
}

const fmtP99Delta = (v: number, base: number) => `${v - base >= 0 ? '+' : ''}${f3(v - base)}`;

async function main(): Promise<void> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e) => console.error(`cleanup: ${(e as Error).message}`));
    cleanups.length = 0;
  };
  process.once('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });
  try {
    // ---------------------------------------------------------------- setup
    const tSetup = performance.now();
    const src = await createMysqlDatabase('tandem_bdw_src');
    if (!args.keep) cleanups.push(src.drop);
    const tgt = await createPgDatabase('tandem_bdw');
    if (!args.keep) cleanups.push(tgt.drop);
    console.log(
      `databases: MariaDB ${src.name}, PostgreSQL ${tgt.name}${args.keep ? ' (kept: --keep)' : ' (dropped at the end)'}; ${availableParallelism()} cores, load ${load()}`,
    );
    await createLegacyMysql(src.url, ROWS);
    await createNewPostgres(tgt.url);
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: '{ initialChunkRows: 2000, maxChunkRows: 20000 }' }),
    );
    const pgUrl = new URL(tgt.url);
    const proxy = new SwitchProxy(Number(pgUrl.port || 5432), pgUrl.hostname);
    const port = await proxy.start();
    cleanups.push(() => proxy.close());
    const cfgProxy = writeConfig(fixtureConfig(src.url, tgt.url.replace(/:(\d+)\//, `:${port}/`)));
    {
      const m = await openMigration(cfg, { log: quiet });
      try {
        await prepareControlOf(m);
        const { primary, secondary, entities } = m.roles(await m.readPhase());
        const r = await runBackfill({
          config: m.config,
          source: primary,
          target: secondary,
          entities,
          log: quiet,
          progressOut: null,
        });
        const users = r.find((x) => x.entity === 'users');
        if (users?.status !== 'done') throw new Error(`backfill of users ended ${users?.status}`);
        await setPhase(m.stores.control, 'dual_write');
      } finally {
        await m.close();
      }
    }
    const app = await mysql.createConnection({ uri: src.url });
    cleanups.push(() => app.end());
    const [[vr]] = (await app.query(
      'SELECT version() AS v, @@innodb_flush_log_at_trx_commit AS f, @@log_bin AS b, @@tx_isolation AS i',
    )) as [Record<string, unknown>[], unknown];
    console.log(
      `setup: ${int(ROWS)} users in MariaDB ${vr!.v} (innodb_flush_log_at_trx_commit=${vr!.f}, log_bin=${vr!.b}, ${vr!.i}), backfilled to PostgreSQL, phase dual_write (${f2((performance.now() - tSetup) / 1000)} s, not timed)`,
    );
    const conns = await Promise.all(
      Array.from({ length: Math.max(CONC, 8) }, () => mysql.createConnection({ uri: src.url })),
    );
    cleanups.push(async () => {
      await Promise.all(conns.map((c) => c.end()));
    });

    const dualOutbox = await createDualWriter({ config: cfg, budgetMs: 0, log: quiet });
    cleanups.push(() => dualOutbox.close());
    const dualFast = await createDualWriter({ config: cfg, budgetMs: 50, log: quiet });
    cleanups.push(() => dualFast.close());
    const dualProxy = await createDualWriter({ config: cfgProxy, budgetMs: 50, log: quiet });
    cleanups.push(() => dualProxy.close());
    const phaseProxy = countPhaseReads(dualProxy);
    const probes = new Map<DualWriter, DualProbe>([dualOutbox, dualFast, dualProxy].map((d) => [d, probeDual(d)]));
    // the same, with the phase cached for an hour: isolates the fast path from the phase read in the hung case
    const dualProxyCached = await createDualWriter({
      config: cfgProxy,
      budgetMs: 50,
      phaseTtlMs: 3_600_000,
      log: quiet,
    });
    cleanups.push(() => dualProxyCached.close());
    await dualProxyCached.phase();
    probes.set(dualProxyCached, probeDual(dualProxyCached));

    const modes: Mode[] = [
      { key: 'plain', label: '(1) no Tandem: BEGIN; UPDATE; COMMIT', write: plainWrite },
      { key: 'outbox', label: '(2) outbox mode (budgetMs 0)', write: dualWrite(dualOutbox), dual: dualOutbox },
      { key: 'fastpath', label: '(3) outbox + fast path 50 ms, PG up', write: dualWrite(dualFast), dual: dualFast },
      {
        key: 'pg_down',
        label: '(4) outbox + fast path 50 ms, PG down (refused)',
        write: dualWrite(dualProxy),
        dual: dualProxy,
        before: () => proxy.refuse(),
        after: () => proxy.pass(),
      },
    ];

    // --only relay skips parts 1 and 1b (latency); the relay part and the checks run as always
    let latency: { plainP99: number; dists: Map<string, Dist>; hungA: { d: Dist }; hungB: { d: Dist } } | undefined;
    if (ONLY !== 'relay') {
      // ---------------------------------------------------------------- part 1: latency, one connection
      const rnd = prng(20240601);
      console.log(
        `\nlatency, 1 connection: warm-up 500 writes per mode, then ${int(WRITES)} per mode in blocks of ${BLOCK} (load ${load()})`,
      );
      for (const m of modes) {
        await m.before?.();
        await runWrites(app, m.write, 500, rnd);
        await m.after?.();
      }
      for (const p of probes.values()) {
        p.phase.length = 0;
        p.after.length = 0;
        p.fastPathPhase = 0;
      }
      const fpBefore = new Map(modes.filter((m) => m.dual).map((m) => [m.key, { ...m.dual!.fastPath }]));
      const phaseBefore = { ...phaseProxy };
      const byRound = await interleaved(modes, WRITES, BLOCK, (m, n) => runWrites(app, m.write, n, rnd));
      const dists = new Map([...byRound].map(([k, s]) => [k, dist(s.flat())]));
      const breakdown = new Map(
        modes
          .filter((m) => m.dual)
          .map((m) => [m.key, { phase: dist(probes.get(m.dual!)!.phase), after: dist(probes.get(m.dual!)!.after) }]),
      );
      const phaseDown = { reads: phaseProxy.reads - phaseBefore.reads, failed: phaseProxy.failed - phaseBefore.failed };
      const fpDelta = (m: Mode) => {
        const b = fpBefore.get(m.key)!;
        const a = m.dual!.fastPath;
        return `${int(a.applied - b.applied)} applied, ${int(a.failed - b.failed)} failed, ${int(a.overBudget - b.overBudget)} over budget`;
      };

      // (5) PG hung: short, capped runs (a write may wait for timeouts)
      const hungRun = async (dual: DualWriter) => {
        await proxy.blackhole();
        const probe = probes.get(dual)!;
        probe.phase.length = 0;
        probe.after.length = 0;
        probe.fastPathPhase = 0;
        const fp0 = { ...dual.fastPath };
        const ph0 = { ...phaseProxy };
        const acc0 = proxy.acceptedInBlackhole;
        const t0 = performance.now();
        const s = await runWrites(app, dualWrite(dual), HUNG_WRITES, rnd, t0 + HUNG_SECONDS * 1000);
        const ms = performance.now() - t0;
        const inflight = inflightOf(dual);
        const held = proxy.acceptedInBlackhole - acc0;
        await proxy.pass();
        return {
          d: dist(s),
          ms,
          inflight,
          held,
          phaseD: dist(probe.phase),
          afterD: dist(probe.after),
          fp: {
            applied: dual.fastPath.applied - fp0.applied,
            failed: dual.fastPath.failed - fp0.failed,
            over: dual.fastPath.overBudget - fp0.overBudget,
          },
          phase: { reads: phaseProxy.reads - ph0.reads, failed: phaseProxy.failed - ph0.failed },
        };
      };
      const hungA = await hungRun(dualProxy);
      const hungB = await hungRun(dualProxyCached);

      const plainP99 = dists.get('plain')!.p99;
      const row = (label: string, d: Dist, base: number, extra: string[] = []) => [
        label,
        int(d.n),
        ...extra,
        f3(d.p50),
        f3(d.p90),
        f3(d.p99),
        f3(d.p999),
        f2(d.max),
        f3(d.mean),
        label.startsWith('(1)') ? '' : fmtP99Delta(d.p99, base),
      ];
      const latRows = modes.map((m) => row(m.label, dists.get(m.key)!, plainP99));
      latRows.push(row('(5a) … PG hung (blackhole), phase TTL 1 s (default)', hungA.d, plainP99));
      latRows.push(row('(5b) … PG hung (blackhole), phase cached (TTL 1 h)', hungB.d, plainP99));
      console.log(
        `\napplication write latency, ms — 1 connection, sequential, random ids over ${int(ROWS)} users, modes interleaved in blocks of ${BLOCK}`,
      );
      console.log(
        table(['mode', 'writes', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'p99 vs (1)'], latRows, [
          'l',
          'r',
          'r',
          'r',
          'r',
          'r',
          'r',
          'r',
          'r',
        ]),
      );
      for (const m of modes.slice(1)) {
        const p99 = pairedBootstrap(byRound.get('plain')!, byRound.get(m.key)!, (d) => d.p99);
        const p50 = pairedBootstrap(byRound.get('plain')!, byRound.get(m.key)!, (d) => d.p50);
        const mean = pairedBootstrap(byRound.get('plain')!, byRound.get(m.key)!, (d) => d.mean);
        console.log(
          `  ${m.label.slice(0, 3)} − (1), 95% interval (rounds resampled): p50 [${f3(p50[0])}, ${f3(p50[1])}], mean [${f3(mean[0])}, ${f3(mean[1])}], p99 [${f3(p99[0])}, ${f3(p99[1])}] ms`,
        );
      }
      {
        const p99 = pairedBootstrap(byRound.get('outbox')!, byRound.get('pg_down')!, (d) => d.p99);
        console.log(`  (4) − (2), 95% interval: p99 [${f3(p99[0])}, ${f3(p99[1])}] ms`);
      }
      for (const m of modes) if (m.dual) console.log(`  ${m.label.slice(0, 3)} fast path: ${fpDelta(m)}`);
      console.log(
        `  (4) reads of the phase from the control store (PostgreSQL, via the proxy; by the write path and by the fast path): ${int(phaseDown.reads)} for ${int(dists.get('pg_down')!.n)} writes, ${int(phaseDown.failed)} failed`,
      );
      for (const [k, h] of [
        ['5a', hungA],
        ['5b', hungB],
      ] as const)
        console.log(
          `  (${k}) ${int(h.d.n)} writes in ${f2(h.ms / 1000)} s (cap ${HUNG_WRITES} writes / ${HUNG_SECONDS} s); fast path ${h.fp.applied} applied, ${h.fp.failed} failed, ${h.fp.over} over budget; ` +
            `phase reads ${h.phase.reads} (${h.phase.failed} failed); fast-path applies still pending at the end: ${h.inflight}; connections accepted by the blackhole: ${h.held}`,
        );
      console.log(`  longest phase read seen: ${f2(phaseProxy.maxMs)} ms`);
      console.log(
        `\nwhere a Tandem write's time goes, ms: phase() (cached, or a read of the control store) and afterCommit() (fast path, bounded by budgetMs); the rest is BEGIN/UPDATE/outbox INSERT/COMMIT`,
      );
      const bRows = modes
        .filter((m) => m.dual)
        .map((m) => {
          const b = breakdown.get(m.key)!;
          return [
            m.label,
            f3(b.phase.mean),
            f3(b.phase.p99),
            f2(b.phase.max),
            f3(b.after.mean),
            f3(b.after.p99),
            f2(b.after.max),
            f3(dists.get(m.key)!.mean - b.phase.mean - b.after.mean),
          ];
        });
      for (const [label, h] of [
        ['(5a) … PG hung, phase TTL 1 s', hungA],
        ['(5b) … PG hung, phase cached', hungB],
      ] as const)
        bRows.push([
          label,
          f3(h.phaseD.mean),
          f3(h.phaseD.p99),
          f2(h.phaseD.max),
          f3(h.afterD.mean),
          f3(h.afterD.p99),
          f2(h.afterD.max),
          f3(h.d.mean - h.phaseD.mean - h.afterD.mean),
        ]);
      console.log(
        table(
          [
            'mode',
            'phase mean',
            'phase p99',
            'phase max',
            'fast path mean',
            'fast path p99',
            'fast path max',
            'rest mean',
          ],
          bRows,
          ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
        ),
      );

      // ---------------------------------------------------------------- part 1b: latency, CONC connections
      if (CONC > 0 && CONC_WRITES > 0) {
        const cc = conns.slice(0, CONC);
        console.log(
          `\nlatency, ${CONC} connections: warm-up, then ${int(CONC_WRITES)} writes per mode in blocks of ${BLOCK * CONC} (load ${load()})`,
        );
        for (const m of modes) {
          await m.before?.();
          await runConcurrent(cc, m.write, 500, rnd);
          await m.after?.();
        }
        for (const p of probes.values()) {
          p.phase.length = 0;
          p.after.length = 0;
          p.fastPathPhase = 0;
        }
        const walls = new Map<string, number>();
        const cs = await interleaved(modes, CONC_WRITES, BLOCK * CONC, async (m, n) => {
          const r = await runConcurrent(cc, m.write, n, rnd);
          walls.set(m.key, (walls.get(m.key) ?? 0) + r.wallMs);
          return r.samples;
        });
        const cd = new Map([...cs].map(([k, s]) => [k, dist(s.flat())]));
        const cp99 = cd.get('plain')!.p99;
        console.log(
          `\napplication write latency, ms — ${CONC} connections writing at once, ${int(CONC_WRITES)} writes per mode`,
        );
        console.log(
          table(
            ['mode', 'writes', 'writes/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'p99 vs (1)'],
            modes.map((m) => row(m.label, cd.get(m.key)!, cp99, [int(cd.get(m.key)!.n / (walls.get(m.key)! / 1000))])),
            ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
          ),
        );
        console.log(
          `  where the time goes, ms (as above): ` +
            modes
              .filter((m) => m.dual)
              .map((m) => {
                const p = probes.get(m.dual!)!;
                const ph = dist(p.phase);
                const af = dist(p.after);
                return `${m.label.slice(0, 3)} phase mean ${f3(ph.mean)} / fast path mean ${f3(af.mean)}, p99 ${f3(af.p99)} / rest mean ${f3(cd.get(m.key)!.mean - ph.mean - af.mean)}`;
              })
              .join('; '),
        );
      }
      latency = { plainP99, dists, hungA, hungB };
    }

    // ---------------------------------------------------------------- part 2: relay throughput
    console.log(`\nrelay: draining the ${int(await outboxCount(app))} changes left by the latency runs (not timed)`);
    await relayInProcess(cfg, BATCH_SIZES[0]!, -1);
    const runs: RelayRun[] = [];
    let seed = 1;
    const fill = async () => {
      const bulk = ONLY === 'relay';
      const fillMs = bulk
        ? await fillOutboxBulk(app, dualOutbox, RELAY_CHANGES, seed++)
        : await fillOutbox(conns.slice(0, 8), dualOutbox, RELAY_CHANGES, seed++);
      const queued = await outboxCount(app);
      console.log(
        `relay: queued ${int(queued)} changes in outbox mode (${bulk ? 'in bulk, 1000 per transaction' : '8 connections'}, ${f2(fillMs / 1000)} s, ${int(RELAY_CHANGES / (fillMs / 1000))} writes/s)`,
      );
      return queued;
    };
    const report = (r: RelayRun) => {
      console.log(
        `  ${r.label}: ${int(r.changes)} changes in ${f2(r.ms / 1000)} s = ${int(r.perS)} changes/s (${int(r.applied)} rows applied, ${int(r.skipped)} skipped, ${r.batches} batches, ${r.retried} retries, ${r.deadLettered} dead-lettered; load ${load()})`,
      );
      for (const [k, e] of r.events) console.log(`    log: ${e.n} × ${k}: ${e.sample}`);
    };
    for (const [i, bs] of BATCH_SIZES.entries()) {
      const reps = i === 0 ? RELAY_REPEATS : 1;
      for (let k = 0; k < reps; k++) {
        // --pipeline both: the relay without its pipeline, then with it, back to back (A/B in the same window)
        for (const pipeline of PIPELINE === 'both' ? [false, true] : [PIPELINE === 'on']) {
          const queued = await fill();
          const r = await relayInProcess(cfg, bs, queued, 1, pipeline);
          if (reps > 1) r.label += ` (run ${k + 1}/${reps})`;
          runs.push(r);
          report(r);
        }
      }
    }
    if (INPROC_WORKERS > 1) {
      const queued = await fill();
      const r = await relayInProcess(cfg, BATCH_SIZES[0]!, queued, INPROC_WORKERS);
      r.profile = null; // steps overlap: the sums exceed the wall time
      runs.push(r);
      report(r);
    }
    for (const procs of RELAY_PROCS) {
      const queued = await fill();
      const r = await relayProcesses(cfg, procs, BATCH_SIZES[0]!, app, queued);
      runs.push(r);
      report(r);
      console.log(`    (wall with process start-up ${f2(r.wallMs / 1000)} s)`);
    }
    console.log(
      `\nrelay throughput (${int(RELAY_CHANGES)} changes queued, each a distinct user; MariaDB outbox → PostgreSQL users + user_profiles)`,
    );
    console.log(
      table(
        ['relay', 'changes', 'seconds', 'changes/s', 'node CPU s', 'MariaDB CPU s*', 'PG CPU s*'],
        runs.map((r) => [
          r.label,
          int(r.changes),
          f2(r.ms / 1000),
          int(r.perS),
          r.cpu && Number.isFinite(r.cpu.node) ? f2(r.cpu.node) : '-',
          r.cpu ? f2(r.cpu.mariadb) : '-',
          r.cpu ? f2(r.cpu.postgres) : '-',
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    console.log('  * whole servers: includes any other session on the machine');
    // headline: one in-process relay at the first batch size (default 2000, pipelined), the median of its repeats
    const isFirst = (r: RelayRun) =>
      r.label === `in-process, batchSize ${BATCH_SIZES[0]}` ||
      r.label.startsWith(`in-process, batchSize ${BATCH_SIZES[0]} (`);
    const firsts = runs.filter(isFirst).sort((a, b) => a.perS - b.perS);
    const headline = firsts[Math.floor((firsts.length - 1) / 2)] ?? runs[0];
    if (firsts.length > 1)
      console.log(
        `\nrelay, in-process, batchSize ${BATCH_SIZES[0]}: ${firsts.map((r) => int(r.perS)).join(', ')} changes/s over ${firsts.length} runs; median ${int(headline!.perS)} (the headline figure)`,
      );
    for (const r of runs)
      if (r.profile && (r === headline || !isFirst(r))) {
        console.log(
          `\nwhere the relay's time goes — ${r.label} (each statement timed around the driver call: round trip + server work)`,
        );
        printProfile(r);
      }

    // ---------------------------------------------------------------- part 3: checks
    const failures: string[] = [];
    const left = await outboxCount(app);
    if (left !== 0) failures.push(`outbox holds ${left} rows`);
    const t = new pg.Client({ connectionString: tgt.url });
    await t.connect();
    try {
      const [srcRows] = (await app.query('SELECT id, version, CAST(balance AS CHAR) AS balance FROM users')) as [
        { id: number; version: number; balance: string }[],
        unknown,
      ];
      const ledger = new Map<number, bigint>();
      for (const r of (
        await t.query(`SELECT entity_key, version::text AS v FROM tandem.version_ledger WHERE entity = 'users'`)
      ).rows)
        ledger.set(Number(JSON.parse(r.entity_key)[0]), BigInt(r.v));
      const bal = new Map<number, string>();
      for (const r of (await t.query(`SELECT id::text AS id, balance::text AS b FROM users`)).rows)
        bal.set(Number(r.id), r.b);
      let equal = 0,
        behindPlain = 0,
        wrong = 0;
      for (const s of srcRows) {
        const same = ledger.get(Number(s.id)) === BigInt(s.version) && bal.get(Number(s.id)) === s.balance;
        if (same) equal++;
        else if (lastWritePlain.has(Number(s.id))) behindPlain++;
        else wrong++;
      }
      const dl = (await t.query(`SELECT count(*)::int AS n FROM tandem.dead_letters`)).rows[0].n as number;
      console.log(
        `\ncheck: ${int(srcRows.length)} source users; ${int(equal)} equal on the target (version in the ledger and balance); ${int(behindPlain)} behind whose last write was a plain one (mode 1, not captured, as expected); ${int(wrong)} wrong; dead letters ${dl}; outbox ${left}`,
      );
      if (wrong) failures.push(`${wrong} users differ on the target although their last write went through Tandem`);
      if (dl) failures.push(`${dl} dead letters`);
    } finally {
      await t.end();
    }
    if (failures.length) {
      console.log(`CHECK FAILED: ${failures.join('; ')}`);
      process.exitCode = 1;
    }

    if (!latency) {
      console.log(
        `\naims: relay ${int(headline?.perS ?? 0)} changes/s (aim ≥ 20,000: ${(headline?.perS ?? 0) >= 20_000 ? 'met' : 'NOT met'})`,
      );
      console.log(`dualwrite relay_changes_per_s=${Math.round(headline?.perS ?? 0)}`);
      return;
    }
    const { plainP99, dists, hungA, hungB } = latency;
    const outboxAdd = dists.get('outbox')!.p99 - plainP99;
    const downMove = dists.get('pg_down')!.p99 - dists.get('outbox')!.p99;
    console.log(
      `\naims: outbox adds ${f3(outboxAdd)} ms at p99 (aim < 1 ms: ${outboxAdd < 1 ? 'met' : 'NOT met'}); relay ${int(headline?.perS ?? 0)} changes/s (aim ≥ 20,000: ${(headline?.perS ?? 0) >= 20_000 ? 'met' : 'NOT met'}); ` +
        `p99 PG down (refused) − p99 outbox = ${fmtP99Delta(dists.get('pg_down')!.p99, dists.get('outbox')!.p99)} ms (${downMove < 1 ? 'unmoved' : 'MOVED'}); PG hung: p99 ${f2(hungA.d.p99)} ms (phase TTL 1 s), ${f2(hungB.d.p99)} ms (phase cached)`,
    );
    console.log(
      `dualwrite p99_plain_ms=${f3(plainP99)} p99_outbox_ms=${f3(dists.get('outbox')!.p99)} p99_fastpath_ms=${f3(dists.get('fastpath')!.p99)} p99_pg_down_ms=${f3(dists.get('pg_down')!.p99)} relay_changes_per_s=${Math.round(headline?.perS ?? 0)}`,
    );
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
