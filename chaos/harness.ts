/**
 * The chaos suite. For each seed: a legacy and a new store in one of three directions (MariaDB → PostgreSQL,
 * PostgreSQL → MariaDB, SQLite → PGlite; by seed unless fixed), four entity kinds in one config
 * (chaos/entities.ts), a concurrent workload through the dual-write API (chaos/workload.ts) while the backfill
 * and the relays run as real processes, and faults from a deterministic schedule (chaos/schedule.ts) — SIGKILL
 * of the backfill and of relays, the target cut off behind a TCP proxy, duplicated deliveries, broker restarts.
 * When the workload stops and the relay drains, the independent judge (chaos/judge.ts: drivers and plain SQL, no
 * Tandem code) compares the target with the expected state from the harness's own history (chaos/history.ts);
 * the watcher has read all keys during the run for version regressions and resurrections.
 *
 * With `cutover` (`--cutover`, server directions only) the schedule adds write cutovers and rollbacks once the
 * backfill is done; the harness runs them in its own process (`openMigration` + `cutover(m, { force: true })` /
 * `rollback(m)`), the writers use the two-path form throughout, and the judge reads both stores after the final drain
 * and checks the fence (docs/dual-writes.md "Cutovers and rollbacks in chaos").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { outboxInsert } from '../src/capture/outbox.js';
import { createDualWriter, type DualWriter } from '../src/capture/writer.js';
import { ensureControlSchema } from '../src/control/control.js';
import { setPhase } from '../src/control/phase.js';
import { createLogger } from '../src/core/logger.js';
import { cutover } from '../src/cutover/cutover.js';
import { rollback } from '../src/cutover/rollback.js';
import { openMigration, type Migration } from '../src/runtime/migration.js';
import { openStore } from '../src/stores/index.js';
import { cliArgv } from '../test/helpers.js';
import { startPrivateRabbitMQ, type PrivateServer } from '../test/servers.js';
import { CHAOS_ENTITIES, configText } from './entities.js';
import { History } from './history.js';
import {
  type EntityVerdict,
  dbNow,
  fenceClockViolations,
  type FlipSeen,
  installOutboxLog,
  outboxInsertedBetween,
  judge,
  openReader,
  type Reader,
  Watcher,
} from './judge.js';
import {
  type Direction,
  type Fault,
  type FaultKind,
  formatSchedule,
  makeSchedule,
  mulberry32,
  type Schedule,
  STREAM,
  streamSeed,
} from './schedule.js';
import { createStores, outboxAgeSql, type SeedStores } from './stores.js';
import { seededCounts, Workload } from './workload.js';

const ROOT = resolve(import.meta.dirname, '..');

export interface ChaosOptions {
  seeds: number[];
  /** Rows of the `users` table before the run (the other entities get a fifth or a tenth of it). Default 10,000. */
  rows?: number;
  /** Seconds of workload per seed. Default 10. */
  seconds?: number;
  /** Concurrent application writers (SQLite: one, it has one writer at a time). Default 4. */
  writers?: number;
  /** Inject faults. Default true. */
  faults?: boolean;
  /**
   * Route changes through a private RabbitMQ node (test/servers.ts, started per seed; never the shared one):
   * `relay --mode publish` forwards the outbox, two `relay --mode consume` apply; faults include broker restarts.
   * Server directions only.
   */
  broker?: 'rabbitmq';
  /** Fix the direction instead of rotating by seed (seed % 3). */
  direction?: Direction;
  /**
   * Write cutovers and rollbacks among the faults (server directions; the directions rotate over those two by
   * seed % 2): the schedule's `cutover` / `rollback` events, two-path writes, both stores judged, the fence checked.
   */
  cutover?: boolean;
  /**
   * TEST ONLY (`--cutover`): after each cutover, queue changes in the legacy outbox through the application's legacy
   * connection, past the writer and its fence — an instance that ignores the fence. The judge's fence check must
   * report `fence_violations`.
   */
  breakFence?: boolean;
  /** TEST ONLY: run the relays with `TANDEM_TEST_BREAK=ack-on-failure` (a broken relay the judge must catch). */
  breakRelay?: 'ack-on-failure';
  /**
   * Seeds run at once (each in its own databases, files and processes). Default 1. Timing faults (kills, outages)
   * are scheduled per seed, so running seeds side by side changes only how loaded the machine is.
   */
  parallel?: number;
  log?: (line: string) => void;
}

