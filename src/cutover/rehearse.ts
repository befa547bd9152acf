/**
 * The rehearsal (docs/cutover.md "Rehearsal"): cutover → rollback → cutover on the configured (staging) stores
 * under a synthetic write load (src/cutover/load.ts), measuring the write pause of each step (from the held
 * writes the fence measured), the rollback's RTO, the lost writes (by the load's independent history check:
 * must be 0) and the parity after each step (a full verification). The result is stored with
 * {@link saveRehearsal} (the cutover gate reads it) and audited.
 */
import type { DualWriter } from '../capture/writer.js';
import { audit } from '../control/control.js';
import { capturesChanges } from '../control/phase.js';
import { errorLine } from '../core/errors.js';
import { cutover } from './cutover.js';
import { rollback } from './rollback.js';
import { outboxInsert, type OutboxEntry } from '../outbox/outbox.js';
import type { Migration } from '../runtime/migration.js';
import type { Store } from '../stores/types.js';
import { verifyEntities } from '../verify/verify.js';
import {
  checkLoad,
  loadEntities,
  loadRowsLeft,
  type LoadCheck,
  type LoadCounts,
  type LoadTx,
  type LoadWriter,
  type SkippedEntity,
  SyntheticLoad,
} from './load.js';
import { saveRehearsal } from './rehearsal-record.js';
import type { CutoverReport, RehearsalRecord, RollbackReport, WritePause } from './types.js';
import { recordLastVerify } from '../runtime/last-verify.js';

/** One step of the rehearsal, as measured. */
export interface RehearsalStep {
  step: 'cutover' | 'rollback';
  from: string;
  to: string;
  /**
   * The step's write pause: `held` as the fence counted, p99 and max the worse of the fence's figures and the
   * load's own (a write blocked on a store lock behind the fence is not counted "held" by the fence but waited).
   */
  writePause: WritePause;
  /** The write pause as the step's report gives it (the writes the fence held). */
  fenceWritePause: WritePause;
  /** Rollback only: its measured RTO, seconds. */
  rtoSeconds?: number;
  /** Seconds the step took. */
  seconds: number;
  /** Parity (percent, lowest entity) of the full verification after the step (load paused, relay drained). */
  parity: number;
  /** The latency the load's own writes saw while the step ran (a cross-check of `writePause`), ms. */
  loadLatency: { writes: number; p99Ms: number; maxMs: number };
  /** Cutover only: the gates that failed and were passed by `force` (the `rehearsal` gate always is, before one). */
  gatesForced?: string[];
}

/** What `tandem rehearse --json` prints: the stored record plus the details. */
export interface RehearsalReport extends RehearsalRecord {
  /** The phase the rehearsal left the migration in (`new_primary`, or `canary` with `end: 'legacy'`). */
  endPhase: string;
  steps: RehearsalStep[];
  /** The synthetic load's counts (committed = inserts + updates + deletes). */
  load: LoadCounts & {
    writesPerSecond: number;
    achievedPerSecond: number;
    entities: string[];
    skipped: SkippedEntity[];
  };
  /** The independent history check (after the load stopped and the relay drained; before the cleanup). */
  check: LoadCheck;
  /** Rows of the load's range left on each store after its cleanup (must be 0). */
  leftAfterCleanup: { legacy: number; new: number };
  seconds: number;
}

/** The steps the rehearsal runs (the fenced cutover and rollback of src/cutover/). */
export interface RehearsalSteps {
  cutover(m: Migration): Promise<CutoverReport>;
  rollback(m: Migration): Promise<RollbackReport>;
}

/** Options of {@link rehearse}. */
export interface RehearseOptions {
  steps: RehearsalSteps;
  /** The phase-aware writer the load writes through (`dual.write({ legacy, new })`). */
  writer: LoadWriter;
  /** Target write rate of the load. Default 100. */
  writesPerSecond?: number;
  /** `new_primary` (default): end after the second cutover; `legacy`: roll back once more at the end. */
  end?: 'new_primary' | 'legacy';
  /** Seconds of load before the first step and between steps. Default 1. */
  dwellSeconds?: number;
  /** Told what happens (one line each). */
  say?: (line: string) => void;
  /** Called after each step with the load (tests use it to break things behind its back). */
  afterStep?: (i: number, load: SyntheticLoad) => Promise<void>;
  /** Where the load's integer keys start (default LOAD_KEY_BASE), and how many it may use. */
  keyBase?: number;
  keySpan?: number;
  /** Save the record and audit (default true). */
  save?: boolean;
  /** The SQL dialects of the stores for the load's plain-SQL check (default the migration's stores'). */
  sql?: { legacy: Store['sql']; new: Store['sql'] };
}

