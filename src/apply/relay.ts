import type { Logger } from 'pino';
import { groupBy, sleep } from '../core/async.js';
import { faultPoint } from '../core/faults.js';
import { counter, gauge } from '../core/metrics.js';
import type { ResolvedEntity } from '../core/mapping.js';
import {
  acknowledgeOutbox,
  claimOutbox,
  deadLetterOutbox,
  decodeKeyValues,
  outboxAgeMs,
  outboxLag,
  rescheduleOutbox,
  type OutboxRow,
} from '../outbox/outbox.js';
import { classifyError } from '../stores/errors.js';
import type { Executor, Store } from '../stores/types.js';
import { applyChanges, applyPrepared, prepareChanges, type PreparedChanges } from './apply.js';
import { isTransient, withRetry } from './retry.js';

/** What the relay did so far. `maxLagMs`: the oldest change it applied, age at apply time. */
export interface RelayStats {
  batches: number;
  changes: number;
  applied: number;
  deleted: number;
  skipped: number;
  retried: number;
  deadLettered: number;
  maxLagMs: number;
}

export interface RelayOptions {
  /** The store that is primary (holds the outbox and the rows). */
  primary: Store;
  /** The store that is secondary (receives the rows; holds the version ledger). */
  secondary: Store;
  /** Where dead letters go (the control store). */
  control: Store;
  /** Entities, resolved with `primary` as their source. */
  entities: ResolvedEntity[];
  log: Logger;
  /** Changes claimed per batch. Default {@link DEFAULT_RELAY_BATCH}. */
  batchSize?: number;
  /**
   * Claim and read the next batch while the current one is written (two batches in flight, applied one after the
   * other in claim order). Default true; only where the primary can claim with `SKIP LOCKED`.
   */
  pipeline?: boolean;
  /** Attempts before a change goes to the dead-letter table. Default 10. */
  maxAttempts?: number;
  /** Pause when the outbox is empty, ms. Default 100. */
  idleMs?: number;
  signal?: AbortSignal;
  /** Return once the outbox is empty — every change applied or dead-lettered — instead of polling until aborted. */
  untilEmpty?: boolean;
  onBatch?: (stats: RelayStats) => void | Promise<void>;
}

/**
 * The relay: drains the outbox of the primary and applies each change to the secondary through the guarded
 * apply — re-read the primary row, map it, write it if its version is newer; a row that no longer exists
 * applies as a delete with a tombstone. Several relays may run at once (claims use `FOR UPDATE SKIP LOCKED`).
 * A change that fails is retried with backoff; after `maxAttempts` it goes to the dead-letter table, where it
 * stays visible (and blocks cutover) until repaired. Runs until `signal` aborts, or with `untilEmpty` until
 * nothing is due.
 */
/** Relay figures at zero. */
export function emptyRelayStats(): RelayStats {
  return { batches: 0, changes: 0, applied: 0, deleted: 0, skipped: 0, retried: 0, deadLettered: 0, maxLagMs: 0 };
}

/** Adds the figures of `b` to `a` (maxLagMs: the larger). */
export function addRelayStats(a: RelayStats, b: RelayStats): RelayStats {
  return {
    batches: a.batches + b.batches,
    changes: a.changes + b.changes,
    applied: a.applied + b.applied,
    deleted: a.deleted + b.deleted,
    skipped: a.skipped + b.skipped,
    retried: a.retried + b.retried,
    deadLettered: a.deadLettered + b.deadLettered,
    maxLagMs: Math.max(a.maxLagMs, b.maxLagMs),
  };
}

/**
 * The relay's metrics (src/core/metrics.ts), shared by the outbox relay and the broker consumer.
 * @internal
 */
export const relayMetrics = {
  changes: counter(
    'tandem_relay_changes_total',
    'changes the relay handled (applied, skipped as not newer, deleted or dead-lettered)',
    ['entity'],
  ),
  applied: counter('tandem_relay_rows_applied_total', 'rows the relay wrote to the secondary', ['entity']),
  deleted: counter('tandem_relay_rows_deleted_total', 'keys the relay deleted on the secondary (tombstones)', [
    'entity',
  ]),
  deadLetters: counter('tandem_relay_dead_letters_total', 'changes moved to the dead-letter table', ['entity']),
  lag: gauge('tandem_relay_lag_seconds', 'age of the oldest change in the last batch the relay applied'),
};

