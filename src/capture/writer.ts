import type { Logger } from 'pino';
import { applyChanges } from '../apply/apply.js';
import type { TandemConfig, TandemConfigInput } from '../config/schema.js';
import { ensureControlSchema } from '../control/control.js';
import { capturesChanges, type Phase } from '../control/phase.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import { TandemError } from '../core/errors.js';
import { groupBy } from '../core/async.js';
import { counter } from '../core/metrics.js';
import { keyString, type ResolvedEntity } from '../core/mapping.js';
import type { TxAdapter } from './adapters.js';
import { outboxInsert, type OutboxEntry } from '../outbox/outbox.js';
import { sqlFor } from '../stores/dialects.js';
import { openTransport, type Transport } from './transport/types.js';
import { randomUUID } from 'node:crypto';
import { primaryRole, PHASES } from '../control/phase.js';
import { sleep } from '../core/async.js';
import { openStore } from '../stores/index.js';
import type { Executor, Row, Store } from '../stores/types.js';
import {
  type Fence,
  type FenceVerdict,
  type FenceWait,
  fenceVerdict,
  readFence,
  readFenceVia,
  recordFenceWaits,
} from '../cutover/fence.js';

/** A key as the application passes it: one value, values in key order, or `{ column: value }`. */
export type KeyInput = unknown | unknown[] | Record<string, unknown>;

export interface DualWriterOptions {
  /** The config object, or the path of a config file (ignored with `migration`). */
  config?: TandemConfigInput | string;
  /**
   * An open migration runtime to write through instead of opening one (its phase cache, stores and entities are
   * shared; `close()` then leaves it open). Needed where a store cannot be opened twice in one process (a PGlite
   * directory), e.g. the demo and the rehearsal.
   */
  migration?: Migration;
  /** The longest a write waits for the fast-path apply to the secondary, ms. Default 50. 0 disables the fast path. */
  budgetMs?: number;
  /** How long a phase read is reused, ms. Default 1000. */
  phaseTtlMs?: number;
  log?: Logger;
  /**
   * The stores the two-path form `write({ legacy, new })` runs the application's paths on. Default: `new` is the
   * runtime's own connection to the new store; `legacy` a second connection to the config's `source`, opened on
   * the first legacy write (Tandem's own legacy connection is guarded and refuses the application's writes).
   * Give your own where a second connection cannot be opened (a PGlite directory holds one instance).
   */
  stores?: { legacy?: Store; new?: Store };
}

/** The transaction the two-path form gives each path: run statements on it, mark changed keys. */
export interface WriteTx extends WriteContext, Executor {
  /** Which store the path runs on. */
  readonly side: 'legacy' | 'new';
}

/**
 * The application's two write paths (`dual.write({ legacy, new })`): the writer runs the one of the current
 * primary. `onFence: 'fail'` fails a write that meets a closed fence at once with TANDEM_ERR_WRITE_FENCED instead
 * of holding it up to `cutover.fenceMs`.
 */
export interface WritePaths<T> {
  /** The write on the legacy schema (primary up to `canary`). */
  legacy?: (tx: WriteTx) => Promise<T>;
  /** The write on the new schema (primary from `new_primary`). */
  new?: (tx: WriteTx) => Promise<T>;
  onFence?: 'wait' | 'fail';
}

/** Counters of the write fence, for metrics and tests. */
export interface FenceStats {
  /** Writes that met a closed fence and were held (including those that then failed). */
  held: number;
  /** Held writes that then ran on the other primary (the two-path form). */
  redirected: number;
  /** Writes that failed with TANDEM_ERR_WRITE_FENCED. */
  fenced: number;
  /** Every held write's wait, ms (the last 10,000). */
  waitsMs: number[];
}

const fastPathCounter = counter('tandem_fastpath_total', 'fast-path applies after a dual write, by outcome', [
  'outcome',
]);

