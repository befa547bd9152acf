/**
 * Backfill benchmark: MariaDB → PostgreSQL through Tandem's real CLI path.
 *
 *   npm run bench:backfill -- --rows 1000000 [--vs-pgloader] [--source-db NAME] [--keep] [--chunk-seconds S]
 *                             [--max-chunk-rows N] [--initial-chunk-rows N] [--workers N] [--write-path P] [--cpu-prof]
 *                             [--node-args='…'] [--verbose]
 *   npm run bench:backfill -- --curve 1000000,3000000,10000000 [--vs-pgloader] [--source-db NAME]
 *
 * 1. Source: MariaDB database `tandem_bench_<run>_<N>`, table `users` of N synthetic users (src/demo/users.ts,
 *    seed 42). `<run>` is random per run, and the run drops only its own databases at the end: two benchmarks
 *    at once never drop or rebuild each other's (`--keep` keeps them for a look afterwards). `--source-db NAME`
 *    names the source instead: reused when its bench_meta says it holds this generator's N rows, built when it
 *    does not exist, refused when it holds anything else, and never dropped (on a curve: `NAME_<N>`). Loaded with
 *    LOAD DATA LOCAL INFILE from generated TSV batches of 50,000 rows (generation of the next batch overlaps the
 *    load of the current one; memory does not grow with N). Its time is printed on its own and is not part of the
 *    figure.
 * 2. Target: PostgreSQL database `tandem_bench_target_<run>_<N>`, created for the run, with an indexed `users`
 *    table (PRIMARY KEY id, UNIQUE email). The control plane goes to the target (schema `tandem`), as by default.
 * 3. A `tandem.config.ts` in a temp folder (straight column mapping, key id, version `version`).
 * 4. The backfill runs in a CHILD process (this file with `--child`), which calls what `tandem backfill` calls:
 *    openMigration (loadConfig → openStore ×2 → resolveConfig), preflight, ensureControlSchema,
 *    runBackfill, the audit entry, close. A fresh process, so its peak RSS is the backfill's own: sampled with
 *    process.memoryUsage.rss() every 100 ms and read from /proc/self/status VmHWM at the end (the figure is the
 *    larger of the two). Seconds are measured in the child from before openMigration to after close (node start
 *    and module loading excluded; they are printed separately).
 *    The child also times, by wrapping the stores' methods, where the wall time goes (source keyset reads,
 *    ledger advance, target upsert or the one-statement write, COPY into the staging table, checkpoint,
 *    BEGIN/COMMIT, JS apply work) and the CPU of node, MariaDB and PostgreSQL (from /proc) — this is measurement
 *    only, the backfill code runs unchanged. `--write-path one-statement|two-step` switches the target's bulk
 *    load (and the one-statement write) off in the child, for an A/B of the write path.
 * 5. Checks: target rows = N, checkpoint done, ledger rows = N, and sum(balance), sum(version), count(bio)
 *    equal on both sides. Exit 1 when a check fails.
 *
 * The last line is exactly: `backfill rows=N seconds=S rows_per_s=R peak_rss_mb=M`.
 *
 * `--vs-pgloader` (issue 15): first pgloader (Debian's `/usr/bin/pgloader`; missing: the bench says how to
 * install it and exits 2) loads the same source table into a fresh PostgreSQL database of its own
 * (`tandem_bench_pgl_<run>_<N>`; a load command file limited to `users`: pgloader creates the table, COPYs,
 * then builds its indexes), then Tandem's CLI — `node bin/tandem.js backfill --config …`, dist/ built first when
 * stale — into the indexed table. Both are whole child processes timed the same way (bench/common.ts
 * `timeProcess`: wall clock from spawn to exit; peak RSS of the process tree, the larger of /proc samples every
 * 100 ms and `/usr/bin/time`'s ru_maxrss). The last line is then exactly
 * `backfill rows=N tandem_s=A pgloader_s=B ratio=B/A tandem_rss_mb=M` (ratio: pgloader's seconds over Tandem's).
 * `--curve N1,N2,…` runs each size in turn and prints each size's last line, then all of them again at the end.
 *
 * Environment: TANDEM_BENCH_MYSQL (default mysql://root@127.0.0.1:3306), TANDEM_BENCH_PG
 * (default postgres://postgres@127.0.0.1:5432), TANDEM_LOG_LEVEL for the child's pino logs (default warn;
 * `--verbose` sets info, which prints a progress line per second with the chunk size).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { syntheticUser } from '../src/demo/users.js';
import {
  MYSQL_BASE,
  PG_BASE,
  RssSampler,
  int,
  machineBusyCpu,
  mb,
  pct,
  procStatusBytes,
  secs,
  serverCpu,
  summarizeCpuProfile,
  timeProcess,
} from './common.js';

/** This run's databases: a random suffix, so that two benchmarks at once never touch each other's. */
const RUN = randomBytes(4).toString('hex');
/** The databases of the size being run (set per size by {@link runSize}). */
let SOURCE_DB = `tandem_bench_${RUN}`;
let TARGET_DB = `tandem_bench_target_${RUN}`;
/** pgloader's own target database (`--vs-pgloader`). */
let PGLOADER_DB = `tandem_bench_pgl_${RUN}`;
/** Whether this run created SOURCE_DB (and so drops it at the end); a `--source-db` is never dropped. */
let sourceOwned = true;
/** What generated the source rows, recorded in its bench_meta table. */
const GENERATOR = 'users-v1 seed=42';
const SEED = 42;

