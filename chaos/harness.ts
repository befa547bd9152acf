/**
 * The chaos suite: for each seed, a MariaDB legacy `users` table and a PostgreSQL target with another schema,
 * a concurrent workload through the dual-write API (inserts, updates, deletes, hot keys, email swaps) while a
 * backfill and two relays run as real processes, and faults injected at random — SIGKILL of the backfill and
 * of a relay mid-chunk (then restart), the target cut off behind a TCP proxy for seconds, duplicated and
 * reordered deliveries. When the workload stops and the relay drains, a full verify must show 100% parity, and
 * the history check must show no version going down and no deleted row back.
 *
 * Everything is replayable from the seed (mulberry32), except the interleavings the OS chooses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { fromMysql } from '../src/capture/adapters.js';
import { createDualWriter } from '../src/capture/writer.js';
import { loadConfig } from '../src/config/load.js';
import { resolveConfig } from '../src/config/resolve.js';
import { ensureControlSchema } from '../src/control/control.js';
import { setPhase } from '../src/control/phase.js';
import { createLogger } from '../src/core/logger.js';
import { prng, syntheticUser } from '../src/demo/users.js';
import { openStore } from '../src/stores/index.js';
import { verifyEntities } from '../src/verify/verify.js';
import { cliArgv } from '../test/helpers.js';
import { TcpProxy } from '../test/proxy.js';
import { startPrivateRabbitMQ } from '../test/servers.js';

const ROOT = resolve(import.meta.dirname, '..');
const PG_BASE = process.env.TANDEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
const MYSQL_BASE = process.env.TANDEM_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

export interface ChaosOptions {
  seeds: number[];
  /** Rows in the legacy table before the run. Default 50,000. */
  rows?: number;
  /** Seconds of workload per seed. Default 20. */
  seconds?: number;
  /** Concurrent application writers. Default 4. */
  writers?: number;
  /** Inject faults (kills, outages, duplicates, broker restarts). Default true. */
  faults?: boolean;
  /**
   * Route changes through a broker: the outbox is forwarded to RabbitMQ (a quorum queue) by `relay --mode
   * publish` and applied by two `relay --mode consume` processes; the faults then include broker restarts. The
   * broker is a private RabbitMQ node of the run (test/servers.ts: free ports, temp folder), started per seed and
   * stopped / started again by the fault — never the machine's shared RabbitMQ on 5672. Default: none (relays
   * drain the outbox directly).
   */
  broker?: 'rabbitmq';
  log?: (line: string) => void;
}

export interface SeedResult {
  seed: number;
  writes: number;
  divergentRows: number;
  lostWrites: number;
  resurrected: number;
  versionRegressions: number;
  maxRelayLagMs: number;
  faults: Record<string, number>;
  seconds: number;
}

const LEGACY_DDL = `CREATE TABLE users (
  id BIGINT PRIMARY KEY, email VARCHAR(254) NOT NULL UNIQUE, first_name VARCHAR(100) NOT NULL, last_name VARCHAR(100) NOT NULL,
  bio TEXT NULL, status VARCHAR(16) NOT NULL, balance DECIMAL(12,2) NOT NULL, updated_at DATETIME(6) NOT NULL, version BIGINT NOT NULL)`;

const NEW_DDL = `
  CREATE TABLE accounts (id bigint PRIMARY KEY, email_address varchar(254) NOT NULL UNIQUE, state varchar(16) NOT NULL,
    balance numeric(12,2) NOT NULL, changed_at timestamp(6) NOT NULL);
  CREATE TABLE account_profiles (account_id bigint PRIMARY KEY REFERENCES accounts (id), display_name varchar(201) NOT NULL, bio text);`;