/** Counters of the fast path, for metrics and tests. */
export interface FastPathStats {
  attempted: number;
  applied: number;
  failed: number;
  overBudget: number;
  /** Writes that skipped the fast path: circuit breaker open, or too many applies in flight. */
  skipped: number;
}

/** What `write()` gives the application's callback: `changed(entity, key)` records a changed key. */
export interface WriteContext {
  changed(entity: string, key: KeyInput): void;
}

/**
 * The dual-write API for the application. The application's own write runs on the primary inside one
 * transaction together with one outbox row per changed key (transactional outbox); after the commit a
 * fast-path apply to the secondary is tried, but the call returns within `budgetMs` whatever the secondary
 * does — the relay, draining the outbox, is the guarantee. The secondary failing never fails the write.
 *
 * ```ts
 * const dual = await createDualWriter({ config: './tandem.config.ts' });
 * await dual.write(fromPg(client), async (tx) => {
 *   await client.query('UPDATE users SET email = $1 WHERE id = $2', [email, id]);
 *   tx.changed('users', id);
 * });
 * // or, inside a transaction the application already opened (Kysely):
 * await db.transaction().execute(async (trx) => {
 *   await trx.updateTable('users').set({ email }).where('id', '=', id).execute();
 *   await dual.record(fromKysely(trx, 'postgres'), 'users', id);
 * });
 * ```
 * Phase-aware: in `prepare` it writes the primary only; from `dual_write` on it records changes. Which store is
 * primary is the application's routing decision (`phase()` tells it); the outbox goes into the connection given.
 */
export class DualWriter {
  readonly fastPath: FastPathStats = { attempted: 0, applied: 0, failed: 0, overBudget: 0, skipped: 0 };
  /** Counters of the write fence. */
  readonly fence: FenceStats = { held: 0, redirected: 0, fenced: 0, waitsMs: [] };
  /** This writer's id in `fence_waits`. */
  readonly instanceId = randomUUID();
  private readonly pendingWaits: FenceWait[] = [];
  private flushWaits: Promise<void> | undefined;
  private legacyApp: Promise<Store> | undefined;
  private phaseRead: Promise<Phase> | undefined;
  /** Most fast-path applies running at once; more writes skip the fast path (the relay applies them). */
  readonly maxInflight = 32;
  private readonly breaker = { until: 0, ms: 0 };
  private readonly inflight = new Set<Promise<unknown>>();
  private transport: Promise<Transport> | undefined;
  private readonly entities: Map<string, ResolvedEntity>;
  private readonly log: Logger;
  readonly config: TandemConfig;

  /** @internal use {@link createDualWriter} */
  constructor(
    /** The migration runtime the writer works in (its stores, entities, phase and roles). */
    readonly migration: Migration,
    private readonly budgetMs: number,
    private readonly stores?: DualWriterOptions['stores'],
    /** Whether {@link close} closes the migration (false when it was given to createDualWriter). */
    private readonly ownsMigration = true,
  ) {
    this.config = migration.config;
    this.log = migration.log;
    this.entities = new Map(migration.entities.map((e) => [e.name, e]));
  }

  /**
   * The current phase, served by the runtime's cache (src/runtime/phase-cache.ts): a write never waits on the
   * control store beyond a short bound — the last known phase is served while one background refresh (at most
   * one in flight) reads it again once `phaseTtlMs` has passed; a failed read keeps the last known phase. With
   * no phase known yet, a write waits at most 200 ms for it and then assumes `dual_write` (recording a change
   * that is not needed is harmless; missing one would not be).
   */
  phase(): Promise<Phase> {
    return this.migration.phase();
  }