/**
 * The fenced steps of src/cutover/: `cutover(m, { force: true })` — a rehearsal is the proof the cutover gate
 * asks for, so that gate cannot pass before it; the other gates' verdicts are in the cutover's report — and
 * `rollback(m, { verify: false })` (the rehearsal verifies after each step itself).
 */
export function defaultRehearsalSteps(): RehearsalSteps {
  return {
    cutover: (m) => cutover(m, { force: true }),
    // the rehearsal runs its own full verification after each step (the load paused, the relay drained)
    rollback: (m) => rollback(m, { verify: false }),
  };
}

const pct = (xs: number[]) => (xs.length ? Math.min(...xs) : 100);

/** Drains the live outbox of the current phase into the secondary (one relay run until empty). */
export async function drainRelay(m: Migration): Promise<void> {
  await m.readPhase().catch(() => {});
  const r = m.services.relay({ untilEmpty: true, phasePollMs: 0 });
  await r.start();
  await r.wait();
}

/**
 * A full verification of every entity — legacy mapped against new, in every phase (the comparison is the same
 * whichever is primary: missing, extra and different rows) — and its lowest parity (percent).
 */
export async function parityNow(m: Migration): Promise<number> {
  const startedAt = new Date().toISOString();
  const v = await verifyEntities(m.stores.legacy, m.stores.new, m.entities, {
    pageRows: m.config.verify.pageRows,
    maxReportedDifferences: 0,
  });
  // a full verification (every row compared): recorded as `tandem verify` records one (the parity gate and
  // status read it); one that stopped early is not recorded
  if (v.complete)
    await recordLastVerify(
      m.stores.control,
      new Map(
        v.entities.map((e) => [
          e.entity,
          { mode: 'full', at: startedAt, parity: e.parity, differences: e.missing + e.extra + e.different },
        ]),
      ),
    ).catch(() => {});
  return pct(v.entities.map((e) => e.parity));
}

/**
 * Runs the rehearsal on `m`'s stores (see the module comment). The migration must be in a phase a write cutover
 * starts from (the steps refuse otherwise). The load writes only rows it creates (src/cutover/load.ts) and
 * deletes them at the end. Resolves with the report, passed or not (`reason` says why not); throws only what
 * the setup throws (TANDEM_ERR_USAGE when no entity is eligible or the load's key range is not empty).
 */
