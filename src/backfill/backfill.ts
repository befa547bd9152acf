import { randomUUID } from 'node:crypto';
import { sourceCount } from '../core/where.js';
import type { Logger } from 'pino';
import { applyMapped, isUniqueViolation, prepareRows } from '../apply/apply.js';
import { isTransient, withRetry } from '../apply/retry.js';
import type { TandemConfig } from '../config/schema.js';
import {
  advanceCheckpoint,
  ChunkAlreadyCommitted,
  finishCheckpoint,
  readCheckpoint,
  startCheckpoint,
} from '../control/control.js';
import { deadHolderCheck } from '../control/heartbeat.js';
import {
  acquireAll,
  acquireLease,
  backfillScope,
  type DeadHolderCheck,
  type Lease,
  LeaseKeeper,
  type LeaseInfo,
  listLeases,
  processHolder,
  releaseLease,
} from '../control/lease.js';
import {
  advanceRange,
  createPlan,
  finishEntityIfDone,
  finishRange,
  listRanges,
  type RangeRow,
  rangeScope,
  resetPlan,
  startRange,
} from '../control/ranges.js';
import { errorLine, isTandemError } from '../core/errors.js';
import { faultPoint } from '../core/faults.js';
import type { ResolvedEntity } from '../core/mapping.js';
import type { Row, Store } from '../stores/types.js';
import { backfillMetrics } from './metrics.js';
import { Pacer } from './pacer.js';
import { ProgressReporter } from './progress.js';
import { planRanges, rangeCount } from './ranges.js';
import { Throttle } from './throttle.js';
import { ThrottlePublisher } from './throttle-publish.js';
import type { ThrottleState } from '../control/throttle-state.js';

/** One range an entity's backfill worked on in this run. */
export interface RangeBackfillResult {
  /** 1-based range number (1 of 1 for an entity planned as one range). */
  range: number;
  of: number;
  /** Rows read from the source in this run. */
  copied: number;
  status: 'done' | 'interrupted';
}

/** Result of one entity's backfill. */
export interface EntityBackfillResult {
  entity: string;
  /** Rows read from the source in this run. */
  copied: number;
  /** Rows written to the target in this run (their version won in the ledger). */
  applied: number;
  /** Rows the checkpoint says are copied, all runs together (all ranges and workers). */
  copiedTotal: number;
  rowsTotal: number;
  seconds: number;
  status: 'done' | 'interrupted' | 'skipped';
  /** The ranges this run copied (in the order they were taken); empty when it copied none. */
  ranges: RangeBackfillResult[];
}

export interface BackfillOptions {
  config: TandemConfig;
  source: Store;
  target: Store;
  /** Entities in fill order (from `resolveConfig`). */
  entities: ResolvedEntity[];
  log: Logger;
  /** Where the TTY progress line goes (null: JSON logs only). */
  progressOut?: NodeJS.WriteStream | null;
  /**
   * Start over from the first key even where a checkpoint exists (rows already there are re-applied, harmlessly):
   * the entity's plan is made again. Refused with TANDEM_ERR_LEASE_HELD while any range of the entity is held.
   */
  restart?: boolean;
  /** Overrides the config's throttle (rows per second of this process, shared by its workers). */
  maxRowsPerSecond?: number;
  /** When aborted, the backfill stops after the chunks in flight commit. */
  signal?: AbortSignal;
  /** Called after every committed chunk (tests use it to inject faults); `copiedTotal`: all ranges together. */
  onChunk?: (entity: string, copiedTotal: number, rowsTotal: number) => void | Promise<void>;
  /**
   * Told which entities are being copied, e.g. the process's heartbeat: `backfill:<entity>`, or
   * `backfill:<a>,<b>` while workers of this process copy several entities at once; null when none.
   */
  heartbeat?: { setScope(scope: string | null): void };
  /**
   * The control store (heartbeats). Given, a live lease whose holder is dead — its pid gone on this host, or its
   * heartbeat stopped — is taken over at once rather than after it expires (`deadHolderCheck`,
   * src/control/heartbeat.ts); without it, a dead holder's lease is taken over once it expires.
   */
  control?: Store;
  /**
   * Told when an entity's throttle reason changes (null: runs at full speed again), e.g. the runtime's
   * `backfill:throttle` event. The state is also written to the control plane (src/control/throttle-state.ts).
   */
  onThrottle?: (entity: string, throttle: ThrottleState | null) => void;
  /**
   * Range workers in this process, each copying one range at a time (default `config.backfill.workers`, else 1).
   * Entities are taken in fill order; an entity starts once every entity it depends on is done.
   */
  workers?: number;
  /**
   * When every range of an entity left to copy is held by live workers elsewhere and this run took none of it:
   * `fail` (the default, `tandem backfill`) throws their TANDEM_ERR_LEASE_HELD; `wait` (`tandem run`) waits,
   * telling `onHeld`, and takes the ranges over if their holders die.
   */
  whenHeld?: 'fail' | 'wait';
  /** whenHeld `wait`: told (once per wait) that `entity` is held elsewhere, with the refusal. */
  onHeld?: (entity: string, error: unknown) => void;
  /** Milliseconds between two looks at the plans while waiting for other workers (default 500). */
  pollMs?: number;
  /** Told when an entity's backfill is done or skipped (already done), as soon as it is. */
  onEntityDone?: (r: EntityBackfillResult) => void;
}

