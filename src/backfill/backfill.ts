import { sourceCount } from '../core/where.js';
import type { Logger } from 'pino';
import { applyMapped, isUniqueViolation, prepareRows } from '../apply/apply.js';
import { isTransient, withRetry } from '../apply/retry.js';
import type { TandemConfig } from '../config/schema.js';
import { advanceCheckpoint, ChunkAlreadyCommitted, finishCheckpoint, startCheckpoint } from '../control/control.js';
import { deadHolderCheck } from '../control/heartbeat.js';
import { acquireAll, backfillScope, type Lease } from '../control/lease.js';
import { faultPoint } from '../core/faults.js';
import type { ResolvedEntity } from '../core/mapping.js';
import type { Row, Store } from '../stores/types.js';
import { Pacer } from './pacer.js';
import { ProgressReporter } from './progress.js';
import { Throttle } from './throttle.js';
import { ThrottlePublisher } from './throttle-publish.js';
import type { ThrottleState } from '../control/throttle-state.js';

/** Result of one entity's backfill. */
export interface EntityBackfillResult {
  entity: string;
  /** Rows read from the source in this run. */
  copied: number;
  /** Rows written to the target in this run (their version won in the ledger). */
  applied: number;
  /** Rows the checkpoint says are copied, all runs together. */
  copiedTotal: number;
  rowsTotal: number;
  seconds: number;
  status: 'done' | 'interrupted' | 'skipped';
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
  /** Start over from the first key even where a checkpoint exists (rows already there are re-applied, harmlessly). */
  restart?: boolean;
  /** Overrides the config's throttle. */
  maxRowsPerSecond?: number;
  /** When aborted, the backfill stops after the chunk in flight commits. */
  signal?: AbortSignal;
  /** Called after every committed chunk (tests use it to inject faults). */
  onChunk?: (entity: string, copiedTotal: number, rowsTotal: number) => void | Promise<void>;
  /** Told which entity is being copied (`backfill:<entity>`), e.g. the process's heartbeat. */
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
}

/**
 * Backfills entities in order: a keyset scan of the source in adaptive chunks; each chunk is applied through the
 * guarded apply and its checkpoint advanced in the same target transaction, so killing the process at any
 * moment loses nothing and duplicates nothing — a restart resumes after the last committed chunk. The read of
 * the next chunk overlaps the write of the current one.
 *
 * One owner at a time: before anything is written, the run takes the lease `backfill:<entity>` of every entity
 * it was given, in the target (all or none; `config.backfill.leaseSeconds`, renewed on every chunk and on a
 * timer) — a second backfill of an entity being copied is refused with TANDEM_ERR_LEASE_HELD naming the holder.
 * Every checkpoint move is fenced on the lease's token in the chunk's transaction: if this process stalled past
 * its lease and another took it over, the chunk rolls back and TANDEM_ERR_LEASE_LOST is thrown. The leases are
 * released as each entity is done, and all when the run ends, however it ends.
 */
export async function runBackfill(o: BackfillOptions): Promise<EntityBackfillResult[]> {
  const results: EntityBackfillResult[] = [];
  const progress = new ProgressReporter(o.progressOut ?? null, o.log);
  const leaseMs = (o.config.backfill.leaseSeconds ?? 30) * 1000;
  const scopes = o.entities.map((e) => ({ scope: backfillScope(e.name), what: `entity ${e.name} is being copied` }));
  const onRenewError = (e: unknown) =>
    o.log.warn(
      { event: 'backfill.lease_renew_failed', err: (e as Error)?.message },
      'could not renew the backfill lease (retrying)',
    );
  const deadHolder = o.control ? deadHolderCheck(o.control) : undefined;
  const leases = await acquireAll(o.target, scopes, leaseMs, onRenewError, deadHolder);
  const throttle = new Throttle({
    config: o.config.backfill.throttle,
    source: o.source,
    control: o.control,
    log: o.log,
  });
  for (const { scope } of scopes) {
    const took = leases.get(scope)?.tookOver;
    if (took) {
      o.log.warn(
        {
          event: 'backfill.lease_takeover',
          scope,
          host: took.host,
          pid: took.pid,
          token: took.token,
          reason: took.reason,
        },
        `${scope}: lease taken over from host ${took.host} pid ${took.pid} before it expired: ${took.reason}`,
      );
    }
  }
  try {
    for (const entity of o.entities) {
      if (o.signal?.aborted) {
        results.push({
          entity: entity.name,
          copied: 0,
          applied: 0,
          copiedTotal: 0,
          rowsTotal: 0,
          seconds: 0,
          status: 'interrupted',
        });
        continue;
      }
      progress.reset();
      o.heartbeat?.setScope(backfillScope(entity.name));
      const lease = leases.get(backfillScope(entity.name))!;
      const r = await backfillEntity(o, entity, progress, lease, throttle);
      results.push(r);
      // an entity copied to the end is free again (another process may --restart it); an interrupted one is
      // released with the rest when the run ends
      if (r.status !== 'interrupted') await leases.releaseOne(lease);
    }
  } finally {
    o.heartbeat?.setScope(null);
    await throttle.close();
    await leases.release();
    // stopped or failed mid-entity: the progress line is ended before the summary or the error is printed
    progress.close();
  }
  return results;
}