export async function runRelay(o: RelayOptions): Promise<RelayStats> {
  const stats = emptyRelayStats();
  const pipelined = (o.pipeline ?? true) && o.primary.capabilities.skipLocked;
  const idle = o.idleMs ?? 100;
  /** Books a finished batch: `busy` (changes handled), `empty`, `retry` (at once) or `failed` (after a pause). */
  const finish = async (end: BatchEnd): Promise<'busy' | 'empty' | 'retry' | 'failed'> => {
    if (end.error === undefined) {
      if (end.n === 0) return 'empty';
      stats.batches++;
      await o.onBatch?.(stats);
      return 'busy';
    }
    if (end.error instanceof GivenBack) return 'empty';
    // the batch rolled back (claims included): nothing was lost. A deadlock between relays is retried at once;
    // anything else (a store down) after a pause
    const kind = classifyError(end.error);
    if (kind === 'deadlock' || kind === 'serialization') {
      stats.retried++;
      return 'retry';
    }
    o.log.warn({ event: 'relay.batch_failed', err: (end.error as Error).message }, 'relay batch failed; retrying');
    await sleep(Math.min(5000, idle * 10), o.signal);
    return 'failed';
  };
  // the batch being written while the next one is claimed (pipelined), settled: it never rejects
  let writing: Promise<BatchEnd> | null = null;
  try {
    while (!o.signal?.aborted) {
      let outcome: Awaited<ReturnType<typeof finish>>;
      if (pipelined) {
        const before = writing;
        let onReady = () => {};
        const ready = new Promise<boolean>((r) => (onReady = () => r(true)));
        const turn = before ? before.then(() => undefined) : Promise.resolve();
        const current = settled(relayBatch(o, stats, { ready: onReady, turn }));
        // once this batch is claimed and read (or over: empty, failed), the one before is written and booked
        const claimed = await Promise.race([ready, current.then(() => false)]);
        writing = null;
        if (before) await finish(await before);
        if (claimed) {
          // it is written after the one before: claim the next meanwhile
          writing = current;
          continue;
        }
        outcome = await finish(await current);
      } else outcome = await finish(await settled(relayBatch(o, stats)));
      if (outcome !== 'empty') continue;
      // with untilEmpty, changes waiting for a retry keep the relay running until they are applied or dead-lettered
      if (o.untilEmpty && (await outboxLag(o.primary).catch(() => ({ pending: 1 }))).pending === 0) break;
      await sleep(idle, o.signal);
    }
  } finally {
    if (writing) await finish(await writing);
  }
  return stats;
}

/** How a batch ended: the outbox rows it handled, or the error its transaction rolled back with. */
interface BatchEnd {
  n: number;
  error?: unknown;
}

function settled(p: Promise<number>): Promise<BatchEnd> {
  return p.then(
    (n) => ({ n }),
    (error: unknown) => ({ n: 0, error: error ?? new Error('relay batch failed') }),
  );
}

/** Thrown inside a claimed batch that was not written because the relay is stopping: its claims roll back. */
class GivenBack extends Error {}

/**
 * Re-exported for older imports: the helpers live in src/core/async.ts, the outbox's lag and dead letters in
 * src/outbox/outbox.ts.
 * @deprecated
 * @internal
 */
export { deadLetter, outboxLag } from '../outbox/outbox.js';
/** @deprecated @internal */
export { groupBy, sleep } from '../core/async.js';

/**
 * TEST ONLY. `TANDEM_TEST_BREAK=ack-on-failure` in the environment makes the relay acknowledge (delete) claimed
 * changes whose apply failed, and the broker consumer acknowledge failed batches — a deliberately broken relay
 * that loses writes, so the chaos suite can prove its judge fails (docs/dual-writes.md). Read from the process
 * environment only, never from a config file; never set it outside that test.
 */
export function brokenAckForTests(): boolean {
  return process.env.TANDEM_TEST_BREAK === 'ack-on-failure';
}