/** One range a worker of this process holds: the range (null for an entity planned as one range) and its lease. */
interface Task {
  run: EntityRun;
  range: RangeRow | null;
  lease: Lease;
}

/** What this process knows of one entity during a run. */
class EntityRun {
  rowsTotal = 0;
  planned: Promise<void> | null = null;
  /** Planned as one range (its checkpoint row is the range). */
  single = true;
  finished: EntityBackfillResult['status'] | null = null;
  copied = 0;
  applied = 0;
  copiedTotal = 0;
  started = performance.now();
  readonly mine = new Set<number>();
  participated = false;
  heldTold = false;
  readonly ranges: RangeBackfillResult[] = [];
  publisher: ThrottlePublisher | null = null;
  readonly progress: ProgressReporter;

  constructor(
    readonly entity: ResolvedEntity,
    readonly deps: string[],
    out: NodeJS.WriteStream | null,
    log: Logger,
  ) {
    this.progress = new ProgressReporter(out, log);
  }

  get name(): string {
    return this.entity.name;
  }

  result(status: EntityBackfillResult['status']): EntityBackfillResult {
    return {
      entity: this.name,
      copied: this.copied,
      applied: this.applied,
      copiedTotal: this.copiedTotal,
      rowsTotal: this.rowsTotal,
      seconds: this.participated ? (performance.now() - this.started) / 1000 : 0,
      status,
      ranges: this.ranges,
    };
  }
}

/**
 * The entities each entity waits for: those earlier in the fill order `entities` that one of its target tables
 * references by a foreign key (self references ignored), and those the config's `order` lists before it. Only
 * earlier entities, so the waits can never form a cycle.
 */
export function backfillDependencies(entities: ResolvedEntity[], order?: string[]): Map<string, string[]> {
  const owner = new Map<string, string>();
  for (const e of entities) for (const t of e.targets) owner.set(t.table.name, e.name);
  const out = new Map<string, string[]>();
  entities.forEach((e, i) => {
    const earlier = new Set(entities.slice(0, i).map((x) => x.name));
    const d = new Set<string>();
    for (const t of e.targets)
      for (const fk of t.table.foreignKeys) {
        const o = owner.get(fk.refTable);
        if (o && o !== e.name && earlier.has(o)) d.add(o);
      }
    const at = order?.indexOf(e.name) ?? -1;
    if (at > 0) for (const n of order!.slice(0, at)) if (earlier.has(n)) d.add(n);
    out.set(e.name, [...d]);
  });
  return out;
}