async function backfillEntity(
  o: BackfillOptions,
  entity: ResolvedEntity,
  progress: ProgressReporter,
  lease: Lease,
  throttle: Throttle,
): Promise<EntityBackfillResult> {
  const { source, target, log } = o;
  const started = performance.now();
  const count = sourceCount(source, entity);
  const rowsTotal = Number((await source.query<{ n: unknown }>(count.sql, count.params))[0]?.n ?? 0);
  const cp = await startCheckpoint(target, entity.name, rowsTotal, o.restart ?? false, lease);
  if (cp.status === 'done') {
    log.info(
      { event: 'backfill.skip', entity: entity.name, copied: cp.rowsCopied },
      `${entity.name}: already backfilled (use --restart to copy again)`,
    );
    return {
      entity: entity.name,
      copied: 0,
      applied: 0,
      copiedTotal: cp.rowsCopied,
      rowsTotal,
      seconds: 0,
      status: 'skipped',
    };
  }
  if (!entity.version)
    log.warn(
      { event: 'backfill.no_version', entity: entity.name },
      `${entity.name}: no version column; the apply uses last-writer-wins (run \`tandem prepare\` to add one before dual writes)`,
    );
  const bf = o.config.backfill;
  // the config's (or the command line's) rate and chunk time; the operator's tune overrides them while set
  const baseRate = o.maxRowsPerSecond ?? bf.maxRowsPerSecond;
  const pacer = new Pacer({
    chunkSeconds: bf.chunkSeconds,
    initialChunkRows: bf.initialChunkRows,
    maxChunkRows: bf.maxChunkRows,
    maxRowsPerSecond: baseRate,
  });
  const publisher = new ThrottlePublisher(entity.name, o.control, log, throttle.checkSeconds, o.onThrottle);
  try {
    return await copyEntity(o, entity, progress, lease, throttle, pacer, publisher, baseRate, cp, rowsTotal, started);
  } finally {
    await publisher.clear();
  }
}