/**
 * Changes claimed per batch by default (the relay, the broker bridge and the broker consumers): large enough that
 * a batch's fixed costs (two transactions, their round trips) weigh little against its rows, small enough that a
 * batch holds its claims for tens of milliseconds and several relays share a backlog.
 */
export const DEFAULT_RELAY_BATCH = 2000;

/** The savepoint after a pipelined batch's claim, before its early acknowledgement. */
const CLAIM_SAVEPOINT = 'tandem_claim';

/** One entity's part of a claimed batch, read and mapped ahead of the write where it can be. */
interface BatchPart {
  name: string;
  rows: OutboxRow[];
  entity?: ResolvedEntity;
  prepared?: PreparedChanges;
  /** What preparing it threw (not transient): handled like a failed write. */
  error?: unknown;
}

/**
 * One claim-apply-acknowledge round, in one transaction on the primary: claim due outbox rows, read and map the
 * primary rows of their keys ({@link prepareChanges}), then — after `stages.ready()` was called and `stages.turn`
 * resolved (the batch before it is done) — write them to the secondary and acknowledge them. Returns the number
 * of outbox rows it handled.
 * @internal
 */
export async function relayBatch(
  o: RelayOptions,
  stats: RelayStats,
  stages?: { ready: () => void; turn: Promise<void> },
): Promise<number> {
  const { primary } = o;
  const broken = brokenAckForTests();
  return primary.transaction(async (ptx) => {
    const claimed = await claimOutbox(primary, ptx, o.batchSize ?? DEFAULT_RELAY_BATCH);
    if (!claimed.length) return 0;
    const failures = new Map<string, string>(); // outbox id → reason
    // pipelined: the claimed rows are deleted at once, in the claim's transaction — still nothing is removed before
    // the batch is written (the transaction commits after that) — so that this transaction takes every lock it
    // needs before the next batch of this relay claims: that one waits in JS for this one and holds row locks of
    // its own (an index range's), which a later DELETE of this one could otherwise wait for, a wait no engine sees
    const early = !!stages;
    if (early) {
      await ptx.execute(`SAVEPOINT ${CLAIM_SAVEPOINT}`);
      await acknowledgeOutbox(
        primary,
        ptx,
        claimed.map((r) => r.id),
      );
    }
    const parts: BatchPart[] = [];
    for (const [name, rows] of groupBy(claimed, (r) => r.entity)) {
      const entity = o.entities.find((e) => e.name === name);
      const part: BatchPart = { name, rows, entity };
      parts.push(part);
      if (!entity) {
        for (const r of rows) failures.set(r.id, `unknown entity "${name}" (not in the config)`);
        continue;
      }
      try {
        part.prepared = await prepareChanges(primary, entity, changedKeys(rows), ptx);
      } catch (e) {
        // the primary is unreachable: give the claims back untouched
        if (isTransient(e)) throw e;
        part.error = e;
      }
    }
    if (stages) {
      stages.ready();
      await stages.turn;
      // stopping: a batch not written yet is given back (its claims roll back with the transaction)
      if (o.signal?.aborted) throw new GivenBack('relay stopping');
    }
    for (const part of parts) {
      const { entity, rows, name } = part;
      if (!entity) continue;
      try {
        if (part.error !== undefined) throw part.error;
        await applyPart(o, ptx, entity, rows, stats, part.prepared);
      } catch (e) {
        // TEST ONLY (brokenAckForTests): the failed changes are acknowledged below as if applied
        if (broken) continue;
        // the secondary is unreachable: give the claims back untouched (no attempt counted) and wait
        if (isTransient(e)) throw e;
        // isolate the poison change: apply key by key
        const byKey = groupBy(rows, (r) => r.entity_key);
        for (const group of byKey.values()) {
          try {
            await applyPart(o, ptx, entity, group, stats);
          } catch (e2) {
            for (const r of group) failures.set(r.id, (e2 as Error).message ?? String(e2));
          }
        }
        o.log.warn(
          { event: 'relay.apply_failed', entity: name, failed: [...failures.keys()].length, err: (e as Error).message },
          'relay apply failed for some changes; they will be retried',
        );
      }
    }
    // every change of the batch is committed on the secondary (or recorded as failed); the outbox rows go next
    faultPoint('after-secondary-commit');
    if (!early) await acknowledge(o, ptx, claimed, failures, stats);
    else if (failures.size) {
      // some changes failed: their rows come back (the deletes are undone) to be rescheduled or dead-lettered
      await ptx.execute(`ROLLBACK TO SAVEPOINT ${CLAIM_SAVEPOINT}`);
      await acknowledge(o, ptx, claimed, failures, stats);
    }
    stats.changes += claimed.length;
    // claims come oldest first: the first applied one carries the batch's lag
    const oldest = claimed.find((r) => !failures.has(r.id));
    if (oldest) {
      const lag = outboxAgeMs(oldest.created_at);
      stats.maxLagMs = Math.max(stats.maxLagMs, lag);
      relayMetrics.lag.set({}, lag / 1000);
    }
    return claimed.length;
  });
}

