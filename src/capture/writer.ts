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

/** A key as the application passes it: one value, values in key order, or `{ column: value }`. */
export type KeyInput = unknown | unknown[] | Record<string, unknown>;

export interface DualWriterOptions {
  /** The config object, or the path of a config file. */
  config: TandemConfigInput | string;
  /** The longest a write waits for the fast-path apply to the secondary, ms. Default 50. 0 disables the fast path. */
  budgetMs?: number;
  /** How long a phase read is reused, ms. Default 1000. */
  phaseTtlMs?: number;
  log?: Logger;
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
   * Runs the application's write `fn` in a transaction on its own connection (`adapter`), records the keys it
   * marks with `tx.changed()` in the outbox in the same transaction, commits, then tries the fast path within the
   * budget. If `fn` throws, the transaction rolls back (no outbox row stays) and the application's own error is
   * rethrown unchanged.
   */
  async write<T>(adapter: TxAdapter, fn: (tx: WriteContext) => Promise<T>): Promise<T> {
    if (!adapter.managed)
      throw new TandemError(
        'USAGE',
        'write() needs a plain connection adapter (fromPg, fromMysql, fromSqlite); inside your own transaction use record()',
      );
    const entries: OutboxEntry[] = [];
    const phase = await this.phase();
    const capture = capturesChanges(phase);
    await adapter.query(sqlFor(adapter.dialect).beginWrite, []);
    let result: T;
    try {
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
    if (capture && entries.length) await this.afterCommit(entries, phase);
    return result;
  }

  /**
   * Records changed keys through a transaction the application has open (`fromKysely(trx, …)`, or a raw
   * connection inside BEGIN…COMMIT). The outbox rows commit or roll back with the application's write. No fast
   * path here (the commit is the application's); call `afterCommit(entries)` after it for one.
   */
  async record(adapter: TxAdapter, entity: string, ...keys: KeyInput[]): Promise<OutboxEntry[]> {
    const entries = keys.map((k) => this.entry(entity, k));
    if (!entries.length || !capturesChanges(await this.phase())) return entries;
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

  /** Waits for fast-path applies still running (they never block writes), then closes Tandem's own connections. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    if (this.transport) await (await this.transport.catch(() => undefined))?.close().catch(() => {});
    await this.migration.close();
  }
}

/**
 * Opens a dual writer: opens the migration runtime ({@link openMigration}: the config, Tandem's own connections
 * to the legacy, new and control stores for the fast path and the phase, the resolved entities), and creates
 * the control-plane tables (outbox included) in the legacy and the new store if they are missing.
 */
export async function createDualWriter(o: DualWriterOptions): Promise<DualWriter> {
  const m = await openMigration(o.config, { log: o.log, phaseTtlMs: o.phaseTtlMs ?? 1000 });
  try {
    await ensureControlSchema(m.stores.legacy);
    await ensureControlSchema(m.stores.new);
    if (m.stores.control !== m.stores.new) await ensureControlSchema(m.stores.control);
    const writer = new DualWriter(m, o.budgetMs ?? 50);
    await m.readPhase().catch(() => m.phase()); // the first read, so that writes start with a known phase
    return writer;
  } catch (e) {
    await m.close();
    throw e;
  }
}