/**
 * Backfills entities: a keyset scan of the source in adaptive chunks; each chunk is applied through the guarded
 * apply and its checkpoint advanced in the same target transaction, so killing the process at any moment loses
 * nothing and duplicates nothing — a restart resumes after the last committed chunk. The read of the next chunk
 * overlaps the write of the current one.
 *
 * Parallel workers (docs/backfill.md "Parallel workers"): the first worker to reach an entity plans it once — its
 * key space split into ranges by source quantiles (`backfill.ranges`, src/backfill/ranges.ts), written with its
 * checkpoint row in one transaction (src/control/ranges.ts); a small table is one range, its checkpoint row as
 * before. Any number of workers — `workers` in this process, and any number of processes on any machines — then
 * take ranges: each range is a lease (`backfill:<entity>` for a one-range entity, `backfill:<entity>/<i>` else)
 * in the target, renewed on every chunk and on a timer, and every move of the range's checkpoint is fenced on the
 * lease's token in the chunk's transaction: a worker whose lease was taken over gets TANDEM_ERR_LEASE_LOST and
 * its chunk rolls back. A worker that dies loses its ranges when their leases expire (at once when the holder is
 * known dead, `control`), and another worker resumes each from its checkpoint. Coordination goes only through the
 * target's control tables. Entities are taken in fill order; one starts once every entity it depends on
 * ({@link backfillDependencies}) is done, so entities without dependencies between them are copied in parallel.
 *
 * A run that finds every range left of an entity held by live workers elsewhere, having taken none of it, is
 * refused with TANDEM_ERR_LEASE_HELD naming a holder (`whenHeld: 'fail'`) or waits (`'wait'`); one that took part
 * waits for the others, so when it returns each entity it was given is done (or it was stopped: `interrupted`).
 * Leases are released as each range is done, and all when the run ends, however it ends.
 */
export async function runBackfill(o: BackfillOptions): Promise<EntityBackfillResult[]> {
  return new BackfillRun(o).run();
}

class BackfillRun {
  private readonly runs: EntityRun[];
  private readonly byName: Map<string, EntityRun>;
  private readonly workers: number;
  private readonly leaseMs: number;
  private readonly deadHolder: DeadHolderCheck | undefined;
  private readonly throttle: Throttle;
  private readonly stop = new AbortController();
  private failure: unknown = null;
  /** One worker at a time plans or claims (keeps this process's own workers from racing each other). */
  private claiming: Promise<void> = Promise.resolve();
  /** Leases held right now, renewed on a timer. */
  private readonly keeper: LeaseKeeper;
  private readonly active = new Map<string, number>();
  private readonly pacerSizes = new Map<string, number>();

  constructor(private readonly o: BackfillOptions) {
    const deps = backfillDependencies(o.entities, o.config.order);
    this.runs = o.entities.map((e) => new EntityRun(e, deps.get(e.name) ?? [], o.progressOut ?? null, o.log));
    this.byName = new Map(this.runs.map((r) => [r.name, r]));
    this.workers = Math.max(1, Math.floor(o.workers ?? o.config.backfill.workers ?? 1));
    this.leaseMs = (o.config.backfill.leaseSeconds ?? 30) * 1000;
    this.deadHolder = o.control ? deadHolderCheck(o.control) : undefined;
    this.throttle = new Throttle({
      config: o.config.backfill.throttle,
      source: o.source,
      control: o.control,
      log: o.log,
    });
    this.keeper = new LeaseKeeper(o.target, [], (e) =>
      o.log.warn(
        { event: 'backfill.lease_renew_failed', err: (e as Error)?.message },
        'could not renew the backfill lease (retrying)',
      ),
    );
    if (o.signal?.aborted) this.stop.abort();
    else o.signal?.addEventListener('abort', () => this.stop.abort(), { once: true });
  }

  private get aborted(): boolean {
    return this.stop.signal.aborted;
  }

  async run(): Promise<EntityBackfillResult[]> {
    try {
      if (this.o.restart && !this.aborted) await this.restartAll();
      await Promise.all(Array.from({ length: this.workers }, () => this.worker()));
    } finally {
      this.o.heartbeat?.setScope(null);
      await this.throttle.close();
      await this.keeper.release();
      for (const r of this.runs) await r.publisher?.clear();
      // stopped or failed mid-entity: the progress line is ended before the summary or the error is printed
      for (const r of this.runs) r.progress.close();
    }
    if (this.failure) throw this.failure;
    return this.runs.map((r) => r.result(r.finished ?? 'interrupted'));
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    this.stop.abort();
  }