/** The source table. */
const SOURCE_DDL = `CREATE TABLE users (
  id BIGINT NOT NULL PRIMARY KEY,
  email VARCHAR(254) NOT NULL,
  name VARCHAR(200) NOT NULL,
  bio TEXT NULL,
  status VARCHAR(16) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  balance DECIMAL(12,2) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  version INT NOT NULL,
  UNIQUE KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;

const TARGET_DDL = `CREATE TABLE users (
  id bigint PRIMARY KEY,
  email varchar(254) NOT NULL UNIQUE,
  name varchar(200) NOT NULL,
  bio text,
  status varchar(16) NOT NULL,
  password_hash varchar(255) NOT NULL,
  balance numeric(12,2) NOT NULL,
  created_at timestamp(6) NOT NULL,
  updated_at timestamp(6) NOT NULL,
  version integer NOT NULL
)`;
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

const HELP = `usage: npm run bench:backfill -- [--rows N | --curve N1,N2,…] [--vs-pgloader] [--source-db NAME] [--keep]
                              [--chunk-seconds S] [--max-chunk-rows N] [--initial-chunk-rows N] [--cpu-prof]
                              [--verbose]
  --rows N                synthetic users in the source (default 1000000)
  --curve N1,N2,…         run each size in turn (its own databases), one last line per size, all repeated at the end
  --vs-pgloader           first load the same source table with pgloader into a fresh database, then Tandem; both
                          timed as whole processes; last line
                          \`backfill rows=N tandem_s=A pgloader_s=B ratio=B/A tandem_rss_mb=M\` (exit 2 without pgloader)
  --source-db NAME        the MariaDB source database: reused when it holds this bench's N rows, built (and kept)
                          when it does not exist; never dropped. On a curve: NAME_<N> per size
  --write-path P          for an A/B of the target's write: store (default: the store's fastest; PostgreSQL: COPY
                          into a staging table + one statement), one-statement (no bulk load: the rows bound as
                          arrays in one data-modifying statement) or two-step (ledger advance, then upsert: the
                          path before issue 15)
  --keep                  keep this run's databases (tandem_bench_<run>, tandem_bench_target_<run>) at the end
  --chunk-seconds S       config backfill.chunkSeconds (Tandem's default 0.5)
  --max-chunk-rows N      config backfill.maxChunkRows (Tandem's default 5000)
  --initial-chunk-rows N  config backfill.initialChunkRows (Tandem's default 1000)
  --workers N             config backfill.workers: range workers in the process (Tandem's default 1)
  --cli                   run Tandem as the CLI (bin/tandem.js backfill, as --vs-pgloader does) without pgloader:
                          whole-process seconds and rss in the last line, no breakdown
  --node-args='A B'       extra node options for the backfill child (e.g. --node-args='--trace-gc')
  --cpu-prof              run the backfill child with node --cpu-prof and print a self-time summary
  --plain-config          write the config as a plain object (no \`import { defineConfig } from 'tandem'\`)
  --verbose               the child logs at info (a progress line per second)`;

// ---------------------------------------------------------------------------------------------------------------
// source

