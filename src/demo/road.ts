/**
 * `tandem demo` — the whole road on the embedded stores (SQLite legacy, PGlite new), in one process (a PGlite
 * directory is opened by one instance only): a simulated application runs throughout — writers through the dual
 * writer's phase-aware form (src/cutover/load.ts, on rows they create), readers through routed reads
 * (src/routing/reader.ts), logins through the identity bridge — while the migration goes backfill → relay →
 * verify → shadow → canary 1 → 10 → 50 → 100 % with the guard (one planted fault on new-side reads that the guard
 * rolls back by itself; the canary then resumes) → rehearsal → cutover → rollback → cutover → legacy read-only.
 * It ends with a report whose lost-writes figure comes from the writers' independent history check.
 */
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { DualWriter } from '../capture/writer.js';
import { ensureControlSchema } from '../control/control.js';
import { setPhase } from '../control/phase.js';
import { sleep } from '../core/async.js';
import { errorLine, isTandemError } from '../core/errors.js';
import { cutover } from '../cutover/cutover.js';
import { checkLoad, LOAD_KEY_BASE, loadEntities, SyntheticLoad } from '../cutover/load.js';
import { setLegacyReadOnly } from '../cutover/read-only.js';
import { defaultRehearsalSteps, drainRelay, dualLoadWriter, parityNow, rehearse } from '../cutover/rehearse.js';
import type { CutoverReport, RollbackReport, WritePause } from '../cutover/types.js';
import { createIdentityBridge } from '../identity/bridge.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import { setCanaryPercent, setShadowPercent } from '../routing/state.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';
import { prepareDemoStores } from './demo.js';

/** What the whole-road demo measured (the closing report's figures). */
export interface RoadResult {
  dir: string;
  configPath: string;
  rows: number;
  /** Writes the application's writers and the rehearsal's load committed, and how many the history check found lost. */
  committed: number;
  lostWrites: number;
  cutover: WritePause;
  rollback: WritePause;
  rollbackRtoSeconds: number;
  /** Parity of the last full verification (percent). */
  parity: number;
  reads: { total: number; fromNew: number; fallbacks: number };
  logins: { ok: number; upgraded: number; failed: number };
  guardTripped: boolean;
  rehearsalPassed: boolean;
  /** Lines of the closing report. */
  report: string[];
  seconds: number;
  /** Seconds per stage. */
  stages: Record<string, number>;
}

/** The closing report's four figures lines (labels padded to 14 characters). */
export function roadLines(
  r: Pick<RoadResult, 'committed' | 'lostWrites' | 'cutover' | 'rollback' | 'rollbackRtoSeconds' | 'parity'>,
): string[] {
  const ms = (x: number) => `${Math.round(x)} ms`;
  return [
    `lost writes   ${r.lostWrites.toLocaleString('en-US')} of ${r.committed.toLocaleString('en-US')} committed`,
    `write pause   cutover p99 ${ms(r.cutover.p99Ms)}, max ${ms(r.cutover.maxMs)}; rollback p99 ${ms(r.rollback.p99Ms)}, max ${ms(r.rollback.maxMs)}`,
    `rollback RTO  ${r.rollbackRtoSeconds.toFixed(r.rollbackRtoSeconds < 1 ? 2 : 1)} s`,
    `parity        ${Math.floor(r.parity * 1000) / 1000 === 100 ? '100.000' : (Math.floor(r.parity * 1000) / 1000).toFixed(3)}%`,
  ];
}

/** The simulated application: readers, logins (writers are the load). */
class App {
  fault = false;
  running = true;
  readonly reads = { total: 0, fromNew: 0, fallbacks: 0 };
  readonly logins = { ok: 0, upgraded: 0, failed: 0 };
  readonly #loops: Promise<void>[] = [];

