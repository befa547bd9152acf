/**
 * Verify benchmark: the bench users table in MariaDB and its migrated copy in PostgreSQL.
 *
 *   npm run bench:verify -- --rows 1000000 [--keep] [--run ID] [--fresh] [--runs N] [--skip-full] [--concurrency N]
 *
 * 1. Source: MariaDB database `tandem_bench_verify_<run>`, table `users` of N synthetic users (src/demo/users.ts,
 *    seed 42, the backfill benchmark's shape). Target: PostgreSQL database `tandem_bench_verify_target_<run>` with the
 *    same rows — loaded directly (LOAD DATA LOCAL INFILE and COPY of the same generated TSV, a fast bulk load
 *    standing in for the backfill, which bench:backfill measures); the in-sync run (a) checks they match.
 *    `<run>` is random per run, so two benchmarks at once never drop or rebuild each other's databases; a run
 *    drops only its own at the end, unless `--keep`, which prints its id: `--run <id>` reuses those databases
 *    (when they hold the same rows; `--fresh` rebuilds them). Load time is printed on its own and is no part of
 *    the figures.
 * 2. The physical floor: one plain full-table checksum query per engine — count and the sum of the first 64 bits
 *    of MD5 over the row's columns joined by `#` (no canonical encoding, no segments) — run on both engines at
 *    once; the floor is the slower of the two (the best of `--runs`).
 * 3. (a) `verify --mode checksum` in sync, segments checksummed `--concurrency` at once (default 4, the
 *    `verify.concurrency` default), and (a1) the same sequentially (concurrency 1) — the two alternate run by
 *    run, so they share the machine's load; the default mode (`tandem verify` without `--mode`) is checked to
 *    choose checksum; (b) the same after 10 random target rows were changed, one column
 *    each — it must report exactly those 10 keys and name those columns; (c) `verify --mode full` (streaming),
 *    in sync. Each runs what `tandem verify` runs (openMigration → runVerify), in this process; the figure is the
 *    verification itself (connect and schema introspection are printed apart). The 10 rows are then put back
 *    with `repairKeys` (what `tandem repair` runs), timed as (d).
 *
 * CPU seconds of MariaDB and PostgreSQL per phase come from /proc (the machine may be shared: the load average
 * is printed before each phase). The last line is exactly:
 * `verify rows=N floor_s=F checksum_s=A checksum_10diff_s=B full_s=C a_over_floor=X b_over_floor=Y
 * concurrency=K checksum_seq_s=S seq_over_floor=Z default_mode=M` (one line). `a_over_floor` is the issue-15
 * figure: the parallel checksum verify over the slower engine's plain full-table checksum scan (goal ≤ 1.2).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openMigration } from '../src/runtime/migration.js';
import type { Store } from '../src/stores/types.js';
import type { ResolvedEntity } from '../src/core/mapping.js';
import type { TandemConfig } from '../src/config/schema.js';
import { ensureControlSchema } from '../src/control/control.js';
import { createLogger } from '../src/core/logger.js';
import { syntheticUser } from '../src/demo/users.js';
import { repairKeys } from '../src/verify/repair.js';
import { canonicalKey, compareKeysNow } from '../src/verify/rows.js';
import { defaultMode, runVerify, type VerifyMode, type VerifyReport } from '../src/verify/run.js';
import { MYSQL_BASE, PG_BASE, int, serverCpu } from './common.js';

/** What a verification works with: the primary and secondary of the phase and the entities seen from the primary. */
interface VerifyView {
  config: TandemConfig;
  source: Store;
  target: Store;
  entities: ResolvedEntity[];
  close(): Promise<void>;
}

/** This run's databases (set by `main`): `--run ID`, or a random suffix. */
let SOURCE_DB = '';
let TARGET_DB = '';
const GENERATOR = 'users-v1 seed=42';
const COLUMNS = [
  'id',
  'email',
  'name',
  'bio',
  'status',
  'password_hash',
  'balance',
  'created_at',
  'updated_at',
  'version',
];