  /**
   * Validates `entity` and `key` and returns the outbox entry. Throws TANDEM_ERR_CAPTURE_UNKNOWN_ENTITY / _KEY_INVALID.
   */
  entry(entity: string, key: KeyInput): OutboxEntry {
    const e = this.entities.get(entity);
    if (!e)
      throw new TandemError(
        'CAPTURE_UNKNOWN_ENTITY',
        `unknown entity "${entity}" (the config has ${[...this.entities.keys()].join(', ')})`,
      );
    let values: unknown[];
    if (Array.isArray(key)) values = key;
    else if (key !== null && typeof key === 'object' && !Buffer.isBuffer(key) && !(key instanceof Date)) {
      const obj = key as Record<string, unknown>;
      const extra = Object.keys(obj).filter((k) => !e.key.includes(k));
      if (extra.length)
        throw new TandemError(
          'CAPTURE_KEY_INVALID',
          `entity ${entity}: key has column(s) ${extra.join(', ')} that are not in its key (${e.key.join(', ')})`,
        );
      values = e.key.map((k) => obj[k]);
    } else values = [key];
    if (values.length !== e.key.length || values.some((v) => v === undefined || v === null))
      throw new TandemError(
        'CAPTURE_KEY_INVALID',
        `entity ${entity}: a key needs ${e.key.length} non-null value(s) for (${e.key.join(', ')})`,
      );
    let k: string;
    try {
      k = keyString(values, e.keyColumns);
    } catch (err) {
      throw new TandemError(
        'CAPTURE_KEY_INVALID',
        `entity ${entity}: key value does not fit the key column type (${(err as Error).message.replace(/"[^"]*"/, 'value')})`,
      );
    }
    return { entity, key: k, keyValues: values };
  }

  /**
   * Two forms.
   *
   * **Two paths** — `write({ legacy: (tx) => …, new: (tx) => … }, )`: runs the path of the current primary in a
   * transaction on Tandem's connection to that store (see {@link DualWriterOptions.stores}), **inside the fence**:
   * the transaction first reads the store's fence row with a shared lock (src/cutover/fence.ts), then runs the
   * path, records the keys it marks with `tx.changed()` in that store's outbox (up to `canary`: legacy's, drained
   * by the relay to new; in `new_primary`: new's, drained by the reverse relay to legacy; none from
   * `legacy_read_only` on), and commits. A write that meets a closed fence (a cutover or rollback under way) is
   * held — polled every 10 ms — up to `cutover.fenceMs` and then runs on whichever store is primary by then (the
   * other path after a flip); still closed after `fenceMs`, or with `onFence: 'fail'`, it fails with the
   * retryable TANDEM_ERR_WRITE_FENCED (nothing committed). A write whose phase cache is stale finds that the
   * fence of the store it tried names the other primary, and re-runs on the other path. From `legacy_read_only`
   * on, a write with only a legacy path throws TANDEM_ERR_LEGACY_WRITE_REFUSED; with no path for the primary,
   * TANDEM_ERR_USAGE.
   *
   * **One path** — `write(adapter, fn)`: runs `fn` in a transaction on the application's own connection
   * (`adapter`, connected to the store the application believes primary), checking that store's fence the same
   * way, and records the keys `fn` marks in the outbox in the same transaction, commits, then tries the fast path
   * within the budget. A closed fence holds it up to `fenceMs` — it runs if the fence re-opens on the same
   * primary (a cutover that failed); after a flip this form fails with TANDEM_ERR_WRITE_FENCED, since its code
   * cannot run on the other schema (TANDEM_ERR_LEGACY_WRITE_REFUSED from `legacy_read_only` on). If `fn` throws,
   * the transaction rolls back (no outbox row stays) and the application's own error is rethrown unchanged.
   *
   * The fast path (after commit) applies the changed keys to the secondary within `budgetMs`; the relay is the
   * guarantee. Held writes are counted in {@link fence} and recorded (best-effort) in the control plane's
   * `fence_waits`, where the cutover reads its write pause.
   */
  async write<T>(paths: WritePaths<T>): Promise<T>;
  async write<T>(adapter: TxAdapter, fn: (tx: WriteContext) => Promise<T>): Promise<T>;
  async write<T>(a: TxAdapter | WritePaths<T>, fn?: (tx: WriteContext) => Promise<T>): Promise<T> {
    if (typeof (a as TxAdapter).query !== 'function') return this.writePaths(a as WritePaths<T>);
    const adapter = a as TxAdapter;
    if (!fn) throw new TandemError('USAGE', 'write(adapter, fn) needs the write function');
    if (!adapter.managed)
      throw new TandemError(
        'USAGE',
        'write() needs a plain connection adapter (fromPg, fromMysql, fromSqlite); inside your own transaction use record()',
      );
    const started = Date.now();
    let heldEpoch: number | null = null;
    const deadline = started + this.config.cutover.fenceMs;
    for (;;) {
      const entries: OutboxEntry[] = [];
      const phase = await this.phase();
      const capture = capturesChanges(phase);
      await adapter.query(sqlFor(adapter.dialect).beginWrite, []);
      let result: T;
      let fence: Fence | null;
      try {
        fence = await readFenceVia(adapter.dialect, (sql, params) => adapter.query(sql, params));
        const verdict = fenceVerdict(fence, phase);
        if (verdict !== 'ok') {
          await adapter.query('ROLLBACK', []).catch(() => {});
          if (verdict === 'closed') heldEpoch ??= fence!.epoch;
          if (verdict === 'stale') {
            // the store the application writes to is no longer primary: this code cannot run on the other schema
            await this.phaseNow().catch(() => {});
            throw this.fencedError(fence!, heldEpoch, started, 'one-path');
          }
          if (Date.now() >= deadline) throw this.fencedError(fence!, heldEpoch, started, 'one-path');
          await sleep(10);
          continue;
        }
        result = await fn({
          changed: (entity, key) => {
            entries.push(this.entry(entity, key));
          },
        });
        if (capture && entries.length) {
          const st = outboxInsert(adapter.dialect, entries);
          await adapter.query(st.sql, st.params);
        }
        await adapter.query('COMMIT', []);
      } catch (e) {
        await adapter.query('ROLLBACK', []).catch(() => {});
        throw e;
      }
      if (heldEpoch !== null) this.noteWait(heldEpoch, Date.now() - started, 'ran', false);
      if (capture && entries.length) await this.afterCommit(entries, phase);
      return result;
    }
  }