export interface SeedResult {
  seed: number;
  direction: Direction;
  schedule: Schedule;
  writes: number;
  failedWrites: number;
  uncertainWrites: number;
  /** Writes that failed with TANDEM_ERR_WRITE_FENCED (in `failedWrites` too). */
  fencedWrites: number;
  /** Cutovers and rollbacks that happened. */
  cutovers: number;
  rollbacks: number;
  /**
   * Fence breaks the judge found: commits on a store after a flip made it secondary (by the harness's clock), plus
   * changes seen waiting in the outbox of the store that was not primary (by plain SQL; nothing drains that outbox
   * until the next flip, so a write that committed there after the flip would stay visible).
   */
  fenceViolations: number;
  /** The phase at the end (the direction of the final drain). */
  finalPhase: string;
  /** Longest write pause a flip reported (max of held writes), ms. */
  flipPauseMaxMs: number;
  /** Oldest change seen waiting in the new store's outbox (the reverse relay's lag after a cutover), ms. */
  maxReverseLagMs: number;
  /** Turns of the running relay processes at a flip (their own `relay.direction` log lines), and the slowest (ms after the flip returned). */
  relayTurns: number;
  relayTurnMaxMs: number;
  divergentRows: number;
  lostWrites: number;
  resurrected: number;
  versionRegressions: number;
  deadLetters: number;
  maxRelayLagMs: number;
  /** Faults that happened, by kind. */
  faults: Record<string, number>;
  /** Requested kinds that did not happen. */
  missingFaults: FaultKind[];
  /** When the backfill finished, relative to the writers' stop; `ok` when it matches the schedule. */
  backfill: { planned: 'before' | 'after'; actual: 'before' | 'after'; ok: boolean };
  entities: EntityVerdict[];
  /** `--cutover`: the verdict on the legacy store (entity names `legacy.<name>`). */
  legacyEntities: EntityVerdict[];
  watcherScans: number;
  /** First lost or divergent keys with their history. */
  examples: string[];
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A process that the schedule can kill and restart. */
class Proc {
  child: ChildProcess | null = null;
  exits = 0;
  private readonly lineHandlers: ((line: string) => void)[] = [];
  constructor(
    private readonly argv: string[],
    readonly name: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: (s: string) => void,
    private readonly onExit?: (code: number | null) => void,
  ) {}
  onLine(f: (line: string) => void): void {
    this.lineHandlers.push(f);
  }
  private readonly errLineHandlers: ((line: string) => void)[] = [];
  /** Called with every line the child writes on stderr (Tandem's JSON log lines). */
  onErrLine(f: (line: string) => void): void {
    this.errLineHandlers.push(f);
  }
  /** True once the running child printed `ready` (its signal handlers are installed). */
  ready = false;
  /** Waits until the running child is {@link ready} (or gone, or `timeoutMs` passed); true when it is. */
  async waitReady(timeoutMs = 30_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.child && !this.ready && Date.now() < until) await sleep(20);
    return this.child !== null && this.ready;
  }
  start(): void {
    this.ready = false;
    const child = spawn(process.execPath, this.argv, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TANDEM_LOG_LEVEL: 'error', ...this.env },
    });
    let err = '';
    let out = '';
    let errLine = '';
    child.stderr!.on('data', (d) => {
      err = (err + d).slice(-2000);
      if (!this.errLineHandlers.length) return;
      errLine += d;
      const lines = errLine.split('\n');
      errLine = lines.pop()!;
      for (const l of lines) for (const f of this.errLineHandlers) f(l);
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        if (l === 'ready' && this.child === child) this.ready = true;
        for (const f of this.lineHandlers) f(l);
      }
    });
    child.on('exit', (code, signal) => {
      this.exits++;
      if (this.child === child) this.child = null;
      if (code && signal !== 'SIGKILL') this.log(`  ${this.name} exited ${code}: ${err.trim().split('\n').pop()}`);
      if (signal !== 'SIGKILL') this.onExit?.(code);
      if (process.env.CHAOS_DEBUG)
        this.log(`  ${this.name} exit code=${code} signal=${signal} err=${err.trim().split('\n').pop()}`);
    });
    this.child = child;
  }
  kill(): boolean {
    if (!this.child) return false;
    this.child.kill('SIGKILL');
    return true;
  }
  signal(s: NodeJS.Signals): boolean {
    if (!this.child) return false;
    return this.child.kill(s);
  }
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  async stop(graceMs = 5000): Promise<number | null> {
    const c = this.child;
    if (!c) return null;
    const done = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    const code = await done;
    clearTimeout(t);
    return code;
  }
  async waitExit(): Promise<number | null> {
    const c = this.child;
    if (!c) return null;
    return new Promise((r) => c.once('exit', (code) => r(code)));
  }
}

async function runCliOnce(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...cliArgv(), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TANDEM_LOG_LEVEL: 'error', ...env },
  });
  let stdout = '',
    stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

type Opts = Required<
  Omit<ChaosOptions, 'seeds' | 'log' | 'broker' | 'direction' | 'breakRelay' | 'parallel' | 'cutover' | 'breakFence'>
> &
  Pick<ChaosOptions, 'broker' | 'direction' | 'breakRelay' | 'parallel' | 'cutover' | 'breakFence'> & {
    log: (s: string) => void;
  };