const SOURCE_DDL = `CREATE TABLE users (
  id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(254) NOT NULL, name VARCHAR(200) NOT NULL, bio TEXT NULL,
  status VARCHAR(16) NOT NULL, password_hash VARCHAR(255) NOT NULL, balance DECIMAL(12,2) NOT NULL,
  created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL, version INT NOT NULL, UNIQUE KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
const TARGET_DDL = `CREATE TABLE users (
  id bigint PRIMARY KEY, email varchar(254) NOT NULL UNIQUE, name varchar(200) NOT NULL, bio text, status varchar(16) NOT NULL,
  password_hash varchar(255) NOT NULL, balance numeric(12,2) NOT NULL, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL,
  version integer NOT NULL)`;

const HELP = `usage: npm run bench:verify -- [--rows N] [--keep] [--run ID] [--fresh] [--runs N] [--skip-full]
  --rows N      synthetic users (default 1000000)
  --keep        keep this run's two databases; prints the id that reuses them
  --run ID      use the databases of run ID (tandem_bench_verify_ID, tandem_bench_verify_target_ID), reused when
                they hold the same rows (default: a new random id)
  --fresh       rebuild them even when they could be reused
  --runs N      runs of the floor and of (a), best kept (default 1)
  --skip-full   skip (c), the full streaming verify
  --concurrency N  segments checksummed at once in (a) and (b) (default 4); (a1) runs with 1`;

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function tsv(v: string | number | null): string {
  if (v === null) return '\\N';
  const x = String(v);
  return /[\\\t\n\r\0]/.test(x)
    ? x.replace(/[\\\t\n\r\0]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' })[c]!)
    : x;
}

function tsvBatch(from: number, to: number): Buffer {
  const lines: string[] = [];
  for (let id = from; id <= to; id++) {
    const u = syntheticUser(id, 42);
    lines.push(
      [
        u.id,
        u.email,
        `${u.first_name} ${u.last_name}`,
        u.bio,
        u.status,
        u.password_hash,
        u.balance,
        u.created_at,
        u.updated_at,
        u.version,
      ]
        .map(tsv)
        .join('\t'),
    );
  }
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

/** Whether both bench databases exist with `rows` rows of this generator. */
async function reusable(rows: number): Promise<boolean> {
  const m = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  try {
    const [meta] = await m
      .query<mysql.RowDataPacket[]>(`SELECT v FROM \`${SOURCE_DB}\`.bench_meta WHERE k = 'generator'`)
      .catch(() => [[]] as unknown as [mysql.RowDataPacket[]]);
    if (meta[0]?.v !== `${GENERATOR} rows=${rows}`) return false;
  } finally {
    await m.end();
  }
  const p = new pg.Client({ connectionString: `${PG_BASE}/${TARGET_DB}` });
  try {
    await p.connect();
    const r = await p.query(`SELECT count(*)::bigint AS n FROM users`);
    return Number(r.rows[0].n) === rows;
  } catch {
    return false;
  } finally {
    await p.end().catch(() => {});
  }
}

async function build(rows: number): Promise<void> {
  const t0 = performance.now();
  const m = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${TARGET_DB}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${TARGET_DB}"`);
  await admin.end();
  const p = new pg.Client({ connectionString: `${PG_BASE}/${TARGET_DB}` });
  await p.connect();
  try {
    await m.query(`DROP DATABASE IF EXISTS \`${SOURCE_DB}\``);
    await m.query(`CREATE DATABASE \`${SOURCE_DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await m.query(`USE \`${SOURCE_DB}\``);
    await m.query(SOURCE_DDL);
    await m.query('CREATE TABLE bench_meta (k VARCHAR(64) PRIMARY KEY, v VARCHAR(255) NOT NULL)');
    await p.query(TARGET_DDL);
    await m.query('SET SESSION unique_checks = 0, SESSION foreign_key_checks = 0');
    await m.query('START TRANSACTION');
    for (let from = 1; from <= rows; from += 50_000) {
      const buf = tsvBatch(from, Math.min(rows, from + 49_999));
      await Promise.all([
        m.query({
          sql: `LOAD DATA LOCAL INFILE 'users.tsv' INTO TABLE users CHARACTER SET utf8mb4 (${COLUMNS.join(', ')})`,
          infileStreamFactory: () => Readable.from([buf]),
        } as mysql.QueryOptions),
        pipeline(Readable.from([buf]), p.query(copyFrom(`COPY users (${COLUMNS.join(', ')}) FROM STDIN`))),
      ]);
    }
    await m.query('INSERT INTO bench_meta VALUES (?, ?)', ['generator', `${GENERATOR} rows=${rows}`]);
    await m.query('COMMIT');
    await m.query('ANALYZE TABLE users');
    await p.query('VACUUM ANALYZE users');
  } finally {
    await m.end();
    await p.end();
  }
  console.log(
    `setup: built ${SOURCE_DB}.users (MariaDB) and ${TARGET_DB}.users (PostgreSQL), ${int(rows)} rows each, in ${s(performance.now() - t0)} (not part of the figures)`,
  );
}