/** The changed keys of claimed outbox rows (canonical key string and raw values). */
function changedKeys(rows: OutboxRow[]): { key: string; keyValues: unknown[] }[] {
  return rows.map((r) => ({ key: r.entity_key, keyValues: decodeKeyValues(r.key_values) }));
}

/**
 * Writes one entity's changes of a batch: `prepared` (read and mapped ahead) when given, else read now. A
 * transient failure is retried (3 attempts in all) with the same prepared rows: they were read after their
 * changes committed, and the ledger orders appliers whatever the order of their reads.
 */
async function applyPart(
  o: RelayOptions,
  ptx: Executor,
  entity: ResolvedEntity,
  rows: OutboxRow[],
  stats: RelayStats,
  prepared?: PreparedChanges,
): Promise<void> {
  if (!prepared) return applyKeys(o, ptx, entity, rows, stats);
  const r = await withRetry(() => applyPrepared(o.primary, o.secondary, prepared, ptx), {
    attempts: 3,
    onRetry: () => {
      stats.retried++;
    },
  });
  countApplied(entity, rows.length, r, stats);
}

function countApplied(
  entity: ResolvedEntity,
  changes: number,
  r: { applied: number; skipped: number; deleted: number },
  stats: RelayStats,
): void {
  stats.applied += r.applied;
  stats.skipped += r.skipped;
  stats.deleted += r.deleted;
  relayMetrics.changes.inc({ entity: entity.name }, changes);
  relayMetrics.applied.inc({ entity: entity.name }, r.applied);
  relayMetrics.deleted.inc({ entity: entity.name }, r.deleted);
}

async function applyKeys(
  o: RelayOptions,
  ptx: Executor,
  entity: ResolvedEntity,
  rows: OutboxRow[],
  stats: RelayStats,
): Promise<void> {
  const keys = changedKeys(rows);
  const r = await withRetry(() => applyChanges(o.primary, o.secondary, entity, keys, ptx), {
    attempts: 3,
    onRetry: () => {
      stats.retried++;
    },
  });
  countApplied(entity, rows.length, r, stats);
}

/** Settles a batch's claims in the claim's transaction: done rows deleted, failed ones rescheduled or dead-lettered. */
async function acknowledge(
  o: RelayOptions,
  ptx: Executor,
  claimed: OutboxRow[],
  failures: Map<string, string>,
  stats: RelayStats,
): Promise<void> {
  const { primary } = o;
  await acknowledgeOutbox(
    primary,
    ptx,
    claimed.filter((r) => !failures.has(r.id)).map((r) => r.id),
  );
  const max = o.maxAttempts ?? 10;
  for (const r of claimed) {
    const reason = failures.get(r.id);
    if (reason === undefined) continue;
    const attempts = r.attempts + 1;
    if (attempts >= max || reason.startsWith('unknown entity')) {
      await deadLetterOutbox(primary, ptx, o.control, r, attempts, reason);
      stats.deadLettered++;
      relayMetrics.deadLetters.inc({ entity: r.entity });
      o.log.error(
        { event: 'relay.dead_letter', entity: r.entity, attempts, reason },
        `change of ${r.entity} moved to the dead-letter table after ${attempts} attempts`,
      );
    } else {
      await rescheduleOutbox(primary, ptx, r.id, attempts, reason);
    }
  }
}