  constructor(
    readonly m: Migration,
    readonly dual: DualWriter,
    readonly legacyApp: Store,
    readonly rows: number,
    readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { m, legacyApp } = this;
    const next = m.stores.new;
    const lq = `SELECT id, email, status FROM users WHERE id = ${legacyApp.sql.param(1)}`;
    const nq = `SELECT id, email_address, status FROM users WHERE id = ${next.sql.param(1)}`;
    const users = m.reads<number, unknown>('users', {
      legacy: async (id) => (await legacyApp.query(lq, [id]))[0] ?? null,
      new: async (id) => {
        this.reads.fromNew++;
        if (this.fault) {
          await sleep(20);
          throw new Error('planted fault: the new store is failing');
        }
        return (await next.query(nq, [id]))[0] ?? null;
      },
      budgetMs: 100,
    });
    for (let w = 0; w < 2; w++)
      this.#loops.push(
        (async () => {
          while (this.running) {
            const id = 1 + Math.floor(Math.random() * this.rows);
            await users.read(id).catch(() => {});
            this.reads.total++;
            await sleep(8);
          }
        })(),
      );
    const bridge = await createIdentityBridge({
      source: m.stores.legacy,
      target: next,
      entity: m.entities[0]!,
      argon2: { memoryCost: 4096, timeCost: 1 },
      floorMs: 0,
      logger: this.log,
      ensureSchema: false,
    });
    this.#loops.push(
      (async () => {
        let id = 0;
        try {
          while (this.running) {
            id = (id % Math.min(200, this.rows)) + 1;
            const email = (await legacyApp.query<{ email: string }>(lq, [id]))[0]?.email;
            if (email) await this.login(bridge, id, email);
            await sleep(150);
          }
        } finally {
          await bridge.close().catch(() => {});
        }
      })(),
    );
  }

  /** One login; an upgraded hash is written back through the dual writer, so both stores hold it. */
  async login(bridge: Awaited<ReturnType<typeof createIdentityBridge>>, id: number, email: string): Promise<void> {
    try {
      const r = await bridge.authenticate({ identifier: email, password: `password${id}` });
      if (!r.ok) {
        this.logins.failed++;
        return;
      }
      this.logins.ok++;
      if (!r.upgraded) return;
      this.logins.upgraded++;
      const next = this.m.stores.new;
      const hash = (
        await next.query<{ password_hash: string }>(`SELECT password_hash FROM users WHERE id = ${next.sql.param(1)}`, [
          id,
        ])
      )[0]?.password_hash;
      if (!hash) return;
      const lp = (i: number) => this.legacyApp.sql.param(i);
      const np = (i: number) => next.sql.param(i);
      await this.dual.write({
        legacy: async (tx) => {
          await tx.execute(`UPDATE users SET password_hash = ${lp(1)}, version = version + 1 WHERE id = ${lp(2)}`, [
            hash,
            id,
          ]);
          tx.changed('users', id);
        },
        new: async (tx) => {
          await tx.execute(
            `UPDATE users SET password_hash = ${np(1)}, legacy_version = legacy_version + 1 WHERE id = ${np(2)}`,
            [hash, id],
          );
          tx.changed('users', id);
        },
      });
    } catch (e) {
      this.logins.failed++;
      this.log.debug({ event: 'demo.login_failed', err: errorLine(e) }, 'demo login failed');
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.#loops);
  }
}

const worst = (xs: WritePause[]): WritePause => ({
  held: xs.reduce((a, p) => a + p.held, 0),
  p99Ms: Math.max(0, ...xs.map((p) => p.p99Ms)),
  maxMs: Math.max(0, ...xs.map((p) => p.maxMs)),
});

/**
 * Runs the whole road (see the module comment) in `dir` (default `./.tandem-demo`; the folder rules of
 * `prepareDemoDir`). `rows` legacy users (default 20,000), writers at `writesPerSecond` (default 150). Resolves
 * with the figures; throws what a step throws (TANDEM_ERR_USAGE for a folder it may not use).
 */