function configText(source: string, target: string, transport?: string): string {
  return `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(source)},
  target: ${JSON.stringify(target)},${transport ? `\n  transport: ${transport},` : ''}
  // a killed backfill's lease expires within 2 s (the chaos restarts it after that)
  backfill: { initialChunkRows: 500, maxChunkRows: 2000, chunkSeconds: 0.2, leaseSeconds: 2 },
  entities: {
    users: {
      table: 'users', key: 'id', version: 'version',
      targets: [
        { table: 'accounts', columns: { id: 'id', email_address: 'email', state: 'status', balance: 'balance', changed_at: 'updated_at' } },
        { table: 'account_profiles', columns: { account_id: 'id', display_name: { transform: (u) => u.first_name + ' ' + u.last_name }, bio: 'bio' } },
      ],
    },
  },
});
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A CLI process that can be killed and restarted. */
class Worker {
  child: ChildProcess | null = null;
  exits = 0;
  constructor(private readonly args: string[], private readonly name: string, private readonly log: (s: string) => void) {}
  start(): void {
    const child = spawn(process.execPath, [...cliArgv(), ...this.args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TANDEM_LOG_LEVEL: 'error' } });
    let err = '';
    child.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
    child.on('exit', (code, signal) => {
      this.exits++;
      if (this.child === child) this.child = null;
      if (code && code !== 0 && signal !== 'SIGKILL') this.log(`  ${this.name} exited ${code}: ${err.trim().split('\n').pop()}`);
    });
    this.child = child;
  }
  kill(): boolean {
    if (!this.child) return false;
    this.child.kill('SIGKILL');
    return true;
  }
  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([done, sleep(5000).then(() => c.kill('SIGKILL'))]);
  }
  async waitExit(): Promise<number | null> {
    const c = this.child;
    if (!c) return 0;
    return new Promise((r) => c.once('exit', (code) => r(code)));
  }
}

async function runCliOnce(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...cliArgv(), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TANDEM_LOG_LEVEL: 'error' } });
  let stdout = '', stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

/** Runs one seed end to end and returns its figures. */
export async function runSeed(seed: number, o: Required<Omit<ChaosOptions, 'seeds' | 'log' | 'broker'>> & { broker?: 'rabbitmq'; log: (s: string) => void }): Promise<SeedResult> {
  const started = performance.now();
  const rng = prng(seed);
  const pick = (n: number) => Math.floor(rng() * n);
  const name = `tandem_chaos_${seed}_${randomBytes(3).toString('hex')}`;
  const faults: Record<string, number> = { kill_backfill: 0, kill_relay: 0, target_outage: 0, duplicates: 0, ...(o.broker ? { broker_restart: 0 } : {}) };

  // legacy MariaDB
  const admin = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const sourceUrl = `${MYSQL_BASE}/${name}`;
  const seedConn = await mysql.createConnection({ uri: sourceUrl });
  await seedConn.query(LEGACY_DDL);
  for (let i = 1; i <= o.rows; i += 2000) {
    const batch = [];
    for (let id = i; id < Math.min(i + 2000, o.rows + 1); id++) {
      const u = syntheticUser(id, seed);
      batch.push([u.id, u.email, u.first_name, u.last_name, u.bio, u.status, u.balance, u.updated_at, 1]);
    }
    await seedConn.query('INSERT INTO users VALUES ?', [batch]);
  }
  await seedConn.end();
  // new PostgreSQL, behind a proxy the suite can cut
  const pgAdmin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await pgAdmin.connect();
  await pgAdmin.query(`CREATE DATABASE "${name}"`);
  await pgAdmin.end();
  const targetDirect = `${PG_BASE}/${name}`;
  const pgc = new pg.Client({ connectionString: targetDirect });
  await pgc.connect();
  await pgc.query(NEW_DDL);
  const proxy = new TcpProxy(Number(new URL(PG_BASE).port || 5432), new URL(PG_BASE).hostname);
  const port = await proxy.start();
  const targetUrl = targetDirect.replace(/:(\d+)\//, `:${port}/`);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-chaos-'));
  const cfg = join(dir, 'tandem.config.ts');
  const broker = o.broker ? await startPrivateRabbitMQ() : undefined;
  const transport = broker ? `{ url: '${broker.url}', name: '${name}' }` : undefined;
  writeFileSync(cfg, configText(sourceUrl, targetUrl, transport));
  // control plane in both stores; phase dual_write before any write or backfill
  {
    const s = await openStore(sourceUrl), t = await openStore(targetDirect);
    await ensureControlSchema(s);
    await ensureControlSchema(t);
    await setPhase(t, 'dual_write');
    await s.close();
    await t.close();
  }

  const log = o.log;
  const backfill = new Worker(['backfill', '--config', cfg, '--max-rows-per-second', String(Math.ceil(o.rows / (o.seconds * 0.6)))], 'backfill', log);
  const relays = o.broker
    ? [new Worker(['relay', '--config', cfg, '--mode', 'publish'], 'forwarder', log), ...[0, 1].map((i) => new Worker(['relay', '--config', cfg, '--mode', 'consume', '--batch-size', String(20 + pick(100))], `consumer${i}`, log))]
    : [0, 1].map((i) => new Worker(['relay', '--config', cfg, '--batch-size', String(50 + pick(200))], `relay${i}`, log));
  backfill.start();
  relays.forEach((r) => r.start());

  const dual = await createDualWriter({ config: cfg, budgetMs: 50, log: createLogger({ level: 'silent' }) });
  const deleted = new Set<number>();
  let nextId = o.rows + 1;
  let writes = 0;
  let stop = false;
  const hot = Array.from({ length: 20 }, (_, i) => 1 + i * 7);
  const anyId = () => (rng() < 0.25 ? hot[pick(hot.length)]! : 1 + pick(nextId - 1));

  // history check: versions in the ledger never go down; a key whose tombstone was seen never has a row again
  let versionRegressions = 0, resurrected = 0, maxLag = 0;
  const seenVersion = new Map<string, bigint>();
  const tombstoned = new Set<string>();
  const watcher = (async () => {
    const c = new pg.Client({ connectionString: targetDirect });
    await c.connect();
    const m = await mysql.createConnection({ uri: sourceUrl });
    try {
      while (!stop) {
        const sample = [...hot, ...Array.from({ length: 30 }, () => 1 + pick(nextId - 1)), ...[...deleted].slice(-30)].map((id) => `["${id}"]`);
        const r = await c.query(`SELECT entity_key, version::text AS v, deleted FROM tandem.version_ledger WHERE entity = 'users' AND entity_key = ANY($1)`, [sample]);
        for (const row of r.rows) {
          const v = BigInt(row.v);
          const prev = seenVersion.get(row.entity_key);
          if (prev !== undefined && v < prev) versionRegressions++;
          seenVersion.set(row.entity_key, v);
          if (row.deleted) tombstoned.add(row.entity_key);
        }
        const dead = [...tombstoned].map((k) => Number(JSON.parse(k)[0]));
        if (dead.length) {
          const back = await c.query(`SELECT id FROM accounts WHERE id = ANY($1)`, [dead]);
          resurrected += back.rowCount ?? 0;
        }
        const [[lag]] = (await m.query('SELECT TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) AS us FROM tandem_outbox')) as [{ us: number | null }[], unknown];
        if (lag?.us) maxLag = Math.max(maxLag, Math.round(Number(lag.us) / 1000));
        await sleep(250);
      }
    } finally {
      await c.end();
      await m.end();
    }
  })();

  // the application: writers through the dual-write API
  const writer = async (w: number) => {
    const conn = await mysql.createConnection({ uri: sourceUrl });
    const a = fromMysql(conn);
    const wr = prng(seed * 100 + w);
    try {
      while (!stop) {
        const op = wr();
        try {
          if (op < 0.45) {
            const id = anyId();
            await dual.write(a, async (tx) => {
              const [res] = (await conn.query(`UPDATE users SET balance = balance + 1, status = ?, bio = ?, updated_at = CURRENT_TIMESTAMP(6), version = version + 1 WHERE id = ?`, [['active', 'inactive', 'banned'][Math.floor(wr() * 3)], wr() < 0.2 ? null : `bio ${writes}`, id])) as [{ affectedRows: number }, unknown];
              if (res.affectedRows) tx.changed('users', id);
            });
          } else if (op < 0.65) {
            const id = nextId++;
            const u = syntheticUser(id, seed);
            await dual.write(a, async (tx) => {
              await conn.query('INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(6), 1)', [id, `n${id}-${u.email}`, u.first_name, u.last_name, u.bio, u.status, u.balance]);
              tx.changed('users', id);
            });
          } else if (op < 0.8) {
            const id = anyId();
            if (hot.includes(id)) continue;
            let gone = false;
            await dual.write(a, async (tx) => {
              const [res] = (await conn.query('DELETE FROM users WHERE id = ?', [id])) as [{ affectedRows: number }, unknown];
              if (res.affectedRows) { tx.changed('users', id); gone = true; }
            });
            if (gone) deleted.add(id); // committed
          } else {
            // two users swap emails, in one transaction
            const x = anyId(), y = anyId();
            if (x === y) continue;
            await dual.write(a, async (tx) => {
              const [rows] = (await conn.query('SELECT id, email FROM users WHERE id IN (?, ?) ORDER BY id FOR UPDATE', [x, y])) as [{ id: number; email: string }[], unknown];
              if (rows.length !== 2) return;
              await conn.query(`UPDATE users SET email = CONCAT('swap-', id, '-', ?) WHERE id = ?`, [writes, rows[0]!.id]);
              await conn.query('UPDATE users SET email = ?, updated_at = CURRENT_TIMESTAMP(6), version = version + 1 WHERE id = ?', [rows[0]!.email, rows[1]!.id]);
              await conn.query('UPDATE users SET email = ?, updated_at = CURRENT_TIMESTAMP(6), version = version + 1 WHERE id = ?', [rows[1]!.email, rows[0]!.id]);
              tx.changed('users', x);
              tx.changed('users', y);
            });
          }
          writes++;
        } catch (e) {
          const code = (e as { code?: string }).code;
          if (code !== 'ER_LOCK_DEADLOCK' && code !== 'ER_DUP_ENTRY' && code !== 'ER_LOCK_WAIT_TIMEOUT') throw e;
        }
      }
    } finally {
      await conn.end();
    }
  };

  // faults
  const chaos = (async () => {
    if (!o.faults) return;
    const m = await mysql.createConnection({ uri: sourceUrl });
    try {
      while (!stop) {
        await sleep(700 + pick(1500));
        if (stop) break;
        const f = rng();
        if (f < 0.3) {
          // restarted once the killed one's lease (2 s) has expired, else the restart is refused (LEASE_HELD)
          if (backfill.kill()) { faults.kill_backfill!++; await sleep(2200); backfill.start(); }
        } else if (f < 0.55) {
          const r = relays[pick(relays.length)]!;
          if (r.kill()) { faults.kill_relay!++; await sleep(200); r.start(); }
        } else if (broker && f < 0.65) {
          faults.broker_restart!++;
          await broker.stop();
          await sleep(500 + pick(1500));
          await broker.start();
        } else if (f < 0.8) {
          faults.target_outage!++;
          await proxy.cut();
          await sleep(1000 + pick(3000));
          await proxy.restore();
        } else {
          // duplicated and reordered deliveries: old keys queued again, some already applied, out of order
          const ids = Array.from({ length: 20 }, () => anyId()).sort(() => rng() - 0.5);
          await m.query('INSERT INTO tandem_outbox (entity, entity_key, key_values, created_at, next_attempt_at) VALUES ?', [ids.map((id) => ['users', `["${id}"]`, `[${id}]`, new Date().toISOString().replace('T', ' ').replace('Z', ''), '1970-01-01 00:00:01'])]);
          faults.duplicates!++;
        }
      }
    } finally {
      await m.end();
    }
  })();

  const writersDone = Promise.all(Array.from({ length: o.writers }, (_, w) => writer(w)));
  await sleep(o.seconds * 1000);
  stop = true;
  await writersDone;
  await chaos;
  await watcher;
  await proxy.restore().catch(() => {});
  await dual.close();

  // let the backfill finish (restarting it if a kill left it stopped), then drain
  for (let i = 0; i < 20; i++) {
    if (!backfill.child) {
      const r = await runCliOnce(['backfill', '--config', cfg]);
      if (r.code === 0) break;
      log(`  backfill retry: ${r.stderr.trim().split('\n').pop()}`);
    } else await backfill.waitExit();
  }
  await Promise.all(relays.map((r) => r.stop()));
  const drains = o.broker ? [['--mode', 'publish'], ['--mode', 'consume']] : [[]];
  for (const mode of drains) {
    const drained = await runCliOnce(['relay', '--config', cfg, ...mode, '--until-empty', '--json']);
    if (drained.code !== 0) throw new Error(`final relay failed: ${drained.stderr}`);
  }

  // verify: full parity, and every key the workload wrote is right
  const config = await loadConfig(cfg);
  const source = await openStore(sourceUrl);
  const target = await openStore(targetDirect);
  let divergent = 0, lost = 0, resurrectedAtEnd = 0;
  try {
    const entities = await resolveConfig(config, source, target);
    const v = await verifyEntities(source, target, entities, { pageRows: 5000, maxReportedDifferences: 1_000_000 });
    const e = v.entities[0]!;
    divergent = e.missing + e.extra + e.different;
    lost = e.missing + e.different;
    if (divergent) log(`  first differences: ${JSON.stringify(v.differences.slice(0, 3))}`);
    const dead = [...deleted];
    for (let i = 0; i < dead.length; i += 1000) {
      const back = await target.query(`SELECT id FROM accounts WHERE id = ANY($1)`, [dead.slice(i, i + 1000)]);
      resurrectedAtEnd += back.length;
    }
    const dl = await target.query<{ n: unknown }>(`SELECT count(*) AS n FROM tandem.dead_letters`);
    if (Number(dl[0]!.n)) log(`  dead letters: ${dl[0]!.n}`);
  } finally {
    await source.close();
    await target.close();
  }
  await pgc.end();
  await proxy.close();
  await broker?.close();
  // clean up
  const a2 = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  await a2.query(`DROP DATABASE \`${name}\``);
  await a2.end();
  const p2 = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await p2.connect();
  await p2.query(`DROP DATABASE "${name}" WITH (FORCE)`);
  await p2.end();

  return { seed, writes, divergentRows: divergent, lostWrites: lost, resurrected: resurrected + resurrectedAtEnd, versionRegressions, maxRelayLagMs: maxLag, faults, seconds: (performance.now() - started) / 1000 };
}