export async function rehearse(m: Migration, o: RehearseOptions): Promise<RehearsalReport> {
  const t0 = performance.now();
  const say = o.say ?? (() => {});
  const rate = o.writesPerSecond ?? 100;
  const dwell = (o.dwellSeconds ?? 1) * 1000;
  const { entities, skipped } = loadEntities(m.entities);
  const load = new SyntheticLoad(o.writer, entities, {
    writesPerSecond: rate,
    keyBase: o.keyBase,
    onError: (e) => {
      if (process.env.TANDEM_LOAD_DEBUG) console.error(errorLine(e));
    },
  });
  const sql = o.sql ?? { legacy: m.stores.legacy.sql, new: m.stores.new.sql };
  await load.assertRangeEmpty(m.stores.legacy, m.stores.new);
  await load.reserveKeys(m.stores.control);
  const relay = m.services.relay({ phasePollMs: 200 });
  await relay.start();
  const steps: RehearsalStep[] = [];
  const reasons: string[] = [];
  let endPhase = await m.readPhase();
  const plan: ('cutover' | 'rollback')[] = ['cutover', 'rollback', 'cutover'];
  if (o.end === 'legacy') plan.push('rollback');
  say(
    `rehearsal: ${plan.join(' → ')} under ${rate} writes/s on ${entities.map((e) => e.entity.name).join(', ')}${skipped.length ? ` (skipped: ${skipped.map((s) => `${s.entity}: ${s.reason}`).join('; ')})` : ''}`,
  );
  load.start();
  try {
    await new Promise((r) => setTimeout(r, dwell));
    for (let i = 0; i < plan.length; i++) {
      const step = plan[i]!;
      const t = performance.now();
      const from = load.now();
      let rep: CutoverReport | RollbackReport;
      try {
        rep = step === 'cutover' ? await o.steps.cutover(m) : await o.steps.rollback(m);
      } catch (e) {
        reasons.push(`${step} ${i + 1} failed: ${errorLine(e)}`);
        say(`  ${step} failed: ${errorLine(e)}`);
        break;
      }
      const seconds = (performance.now() - t) / 1000;
      const to = load.now();
      await m.readPhase().catch(() => {});
      // parity: the load paused and the relay drained, then a full verification, then the load goes on
      await load.pause();
      await drainRelay(m);
      const parity = await parityNow(m);
      load.resume();
      const loadLatency = load.latencyBetween(from, to);
      const s: RehearsalStep = {
        step,
        from: rep.from,
        to: rep.to,
        writePause: {
          held: rep.writePause.held,
          p99Ms: Math.max(rep.writePause.p99Ms, loadLatency.p99Ms),
          maxMs: Math.max(rep.writePause.maxMs, loadLatency.maxMs),
        },
        fenceWritePause: rep.writePause,
        seconds,
        parity,
        loadLatency,
        ...('rtoSeconds' in rep ? { rtoSeconds: rep.rtoSeconds } : {}),
        ...('gates' in rep ? { gatesForced: rep.gates.filter((g) => !g.pass).map((g) => g.gate) } : {}),
      };
      steps.push(s);
      say(
        `  ${step.padEnd(8)} ${rep.from} → ${rep.to} in ${seconds.toFixed(2)} s: write pause p99 ${Math.round(s.writePause.p99Ms)} ms, max ${Math.round(s.writePause.maxMs)} ms (fence: ${rep.writePause.held} held, max ${Math.round(rep.writePause.maxMs)} ms; the load's ${loadLatency.writes} writes: max ${loadLatency.maxMs} ms)${s.rtoSeconds !== undefined ? `, RTO ${s.rtoSeconds.toFixed(2)} s` : ''}; parity ${parity.toFixed(3)}%`,
      );
      if (parity < 100) reasons.push(`parity ${parity.toFixed(3)}% after ${step} ${i + 1}`);
      await o.afterStep?.(i, load);
      if (i < plan.length - 1) await new Promise((r) => setTimeout(r, dwell));
    }
  } finally {
    await load.stop();
  }
  const loadSeconds = load.now() / 1000;
  endPhase = await m.readPhase();
  await drainRelay(m);
  const roles = m.roles(endPhase);
  const check = await checkLoad(
    load,
    { legacy: { exec: m.stores.legacy, sql: sql.legacy }, new: { exec: m.stores.new, sql: sql.new } },
    roles.primaryName,
  );
  if (check.lostWrites > 0)
    reasons.push(
      `${check.lostWrites} lost write(s) (${check.lostOnPrimary} on the primary, ${check.lostOnSecondary} not carried to the other store)`,
    );
  if (check.resurrected > 0) reasons.push(`${check.resurrected} deleted row(s) came back`);
  await load.cleanup();
  await drainRelay(m);
  const leftAfterCleanup = {
    legacy: await loadRowsLeft(load, m.stores.legacy, sql.legacy, 'legacy'),
    new: await loadRowsLeft(load, m.stores.new, sql.new, 'new'),
  };
  await relay.stop();
  await relay.wait().catch(() => {});
  if (leftAfterCleanup.legacy + leftAfterCleanup.new > 0)
    reasons.push(`${leftAfterCleanup.legacy + leftAfterCleanup.new} row(s) of the load left after its cleanup`);
  if (steps.length < plan.length && !reasons.length) reasons.push('not every step ran');
  const cut = steps.filter((s) => s.step === 'cutover');
  const back = steps.filter((s) => s.step === 'rollback');
  const worst = (xs: RehearsalStep[]): WritePause => ({
    held: xs.reduce((a, s) => a + s.writePause.held, 0),
    p99Ms: Math.max(0, ...xs.map((s) => s.writePause.p99Ms)),
    maxMs: Math.max(0, ...xs.map((s) => s.writePause.maxMs)),
  });
  const record: RehearsalRecord = {
    at: new Date().toISOString(),
    passed: reasons.length === 0,
    committedWrites: load.counts.committed,
    lostWrites: check.lostWrites,
    cutover: worst(cut),
    rollback: worst(back),
    rollbackRtoSeconds: Math.max(0, ...back.map((s) => s.rtoSeconds ?? 0)),
    parity: steps.map((s) => s.parity),
    ...(reasons.length ? { reason: reasons.join('; ') } : {}),
  };
  const report: RehearsalReport = {
    ...record,
    endPhase,
    steps,
    load: {
      ...load.counts,
      writesPerSecond: rate,
      achievedPerSecond: Math.round((load.counts.committed / Math.max(0.001, loadSeconds)) * 10) / 10,
      entities: entities.map((e) => e.entity.name),
      skipped,
    },
    check,
    leftAfterCleanup,
    seconds: (performance.now() - t0) / 1000,
  };
  if (o.save ?? true) {
    await saveRehearsal(m.stores.control, record);
    await audit(m.stores.control, {
      command: 'rehearse',
      args: { writesPerSecond: rate, end: o.end ?? 'new_primary' },
      outcome: record.passed ? 'ok' : 'error',
      detail: JSON.stringify({ ...record, endPhase }),
    });
  }
  return report;
}