/** The keyset scan of one entity (see {@link runBackfill}), holding before each chunk while throttled. */
async function copyEntity(
  o: BackfillOptions,
  entity: ResolvedEntity,
  progress: ProgressReporter,
  lease: Lease,
  throttle: Throttle,
  pacer: Pacer,
  publisher: ThrottlePublisher,
  baseRate: number | undefined,
  cp: { lastKey: unknown[] | null; rowsCopied: number },
  rowsTotal: number,
  started: number,
): Promise<EntityBackfillResult> {
  const { source, target, log } = o;
  const bf = o.config.backfill;
  let after = cp.lastKey;
  let copiedTotal = cp.rowsCopied;
  let copied = 0;
  let applied = 0;
  const keyCategories = entity.keyColumns.map((c) => c.category);
  const onRetry = (e: unknown, attempt: number, waitMs: number) =>
    log.warn(
      { event: 'backfill.retry', entity: entity.name, attempt, waitMs: Math.round(waitMs), err: (e as Error).message },
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
      limit,
      where: entity.where,
    });
    const rows = withRetry(() => source.query<Row>(st.sql, st.params), { onRetry });
    // map and check as soon as the rows arrive, while the previous chunk is still being written; keep only
    // the mapped rows, the count and the last key (the raw rows are released)
    const chunk = rows.then((r) => ({
      count: r.length,
      lastKey: r.length ? entity.key.map((k) => r[r.length - 1]![k]) : null,
      mapped: prepareRows(entity, r),
    }));
    rows.catch(() => {}); // surfaced when awaited
    chunk.catch(() => {});
    return { chunk, limit };
  };
  log.info(
    { event: 'backfill.start', entity: entity.name, rowsTotal, resumeFrom: copiedTotal },
    `${entity.name}: backfill ${copiedTotal ? `resumes at ${copiedTotal} rows` : 'starts'}`,
  );
  const interrupted = (): EntityBackfillResult => {
    log.warn(
      { event: 'backfill.interrupted', entity: entity.name, copied: copiedTotal },
      `${entity.name}: stopped after a committed chunk at ${copiedTotal} rows; run backfill again to resume`,
    );
    return {
      entity: entity.name,
      copied,
      applied,
      copiedTotal,
      rowsTotal,
      seconds: (performance.now() - started) / 1000,
      status: 'interrupted',
    };
  };
  /**
   * Before a chunk is read: applies the operator's tune to the pacer and waits while the throttle holds (polling
   * every checkSeconds, until the run's signal aborts). Returns true when it waited.
   */
  const hold = async (): Promise<boolean> => {
    let waited = false;
    for (let force = false; ; force = true) {
      const { verdict, control } = await throttle.check(force);
      pacer.setRate(control.maxRowsPerSecond ?? baseRate);
      pacer.setChunkSeconds(control.chunkSeconds ?? bf.chunkSeconds);
      if (!verdict || o.signal?.aborted) return waited;
      waited = true;
      await publisher.publish(verdict);
      progress.update({
        entity: entity.name,
        copied: copiedTotal,
        total: Math.max(rowsTotal, copiedTotal),
        chunkRows: pacer.size,
        throttle: verdict.detail,
        done: false,
      });
      await abortableSleep(throttle.checkSeconds * 1000, o.signal);
    }
  };
  await hold();
  if (o.signal?.aborted) return interrupted();
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
    const ahead = full && !o.signal?.aborted && !pacer.limited ? read(lastKey, pacer.size) : null;
    // the chunk and its checkpoint commit together; a deadlock or a lost connection rolls both back and retries
    const prevKey = after;
    const r = await withRetry(
      () =>
        target.transaction(async (tx) => {
          const res = await applyMapped(target, tx, entity, mapped, { source, readBeforeLock: true });
          faultPoint('after-chunk-write');
          await advanceCheckpoint(tx, target, entity.name, prevKey, lastKey, count, res.applied, lease);
          faultPoint('after-checkpoint');
          return res;
        }),
      // a unique-value conflict the apply could not resolve (the primary kept changing the rows involved while it
      // re-read them) is retried too: the next attempt re-reads them again, instead of stopping the backfill
      { onRetry, retryIf: (e) => isTransient(e) || isUniqueViolation(e) },
    ).catch((e) => {
      if (e instanceof ChunkAlreadyCommitted) return { offered: count, applied: 0, skipped: count };
      throw e;
    });
    faultPoint('after-commit');
    after = lastKey;
    copied += count;
    copiedTotal += count;
    applied += r.applied;
    const wait = pacer.record(count, (performance.now() - t0) / 1000);
    // throttled: this chunk's rows are paid for before anything else happens, after the last chunk and on a stop
    // too, so rows / elapsed never exceeds the cap (the progress rate is sampled after the wait)
    await publisher.publish(pacer.throttle ? { reason: 'rate', detail: pacer.throttle } : null);
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    progress.update({
      entity: entity.name,
      copied: copiedTotal,
      total: Math.max(rowsTotal, copiedTotal),
      chunkRows: pacer.size,
      throttle: pacer.throttle,
      done: false,
    });
    await o.onChunk?.(entity.name, copiedTotal, Math.max(rowsTotal, copiedTotal));
    // one turn of the event loop per chunk: with in-process stores (SQLite, PGlite) the whole scan may otherwise
    // run on promise continuations alone, and a SIGINT/SIGTERM would not be delivered until the end
    await new Promise((res) => setImmediate(res));
    if (o.signal?.aborted) {
      await ahead?.chunk.catch(() => {});
      return interrupted();
    }
    if (!full) break;
    // paused, or the source is loaded: no chunk is written until the throttle lets go (a chunk read ahead before
    // the wait is dropped and read again after it, fresh)
    let pending = ahead;
    const waited = await hold();
    if (waited) {
      await pending?.chunk.catch(() => {});
      pending = null;
    }
    if (o.signal?.aborted) {
      await pending?.chunk.catch(() => {});
      return interrupted();
    }
    if (waited) await publisher.publish(null);
    t0 = performance.now();
    next = pending ?? read(after, pacer.size);
  }
  await finishCheckpoint(target, entity.name, lease);
  progress.update({
    entity: entity.name,
    copied: copiedTotal,
    total: Math.max(rowsTotal, copiedTotal),
    chunkRows: pacer.size,
    throttle: null,
    done: true,
  });
  const seconds = (performance.now() - started) / 1000;
  log.info({ event: 'backfill.done', entity: entity.name, copied, applied, seconds }, `${entity.name}: backfill done`);
  return { entity: entity.name, copied, applied, copiedTotal, rowsTotal, seconds, status: 'done' };
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