/** Runs every seed; returns the per-seed results and the summary line. */
export async function runChaos(opts: ChaosOptions): Promise<{ results: SeedResult[]; line: string }> {
  const o = { rows: 50_000, seconds: 20, writers: 4, faults: true, ...opts, log: opts.log ?? ((s: string) => process.stdout.write(`${s}\n`)) };
  const results: SeedResult[] = [];
  for (const seed of o.seeds) {
    o.log(`seed ${seed}: ${o.rows} rows, ${o.seconds}s of writes by ${o.writers} writers${o.faults ? ' with faults' : ''}${o.broker ? `, through ${o.broker}` : ''}`);
    const r = await runSeed(seed, o);
    o.log(`seed ${seed}: writes=${r.writes} divergent_rows=${r.divergentRows} lost_writes=${r.lostWrites} resurrected=${r.resurrected} version_regressions=${r.versionRegressions} max_relay_lag_ms=${r.maxRelayLagMs} faults=${JSON.stringify(r.faults)} (${r.seconds.toFixed(1)}s)`);
    results.push(r);
  }
  const sum = (f: (r: SeedResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const line = `chaos runs=${results.length} writes=${sum((r) => r.writes)} divergent_rows=${sum((r) => r.divergentRows)} lost_writes=${sum((r) => r.lostWrites)} resurrected=${sum((r) => r.resurrected)} version_regressions=${sum((r) => r.versionRegressions)} max_relay_lag_ms=${Math.max(0, ...results.map((r) => r.maxRelayLagMs))}`;
  return { results, line };
}