/** One TSV field for LOAD DATA's defaults (FIELDS TERMINATED BY '\t' ESCAPED BY '\\', LINES TERMINATED BY '\n'). */
function tsv(v: string | number | null): string {
  if (v === null) return '\\N';
  const s = String(v);
  return /[\\\t\n\r\0]/.test(s)
    ? s.replace(/[\\\t\n\r\0]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' })[c]!)
    : s;
}

/** Rows [from, to] as TSV. */
function tsvBatch(from: number, to: number): Buffer {
  const lines: string[] = [];
  for (let id = from; id <= to; id++) {
    const u = syntheticUser(id, SEED);
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

/**
 * The source database of `rows` users: with `reuse`, SOURCE_DB is used as it is when it holds this generator's
 * `rows` users (bench_meta), built when it does not exist, and refused (an Error) when it holds anything else;
 * otherwise it is built. Returns the seconds spent building (0 when reused).
 */
async function prepareSource(rows: number, reuse = false): Promise<number> {
  if (reuse) {
    const c = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
    try {
      const [db] = await c.query<mysql.RowDataPacket[]>(
        'SELECT schema_name AS n FROM information_schema.schemata WHERE schema_name = ?',
        [SOURCE_DB],
      );
      if (db.length) {
        const [meta] = await c
          .query<mysql.RowDataPacket[]>(`SELECT v FROM \`${SOURCE_DB}\`.bench_meta WHERE k = 'generator'`)
          .catch(() => [[]] as unknown as [mysql.RowDataPacket[]]);
        const want = `${GENERATOR} rows=${rows}`;
        if (meta[0]?.v !== want)
          throw new Error(
            `--source-db ${SOURCE_DB} exists but is not this bench's source of ${rows} rows (bench_meta generator ${JSON.stringify(meta[0]?.v ?? null)}, expected ${JSON.stringify(want)}); name another database`,
          );
        console.log(`source: reusing ${SOURCE_DB}.users (${int(rows)} rows, ${want})`);
        return 0;
      }
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql`, multipleStatements: false });
  try {
    await c.query(`CREATE DATABASE \`${SOURCE_DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await c.query(`USE \`${SOURCE_DB}\``);
    console.log(`source: building ${SOURCE_DB}.users with ${int(rows)} rows`);
    const t0 = performance.now();
    await c.query(SOURCE_DDL);
    await c.query('CREATE TABLE bench_meta (k VARCHAR(64) PRIMARY KEY, v VARCHAR(255) NOT NULL)');
    // one transaction into an empty table with unique/foreign-key checks off: InnoDB's bulk insert path
    await c.query('SET SESSION unique_checks = 0, SESSION foreign_key_checks = 0');
    await c.query('START TRANSACTION');
    const batch = 50_000;
    let pending: Promise<unknown> | null = null;
    for (let from = 1; from <= rows; from += batch) {
      const buf = tsvBatch(from, Math.min(rows, from + batch - 1));
      await pending;
      pending = c.query({
        sql: `LOAD DATA LOCAL INFILE 'users.tsv' INTO TABLE users CHARACTER SET utf8mb4 (${COLUMNS.join(', ')})`,
        // split in packets well under max_allowed_packet
        infileStreamFactory: () => Readable.from(chunks(buf, 1 << 20)),
      } as mysql.QueryOptions);
      if (rows >= 200_000 && (from - 1) % 200_000 === 0 && from > 1) process.stdout.write(`  ${int(from - 1)} rows…\n`);
    }
    await pending;
    await c.query('INSERT INTO bench_meta VALUES (?, ?)', ['generator', `${GENERATOR} rows=${rows}`]);
    await c.query('COMMIT');
    await c.query('ANALYZE TABLE users');
    const [n] = await c.query<mysql.RowDataPacket[]>('SELECT count(*) AS n FROM users');
    if (Number(n[0]!.n) !== rows) throw new Error(`source load wrote ${n[0]!.n} rows, expected ${rows}`);
    const s = (performance.now() - t0) / 1000;
    console.log(`source: generated and loaded ${int(rows)} rows in ${s.toFixed(1)} s (not part of the figure)`);
    return s;
  } finally {
    await c.end();
  }
}

function* chunks(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(buf.length, i + size));
}

// ---------------------------------------------------------------------------------------------------------------
// target

async function prepareTarget(): Promise<void> {
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${TARGET_DB}"`);
  } finally {
    await admin.end();
  }
  const c = new pg.Client({ connectionString: `${PG_BASE}/${TARGET_DB}` });
  await c.connect();
  try {
    await c.query(TARGET_DDL);
  } finally {
    await c.end();
  }
  console.log(`target: created ${TARGET_DB}.users (PRIMARY KEY id, UNIQUE email)`);
}

function configText(
  o: { chunkSeconds?: number; maxChunkRows?: number; initialChunkRows?: number; workers?: number },
  plain = false,
): string {
  const bf = Object.entries({
    chunkSeconds: o.chunkSeconds,
    maxChunkRows: o.maxChunkRows,
    initialChunkRows: o.initialChunkRows,
    workers: o.workers,
  })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v}`);
  // --plain-config: the same config as a plain object, without `import … from 'tandem'` (which makes the config
  // loader transpile and load Tandem's whole module graph a second time)
  return `${plain ? '' : "import { defineConfig } from 'tandem';\n"}export default ${plain ? '' : 'defineConfig('}{
  source: ${JSON.stringify(`${MYSQL_BASE}/${SOURCE_DB}`)},
  target: ${JSON.stringify(`${PG_BASE}/${TARGET_DB}`)},
${bf.length ? `  backfill: { ${bf.join(', ')} },\n` : ''}  entities: {
    users: {
      table: 'users', key: 'id', version: 'version', sensitive: ['password_hash'],
      targets: [{ table: 'users', columns: { ${COLUMNS.map((c) => `${c}: '${c}'`).join(', ')} } }],
    },
  },
}${plain ? '' : ')'};
`;
}

// ---------------------------------------------------------------------------------------------------------------
// child: the backfill, as `tandem backfill` runs it, with measurements

const WRITE_PATHS = ['store', 'one-statement', 'two-step'] as const;
type WritePath = (typeof WRITE_PATHS)[number];

interface ChildJob {
  configPath: string;
  resultPath: string;
  /**
   * For an A/B of the target's write path: `store` as the store has it; `one-statement` without its bulk load
   * (`sql.stagedUpsert`); `two-step` without that nor `sql.ledgeredUpsert` (ledger advance, then upsert).
   */
  writePath?: WritePath;
}

interface Span {
  start: number;
  end: number;
}

interface ChildResult {
  /** ms from child start (module loading done) to after close. */
  wallMs: number;
  /** ms of process start to the first line of main (node boot, tsx, module loading). */
  bootMs: number;
  /** ms of each phase. */
  phases: Record<string, number>;
  /** rss at the end of each phase. */
  phaseRss: Record<string, number>;
  backfill: { copied: number; applied: number; seconds: number; status: string }[];
  peakRssSampled: number;
  peakHeapUsed: number;
  vmHwm: number | null;
  cpuUserMs: number;
  cpuSystemMs: number;
  elu: number;
  loopDelayP99Ms: number;
  chunks: number[];
  timing: Record<string, number>;
  reads: { count: number; totalMs: number; rows: number };
}

async function child(jobPath: string): Promise<void> {
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as ChildJob;
  const sampler = new RssSampler(100).start();
  const { openMigration } = await import('../src/runtime/migration.js');
  const { audit, ensureControlSchema } = await import('../src/control/control.js');
  const { preflight } = await import('../src/backfill/preflight.js');
  const { runBackfill } = await import('../src/backfill/backfill.js');
  const { createLogger } = await import('../src/core/logger.js');
  const log = createLogger({ level: process.env.TANDEM_LOG_LEVEL ?? 'warn' });
  const bootMs = performance.now();

  const phases: Record<string, number> = {};
  const phaseRss: Record<string, number> = { 'modules loaded': process.memoryUsage.rss() };
  let mark = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = now - mark;
    phaseRss[name] = process.memoryUsage.rss();
    mark = now;
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const m = await openMigration(job.configPath, { log });
  // what `tandem backfill` works with: the roles of the phase (legacy → new before write cutover)
  const roles = m.roles(await m.readPhase().catch(() => 'prepare' as const));
  const ctx = { config: m.config, source: roles.primary, target: roles.secondary, entities: roles.entities };
  phase('open (load config, connect, introspect, resolve)');
  await preflight(ctx.source, ctx.entities);
  phase('preflight');
  await ensureControlSchema(m.stores.new);
  if (m.stores.control !== m.stores.new) await ensureControlSchema(m.stores.control);
  phase('control schema');

  // --- measurement wrappers (the stores' behaviour is unchanged) ---
  const timing: Record<string, number> = {};
  const add = (k: string, ms: number) => (timing[k] = (timing[k] ?? 0) + ms);
  const reads: Span[] = [];
  const chunks: number[] = [];
  const txs: Span[] = [];
  const src = ctx.source;
  const srcQuery = src.query.bind(src);
  src.query = (async (sql: string, params?: unknown[]) => {
    const start = performance.now();
    const rows = await srcQuery(sql, params);
    const end = performance.now();
    if (/ ORDER BY .* LIMIT \d+$/.test(sql)) {
      reads.push({ start, end });
      chunks.push(rows.length);
    } else add('source other (count)', end - start);
    return rows;
  }) as typeof src.query;
  const tgt = ctx.target;
  if (job.writePath === 'two-step' || job.writePath === 'one-statement')
    Object.defineProperty(tgt, 'sql', {
      value: {
        ...tgt.sql,
        stagedUpsert: undefined,
        ...(job.writePath === 'two-step' ? { ledgeredUpsert: undefined } : {}),
      },
      configurable: true,
    });
  const kind = (sql: string) =>
    /^WITH (u AS MATERIALIZED|l AS)/.test(sql)
      ? 'tx: ledger advance + target upsert, one statement'
      : /version_ledger/.test(sql)
        ? 'tx: ledger advance SQL'
        : /checkpoints/.test(sql)
          ? 'tx: checkpoint SQL'
          : /^INSERT INTO "public"\."users"/.test(sql)
            ? 'tx: target upsert SQL'
            : 'tx: other SQL';
  const origTx = tgt.transaction.bind(tgt);
  tgt.transaction = (async <T>(fn: (tx: import('../src/stores/types.js').Executor) => Promise<T>): Promise<T> => {
    const start = performance.now();
    let fnStart = 0;
    let fnEnd = 0;
    try {
      return await origTx(async (tx) => {
        fnStart = performance.now();
        add('tx: connect + BEGIN', fnStart - start);
        const timed = {
          query: async <R extends import('../src/stores/types.js').Row>(sql: string, params?: unknown[]) => {
            const s = performance.now();
            try {
              return await tx.query<R>(sql, params);
            } finally {
              add(kind(sql), performance.now() - s);
            }
          },
          execute: async (sql: string, params?: unknown[]) => {
            const s = performance.now();
            try {
              return await tx.execute(sql, params);
            } finally {
              add(
                /CREATE TEMPORARY TABLE IF NOT EXISTS/.test(sql) ? 'tx: staging setup SQL' : kind(sql),
                performance.now() - s,
              );
            }
          },
          ...(tx.copyFrom
            ? {
                copyFrom: async (copy: string, data: string) => {
                  const s = performance.now();
                  try {
                    return await tx.copyFrom!(copy, data);
                  } finally {
                    add('tx: COPY into staging', performance.now() - s);
                  }
                },
              }
            : {}),
        };
        try {
          return await fn(timed);
        } finally {
          fnEnd = performance.now();
          add('tx: inside', fnEnd - fnStart);
        }
      });
    } finally {
      const end = performance.now();
      if (fnEnd) add('tx: COMMIT + release', end - fnEnd);
      txs.push({ start, end });
    }
  }) as typeof tgt.transaction;
  const origLedger = tgt.advanceLedger.bind(tgt);
  tgt.advanceLedger = (async (...a: Parameters<typeof tgt.advanceLedger>) => {
    const s = performance.now();
    try {
      return await origLedger(...a);
    } finally {
      add('tx: ledger advance (JS + SQL)', performance.now() - s);
    }
  }) as typeof tgt.advanceLedger;

  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const elu0 = performance.eventLoopUtilization();
  const bStart = performance.now();
  const results = await runBackfill({
    config: ctx.config,
    source: ctx.source,
    target: ctx.target,
    entities: ctx.entities,
    log,
    progressOut: null,
  });
  const bEnd = performance.now();
  const elu = performance.eventLoopUtilization(elu0).utilization;
  delay.disable();
  phase('backfill');
  const detail = JSON.stringify(results.map((r) => ({ entity: r.entity, copied: r.copied, status: r.status })));
  await audit(m.stores.control, {
    command: 'backfill',
    args: { config: job.configPath, bench: true },
    outcome: 'ok',
    detail,
  }).catch(() => {});
  await m.close();
  phase('audit + close');
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  sampler.stop();

  // time outside any chunk transaction while the backfill ran: waiting on a source read that the previous
  // chunk's write did not hide, plus pacing/progress bookkeeping and the start/finish of the checkpoint
  const inTx = txs.reduce((s, t) => s + (t.end - t.start), 0);
  timing['backfill wall'] = bEnd - bStart;
  timing['in chunk transactions'] = inTx;
  timing['outside transactions (read not hidden by the write, bookkeeping)'] = bEnd - bStart - inTx;
  // reads hidden behind writes: the part of each read span that overlaps some transaction span
  let overlapped = 0;
  for (const r of reads)
    for (const t of txs) overlapped += Math.max(0, Math.min(r.end, t.end) - Math.max(r.start, t.start));
  timing['source reads overlapped with a write'] = overlapped;
  const readTotal = reads.reduce((s, r) => s + (r.end - r.start), 0);

  const result: ChildResult = {
    wallMs,
    bootMs,
    phases,
    phaseRss,
    backfill: results.map((r) => ({ copied: r.copied, applied: r.applied, seconds: r.seconds, status: r.status })),
    peakRssSampled: sampler.peakRss,
    peakHeapUsed: sampler.peakHeapUsed,
    vmHwm: procStatusBytes('VmHWM'),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    elu,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    chunks,
    timing,
    reads: { count: reads.length, totalMs: readTotal, rows: chunks.reduce((a, b) => a + b, 0) },
  };
  writeFileSync(job.resultPath, JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------------------------
// parent

function chunkSummary(chunks: number[]): string {
  if (!chunks.length) return 'none';
  const steps: string[] = [];
  for (const c of chunks) if (steps[steps.length - 1] !== int(c)) steps.push(int(c));
  const shown = steps.length > 14 ? [...steps.slice(0, 8), '…', ...steps.slice(-5)] : steps;
  const max = Math.max(...chunks);
  const atMax = chunks.filter((c) => c === max).length;
  return `${chunks.length} reads, max ${int(max)} rows (${atMax} at max); sizes: ${shown.join(' → ')}`;
}

/** One value from the target database. */
async function targetValue(sql: string, params: unknown[] = []): Promise<unknown> {
  const c = new pg.Client({ connectionString: `${PG_BASE}/${TARGET_DB}` });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows[0]?.v;
  } finally {
    await c.end();
  }
}

async function checks(rows: number): Promise<string[]> {
  const failures: string[] = [];
  const t = new pg.Client({ connectionString: `${PG_BASE}/${TARGET_DB}` });
  await t.connect();
  const s = await mysql.createConnection({ uri: `${MYSQL_BASE}/${SOURCE_DB}` });
  try {
    const [tn] = (
      await t.query(
        `SELECT count(*)::bigint AS n, sum(balance)::text AS bal, sum(version)::bigint AS ver, count(bio)::bigint AS bios, count(DISTINCT email)::bigint AS emails FROM users`,
      )
    ).rows;
    const [sr] = await s.query<mysql.RowDataPacket[]>(
      'SELECT count(*) AS n, CAST(sum(balance) AS CHAR) AS bal, sum(version) AS ver, count(bio) AS bios FROM users',
    );
    const so = sr[0]!;
    const ledger = (await t.query(`SELECT count(*)::bigint AS n FROM tandem.version_ledger WHERE entity = 'users'`))
      .rows[0].n;
    const cp = (await t.query(`SELECT status, rows_copied FROM tandem.checkpoints WHERE entity = 'users'`)).rows[0];
    console.log(
      `check: target rows ${int(Number(tn.n))} (expected ${int(rows)}), ledger rows ${int(Number(ledger))}, checkpoint ${cp?.status} at ${int(Number(cp?.rows_copied))}`,
    );
    if (Number(tn.n) !== rows) failures.push(`target holds ${tn.n} rows, expected ${rows}`);
    if (Number(tn.emails) !== rows) failures.push(`target holds ${tn.emails} distinct emails, expected ${rows}`);
    if (Number(ledger) !== rows) failures.push(`ledger holds ${ledger} keys, expected ${rows}`);
    if (cp?.status !== 'done') failures.push(`checkpoint status ${cp?.status}`);
    const pairs: [string, unknown, unknown][] = [
      ['sum(balance)', so.bal, tn.bal],
      ['sum(version)', so.ver, tn.ver],
      ['count(bio)', so.bios, tn.bios],
    ];
    for (const [what, a, b] of pairs) if (String(a) !== String(b)) failures.push(`${what}: source ${a}, target ${b}`);
    if (!failures.length) console.log('check: sum(balance), sum(version), count(bio) equal on both sides');
  } finally {
    await t.end();
    await s.end();
  }
  return failures;
}

/** Drops this run's databases (and no other). */
async function dropDatabases(): Promise<void> {
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${TARGET_DB}" WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS "${PGLOADER_DB}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  if (!sourceOwned) return;
  const c = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${SOURCE_DB}\``);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      curve: { type: 'string' },
      'vs-pgloader': { type: 'boolean', default: false },
      'source-db': { type: 'string' },
      'write-path': { type: 'string', default: 'store' },
      'node-args': { type: 'string' },
      cli: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'chunk-seconds': { type: 'string' },
      'max-chunk-rows': { type: 'string' },
      'initial-chunk-rows': { type: 'string' },
      workers: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'plain-config': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      child: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (a.child) return child(a.child);
  if (a.help) {
    console.log(HELP);
    return;
  }
  const num = (name: string, v: string | undefined, int = true) => {
    if (v === undefined) return undefined;
    const n = Number(v.replace(/_/g, ''));
    if (!(n > 0) || (int && !Number.isInteger(n)))
      throw new Error(`--${name} must be a positive ${int ? 'integer' : 'number'}`);
    return n;
  };
  const sizes = a.curve ? a.curve.split(',').map((v) => num('curve', v.trim())!) : [num('rows', a.rows)!];
  if (!(WRITE_PATHS as readonly string[]).includes(a['write-path'] ?? 'store'))
    throw new Error(`--write-path must be one of ${WRITE_PATHS.join(', ')}`);
  if (a['source-db'] !== undefined && !/^[A-Za-z0-9_]{1,48}$/.test(a['source-db']))
    throw new Error('--source-db must be 1 to 48 letters, digits or underscores');
  const cfg = {
    chunkSeconds: num('chunk-seconds', a['chunk-seconds'], false),
    maxChunkRows: num('max-chunk-rows', a['max-chunk-rows']),
    initialChunkRows: num('initial-chunk-rows', a['initial-chunk-rows']),
    workers: num('workers', a.workers),
  };
  if (a['vs-pgloader'] && !existsSync(PGLOADER) && !onPath('pgloader')) {
    console.error(
      'pgloader is not installed: install it with `sudo apt-get install -y pgloader` (Debian/Ubuntu; or see https://pgloader.readthedocs.io), then run again',
    );
    process.exitCode = 2;
    return;
  }

  const lines: string[] = [];
  for (const rows of sizes) {
    // each size its own databases; `--source-db NAME` names the source (NAME_<rows> on a curve) and keeps it
    const named = a['source-db'];
    SOURCE_DB = named ? (sizes.length > 1 ? `${named}_${rows}` : named) : `tandem_bench_${RUN}_${rows}`;
    TARGET_DB = `tandem_bench_target_${RUN}_${rows}`;
    PGLOADER_DB = `tandem_bench_pgl_${RUN}_${rows}`;
    sourceOwned = !named;
    try {
      lines.push(await run(rows, cfg, a));
    } finally {
      if (a.keep) console.log(`kept: MariaDB ${SOURCE_DB}, PostgreSQL ${TARGET_DB}`);
      else await dropDatabases();
      if (!sourceOwned) console.log(`source ${SOURCE_DB} kept for reuse (--source-db)`);
    }
  }
  // on a curve: every size's line again, together, last
  if (sizes.length > 1) {
    console.log(`curve (${sizes.map(int).join(' / ')} rows):`);
    for (const l of lines) console.log(l);
  }
}