  /** The two-path form of {@link write}. */
  private async writePaths<T>(paths: WritePaths<T>): Promise<T> {
    if (!paths || (typeof paths.legacy !== 'function' && typeof paths.new !== 'function'))
      throw new TandemError('USAGE', 'write({ legacy, new }) needs at least one of the two paths as a function');
    const started = Date.now();
    const deadline = started + this.config.cutover.fenceMs;
    let heldEpoch: number | null = null;
    let firstSide: 'legacy' | 'new' | null = null;
    for (;;) {
      const phase = await this.phase();
      const side = primaryRole(phase);
      firstSide ??= side;
      const fn = paths[side];
      if (!fn) {
        if (side === 'new' && PHASES.indexOf(phase) >= PHASES.indexOf('legacy_read_only'))
          throw new TandemError(
            'LEGACY_WRITE_REFUSED',
            `the migration is in ${phase}: legacy refuses writes; give write() a new path`,
            { phase },
          );
        throw new TandemError(
          'USAGE',
          `the migration is in ${phase} (primary: ${side}) and write() was given no ${side} path`,
          { phase },
        );
      }
      const store = await this.pathStore(side);
      const capture = capturesChanges(phase);
      const entries: OutboxEntry[] = [];
      const out = await store.transaction(
        async (tx): Promise<{ verdict: FenceVerdict; fence: Fence | null; result?: T }> => {
          const fence = await readFence(store, tx, true);
          const verdict = fenceVerdict(fence, phase, side);
          if (verdict !== 'ok') return { verdict, fence };
          const wtx: WriteTx = {
            side,
            query: <R extends Row = Row>(sql: string, params?: unknown[]) => tx.query<R>(sql, params),
            execute: (sql: string, params?: unknown[]) => tx.execute(sql, params),
            changed: (entity, key) => {
              entries.push(this.entry(entity, key));
            },
          };
          const result = await fn(wtx);
          if (capture && entries.length) {
            const st = outboxInsert(store.dialect, entries);
            await tx.execute(st.sql, st.params);
          }
          return { verdict, fence, result };
        },
      );
      if (out.verdict === 'ok') {
        if (heldEpoch !== null) this.noteWait(heldEpoch, Date.now() - started, 'ran', side !== firstSide);
        if (capture && entries.length) await this.afterCommit(entries, phase);
        return out.result as T;
      }
      if (out.verdict === 'closed') heldEpoch ??= out.fence!.epoch;
      // `onFence: 'fail'` is about waiting at a closed fence; a stale phase only re-runs on the other path
      if (out.verdict === 'closed' && paths.onFence === 'fail')
        throw this.fencedError(out.fence!, heldEpoch, started, 'asked');
      if (Date.now() >= deadline) throw this.fencedError(out.fence!, heldEpoch, started, 'timeout');
      // a stale phase, or a flip under way: read the phase now and try again (the other path once it moved)
      if (out.verdict === 'closed') await sleep(10);
      const before = primaryRole(phase);
      const now = await this.phaseNow().catch(() => phase);
      if (out.verdict === 'stale' && primaryRole(now) === before) await sleep(10);
    }
  }