  private async worker(): Promise<void> {
    try {
      for (;;) {
        const t = await this.next();
        if (!t) return;
        this.enter(t.run.name);
        try {
          await this.copyRange(t);
        } catch (e) {
          // a worker of `tandem run` whose range was taken over (it stalled): the range is another's now, and this
          // worker goes on with other work; its chunk rolled back, nothing of it was written
          if (this.o.whenHeld === 'wait' && isTandemError(e, 'LEASE_LOST')) {
            this.o.log.warn(
              { event: 'backfill.lease_lost', entity: t.run.name, err: errorLine(e) },
              `${t.run.name}: a range of this worker was taken over by another; going on with other work`,
            );
          } else throw e;
        } finally {
          this.leave(t.run.name);
          t.run.mine.delete(t.range?.range ?? 1);
          const l = this.keeper.get(t.lease.scope);
          if (l) await this.keeper.releaseOne(l);
        }
      }
    } catch (e) {
      this.fail(e);
    }
  }

  private enter(entity: string): void {
    this.active.set(entity, (this.active.get(entity) ?? 0) + 1);
    this.tellScope();
  }

  private leave(entity: string): void {
    const n = (this.active.get(entity) ?? 1) - 1;
    if (n > 0) this.active.set(entity, n);
    else this.active.delete(entity);
    this.tellScope();
  }

  private tellScope(): void {
    const names = [...this.active.keys()];
    this.o.heartbeat?.setScope(names.length ? backfillScope(names.join(',')) : null);
  }

  /** The next range for a worker, or null when every entity is finished (or the run stops). */
  private async next(): Promise<Task | null> {
    for (;;) {
      if (this.aborted) return null;
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const before = this.claiming;
      this.claiming = before.then(() => mine);
      await before;
      let t: Task | null = null;
      try {
        if (this.aborted) return null;
        t = await this.claimAny();
      } finally {
        release();
      }
      if (t) return t;
      if (this.runs.every((r) => r.finished)) return null;
      await abortableSleep(this.o.pollMs ?? 500, this.stop.signal);
    }
  }

  private depsDone(r: EntityRun): boolean {
    return r.deps.every((d) => {
      const f = this.byName.get(d)?.finished;
      return f === 'done' || f === 'skipped';
    });
  }

  /** One pass over the entities in fill order: the first range this process can take, or null (wait). */
  private async claimAny(): Promise<Task | null> {
    for (const r of this.runs) {
      if (r.finished || !this.depsDone(r)) continue;
      if (this.aborted) return null;
      r.planned ??= this.plan(r);
      await r.planned;
      const c = await this.claim(r);
      if (c === 'done') {
        this.finishEntity(r);
        continue;
      }
      if (c === 'busy') continue;
      if ('held' in c) {
        if (r.participated || r.mine.size) continue;
        if ((this.o.whenHeld ?? 'fail') === 'fail') throw c.held;
        if (!r.heldTold) {
          r.heldTold = true;
          this.o.onHeld?.(r.name, c.held);
        }
        continue;
      }
      r.heldTold = false;
      r.participated = true;
      r.mine.add(c.range?.range ?? 1);
      return c;
    }
    return null;
  }

  /** Counts an entity's rows: the figure its plan is sized for and progress is shown against. */
  private async count(r: EntityRun): Promise<void> {
    const c = sourceCount(this.o.source, r.entity);
    r.rowsTotal = Number((await this.o.source.query<{ n: unknown }>(c.sql, c.params))[0]?.n ?? 0);
  }

  private wanted(r: EntityRun): number {
    return rangeCount(r.rowsTotal, this.o.config.backfill.ranges, this.workers);
  }

  private logPlan(r: EntityRun, ranges: number, restart: boolean): void {
    this.o.log.info(
      { event: 'backfill.plan', entity: r.name, ranges, rowsTotal: r.rowsTotal, ...(restart ? { restart } : {}) },
      `${r.name}: planned ${ranges} range(s) of about ${Math.ceil(r.rowsTotal / ranges).toLocaleString('en-US')} rows`,
    );
  }