/** Debian's pgloader. */
const PGLOADER = '/usr/bin/pgloader';

/** Whether `name` is an executable on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, name)));
}

/**
 * pgloader on the same source table into a fresh PostgreSQL database of its own (PGLOADER_DB): a load command
 * file limited to table `users` (pgloader creates the table, loads it with COPY and builds its indexes after),
 * run as one child process, timed from spawn to exit ({@link timeProcess}). Checks the row count it left.
 */
async function runPgloader(rows: number): Promise<{ ms: number; peakRss: number }> {
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${PGLOADER_DB}"`);
  } finally {
    await admin.end();
  }
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-pgl-'));
  const load = join(dir, 'users.load');
  const pgUrl = new URL(`${PG_BASE}/${PGLOADER_DB}`);
  pgUrl.protocol = 'pgsql:';
  writeFileSync(
    load,
    `LOAD DATABASE
  FROM ${MYSQL_BASE}/${SOURCE_DB}
  INTO ${pgUrl.toString()}
  WITH include drop, create tables, create indexes, reset sequences
  INCLUDING ONLY TABLE NAMES MATCHING 'users';
`,
  );
  const bin = existsSync(PGLOADER) ? PGLOADER : 'pgloader';
  const logFile = join(dir, 'pgloader.out');
  const fd = openSync(logFile, 'w');
  console.log(`pgloader: ${SOURCE_DB}.users → ${PGLOADER_DB} (${bin} ${load})`);
  let t: Awaited<ReturnType<typeof timeProcess>>;
  try {
    t = await timeProcess(bin, ['--root-dir', dir, load], { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const output = readFileSync(logFile, 'utf8');
  if (t.code !== 0) {
    console.error(output.slice(-4000));
    throw new Error(`pgloader exited with code ${t.code}`);
  }
  const c = new pg.Client({ connectionString: `${PG_BASE}/${PGLOADER_DB}` });
  await c.connect();
  let n = -1;
  try {
    // pgloader puts the table in a schema named after the MySQL database
    n = Number((await c.query(`SELECT count(*)::bigint AS n FROM "${SOURCE_DB}".users`)).rows[0].n);
  } finally {
    await c.end();
  }
  if (n !== rows) {
    console.error(output.slice(-4000));
    throw new Error(`pgloader left ${n} rows in ${PGLOADER_DB}, expected ${rows}`);
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`pgloader: ${int(rows)} rows in ${secs(t.ms)} (whole process), peak rss ${mb(t.peakRss)} MB`);
  return { ms: t.ms, peakRss: t.peakRss };
}

/** The project root (this file is bench/backfill.ts). */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Newest modification time (ms) of any file under `dir`. */
function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ (scripts/build.mjs) unless dist/.built is newer than every source file and TypeScript config. */
function ensureBuilt(): void {
  const stamp = join(ROOT, 'dist/.built');
  const sources = Math.max(
    newestMtime(join(ROOT, 'src')),
    statSync(join(ROOT, 'tsconfig.json')).mtimeMs,
    statSync(join(ROOT, 'tsconfig.build.json')).mtimeMs,
  );
  if (existsSync(stamp) && existsSync(join(ROOT, 'dist/cli/run.js')) && statSync(stamp).mtimeMs > sources) return;
  console.log('tandem: building dist/ (node scripts/build.mjs) for the CLI');
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit' });
}

/**
 * `--vs-pgloader`: Tandem's side is the CLI as an operator runs it — `node bin/tandem.js backfill --config …`,
 * one process, timed exactly as pgloader was ({@link timeProcess}: spawn to exit, peak rss of the process tree).
 * Then the same checks as the measured child's run. Returns the side-by-side line.
 */
async function sideBySide(
  rows: number,
  configPath: string,
  dir: string,
  pgl: { ms: number; peakRss: number } | null,
  a: { verbose?: boolean },
): Promise<string> {
  ensureBuilt();
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`tandem: node bin/tandem.js backfill --config ${configPath}`);
  const t = await timeProcess(process.execPath, [join(ROOT, 'bin/tandem.js'), 'backfill', '--config', configPath], {
    stdio: ['ignore', 'inherit', 'inherit'],
    cwd: dir,
    env: { ...process.env, TANDEM_LOG_LEVEL: process.env.TANDEM_LOG_LEVEL ?? (a.verbose ? 'info' : 'warn') },
  });
  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  if (t.code !== 0) throw new Error(`tandem backfill exited with code ${t.code}`);
  const failures = await checks(rows);
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `${pgl ? 'side by side' : 'tandem CLI'} (whole process${pgl ? 'es' : ''}, spawn to exit; load avg ${load0} before tandem, ${load1} after): tandem ${secs(t.ms)} (rss ${mb(t.peakRss)} MB)${pgl ? `, pgloader ${secs(pgl.ms)} (rss ${mb(pgl.peakRss)} MB)` : ''}`,
  );
  if (failures.length) {
    for (const f of failures) console.error(`CHECK FAILED: ${f}`);
    process.exitCode = 1;
  }
  const last = pgl
    ? `backfill rows=${rows} tandem_s=${(t.ms / 1000).toFixed(1)} pgloader_s=${(pgl.ms / 1000).toFixed(1)} ratio=${(pgl.ms / t.ms).toFixed(2)} tandem_rss_mb=${mb(t.peakRss)}`
    : `backfill rows=${rows} seconds=${(t.ms / 1000).toFixed(1)} rows_per_s=${Math.round(rows / (t.ms / 1000))} peak_rss_mb=${mb(t.peakRss)}`;
  console.log(last);
  return last;
}