  /**
   * Reads the phase from the control store now, one read shared by every write of this writer that needs it at
   * the same moment (writes held at a fence poll it).
   */
  private phaseNow(): Promise<Phase> {
    this.phaseRead ??= this.migration.readPhase().finally(() => {
      this.phaseRead = undefined;
    });
    return this.phaseRead;
  }

  /** The store a path of the two-path form runs on. */
  private pathStore(side: 'legacy' | 'new'): Promise<Store> {
    if (side === 'new') return Promise.resolve(this.stores?.new ?? this.migration.stores.new);
    if (this.stores?.legacy) return Promise.resolve(this.stores.legacy);
    this.legacyApp ??= openStore(this.config.source).catch((e) => {
      this.legacyApp = undefined;
      throw e;
    });
    return this.legacyApp;
  }

  /** Counts a held write and queues its wait for the control plane. */
  private noteWait(epoch: number, waitMs: number, outcome: FenceWait['outcome'], redirected: boolean): void {
    this.fence.held++;
    if (redirected) this.fence.redirected++;
    if (outcome === 'fenced') this.fence.fenced++;
    this.fence.waitsMs.push(waitMs);
    if (this.fence.waitsMs.length > 10_000) this.fence.waitsMs.shift();
    this.pendingWaits.push({ epoch, waitMs, outcome });
    this.flushWaits ??= sleep(20).then(async () => {
      const batch = this.pendingWaits.splice(0);
      this.flushWaits = undefined;
      await recordFenceWaits(this.migration.stores.control, this.instanceId, batch).catch((e) =>
        this.log.debug(
          { event: 'capture.fence_wait_unrecorded', err: (e as Error).message },
          'held write not recorded',
        ),
      );
    });
  }