  /**
   * `--restart`, before anything is copied: takes every lease of every entity given — `backfill:<entity>` and
   * those of its plan's ranges — all or none (a held one: TANDEM_ERR_LEASE_HELD naming its holder, nothing
   * written), makes each entity's plan again, and lets the leases go for the workers to take.
   */
  private async restartAll(): Promise<void> {
    const { target } = this.o;
    const scopes: { scope: string; what: string }[] = [];
    for (const r of this.runs) {
      const what = `entity ${r.name} is being copied`;
      scopes.push({ scope: backfillScope(r.name), what });
      for (const x of await listRanges(target, target, r.name))
        scopes.push({ scope: rangeScope(r.name, x.range), what });
    }
    const held = await acquireAll(target, scopes, this.leaseMs, undefined, this.deadHolder);
    try {
      for (const s of scopes) this.logTakeover(held.get(s.scope));
      for (const r of this.runs) {
        await this.count(r);
        const ranges = await planRanges(this.o.source, r.entity, r.rowsTotal, this.wanted(r));
        await resetPlan(target, r.name, r.rowsTotal, randomUUID(), ranges);
        this.logPlan(r, ranges.length, true);
        r.single = ranges.length < 2;
        r.planned = Promise.resolve();
      }
    } finally {
      await held.release();
    }
  }

  /** Plans an entity once per run: counts its rows; makes its plan when it has none (the first planner wins). */
  private async plan(r: EntityRun): Promise<void> {
    const { source, target } = this.o;
    await this.count(r);
    const cp = await readCheckpoint(target, target, r.name);
    if (!cp) {
      const ranges = await planRanges(source, r.entity, r.rowsTotal, this.wanted(r));
      if (await createPlan(target, r.name, r.rowsTotal, randomUUID(), ranges)) this.logPlan(r, ranges.length, false);
    } else if (cp.status !== 'done') {
      const p = (i: number) => target.sql.param(i);
      await target.execute(
        `UPDATE ${target.controlTable('checkpoints')} SET rows_total = ${p(1)} WHERE entity = ${p(2)}`,
        [r.rowsTotal, r.name],
      );
    }
    r.single = (await listRanges(target, target, r.name)).length === 0;
  }

  private logTakeover(l: Lease | undefined): void {
    const took = l?.tookOver;
    if (!l || !took) return;
    this.o.log.warn(
      {
        event: 'backfill.lease_takeover',
        scope: l.scope,
        host: took.host,
        pid: took.pid,
        token: took.token,
        reason: took.reason,
      },
      `${l.scope}: lease taken over from host ${took.host} pid ${took.pid} before it expired: ${took.reason}`,
    );
  }

  private async lease(scope: string, what: string): Promise<Lease> {
    const l = await acquireLease(this.o.target, scope, this.leaseMs, { what, deadHolder: this.deadHolder });
    this.logTakeover(l);
    this.keeper.add(l);
    return l;
  }

  /**
   * Tries to take a range of `r`: a task; `done` when the entity is; `busy` when what is left is this process's
   * own; `held` when every range left is another live holder's.
   */
  private async claim(r: EntityRun): Promise<Task | 'done' | 'busy' | { held: unknown }> {
    const { target } = this.o;
    const cp = await readCheckpoint(target, target, r.name);
    if (cp?.status === 'done') {
      r.copiedTotal = cp.rowsCopied;
      return 'done';
    }
    if (r.single) {
      if (r.mine.size) return 'busy';
      try {
        return {
          run: r,
          range: null,
          lease: await this.lease(backfillScope(r.name), `entity ${r.name} is being copied`),
        };
      } catch (e) {
        if (isTandemError(e, 'LEASE_HELD')) return { held: e };
        throw e;
      }
    }
    const rows = await listRanges(target, target, r.name);
    if (!rows.length) {
      // re-planned as one range meanwhile (another worker's --restart)
      r.single = true;
      return 'busy';
    }
    if (rows.every((x) => x.status === 'done')) return (await finishEntityIfDone(target, r.name)) ? 'done' : 'busy';
    const left = rows.filter((x) => x.status !== 'done' && !r.mine.has(x.range));
    // ranges never started first, then the started ones (whose holder may be gone)
    left.sort((a, b) => Number(a.status !== 'pending') - Number(b.status !== 'pending') || a.range - b.range);
    let held: unknown = null;
    const leases = new Map((await listLeases(target, `backfill:${r.name}/`)).map((l) => [l.scope, l]));
    for (const x of left) {
      // a live lease of another holder not known dead is not tried (one transaction saved per range and look),
      // but for the first one, whose refusal names the holder
      const li = leases.get(rangeScope(r.name, x.range));
      if (held && li?.live && li.holderId !== processHolder().id && !(await this.isDead(li))) continue;
      let l: Lease;
      try {
        l = await this.lease(
          rangeScope(r.name, x.range),
          `range ${x.range} of ${x.of} of entity ${r.name} is being copied`,
        );
      } catch (e) {
        if (!isTandemError(e, 'LEASE_HELD')) throw e;
        held ??= e;
        continue;
      }
      const cur = await startRange(target, x, l).catch(async (e) => {
        await this.dropLease(l);
        throw e;
      });
      if (!cur || cur.status === 'done') {
        await this.dropLease(l);
        continue;
      }
      return { run: r, range: cur, lease: l };
    }
    return held && !r.mine.size ? { held } : 'busy';
  }