/** Runs one size; returns its last line. */
async function run(
  rows: number,
  cfg: { chunkSeconds?: number; maxChunkRows?: number; initialChunkRows?: number; workers?: number },
  a: {
    'plain-config'?: boolean;
    'cpu-prof'?: boolean;
    verbose?: boolean;
    'vs-pgloader'?: boolean;
    'source-db'?: string;
    'write-path'?: string;
    'node-args'?: string;
    cli?: boolean;
  },
): Promise<string> {
  await prepareSource(rows, a['source-db'] !== undefined);
  const pgl = a['vs-pgloader'] ? await runPgloader(rows) : null;
  await prepareTarget();
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-'));
  const configPath = join(dir, 'tandem.config.ts');
  writeFileSync(configPath, configText(cfg, a['plain-config']));
  const writePath = (a['write-path'] ?? 'store') as WritePath;
  const job: ChildJob = { configPath, resultPath: join(dir, 'result.json'), writePath };
  writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
  console.log(
    `config: ${configPath}${Object.values(cfg).some((v) => v !== undefined) ? ` (backfill ${JSON.stringify(cfg)})` : ' (backfill defaults)'}${a['plain-config'] ? ', plain object' : ''}`,
  );

  if (pgl || a.cli) return sideBySide(rows, configPath, dir, pgl, a);

  // the backfill, in a fresh process
  const nodeArgs = [
    ...(a['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []),
    ...(a['node-args'] ? a['node-args'].split(/\s+/).filter(Boolean) : []),
    '--import',
    'tsx',
    fileURLToPath(import.meta.url),
    '--child',
    join(dir, 'job.json'),
  ];
  const wal0 = String(await targetValue('SELECT pg_current_wal_lsn()::text AS v'));
  const cpuS0 = serverCpu();
  const busy0 = machineBusyCpu();
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  // timed as a whole process, the way pgloader is: wall clock from spawn to exit, peak rss of the process tree
  const t = await timeProcess(process.execPath, nodeArgs, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, TANDEM_LOG_LEVEL: process.env.TANDEM_LOG_LEVEL ?? (a.verbose ? 'info' : 'warn') },
  });
  const code = t.code;
  const processMs = t.ms;
  const childPeak = t.peakRss;
  const cpuS1 = serverCpu();
  const busy1 = machineBusyCpu();
  if (code !== 0) throw new Error(`backfill child exited with code ${code}`);
  const walBytes = Number(await targetValue('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS v', [wal0]));
  const r = JSON.parse(readFileSync(job.resultPath, 'utf8')) as ChildResult;

  const failures = await checks(rows);

  const seconds = r.wallMs / 1000;
  const peak = Math.max(r.peakRssSampled, r.vmHwm ?? 0);
  const nodeCpu = (r.cpuUserMs + r.cpuSystemMs) / 1000;
  const mariaCpu = cpuS1.mariadb - cpuS0.mariadb;
  const pgCpu = cpuS1.postgres - cpuS0.postgres;
  const busy = busy1 - busy0;
  const bf = r.backfill[0];

  const T = r.timing;
  const line = (label: string, ms: number, of = T['backfill wall']!) =>
    `  ${label.padEnd(66)} ${secs(ms).padStart(8)}  ${pct(ms, of).padStart(6)}`;
  const out: string[] = [];
  out.push('');
  out.push(
    `phases (child process; node start + module loading ${secs(r.bootMs)}, rss then ${mb(r.phaseRss['modules loaded'] ?? 0)} MB; whole child process ${secs(processMs)}):`,
  );
  for (const [k, v] of Object.entries(r.phases))
    out.push(`${line(k, v, r.wallMs)}  rss after ${mb(r.phaseRss[k] ?? 0)} MB`);
  out.push(`backfill: copied ${int(bf?.copied ?? 0)}, applied ${int(bf?.applied ?? 0)}, status ${bf?.status}`);
  out.push(`chunks: ${chunkSummary(r.chunks)}`);
  out.push(
    "where the backfill wall time goes (wall clock, one event loop: a read's row parsing runs inside whichever step is awaiting):",
  );
  const tx = (k: string) => T[k] ?? 0;
  const ledgerJs = tx('tx: ledger advance (JS + SQL)') - tx('tx: ledger advance SQL');
  const applyJs =
    tx('tx: inside') -
    tx('tx: ledger advance (JS + SQL)') -
    tx('tx: target upsert SQL') -
    tx('tx: ledger advance + target upsert, one statement') -
    tx('tx: staging setup SQL') -
    tx('tx: COPY into staging') -
    tx('tx: checkpoint SQL') -
    tx('tx: other SQL');
  out.push(line('backfill wall', tx('backfill wall')));
  out.push(line('  in chunk transactions', tx('in chunk transactions')));
  out.push(line('    connect + BEGIN', tx('tx: connect + BEGIN')));
  out.push(line('    apply JS in the transaction (dedupe, build params; map/check if not done ahead)', applyJs));
  out.push(line('    ledger advance: JS (normalize + sort keys)', ledgerJs));
  out.push(line('    ledger advance: SQL (unnest upsert … RETURNING)', tx('tx: ledger advance SQL')));
  out.push(line('    target upsert SQL (unnest … ON CONFLICT DO UPDATE)', tx('tx: target upsert SQL')));
  out.push(
    line(
      '    SAVEPOINT + staging table setup (CREATE TEMPORARY TABLE IF NOT EXISTS; DELETE)',
      tx('tx: staging setup SQL'),
    ),
  );
  out.push(line('    COPY into the staging table (build text + load)', tx('tx: COPY into staging')));
  out.push(
    line(
      '    ledger advance + upsert in one statement (data-modifying CTE)',
      tx('tx: ledger advance + target upsert, one statement'),
    ),
  );
  out.push(line('    checkpoint SQL', tx('tx: checkpoint SQL')));
  out.push(line('    other SQL (savepoints, …)', tx('tx: other SQL')));
  out.push(line('    COMMIT + release', tx('tx: COMMIT + release')));
  out.push(
    line(
      '  outside transactions (waiting on a read the write did not hide, …)',
      tx('outside transactions (read not hidden by the write, bookkeeping)'),
    ),
  );
  out.push(line(`source keyset reads, total (${r.reads.count} reads, issued ahead)`, r.reads.totalMs));
  out.push(line('  of which overlapped with a chunk transaction', tx('source reads overlapped with a write')));
  out.push(line('source count(*)', tx('source other (count)')));
  out.push(
    `cpu during the child (${secs(processMs)} wall, 2 cores = ${((2 * processMs) / 1000).toFixed(1)} cpu-s available):`,
  );
  out.push(
    `  node ${nodeCpu.toFixed(1)} s (user ${(r.cpuUserMs / 1000).toFixed(1)}, sys ${(r.cpuSystemMs / 1000).toFixed(1)}; event-loop utilization during backfill ${(r.elu * 100).toFixed(0)}%, loop delay p99 ${r.loopDelayP99Ms.toFixed(0)} ms)`,
  );
  out.push(
    `  mariadbd ${mariaCpu.toFixed(1)} s, postgres ${pgCpu.toFixed(1)} s, other processes ${Math.max(0, busy - nodeCpu - mariaCpu - pgCpu).toFixed(1)} s (machine busy ${busy.toFixed(1)} s; load avg before ${load0})`,
  );
  out.push(
    `postgres WAL written during the child: ${mb(walBytes)} MB (${Math.round(walBytes / rows)} B/row; includes other databases' activity)`,
  );
  out.push(
    `memory: peak rss sampled ${mb(r.peakRssSampled)} MB, VmHWM ${r.vmHwm === null ? '?' : mb(r.vmHwm)} MB (parent's poll ${mb(childPeak)} MB), peak heap used ${mb(r.peakHeapUsed)} MB`,
  );
  if (a['cpu-prof']) {
    const prof = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (prof) out.push(summarizeCpuProfile(join(dir, prof)), `  (profile kept at ${join(dir, prof)})`);
  } else rmSync(dir, { recursive: true, force: true });
  console.log(out.join('\n'));
  if (failures.length) {
    for (const f of failures) console.error(`CHECK FAILED: ${f}`);
    process.exitCode = 1;
  }
  const last = `backfill rows=${rows} seconds=${seconds.toFixed(1)} rows_per_s=${Math.round(rows / seconds)} peak_rss_mb=${mb(peak)}`;
  console.log(last);
  return last;
}

await main();