  /** TANDEM_ERR_WRITE_FENCED (or LEGACY_WRITE_REFUSED past legacy_read_only) for a write that met the fence. */
  private fencedError(
    f: Fence,
    epoch: number | null,
    started: number,
    why: 'asked' | 'timeout' | 'one-path',
  ): TandemError {
    const waited = Date.now() - started;
    // a write counts as held (write pause) when it met a closed fence; a stale one only failed
    if (epoch !== null) this.noteWait(epoch, waited, 'fenced', false);
    else this.fence.fenced++;
    // legacy after legacy_read_only (by the fence, or by the phase just read): refused, not fenced
    const known = this.migration.knownPhase;
    const readOnly = (p: Phase | null) => !!p && PHASES.indexOf(p) >= PHASES.indexOf('legacy_read_only');
    if (f.state === 'open' && (readOnly(f.phase) || (f.side === 'legacy' && readOnly(known))))
      return new TandemError(
        'LEGACY_WRITE_REFUSED',
        `the store written to is no longer primary (phase ${readOnly(f.phase) ? f.phase : known}): legacy refuses writes; write to the new store`,
        { phase: readOnly(f.phase) ? f.phase : known, epoch: f.epoch },
      );
    const what =
      f.state === 'closed'
        ? `the write fence is closed (epoch ${f.epoch}: a cutover or rollback is under way)`
        : `the store written to is no longer primary (fence epoch ${f.epoch}, phase ${f.phase})`;
    const tail =
      why === 'asked'
        ? 'onFence: fail'
        : why === 'timeout'
          ? `held ${waited} ms, cutover.fenceMs ${this.config.cutover.fenceMs}`
          : 'a one-path write cannot run on the other primary';
    return new TandemError('WRITE_FENCED', `${what}; nothing was committed (${tail}); run the write again`, {
      epoch: f.epoch,
      retryable: true,
    });
  }

  /**
   * Records changed keys through a transaction the application has open (`fromKysely(trx, …)`, or a raw
   * connection inside BEGIN…COMMIT). The outbox rows commit or roll back with the application's write. No fast
   * path here (the commit is the application's); call `afterCommit(entries)` after it for one. Reads the fence of
   * the connection's store with a shared lock first (call it before your own writes, so the lock is held for
   * them): a closed fence or a store no longer primary throws the retryable TANDEM_ERR_WRITE_FENCED — roll back
   * and run the transaction again.
   */
  async record(adapter: TxAdapter, entity: string, ...keys: KeyInput[]): Promise<OutboxEntry[]> {
    const entries = keys.map((k) => this.entry(entity, k));
    const phase = await this.phase();
    const fence = await readFenceVia(adapter.dialect, (sql, params) => adapter.query(sql, params));
    if (fenceVerdict(fence, phase) !== 'ok') {
      await this.phaseNow().catch(() => {});
      throw this.fencedError(fence!, fence!.state === 'closed' ? fence!.epoch : null, Date.now(), 'one-path');
    }
    if (!entries.length || !capturesChanges(phase)) return entries;
    const st = outboxInsert(adapter.dialect, entries);
    await adapter.query(st.sql, st.params);
    return entries;
  }

  /**
   * "Sync then queue", for a primary that cannot share a transaction with an outbox (a remote API, a store
   * Tandem cannot reach transactionally): call it after the application's own write succeeded; it publishes the
   * changed keys to the config's broker and resolves once the broker confirmed, then tries the fast path within
   * the budget. Crash window: a process that dies after the primary write and before the broker's confirmation
   * loses that notification — continuous verification finds such keys and `repair` re-applies them
   * (docs/dual-writes.md). Throws TANDEM_ERR_CONFIG_INVALID without a `transport` in the config, and the
   * transport's TANDEM_ERR_STORE_UNREACHABLE when the broker cannot confirm.
   */
  async publish(entity: string, ...keys: KeyInput[]): Promise<void> {
    const entries = keys.map((k) => this.entry(entity, k));
    if (!entries.length || !capturesChanges(await this.phase())) return;
    if (!this.config.transport)
      throw new TandemError('CONFIG_INVALID', 'publish() needs a broker: add transport: { url } to the config');
    this.transport ??= openTransport(this.config.transport.url, { name: this.config.transport.name });
    const transport = await this.transport;
    const at = Date.now();
    await transport.publish(
      entries.map((e) => ({
        entity: e.entity,
        key: e.key,
        keyValues: e.keyValues,
        id: `${e.entity}:${e.key}:${at}:${randomUUID()}`,
        at,
      })),
    );
    await this.afterCommit(entries);
  }