/** Runs one seed end to end and returns the judge's figures. */
export async function runSeed(seed: number, o: Opts): Promise<SeedResult> {
  const started = performance.now();
  const schedule = makeSchedule(seed, {
    seconds: o.seconds,
    direction: o.direction,
    broker: !!o.broker,
    faults: o.faults,
    cutover: o.cutover,
  });
  const { direction } = schedule;
  if (o.broker && o.cutover) throw new Error('--cutover runs without --broker (the relays drain the outbox directly)');
  if (o.broker && direction === 'sqlite-pglite')
    throw new Error('--broker needs a server direction (mariadb-postgres or postgres-mariadb)');
  o.log(`seed ${seed}: ${formatSchedule(schedule)}`);
  const env: NodeJS.ProcessEnv = o.breakRelay ? { TANDEM_TEST_BREAK: o.breakRelay } : {};
  const stores: SeedStores = await createStores(direction, seed);
  let broker: PrivateServer | undefined;
  const history = new History();
  let t0 = performance.now();
  const now = () => performance.now() - t0;
  try {
    broker = o.broker ? await startPrivateRabbitMQ() : undefined;
    const transport = broker ? `{ url: '${broker.url}', name: 'chaos_${seed}' }` : undefined;
    const cfg = join(stores.dir, 'tandem.config.ts');
    writeFileSync(cfg, configText({ source: stores.sourceUrl, target: stores.targetUrl, transport }));
    // PGlite is one process's: the application's dual writer gets a schema-only twin as its target (and phase),
    // with the fast path off — the worker process alone opens the real target
    const writerCfg = stores.twinUrl ? join(stores.dir, 'writer.config.ts') : cfg;
    if (stores.twinUrl) writeFileSync(writerCfg, configText({ source: stores.sourceUrl, target: stores.twinUrl }));
    // the operator's cutover and rollback reach the new store directly (not through the proxy the outages cut)
    const operatorCfg = join(stores.dir, 'operator.config.ts');
    if (o.cutover) writeFileSync(operatorCfg, configText({ source: stores.sourceUrl, target: stores.targetDirect }));
    for (const url of [stores.sourceUrl, stores.targetDirect, ...(stores.twinUrl ? [stores.twinUrl] : [])]) {
      const s = await openStore(url);
      await ensureControlSchema(s);
      if (url !== stores.sourceUrl) await setPhase(s, 'dual_write');
      await s.close();
    }

    const dbg = (m: string) => {
      if (process.env.CHAOS_DEBUG) o.log(`  [${(now() / 1000).toFixed(1)}s] ${m}`);
    };
    dbg('control ready');
    const seedConn = await stores.connect();
    const dual: DualWriter = await createDualWriter({
      config: writerCfg,
      budgetMs: schedule.budgetMs,
      log: createLogger({ level: 'silent' }),
    });
    const targetDialect = stores.sourceDialect === 'mysql' ? 'postgres' : 'mysql';
    const workload = new Workload({
      seed,
      rows: o.rows,
      dialect: stores.sourceDialect,
      history,
      dual,
      now,
      cutover: o.cutover ? { target: targetDialect } : undefined,
    });
    dbg('dual writer open');
    await workload.seedRows(seedConn);
    dbg('rows seeded');
    const totalRows = Object.values(seededCounts(o.rows)).reduce((a, b) => a + b, 0);
    // 'after': throttled to end about 30 % past the writers' stop; 'before': unthrottled
    const rate = schedule.backfill === 'after' ? Math.max(50, Math.round(totalRows / (o.seconds * 1.3))) : undefined;

    let backfillDoneAt: number | undefined;
    const doneBackfill = () => {
      backfillDoneAt ??= now();
    };
    const cli = (args: string[]) => [...cliArgv(), ...args, '--config', cfg];
    let backfill: Proc | undefined;
    /** `--cutover`: when each relay process turned around by itself at a phase change (its `relay.direction` log). */
    const relayTurns: { relay: string; at: number }[] = [];
    let relays: Proc[] = [];
    let worker: Proc | undefined;
    if (direction === 'sqlite-pglite') {
      worker = new Proc(
        ['--import', 'tsx', join(ROOT, 'chaos/worker.ts'), cfg, ...(rate ? [String(rate)] : [])],
        'worker',
        env,
        o.log,
      );
      worker.onLine((l) => {
        if (l === 'backfill-done') doneBackfill();
      });
    } else {
      // a backfill that gives up (the target unreachable at its start) is started again, as a supervisor would
      backfill = new Proc(
        cli(['backfill', ...(rate ? ['--max-rows-per-second', String(rate)] : [])]),
        'backfill',
        env,
        o.log,
        (code) => {
          if (code === 0) doneBackfill();
          else if (!workload.stop)
            setTimeout(() => {
              if (!workload.stop && !backfill!.child) backfill!.start();
            }, 2200);
        },
      );
      const pr = mulberry32(streamSeed(seed, STREAM.writers + 77));
      // a relay that gives up (the target unreachable at its start) is started again, as a supervisor would
      const again = (p: () => Proc) => (code: number | null) => {
        if (code !== 0 && !workload.stop)
          setTimeout(() => {
            if (!workload.stop && !p().child) p().start();
          }, 500);
      };
      const specs: [string[], string][] = o.broker
        ? [
            [['relay', '--mode', 'publish'], 'forwarder'],
            ...[0, 1].map((i): [string[], string] => [
              ['relay', '--mode', 'consume', '--batch-size', String(20 + Math.floor(pr() * 100))],
              `consumer${i}`,
            ]),
          ]
        : [0, 1].map((i): [string[], string] => [
            ['relay', '--batch-size', String(50 + Math.floor(pr() * 200))],
            `relay${i}`,
          ]);
      // --cutover: the relays log at warn, so that their turns at a phase change (`relay.direction`) are seen
      const relayEnv = o.cutover ? { ...env, TANDEM_LOG_LEVEL: 'warn' } : env;
      relays = specs.map(
        ([args, name], i) =>
          new Proc(
            cli(args),
            name,
            relayEnv,
            o.log,
            again(() => relays[i]!),
          ),
      );
      for (const r of relays)
        r.onErrLine((l) => {
          if (l.includes('"event":"relay.direction"')) relayTurns.push({ relay: r.name, at: now() });
        });
    }

    const faults: Record<string, number> = Object.fromEntries(schedule.requested.map((k) => [k, 0]));
    const happened = (k: FaultKind) => {
      faults[k] = (faults[k] ?? 0) + 1;
    };
    t0 = performance.now();
    backfill?.start();
    worker?.start();
    for (const r of relays) r.start();

    // the watcher: all keys, every pass (server directions; PGlite cannot be read while the worker holds it)
    let maxLag = 0;
    let watching = true;
    const watchReader = direction === 'sqlite-pglite' ? undefined : await openReader(stores.targetDirect);
    const watcher = watchReader
      ? new Watcher(
          watchReader,
          history,
          CHAOS_ENTITIES.map((e) => e.name),
          now,
        )
      : undefined;
    // --cutover: legacy watched too (the reverse relay writes it while the new store is primary)
    const legacyWatchReader = o.cutover ? await openReader(stores.sourceUrl) : undefined;
    const legacyWatcher = legacyWatchReader
      ? new Watcher(
          legacyWatchReader,
          history,
          CHAOS_ENTITIES.map((e) => e.name),
          now,
          'legacy',
        )
      : undefined;
    const lagConn = await stores.connect();
    // --cutover: the flips, and what the judge's fence check reads while the run goes on
    const flipsSeen: FlipSeen[] = [];
    const flipCounts = { cutover: 0, rollback: 0 };
    let flipPauseMaxMs = 0;
    const flipState = { running: false, primary: 'legacy' as 'legacy' | 'new' };
    let outboxViolations = 0;
    let maxReverseLag = 0;
    const fenceExamples: string[] = [];
    const legacyOutbox: Reader | undefined = o.cutover ? await openReader(stores.sourceUrl) : undefined;
    const newOutbox: Reader | undefined = o.cutover ? await openReader(stores.targetDirect) : undefined;
    // the fence by the outbox: the judge's insert log on both outboxes (installed before the writers start), and the
    // stretches (database clock of the store) during which that store was not primary and no flip was under way
    if (legacyOutbox && newOutbox) for (const r of [legacyOutbox, newOutbox]) await installOutboxLog(r);
    const outboxOf = (side: 'legacy' | 'new') => (side === 'legacy' ? legacyOutbox! : newOutbox!);
    const secondaryStretches: { side: 'legacy' | 'new'; from: string; to?: string }[] = [];
    const endStretch = async () => {
      const last = secondaryStretches.at(-1);
      if (last && last.to === undefined) last.to = await dbNow(outboxOf(last.side));
    };
    const startStretch = async (side: 'legacy' | 'new') => {
      secondaryStretches.push({ side, from: await dbNow(outboxOf(side)) });
    };
    const watching$ = (async () => {
      while (watching) {
        try {
          await watcher?.scan();
          await legacyWatcher?.scan();
          const [row] = await lagConn.q(outboxAgeSql(stores.sourceDialect));
          if (row?.ms !== null && row?.ms !== undefined) maxLag = Math.max(maxLag, Math.round(Number(row.ms)));
          if (newOutbox) {
            // the new store's outbox: drained by the running relays once they turned around after a cutover
            const [nr] = await newOutbox.query(outboxAgeSql(targetDialect));
            if (nr?.ms !== null && nr?.ms !== undefined) {
              maxLag = Math.max(maxLag, Math.round(Number(nr.ms)));
              maxReverseLag = Math.max(maxReverseLag, Math.round(Number(nr.ms)));
            }
          }
        } catch (e) {
          o.log(`  watcher: ${(e as Error).message}`);
        }
        dbg(`writes=${workload.stats.writes} lag=${maxLag} errors=${JSON.stringify(workload.stats.errors)}`);
        await sleep(400);
      }
    })();

    // backfill progress (rows copied per entity): the worker prints it; otherwise the target's checkpoints are read
    // directly (not through the proxy)
    const copied = new Map<string, number>();
    worker?.onLine((l) => {
      const m = /^copied (\S+) (\d+)$/.exec(l);
      if (m) copied.set(m[1]!, Number(m[2]));
    });
    // (a connection of its own: the watcher's is busy with its scans)
    const progressReader = watchReader ? await openReader(stores.targetDirect) : undefined;
    const readProgress = async () => {
      if (!progressReader) return;
      const t = progressReader.dialect === 'mysql' ? 'tandem_checkpoints' : 'tandem.checkpoints';
      const rows = await progressReader.query(`SELECT entity, rows_copied FROM ${t}`).catch(() => []);
      for (const r of rows) copied.set(String(r.entity), Number(r.rows_copied));
    };

    // the schedule's faults, each at its time
    const faultConn = await stores.connect();
    const ageConn = await stores.connect();
    const fr = mulberry32(streamSeed(schedule.scheduleSeed, 99));
    const runFault = async (f: Fault) => {
      if (f.params.afterBackfillMs !== undefined) {
        while (backfillDoneAt === undefined && !workload.stop) await sleep(50);
        if (workload.stop) return;
        await sleep(f.params.afterBackfillMs);
      } else await sleep(Math.max(0, f.atMs - now()));
      // an 'after' seed's outage comes once the backfill has copied part of an entity (a loaded machine starts it
      // late; entities are copied one after the other). From then on the writers change rows behind its cursor,
      // and the outage waits until the relay works on those changes (the oldest waiting change is younger than
      // the first of them): the changes a relay handles during the outage are then ones only the relay can bring
      // across
      let behind = false;
      if (f.kind === 'target_outage' && f.params.afterBackfillMs === undefined) {
        const until = now() + 60_000;
        const enough = () => [...copied.values()].some((n) => n >= Math.min(200, o.rows / 20));
        while (!enough() && backfillDoneAt === undefined && !workload.stop && now() < until) {
          await readProgress();
          await sleep(100);
        }
        dbg(`outage: progress ${JSON.stringify([...copied])}`);
        if (workload.stop) return;
        behind = true;
        const from = now();
        workload.setBehind(new Map(copied));
        while (!workload.stop && now() < from + 10_000) {
          await sleep(200);
          await readProgress();
          workload.setBehind(new Map(copied));
          const [row] = await ageConn.q(outboxAgeSql(stores.sourceDialect)).catch(() => []);
          const age = row?.ms === null || row?.ms === undefined ? 0 : Number(row.ms);
          if (age < now() - from - 300) break;
        }
        dbg(
          `outage after ${((now() - from) / 1000).toFixed(1)}s of writes behind the cursor: ${JSON.stringify([...copied])}`,
        );
        if (workload.stop) {
          workload.setBehind(null);
          return;
        }
      }
      switch (f.kind) {
        case 'kill_backfill':
          // restarted once the killed one's lease (2 s) has expired, else the restart is refused (LEASE_HELD)
          if (backfill!.kill()) {
            happened(f.kind);
            await sleep(2200);
            if (backfillDoneAt === undefined) backfill!.start();
          }
          break;
        case 'kill_relay': {
          const r = relays[(f.params.worker ?? 0) % relays.length]!;
          if (r.kill()) {
            happened(f.kind);
            await sleep(200);
            r.start();
          }
          break;
        }
        case 'kill_worker':
          if (worker!.kill()) {
            happened(f.kind);
            await sleep(300);
            worker!.start();
          }
          break;
        case 'target_outage':
          if (stores.proxy) {
            await stores.proxy.cut();
            happened(f.kind);
            await sleep(f.params.durationMs ?? 1000);
            if (behind) workload.setBehind(null);
            await stores.proxy.restore();
          } else if ((await worker!.waitReady()) && worker!.signal('SIGUSR1')) {
            happened(f.kind);
            await sleep(f.params.durationMs ?? 1000);
            if (behind) workload.setBehind(null);
            worker!.signal('SIGUSR2');
          }
          break;
        case 'duplicates':
          // SQLite has one writer at a time: a relay's batch can hold the lock past the busy timeout, and the
          // application would try again (a retry draws its keys anew)
          for (let attempt = 1; ; attempt++) {
            try {
              if (
                await workload.duplicate(faultConn, f.params.count ?? 20, fr, (entries) =>
                  outboxInsert(stores.sourceDialect, entries),
                )
              )
                happened(f.kind);
              break;
            } catch (e) {
              if (attempt >= 10 || !/locked|busy/i.test((e as Error).message)) throw e;
              await sleep(200);
            }
          }
          break;
        case 'broker_restart':
          if (broker) {
            await broker.stop();
            happened(f.kind);
            await sleep(f.params.durationMs ?? 1000);
            await broker.start();
          }
          break;
      }
      if (behind) workload.setBehind(null);
    };
    // the cutovers and rollbacks, one after the other once the backfill is done, in this process
    const flips = schedule.faults.filter((f) => f.kind === 'cutover' || f.kind === 'rollback');
    const operator: Migration | undefined = o.cutover
      ? await openMigration(operatorCfg, { log: createLogger({ level: 'silent' }) })
      : undefined;
    const runFlips = async () => {
      if (!flips.length || !operator) return;
      while (backfillDoneAt === undefined && !workload.stop) await sleep(50);
      for (const f of flips) {
        if (workload.stop) return;
        await sleep(f.params.afterBackfillMs ?? f.params.afterPreviousMs ?? 0);
        const kind = f.kind as 'cutover' | 'rollback';
        const want = kind === 'cutover' ? 'new' : 'legacy';
        // a flip whose phase is already there (the previous one did not happen) is skipped: only a moved phase counts
        const isThere = (p: string | null) => p !== null && (p === 'new_primary') === (want === 'new');
        if (isThere(await operator.readPhase().catch(() => null))) {
          o.log(`  ${kind} skipped: the ${want} store is primary already`);
          continue;
        }
        for (let attempt = 0; attempt < 3 && !workload.stop; attempt++) {
          await endStretch();
          flipState.running = true;
          const startAt = now();
          try {
            const rep =
              kind === 'cutover'
                ? await cutover(operator, { force: true })
                : // (the judge compares both stores at the end: the rollback's own verification is left out)
                  await rollback(operator, { verify: false });
            flipPauseMaxMs = Math.max(flipPauseMaxMs, rep.writePause.maxMs);
            if ('gates' in rep)
              dbg(
                `cutover gates failing (forced): ${
                  rep.gates
                    .filter((g) => !g.pass)
                    .map((g) => `${g.gate}: ${g.reason}`)
                    .join('; ') || 'none'
                }`,
              );
            dbg(
              `${kind} ${rep.from} → ${rep.to} epoch ${rep.epoch} drained ${rep.drained} pause held ${rep.writePause.held} p99 ${rep.writePause.p99Ms} ms max ${rep.writePause.maxMs} ms`,
            );
          } catch (e) {
            o.log(`  ${kind} failed (attempt ${attempt + 1}): ${(e as Error).message}`);
            // a failure past the flip leaves the phase moved: the phase says whether this flip happened
            if (!isThere(await operator.readPhase().catch(() => null))) {
              flipState.running = false;
              // the phase did not move: the store that was secondary still is
              if (flipsSeen.length) await startStretch(flipState.primary === 'new' ? 'legacy' : 'new');
              await sleep(1000);
              continue;
            }
          }
          flipsSeen.push({ kind, startAt, doneAt: now() });
          flipCounts[kind]++;
          happened(kind);
          flipState.primary = want;
          flipState.running = false;
          await startStretch(want === 'new' ? 'legacy' : 'new');
          // TEST ONLY: a writer that ignores the fence commits changes on the old primary after the flip
          if (o.breakFence && kind === 'cutover') {
            const n = await workload.duplicate(
              faultConn,
              5,
              fr,
              (entries) => outboxInsert(stores.sourceDialect, entries),
              true,
            );
            dbg(`breakFence: ${n} change(s) queued in the legacy outbox past the fence`);
          }
          break;
        }
      }
    };
    const flipsDone = runFlips().catch((e) => o.log(`  flips failed: ${(e as Error).message}`));
    const running = schedule.faults
      .filter((f) => f.kind !== 'cutover' && f.kind !== 'rollback')
      .map((f) => runFault(f).catch((e) => o.log(`  fault ${f.kind} failed: ${(e as Error).message}`)));
    const faultsDone = Promise.all([...running, flipsDone]);
    // an 'after' seed's outages wait for the backfill's progress (see runFault)
    const timed = schedule.faults.filter((f) => f.kind !== 'cutover' && f.kind !== 'rollback');
    const outagesDone = Promise.all(
      running.filter((_, i) => timed[i]!.kind === 'target_outage' && !timed[i]!.params.afterBackfillMs),
    );

    const writerConns = await Promise.all(
      Array.from({ length: stores.sourceDialect === 'sqlite' ? 1 : o.writers }, () => stores.connect()),
    );
    const writersDone = Promise.all(writerConns.map((c, w) => workload.writer(c, w)));
    await sleep(o.seconds * 1000);
    // 'after': the writers go on until the outages, which wait for the backfill's progress, are over (a loaded
    // machine starts the backfill late; the throttled backfill leaves about a third of the run to spare), at most
    // 60 s more
    if (schedule.backfill === 'after') {
      const until = now() + 60_000;
      let over = false;
      void outagesDone.then(() => (over = true));
      while (!over && backfillDoneAt === undefined && now() < until) await sleep(100);
    }
    // 'before': the writers go on until the backfill is done, and 1 s more (written by the relay alone)
    if (schedule.backfill === 'before') {
      // (a loaded machine copies slowly — 15,000 rows took 100–135 s at load average 15 on 2 cores: up to 300 s
      // more, then the seed reports the mismatch)
      const until = now() + Math.max(3 * o.seconds, 300) * 1000;
      while (backfillDoneAt === undefined && now() < until) await sleep(100);
      // past the outage scheduled after the backfill, and 1 s more
      const post = schedule.faults.find((f) => f.kind === 'target_outage' && f.params.afterBackfillMs !== undefined);
      if (backfillDoneAt !== undefined)
        await sleep((post ? post.params.afterBackfillMs! + post.params.durationMs! : 0) + 1000);
    }
    // --cutover: the writers go on through every flip, and 1.5 s past the last (at most 180 s more)
    if (flips.length) {
      let over = false;
      void flipsDone.then(() => (over = true));
      const until = now() + 180_000;
      while (!over && now() < until) await sleep(100);
      await sleep(1500);
    }
    workload.stop = true;
    await writersDone;
    const writersStoppedAt = now();
    dbg('writers stopped');
    await faultsDone;
    dbg('faults done');
    await stores.proxy?.restore().catch(() => {});
    await dual.close();
    // the fence by the outbox: no change entered the outbox of a store while it was not primary (a write that
    // committed there after the flip; a relay that had not turned yet may have drained it since, the log stays)
    if (legacyOutbox && newOutbox) {
      await endStretch();
      for (const st of secondaryStretches) {
        const n = await outboxInsertedBetween(outboxOf(st.side), st.from, st.to!);
        if (n > 0) {
          outboxViolations += n;
          if (fenceExamples.length < 5)
            fenceExamples.push(
              `${n} change(s) entered the ${st.side} outbox between ${st.from} and ${st.to}, while it was not primary`,
            );
        }
      }
    }
    const finalPhase = operator ? await operator.readPhase() : 'dual_write';
    await operator?.close();

    // the backfill finishes (restarted if a kill left it stopped), then the relays drain
    if (backfill) {
      for (let i = 0; i < 20 && backfillDoneAt === undefined; i++) {
        if (backfill.child) await backfill.waitExit();
        else {
          const r = await runCliOnce(['backfill', '--config', cfg], env);
          if (r.code === 0) doneBackfill();
          else {
            o.log(`  backfill retry: ${r.stderr.trim().split('\n').pop()}`);
            await sleep(1000);
          }
        }
      }
      await Promise.all(relays.map((r) => r.stop()));
      for (const mode of o.broker
        ? [
            ['--mode', 'publish'],
            ['--mode', 'consume'],
          ]
        : [[]]) {
        const drained = await runCliOnce(['relay', '--config', cfg, ...mode, '--until-empty', '--json'], env);
        if (drained.code !== 0) throw new Error(`final relay failed: ${drained.stderr}`);
      }
    } else {
      // SIGTERM tells the worker the writers stopped: it finishes the backfill, drains, exits 0
      for (let i = 0; i < 5; i++) {
        if (!worker!.child) worker!.start();
        await worker!.waitReady();
        const code = await worker!.stop(120_000);
        if (code === 0) break;
        o.log(`  worker drain exited ${code}; again`);
      }
    }
    dbg('drained');
    watching = false;
    await watching$;
    for (const w of [watcher, legacyWatcher]) {
      if (!w) continue;
      await w.scan();
      w.settle();
    }
    await watchReader?.close();
    await legacyWatchReader?.close();
    await progressReader?.close();
    for (const c of [seedConn, lagConn, faultConn, ageConn, ...writerConns]) await c.close().catch(() => {});
    await legacyOutbox?.close().catch(() => {});
    await newOutbox?.close().catch(() => {});

    // the judge: the target read with plain SQL, against the history
    const reader = await openReader(stores.targetDirect);
    const verdict = await judge(
      reader,
      history,
      CHAOS_ENTITIES.map((e) => e.name),
    ).finally(() => reader.close());
    // --cutover: the legacy store too, after the final drain: every committed write reaches both stores
    if (o.cutover) {
      const lr = await openReader(stores.sourceUrl);
      const lv = await judge(
        lr,
        history,
        CHAOS_ENTITIES.map((e) => e.name),
        'legacy',
      ).finally(() => lr.close());
      verdict.lost += lv.lost;
      verdict.resurrected += lv.resurrected;
      verdict.divergent += lv.divergent;
      verdict.entities.push(...lv.entities.map((e) => ({ ...e, entity: `legacy.${e.entity}` })));
    }
    const clock = fenceClockViolations(workload.commits, flipsSeen);
    // each flip: how long after it returned each running relay turned (a relay started after the flip begins in
    // the right direction and logs no turn)
    let relayTurnMaxMs = 0;
    for (const [i, f] of flipsSeen.entries()) {
      const until = flipsSeen[i + 1]?.startAt ?? Number.POSITIVE_INFINITY;
      for (const t of relayTurns)
        if (t.at >= f.startAt && t.at < until) relayTurnMaxMs = Math.max(relayTurnMaxMs, Math.round(t.at - f.doneAt));
    }
    fenceExamples.push(...clock.examples);
    o.log(
      `  backfill done at ${backfillDoneAt === undefined ? '-' : (backfillDoneAt / 1000).toFixed(1)}s, writers stopped at ${(writersStoppedAt / 1000).toFixed(1)}s`,
    );
    const actual = backfillDoneAt !== undefined && backfillDoneAt <= writersStoppedAt ? 'before' : 'after';
    const examples = [
      ...verdict.entities.flatMap((e) => [...e.lostKeys, ...e.otherKeys]),
      ...(watcher?.examples ?? []),
      ...(legacyWatcher?.examples ?? []),
      ...fenceExamples,
    ].slice(0, 10);
    return {
      seed,
      direction,
      schedule,
      writes: workload.stats.writes,
      failedWrites: workload.stats.failed,
      uncertainWrites: workload.stats.uncertain,
      fencedWrites: workload.stats.fenced,
      cutovers: flipCounts.cutover,
      rollbacks: flipCounts.rollback,
      fenceViolations: clock.violations + outboxViolations,
      finalPhase,
      flipPauseMaxMs,
      maxReverseLagMs: maxReverseLag,
      relayTurns: relayTurns.length,
      relayTurnMaxMs,
      divergentRows: verdict.divergent,
      lostWrites: verdict.lost,
      resurrected: verdict.resurrected + (watcher?.resurrected ?? 0) + (legacyWatcher?.resurrected ?? 0),
      versionRegressions: (watcher?.regressions ?? 0) + (legacyWatcher?.regressions ?? 0),
      deadLetters: verdict.deadLetters,
      maxRelayLagMs: maxLag,
      faults,
      missingFaults: schedule.requested.filter((k) => !faults[k]),
      backfill: { planned: schedule.backfill, actual, ok: actual === schedule.backfill },
      entities: verdict.entities.filter((e) => !e.entity.startsWith('legacy.')),
      legacyEntities: verdict.entities.filter((e) => e.entity.startsWith('legacy.')),
      watcherScans: watcher?.scans ?? 0,
      examples,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await broker?.close().catch(() => {});
    await stores.drop().catch((e) => o.log(`  clean-up failed: ${(e as Error).message}`));
  }
}

/** True when every must-be-zero figure of `r` is zero, every requested fault happened and the backfill timing held. */
export function seedPassed(r: SeedResult): boolean {
  return (
    r.divergentRows === 0 &&
    r.lostWrites === 0 &&
    r.resurrected === 0 &&
    r.versionRegressions === 0 &&
    r.deadLetters === 0 &&
    r.fenceViolations === 0 &&
    r.missingFaults.length === 0 &&
    r.backfill.ok
  );
}

/** The per-seed line (key=value fields). */
export function seedLine(r: SeedResult): string {
  const faults = Object.entries(r.faults)
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
  return `seed ${r.seed}: direction=${r.direction} entities=${r.entities.map((e) => e.entity).join(',')} schedule_seed=${r.schedule.scheduleSeed} fast_path_ms=${r.schedule.budgetMs} backfill=${r.backfill.planned}/${r.backfill.actual} writes=${r.writes} failed_writes=${r.failedWrites} uncertain_writes=${r.uncertainWrites}${r.schedule.requested.includes('cutover') ? ` cutovers=${r.cutovers} rollbacks=${r.rollbacks} fenced_writes=${r.fencedWrites} fence_violations=${r.fenceViolations} final_phase=${r.finalPhase} flip_pause_max_ms=${r.flipPauseMaxMs} max_reverse_lag_ms=${r.maxReverseLagMs} relay_turns=${r.relayTurns} relay_turn_max_ms=${r.relayTurnMaxMs}` : ''} divergent_rows=${r.divergentRows} lost_writes=${r.lostWrites} resurrected=${r.resurrected} version_regressions=${r.versionRegressions} dead_letters=${r.deadLetters} max_relay_lag_ms=${r.maxRelayLagMs} faults=${faults} missing_faults=${r.missingFaults.join(',') || '-'} watcher_scans=${r.watcherScans} seconds=${r.seconds.toFixed(1)}`;
}

/** Runs every seed; returns the per-seed results and the summary line (from the judge's figures). */
export async function runChaos(opts: ChaosOptions): Promise<{ results: SeedResult[]; line: string }> {
  const o: Opts = {
    rows: 10_000,
    seconds: 10,
    writers: 4,
    faults: true,
    ...opts,
    log: opts.log ?? ((s: string) => process.stdout.write(`${s}\n`)),
  };
  const results: SeedResult[] = [];
  // seeds are independent worlds (their own databases, files, processes and proxies): up to `parallel` at a time
  const queue = [...opts.seeds];
  const lane = async () => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
      const r = await runSeed(seed, o);
      const lines = [seedLine(r)];
      if (!seedPassed(r)) for (const x of r.examples) lines.push(`  ${x}`);
      for (const e of [...r.entities, ...r.legacyEntities]) {
        if (e.divergent)
          lines.push(
            `  ${e.entity}: keys=${e.keys} lost=${e.lost} resurrected=${e.resurrected} phantom=${e.phantom} different=${e.different} extra=${e.extra}`,
          );
      }
      o.log(lines.join('\n'));
      results.push(r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel ?? 1, opts.seeds.length)) }, lane));
  results.sort((a, b) => a.seed - b.seed);
  const sum = (f: (r: SeedResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const dirs = (d: Direction) => results.filter((r) => r.direction === d).length;
  const seeds = opts.seeds.length ? `${Math.min(...opts.seeds)}-${Math.max(...opts.seeds)}` : '-';
  const flipFigures = opts.cutover
    ? ` cutovers=${sum((r) => r.cutovers)} rollbacks=${sum((r) => r.rollbacks)} fenced_writes=${sum((r) => r.fencedWrites)} fence_violations=${sum((r) => r.fenceViolations)}`
    : '';
  const line = `chaos runs=${results.length} writes=${sum((r) => r.writes)}${flipFigures} divergent_rows=${sum((r) => r.divergentRows)} lost_writes=${sum((r) => r.lostWrites)} resurrected=${sum((r) => r.resurrected)} version_regressions=${sum((r) => r.versionRegressions)} max_relay_lag_ms=${Math.max(0, ...results.map((r) => r.maxRelayLagMs))} dead_letters=${sum((r) => r.deadLetters)} missing_faults=${sum((r) => r.missingFaults.length)} backfill_timing_mismatches=${results.filter((r) => !r.backfill.ok).length} seeds_with_lost_writes=${results.filter((r) => r.lostWrites > 0).length} seeds=${seeds} schedule_seeds=${results.map((r) => r.schedule.scheduleSeed).join(',')} directions=mariadb-postgres:${dirs('mariadb-postgres')},postgres-mariadb:${dirs('postgres-mariadb')},sqlite-pglite:${dirs('sqlite-pglite')} judge=independent`;
  return { results, line };
}

/** Parses a `key=value` line (the summary or a seed line) into its fields. */
export function parseFields(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/([a-z_]+)=(\S+)/g)) out[m[1]!] = m[2]!;
  return out;
}