  private async isDead(l: LeaseInfo): Promise<boolean> {
    return !!(this.deadHolder && (await this.deadHolder(l).catch(() => null)));
  }

  private async dropLease(l: Lease): Promise<void> {
    const k = this.keeper.get(l.scope);
    if (k) await this.keeper.releaseOne(k);
    else await releaseLease(this.o.target, l).catch(() => {});
  }

  private finishEntity(r: EntityRun): void {
    if (r.finished) return;
    if (!r.participated) {
      r.finished = 'skipped';
      this.o.log.info(
        { event: 'backfill.skip', entity: r.name, copied: r.copiedTotal },
        `${r.name}: already backfilled (use --restart to copy again)`,
      );
    } else {
      r.finished = 'done';
      r.progress.update({
        entity: r.name,
        copied: r.copiedTotal,
        total: Math.max(r.rowsTotal, r.copiedTotal),
        throttle: null,
        done: true,
      });
      const seconds = (performance.now() - r.started) / 1000;
      this.o.log.info(
        { event: 'backfill.done', entity: r.name, copied: r.copied, applied: r.applied, seconds },
        `${r.name}: backfill done`,
      );
    }
    this.o.onEntityDone?.(r.result(r.finished));
  }

  /** The keyset scan of one range (see {@link runBackfill}), holding before each chunk while throttled. */
  private async copyRange(t: Task): Promise<void> {
    const o = this.o;
    const { source, target, log } = o;
    const { run: r, lease } = t;
    const entity = r.entity;
    const bf = o.config.backfill;
    const signal = this.stop.signal;
    const rangeNo = t.range?.range ?? 1;
    const of = t.range?.of ?? 1;
    const label = of > 1 ? `${entity.name} range ${rangeNo}/${of}` : entity.name;
    // `after`: where the scan goes on from; `pos`: the checkpoint as stored (a range's is null before its first
    // chunk, when the scan starts after its lower bound)
    let after: unknown[] | null;
    let pos: unknown[] | null;
    let rangeCopied: number;
    if (t.range) {
      pos = t.range.lastKey;
      after = t.range.lastKey ?? t.range.lowerKey;
      rangeCopied = t.range.rowsCopied;
      const cp = await readCheckpoint(target, target, entity.name);
      r.copiedTotal = Math.max(r.copiedTotal, cp?.rowsCopied ?? 0);
    } else {
      const cp = await startCheckpoint(target, entity.name, r.rowsTotal, false, lease);
      // planned in ranges meanwhile (another process's --restart): this lease is not the plan's; take ranges
      if ((await listRanges(target, target, entity.name)).length) {
        r.single = false;
        return;
      }
      after = cp.lastKey;
      pos = cp.lastKey;
      rangeCopied = cp.rowsCopied;
      r.copiedTotal = cp.rowsCopied;
    }
    const upTo = t.range?.upperKey ?? null;
    if (!entity.version && !r.ranges.length)
      log.warn(
        { event: 'backfill.no_version', entity: entity.name },
        `${entity.name}: no version column; the apply uses last-writer-wins (run \`tandem prepare\` to add one before dual writes)`,
      );
    const share = (rate: number | undefined) => (rate === undefined ? undefined : rate / this.workers);
    // the config's (or the command line's) rate and chunk time, shared by this process's workers; the operator's
    // tune overrides them while set
    const baseRate = o.maxRowsPerSecond ?? bf.maxRowsPerSecond;
    const sizeKey = entity.name;
    const pacer = new Pacer({
      chunkSeconds: bf.chunkSeconds,
      initialChunkRows: Math.min(bf.maxChunkRows, this.pacerSizes.get(sizeKey) ?? bf.initialChunkRows),
      maxChunkRows: bf.maxChunkRows,
      maxRowsPerSecond: share(baseRate),
    });
    r.publisher ??= new ThrottlePublisher(entity.name, o.control, log, this.throttle.checkSeconds, o.onThrottle);
    const publisher = r.publisher;
    const done: RangeBackfillResult = { range: rangeNo, of, copied: 0, status: 'interrupted' };
    r.ranges.push(done);
    const keyCategories = entity.keyColumns.map((c) => c.category);
    const onRetry = (e: unknown, attempt: number, waitMs: number) =>
      log.warn(
        {
          event: 'backfill.retry',
          entity: entity.name,
          attempt,
          waitMs: Math.round(waitMs),
          err: (e as Error).message,
        },
        `${entity.name}: chunk failed (${isUniqueViolation(e) ? 'unresolved unique-value conflict' : 'transient failure'}), retrying`,
      );
    // a read remembers its limit: a page shorter than what was asked for is the last one
    const read = (from: unknown[] | null, limit: number) => {
      const st = source.sql.keyset({
        table: entity.source.name,
        columns: entity.readColumns,
        key: entity.key,
        keyCategories,
        after: from,
        upTo,
        limit,
        where: entity.where,
      });
      const rows = withRetry(() => source.query<Row>(st.sql, st.params), { onRetry });
      // map and check as soon as the rows arrive, while the previous chunk is still being written; keep only
      // the mapped rows, the count and the last key (the raw rows are released)
      const chunk = rows.then((x) => ({
        count: x.length,
        lastKey: x.length ? entity.key.map((k) => x[x.length - 1]![k]) : null,
        mapped: prepareRows(entity, x),
      }));
      rows.catch(() => {}); // surfaced when awaited
      chunk.catch(() => {});
      return { chunk, limit };
    };
    log.info(
      {
        event: 'backfill.start',
        entity: entity.name,
        ...(of > 1 ? { range: rangeNo, ranges: of } : {}),
        rowsTotal: r.rowsTotal,
        resumeFrom: r.copiedTotal,
      },
      `${label}: backfill ${rangeCopied ? `resumes at ${rangeCopied} rows` : 'starts'}`,
    );
    const progress = (throttle: string | null) =>
      r.progress.update({
        entity: entity.name,
        copied: r.copiedTotal,
        total: Math.max(r.rowsTotal, r.copiedTotal),
        chunkRows: pacer.size,
        throttle,
        done: false,
      });
    const interrupted = (): void => {
      log.warn(
        { event: 'backfill.interrupted', entity: entity.name, copied: r.copiedTotal },
        `${label}: stopped after a committed chunk at ${r.copiedTotal} rows; run backfill again to resume`,
      );
    };
    /**
     * Before a chunk is read: applies the operator's tune to the pacer and waits while the throttle holds (polling
     * every checkSeconds, until the run stops). Returns true when it waited.
     */
    const hold = async (): Promise<boolean> => {
      let waited = false;
      for (let force = false; ; force = true) {
        const { verdict, control } = await this.throttle.check(force);
        pacer.setRate(share(control.maxRowsPerSecond ?? baseRate));
        pacer.setChunkSeconds(control.chunkSeconds ?? bf.chunkSeconds);
        if (!verdict || signal.aborted) return waited;
        waited = true;
        await publisher.publish(verdict);
        progress(verdict.detail);
        await abortableSleep(this.throttle.checkSeconds * 1000, signal);
      }
    };
    await hold();
    if (signal.aborted) return interrupted();
    await publisher.publish(null);
    let t0 = performance.now();
    let next = read(after, pacer.size);
    for (;;) {
      const { count, lastKey: last, mapped } = await next.chunk;
      if (count === 0 || !last) break;
      const lastKey = last;
      const full = count >= next.limit;
      // read ahead while this chunk is written; not after the last (short) page, when a stop is requested, or
      // when throttled (the read would only wait)
      const ahead = full && !signal.aborted && !pacer.limited ? read(lastKey, pacer.size) : null;
      // the chunk and its checkpoint commit together; a deadlock or a lost connection rolls both back and retries
      const prevKey = pos;
      let total: number | null = null;
      const res = await withRetry(
        () =>
          target.transaction(async (tx) => {
            const a = await applyMapped(target, tx, entity, mapped, { source, readBeforeLock: true });
            faultPoint('after-chunk-write');
            if (t.range) total = await advanceRange(tx, target, t.range, prevKey, lastKey, count, a.applied, lease);
            else await advanceCheckpoint(tx, target, entity.name, prevKey, lastKey, count, a.applied, lease);
            faultPoint('after-checkpoint');
            return a;
          }),
        // a unique-value conflict the apply could not resolve (the primary kept changing the rows involved while
        // it re-read them) is retried too: the next attempt re-reads them again, instead of stopping the backfill
        { onRetry, retryIf: (e) => isTransient(e) || isUniqueViolation(e) },
      ).catch((e) => {
        if (e instanceof ChunkAlreadyCommitted) return { offered: count, applied: 0, skipped: count };
        throw e;
      });
      faultPoint('after-commit');
      after = lastKey;
      pos = lastKey;
      r.copied += count;
      done.copied += count;
      rangeCopied += count;
      r.copiedTotal = total ?? r.copiedTotal + count;
      r.applied += res.applied;
      backfillMetrics.copied.inc({ entity: entity.name }, count);
      const wait = pacer.record(count, (performance.now() - t0) / 1000);
      this.pacerSizes.set(sizeKey, pacer.size);
      // throttled: this chunk's rows are paid for before anything else happens, after the last chunk and on a
      // stop too, so rows / elapsed never exceeds the cap (the progress rate is sampled after the wait)
      await publisher.publish(pacer.throttle ? { reason: 'rate', detail: pacer.throttle } : null);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      progress(pacer.throttle);
      await o.onChunk?.(entity.name, r.copiedTotal, Math.max(r.rowsTotal, r.copiedTotal));
      // one turn of the event loop per chunk: with in-process stores (SQLite, PGlite) the whole scan may otherwise
      // run on promise continuations alone, and a SIGINT/SIGTERM would not be delivered until the end
      await new Promise((res) => setImmediate(res));
      if (signal.aborted) {
        await ahead?.chunk.catch(() => {});
        return interrupted();
      }
      if (!full) break;
      // paused, or the source is loaded: no chunk is written until the throttle lets go (a chunk read ahead
      // before the wait is dropped and read again after it, fresh)
      let pending = ahead;
      const waited = await hold();
      if (waited) {
        await pending?.chunk.catch(() => {});
        pending = null;
      }
      if (signal.aborted) {
        await pending?.chunk.catch(() => {});
        return interrupted();
      }
      if (waited) await publisher.publish(null);
      t0 = performance.now();
      next = pending ?? read(after, pacer.size);
    }
    done.status = 'done';
    let entityDone: boolean;
    if (t.range) {
      entityDone = await finishRange(target, t.range, lease);
      log.info(
        { event: 'backfill.range_done', entity: entity.name, range: rangeNo, ranges: of, copied: done.copied },
        `${label}: range done`,
      );
    } else {
      await finishCheckpoint(target, entity.name, lease);
      entityDone = true;
    }
    if (entityDone) {
      const cp = await readCheckpoint(target, target, entity.name);
      r.copiedTotal = cp?.rowsCopied ?? r.copiedTotal;
      this.finishEntity(r);
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((res) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