  /**
   * The fast path: applies the changed keys to the secondary now, through the guarded apply, waiting at most
   * `budgetMs`. Never throws: a slow or failing secondary is left to the relay (the outbox rows stay).
   */
  async afterCommit(entries: OutboxEntry[], phase?: Phase): Promise<void> {
    if (this.budgetMs <= 0 || !entries.length) return;
    // circuit breaker: after a failure or an apply over budget the fast path rests (1 s doubling to 30 s),
    // then one write tries again; and never more than `maxInflight` applies at once
    if (Date.now() < this.breaker.until || this.inflight.size >= this.maxInflight) {
      this.fastPath.skipped++;
      fastPathCounter.inc({ outcome: 'skipped' });
      return;
    }
    this.fastPath.attempted++;
    const trip = () => {
      this.breaker.ms = Math.min(30_000, Math.max(1000, this.breaker.ms * 2));
      this.breaker.until = Date.now() + this.breaker.ms;
    };
    let ok = false;
    const work = this.applyNow(entries, phase ?? (await this.phase())).then(
      () => {
        this.fastPath.applied++;
        ok = true;
        fastPathCounter.inc({ outcome: 'applied' });
      },
      (e) => {
        this.fastPath.failed++;
        fastPathCounter.inc({ outcome: 'failed' });
        trip();
        this.log.debug(
          { event: 'capture.fast_path_failed', err: (e as Error).message },
          'fast path failed; the relay will apply the change',
        );
      },
    );
    this.inflight.add(work);
    work.finally(() => this.inflight.delete(work));
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<'late'>((res) => {
      timer = setTimeout(() => res('late'), this.budgetMs);
    });
    const r = await Promise.race([work.then(() => 'done' as const), budget]);
    clearTimeout(timer);
    if (r === 'late') {
      this.fastPath.overBudget++;
      fastPathCounter.inc({ outcome: 'over_budget' });
      trip();
    } else if (ok) this.breaker.ms = 0;
  }

  private async applyNow(entries: OutboxEntry[], phase: Phase): Promise<void> {
    const byEntity = groupBy(entries, (e) => e.entity);
    // the roles of the phase: after write cutover the new store is primary and the fast path writes back to legacy
    const { primary, secondary } = this.migration.roles(phase);
    for (const [name, list] of byEntity)
      await applyChanges(primary, secondary, this.migration.entity(name, phase)!, list);
  }

  /**
   * Waits for fast-path applies still running (they never block writes), then closes Tandem's own connections
   * (the migration's only when the writer opened it).
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    await this.flushWaits;
    if (this.legacyApp && !this.stores?.legacy) await (await this.legacyApp.catch(() => undefined))?.close();
    if (this.transport) await (await this.transport.catch(() => undefined))?.close().catch(() => {});
    if (this.ownsMigration) await this.migration.close();
  }
}

/**
 * Opens a dual writer: opens the migration runtime ({@link openMigration}: the config, Tandem's own connections
 * to the legacy, new and control stores for the fast path and the phase, the resolved entities), and creates
 * the control-plane tables (outbox included) in the legacy and the new store if they are missing.
 */
export async function createDualWriter(o: DualWriterOptions): Promise<DualWriter> {
  if (!o.migration && o.config === undefined)
    throw new TandemError('USAGE', 'createDualWriter() needs config (an object or a file path) or migration');
  const m = o.migration ?? (await openMigration(o.config!, { log: o.log, phaseTtlMs: o.phaseTtlMs ?? 1000 }));
  try {
    await ensureControlSchema(m.stores.legacy);
    await ensureControlSchema(m.stores.new);
    if (m.stores.control !== m.stores.new) await ensureControlSchema(m.stores.control);
    const writer = new DualWriter(m, o.budgetMs ?? 50, o.stores, !o.migration);
    await m.readPhase().catch(() => m.phase()); // the first read, so that writes start with a known phase
    return writer;
  } catch (e) {
    if (!o.migration) await m.close();
    throw e;
  }
}