/**
 * A phase-aware writer on Tandem's own connections (the load's writes are Tandem's, on rows it created): the
 * path of the primary of the current phase runs in one transaction on that store, with the outbox row of each
 * changed key. It takes no fence: use the dual writer's phase-aware form where the fence matters. @internal
 */
export function unfencedWriter(
  m: Migration,
  legacy: Store,
  entry: (entity: string, key: unknown) => OutboxEntry,
): LoadWriter {
  return {
    sql: { legacy: legacy.sql, new: m.stores.new.sql },
    async write(paths) {
      const phase = await m.phase();
      const side = m.roles(phase).primaryName;
      const store = side === 'legacy' ? legacy : m.stores.new;
      await store.transaction(async (tx) => {
        const entries: OutboxEntry[] = [];
        const ltx: LoadTx = {
          query: (s, p) => tx.query(s, p),
          execute: (s, p) => tx.execute(s, p),
          changed: (e, k) => entries.push(entry(e, k)),
        };
        await paths[side](ltx);
        if (capturesChanges(phase) && entries.length) {
          const st = outboxInsert(store.dialect, entries);
          await tx.execute(st.sql, st.params);
        }
      });
    },
  };
}

/** The load's writer on the dual writer's phase-aware form (fenced: held writes are what the steps measure). */
export function dualLoadWriter(dual: DualWriter, legacySql: Store['sql'], newSql: Store['sql']): LoadWriter {
  return {
    sql: { legacy: legacySql, new: newSql },
    write: (paths) => dual.write({ legacy: paths.legacy, new: paths.new }),
  };
}

/** The lines `tandem rehearse` prints at the end (labels padded to 14 characters, as the demo's report). */
export function rehearsalLines(r: RehearsalReport): string[] {
  const ms = (x: number) => `${Math.round(x)} ms`;
  return [
    `result        ${r.passed ? 'PASSED' : `FAILED: ${r.reason}`}`,
    `lost writes   ${r.lostWrites.toLocaleString('en-US')} of ${r.committedWrites.toLocaleString('en-US')} committed`,
    `write pause   cutover p99 ${ms(r.cutover.p99Ms)}, max ${ms(r.cutover.maxMs)}; rollback p99 ${ms(r.rollback.p99Ms)}, max ${ms(r.rollback.maxMs)}`,
    `rollback RTO  ${r.rollbackRtoSeconds.toFixed(r.rollbackRtoSeconds < 1 ? 2 : 1)} s`,
    `parity        ${r.parity.map((p) => `${p.toFixed(3)}%`).join(' / ') || 'not measured'}`,
    `ends in       ${r.endPhase}${r.endPhase === 'new_primary' ? ' (the new store is primary; tandem rollback moves back)' : ''}`,
  ];
}