export async function runRoadDemo(o: {
  rows: number;
  dir?: string;
  log: Logger;
  out: NodeJS.WriteStream;
  writesPerSecond?: number;
}): Promise<RoadResult> {
  const t0 = performance.now();
  const say = (s: string) => o.out.write(`${s}\n`);
  // the demo tells what happens itself: the runtime's warnings (the guard's trip, the relay turning) stay quiet
  const log = o.log.child({}, { level: 'error' });
  const dir = resolve(o.dir ?? '.tandem-demo');
  const stages: Record<string, number> = {};
  let mark = performance.now();
  const stage = (name: string) => {
    const now = performance.now();
    stages[name] = Math.round((now - mark) / 100) / 10;
    mark = now;
  };
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
  say(
    `tandem demo: the whole road — ${o.rows.toLocaleString('en-US')} legacy users (SQLite) → users + user_profiles (PGlite), an application running throughout, in ${dir}`,
  );
  const { configPath } = await prepareDemoStores(dir, o.rows, true);
  stage('generate');
  const m = await openMigration(configPath, { log, phaseTtlMs: 200 });
  const control = m.stores.control;
  const legacyApp = await openStore(m.config.source);
  let dual: DualWriter | undefined;
  let app: App | undefined;
  let load: SyntheticLoad | undefined;
  const relay = m.services.relay({ phasePollMs: 200 });
  try {
    await ensureControlSchema(m.stores.legacy);
    await ensureControlSchema(m.stores.new);
    await setPhase(control, 'dual_write');
    await m.readPhase();
    dual = new DualWriter(m, 50, { legacy: legacyApp });
    const { entities } = loadEntities(m.entities);
    load = new SyntheticLoad(dualLoadWriter(dual, legacyApp.sql, m.stores.new.sql), entities, {
      writesPerSecond: o.writesPerSecond ?? 150,
      keyBase: LOAD_KEY_BASE,
      keySpan: 100_000_000,
    });
    await load.assertRangeEmpty(legacyApp, m.stores.new);
    await load.reserveKeys(control);
    app = new App(m, dual, legacyApp, o.rows, log);
    load.start();
    await app.start();
    await relay.start();
    say(
      `  [${elapsed()}] application started: writers (dual writer, ${o.writesPerSecond ?? 150}/s), readers (routed), logins (identity bridge)`,
    );

    const bf = m.services.backfill();
    await bf.start();
    await bf.wait();
    stage('backfill');
    say(
      `  [${elapsed()}] backfill    ${o.rows.toLocaleString('en-US')} rows copied while the application writes (dual_write)`,
    );
    await load.pause();
    await drainRelay(m);
    let parity = await parityNow(m);
    load.resume();
    stage('verify');
    say(`  [${elapsed()}] relay + verify  outbox drained; full verification: parity ${parity.toFixed(3)}%`);

    await setPhase(control, 'shadow', { force: true });
    await setShadowPercent(control, 100, { command: 'demo' });
    await m.refreshRouting();
    await sleep(1500);
    stage('shadow');
    say(`  [${elapsed()}] shadow      every read served by legacy, new read and compared`);

    await setPhase(control, 'canary', { force: true });
    await m.refreshRouting();
    const guard = m.services.guard({ intervalSeconds: 0.5 });
    await guard.start();
    let tripped = false;
    for (const p of [1, 10, 50, 100]) {
      await setCanaryPercent(control, p, { command: 'demo' });
      await m.refreshRouting();
      say(`  [${elapsed()}] canary      ${p} % of keys read from new`);
      if (p === 10) {
        await sleep(1500);
        app.fault = true;
        say(`  [${elapsed()}]   planted fault: new-side reads fail`);
        const until = Date.now() + 15_000;
        while (Date.now() < until) {
          await m.refreshRouting();
          if (m.routingView().canaryPercent === 0) {
            tripped = true;
            break;
          }
          await sleep(100);
        }
        app.fault = false;
        say(
          `  [${elapsed()}]   ${tripped ? 'the guard tripped and rolled the canary back to 0 % by itself' : 'the guard did not trip'}; fault removed`,
        );
        // the cooldown after a trip, then the canary resumes where it was
        for (let i = 0; i < 200; i++) {
          try {
            await setCanaryPercent(control, p, { command: 'demo' });
            break;
          } catch (e) {
            if (!isTandemError(e)) throw e;
            await sleep(250);
          }
        }
        await m.refreshRouting();
        say(`  [${elapsed()}]   canary resumed at ${p} %`);
      }
      await sleep(1200);
    }
    await guard.stop();
    stage('canary');

    say(`  [${elapsed()}] rehearsal   cutover → rollback → cutover → rollback under its own load`);
    const reh = await rehearse(m, {
      steps: defaultRehearsalSteps(),
      writer: dualLoadWriter(dual, legacyApp.sql, m.stores.new.sql),
      writesPerSecond: 100,
      end: 'legacy',
      dwellSeconds: 0.5,
      keyBase: LOAD_KEY_BASE + 100_000_000,
      keySpan: 100_000_000,
      sql: { legacy: legacyApp.sql, new: m.stores.new.sql },
      say: (l) => say(`      ${l.trim()}`),
    });
    stage('rehearsal');
    say(
      `  [${elapsed()}]   rehearsal ${reh.passed ? 'passed' : `FAILED: ${reh.reason}`} (stored: the cutover gate reads it)`,
    );
    await setCanaryPercent(control, 100, { command: 'demo' }).catch(() => {});
    await sleep(2200); // the guard gate's dwell at 100 % (config gates.dwellSeconds: 2)

    const cut = async (): Promise<CutoverReport> => {
      try {
        return await cutover(m);
      } catch (e) {
        if (!isTandemError(e, 'GATE_FAILED')) throw e;
        say(`      gates: ${errorLine(e)}`);
        say('      (the demo moves on with --force: audited)');
        return cutover(m, { force: true });
      }
    };
    // a step's write pause: the fence's held writes, and the application's writers' own latency meanwhile
    const measured = async <R extends { writePause: WritePause }>(f: () => Promise<R>): Promise<R> => {
      const from = load!.now();
      const r = await f();
      const l = load!.latencyBetween(from, load!.now());
      return {
        ...r,
        writePause: {
          held: r.writePause.held,
          p99Ms: Math.max(r.writePause.p99Ms, l.p99Ms),
          maxMs: Math.max(r.writePause.maxMs, l.maxMs),
        },
      };
    };
    const c1 = await measured(cut);
    say(
      `  [${elapsed()}] cutover     ${c1.from} → new_primary: write pause p99 ${Math.round(c1.writePause.p99Ms)} ms, max ${Math.round(c1.writePause.maxMs)} ms (${c1.writePause.held} held)`,
    );
    await sleep(1000);
    const r1: RollbackReport = await measured(() => defaultRehearsalSteps().rollback(m));
    say(
      `  [${elapsed()}] rollback    new_primary → ${r1.to}: RTO ${r1.rtoSeconds.toFixed(2)} s, write pause p99 ${Math.round(r1.writePause.p99Ms)} ms, max ${Math.round(r1.writePause.maxMs)} ms`,
    );
    await setCanaryPercent(control, 100, { command: 'demo' }).catch(() => {});
    await sleep(2200); // the guard gate's dwell at 100 % (config gates.dwellSeconds: 2)
    await sleep(1000);
    const c2 = await measured(cut);
    say(
      `  [${elapsed()}] cutover     ${c2.from} → new_primary: write pause p99 ${Math.round(c2.writePause.p99Ms)} ms, max ${Math.round(c2.writePause.maxMs)} ms`,
    );
    await sleep(1000);
    stage('cutover');

    // the writers stop; the history check reads both stores with plain SQL; the writers' rows are deleted
    await load.stop();
    await drainRelay(m);
    const check = await checkLoad(
      load,
      { legacy: { exec: legacyApp, sql: legacyApp.sql }, new: { exec: m.stores.new, sql: m.stores.new.sql } },
      'new',
    );
    await load.cleanup();
    await drainRelay(m);
    await app.stop();
    await drainRelay(m);
    parity = await parityNow(m);
    say(
      `  [${elapsed()}] verify      writers stopped, outbox drained: lost ${check.lostWrites}; parity ${parity.toFixed(3)}%`,
    );

    await setLegacyReadOnly(m, true);
    await setPhase(control, 'legacy_read_only', { force: true });
    await m.readPhase();
    let refused = false;
    try {
      await legacyApp.execute('UPDATE users SET status = status WHERE id = 1');
    } catch (e) {
      refused = legacyApp.classifyError(e) === 'read_only';
    }
    stage('read_only');
    say(
      `  [${elapsed()}] legacy read-only  legacy_read_only: ${refused ? 'a write on legacy is refused by the database' : 'WARNING: legacy took a write'}`,
    );

    const result: RoadResult = {
      dir,
      configPath,
      rows: o.rows,
      committed: load.counts.committed + reh.committedWrites,
      lostWrites: check.lostWrites + reh.lostWrites,
      cutover: worst([c1.writePause, c2.writePause]),
      rollback: r1.writePause,
      rollbackRtoSeconds: r1.rtoSeconds,
      parity,
      reads: app.reads,
      logins: app.logins,
      guardTripped: tripped,
      rehearsalPassed: reh.passed,
      report: [],
      seconds: 0,
      stages,
    };
    result.seconds = (performance.now() - t0) / 1000;
    result.report = [
      ...roadLines(result),
      `reads         ${app.reads.total.toLocaleString('en-US')} routed (${app.reads.fromNew.toLocaleString('en-US')} tried on new); logins ${app.logins.ok.toLocaleString('en-US')} ok, ${app.logins.upgraded} hashes upgraded to Argon2id`,
      `guard         ${tripped ? 'tripped once on the planted fault, rolled the canary back by itself' : 'did not trip'}`,
      `rehearsal     ${reh.passed ? 'passed' : `failed: ${reh.reason}`}`,
      `ends in       legacy_read_only (the new store is primary; legacy refuses writes)`,
      `elapsed       ${result.seconds.toFixed(1)} s`,
    ];
    say('');
    for (const l of result.report) say(l);
    say('');
    say(`Explore: npx tandem status --config ${configPath}`);
    return result;
  } finally {
    app && (await app.stop().catch(() => {}));
    await load?.stop().catch(() => {});
    await relay.stop().catch(() => {});
    await dual?.close().catch(() => {});
    await legacyApp.close().catch(() => {});
    await m.close().catch(() => {});
    void join;
  }
}