async function drop(): Promise<void> {
  const m = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  await m.query(`DROP DATABASE IF EXISTS \`${SOURCE_DB}\``);
  await m.end();
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${TARGET_DB}" WITH (FORCE)`);
  await admin.end();
}

/** The physical floor: a plain checksum query on each engine, both at once. Returns [maria, pg, both] ms. */
async function floor(): Promise<[number, number, number]> {
  const m = await mysql.createConnection({
    uri: `${MYSQL_BASE}/${SOURCE_DB}`,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  const p = new pg.Client({ connectionString: `${PG_BASE}/${TARGET_DB}` });
  await p.connect();
  try {
    const cols = COLUMNS.join(', ');
    const t0 = performance.now();
    const timed = async (f: () => Promise<unknown>) => {
      await f();
      return performance.now() - t0;
    };
    const [a, b] = await Promise.all([
      timed(() =>
        m.query(
          `SELECT COUNT(*), SUM(CAST(CONV(LEFT(MD5(CONCAT_WS('#', ${cols})), 16), 16, 10) AS UNSIGNED)) FROM users`,
        ),
      ),
      timed(() =>
        p.query(`SELECT count(*), sum(('x' || left(md5(concat_ws('#', ${cols})), 16))::bit(64)::bigint) FROM users`),
      ),
    ]);
    return [a, b, Math.max(a, b)];
  } finally {
    await m.end();
    await p.end();
  }
}

interface Phase {
  ms: number;
  mariaCpu: number;
  pgCpu: number;
  /** CPU seconds of this process (Tandem's side: probes, parsing, streamed columns). */
  nodeCpu: number;
  report: VerifyReport;
}

async function verify(ctx: VerifyView, mode: VerifyMode | undefined, concurrency?: number): Promise<Phase> {
  const c0 = serverCpu();
  const n0 = process.cpuUsage();
  const t0 = performance.now();
  const report = await runVerify(ctx.source, ctx.target, ctx.entities, {
    mode,
    ...(concurrency !== undefined ? { concurrency } : {}),
    pageRows: ctx.config.verify.pageRows,
    maxReportedDifferences: 100,
  });
  const ms = performance.now() - t0;
  const c1 = serverCpu();
  const n1 = process.cpuUsage(n0);
  return {
    ms,
    mariaCpu: c1.mariadb - c0.mariadb,
    pgCpu: c1.postgres - c0.postgres,
    nodeCpu: (n1.user + n1.system) / 1e6,
    report,
  };
}

const line = (label: string, p: Phase, floorMs: number) =>
  `${label.padEnd(44)} ${s(p.ms).padStart(9)}  ${(p.ms / floorMs).toFixed(2).padStart(5)}× floor   cpu: mariadb ${p.mariaCpu.toFixed(1)} s, postgres ${p.pgCpu.toFixed(1)} s, tandem ${p.nodeCpu.toFixed(1)} s`;

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      keep: { type: 'boolean', default: false },
      run: { type: 'string' },
      fresh: { type: 'boolean', default: false },
      runs: { type: 'string', default: '1' },
      'skip-full': { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '4' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (a.help) return console.log(HELP);
  const rows = Number(String(a.rows).replace(/_/g, ''));
  const runs = Math.max(1, Number(a.runs));
  const concurrency = Math.max(1, Number(a.concurrency));
  if (!Number.isInteger(rows) || rows < 100) throw new Error('--rows must be an integer ≥ 100');
  const run = a.run ?? randomBytes(4).toString('hex');
  if (!/^[a-z0-9_]{1,32}$/.test(run)) throw new Error('--run must be 1 to 32 of a-z, 0-9, _');
  SOURCE_DB = `tandem_bench_verify_${run}`;
  TARGET_DB = `tandem_bench_verify_target_${run}`;

  if (!a.fresh && (await reusable(rows)))
    console.log(`setup: reusing ${SOURCE_DB} and ${TARGET_DB} (${int(rows)} rows, ${GENERATOR})`);
  else {
    try {
      await build(rows);
    } catch (e) {
      if (!a.keep) await drop().catch(() => {});
      throw e;
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-verify-'));
  const configPath = join(dir, 'tandem.config.ts');
  writeFileSync(
    configPath,
    `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(`${MYSQL_BASE}/${SOURCE_DB}`)},
  target: ${JSON.stringify(`${PG_BASE}/${TARGET_DB}`)},
  entities: { users: { table: 'users', key: 'id', version: 'version', sensitive: ['password_hash'],
    targets: [{ table: 'users', columns: { ${COLUMNS.map((c) => `${c}: '${c}'`).join(', ')} } }] } },
});
`,
  );
  const failures: string[] = [];
  try {
    // the floor
    let best: [number, number, number] = [Infinity, Infinity, Infinity];
    for (let i = 0; i < runs; i++) {
      console.log(`floor: plain checksum query on both engines at once (load avg ${load()})`);
      const f = await floor();
      if (f[2] < best[2]) best = f;
    }
    const floorMs = best[2];
    console.log(`floor: MariaDB ${s(best[0])}, PostgreSQL ${s(best[1])} → ${s(floorMs)}`);

    const t0 = performance.now();
    const m = await openMigration(configPath, { log: createLogger({ level: 'warn' }) });
    const roles = m.roles(await m.readPhase().catch(() => 'prepare' as const));
    const ctx: VerifyView = {
      config: m.config,
      source: roles.primary,
      target: roles.secondary,
      entities: roles.entities,
      close: () => m.close(),
    };
    const openMs = performance.now() - t0;
    try {
      // (a) in sync, in parallel, and (a1) sequentially, alternating so both see the same load
      let inSync: Phase | null = null;
      let seq: Phase | null = null;
      for (let i = 0; i < runs; i++) {
        console.log(`(a) checksum, in sync, concurrency ${concurrency} (load avg ${load()})`);
        const p = await verify(ctx, 'checksum', concurrency);
        if (!inSync || p.ms < inSync.ms) inSync = p;
        console.log(`(a1) checksum, in sync, concurrency 1 (load avg ${load()})`);
        const q = await verify(ctx, 'checksum', 1);
        if (!seq || q.ms < seq.ms) seq = q;
      }
      const ea = inSync!.report.entities[0]!;
      if (!inSync!.report.ok || ea.sourceRows !== rows)
        failures.push(`(a) expected parity over ${rows} rows: ${JSON.stringify(ea)}`);
      if (JSON.stringify(seq!.report.differences) !== JSON.stringify(inSync!.report.differences) || !seq!.report.ok)
        failures.push('(a1) the sequential run reported otherwise than the parallel one');
      // what `tandem verify` runs without --mode
      const chosen = defaultMode(ctx.source, ctx.target, ctx.entities).mode;
      if (chosen !== 'checksum') failures.push(`the default mode is ${chosen}, not checksum`);

      // (b) 10 random target rows changed, one column each
      const p = new pg.Client({ connectionString: `${PG_BASE}/${TARGET_DB}` });
      await p.connect();
      const changes: [string, string][] = [
        ['email', `email = email || '.x'`],
        ['name', `name = name || '!'`],
        ['bio', `bio = CASE WHEN bio IS NULL THEN '' ELSE NULL END`],
        ['status', `status = 'tampered'`],
        ['balance', 'balance = balance + 0.01'],
        ['created_at', `created_at = created_at + interval '1 microsecond'`],
        ['updated_at', `updated_at = updated_at - interval '1 day'`],
        ['version', 'version = version + 1'],
        ['password_hash', `password_hash = 'x' || password_hash`],
        ['name', `name = upper(name)`],
      ];
      const ids = new Set<number>();
      while (ids.size < 10) ids.add(1 + Math.floor(Math.random() * rows));
      const expected = new Map<string, string>();
      let k = 0;
      for (const id of ids) {
        const [col, set] = changes[k++]!;
        // upper(name) may leave a name unchanged (no letters): then change it another way
        const r = await p.query(
          `UPDATE users SET ${set} WHERE id = $1 RETURNING (SELECT name FROM users WHERE id = $1) IS DISTINCT FROM name AS moved`,
          [id],
        );
        if (col === 'name' && set.includes('upper') && !r.rows[0]?.moved)
          await p.query(`UPDATE users SET name = name || '?' WHERE id = $1`, [id]);
        expected.set(`["${id}"]`, `users.${col}`);
      }
      await p.end();
      console.log(
        `(b) checksum, 10 target rows changed: ${[...expected].map(([key, c]) => `${key} ${c}`).join(', ')} (load avg ${load()})`,
      );
      const diff = await verify(ctx, 'checksum', concurrency);
      const found = new Map(
        diff.report.differences.map((d) => [d.key, d.columns.map((c) => `${c.table}.${c.column}`).join(',')]),
      );
      const same = found.size === expected.size && [...expected].every(([key, c]) => found.get(key) === c);
      if (!same) failures.push(`(b) expected ${JSON.stringify([...expected])}, found ${JSON.stringify([...found])}`);
      console.log(
        `(b) found ${found.size} differing keys: ${[...found].map(([key, c]) => `${key} ${c}`).join(', ')} — ${same ? 'exactly the 10 changed, with their columns' : 'MISMATCH'}`,
      );

      // (d) put them back with the repair path
      await ensureControlSchema(ctx.target);
      const e = ctx.entities[0]!;
      const keys = [...ids].map((id) => ({ key: canonicalKey(e.keyColumns, [String(id)]), keyValues: [String(id)] }));
      const r0 = performance.now();
      await repairKeys(ctx.source, ctx.target, e, keys);
      const repairMs = performance.now() - r0;
      const still = [...(await compareKeysNow(ctx.source, ctx.target, e, keys)).values()].filter(Boolean).length;
      if (still) failures.push(`(d) ${still} keys still differ after repairKeys`);
      console.log(
        `(d) repairKeys on the 10 keys: ${s(repairMs)}, ${still ? `${still} still differ` : 'all match again'}`,
      );

      // (c) full streaming
      let full: Phase | null = null;
      if (!a['skip-full']) {
        console.log(`(c) full streaming verify (load avg ${load()})`);
        full = await verify(ctx, 'full');
        if (!full.report.ok) failures.push('(c) the full verify found differences after the repair');
      }

      const out = ['', `figures for ${int(rows)} rows (connect + introspect ${s(openMs)}, not included):`];
      out.push(
        `${'physical floor (plain checksum, both engines at once)'.padEnd(44)} ${s(floorMs).padStart(9)}   MariaDB ${s(best[0])}, PostgreSQL ${s(best[1])}`,
      );
      out.push(line(`(a) checksum, in sync, concurrency ${concurrency}`, inSync!, floorMs));
      out.push(
        `      ${ea.mode === 'checksum' ? `${ea.segments} segments, ${ea.queries} queries, pushdown ${ea.pushdown.source}/${Object.values(ea.pushdown.targets).join(',')}, concurrency ${ea.concurrency}` : ''}`,
      );
      out.push(line('(a1) checksum, in sync, sequential', seq!, floorMs));
      const es = seq!.report.entities[0]!;
      out.push(`      ${es.mode === 'checksum' ? `${es.segments} segments, ${es.queries} queries` : ''}`);
      out.push(`      tandem verify without --mode runs: ${chosen}`);
      out.push(line('(b) checksum, 10 rows changed', diff, floorMs));
      const eb = diff.report.entities[0]!;
      out.push(
        `      ${eb.mode === 'checksum' ? `${eb.segments} segments (${eb.differingSegments} differing), ${eb.queries} queries, different ${eb.different}` : ''}`,
      );
      if (full) out.push(line('(c) full streaming', full, floorMs));
      console.log(out.join('\n'));
      for (const f of failures) console.error(`CHECK FAILED: ${f}`);
      if (failures.length) process.exitCode = 1;
      console.log(
        `verify rows=${rows} floor_s=${(floorMs / 1000).toFixed(2)} checksum_s=${(inSync!.ms / 1000).toFixed(2)} checksum_10diff_s=${(diff.ms / 1000).toFixed(2)} full_s=${full ? (full.ms / 1000).toFixed(2) : 'skipped'} a_over_floor=${(inSync!.ms / floorMs).toFixed(2)} b_over_floor=${(diff.ms / floorMs).toFixed(2)} concurrency=${concurrency} checksum_seq_s=${(seq!.ms / 1000).toFixed(2)} seq_over_floor=${(seq!.ms / floorMs).toFixed(2)} default_mode=${chosen}`,
      );
    } finally {
      await ctx.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (!a.keep) {
      await drop();
      console.log(`dropped ${SOURCE_DB} and ${TARGET_DB} (--keep keeps them for the next run)`);
    } else console.log(`kept ${SOURCE_DB} and ${TARGET_DB}: reuse them with --run ${run}`);
  }
}

await main();
