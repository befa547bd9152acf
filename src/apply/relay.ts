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
import { applyChanges } from './apply.js';
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
  /** Changes claimed per batch. Default 500. */
  batchSize?: number;
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
  while (!o.signal?.aborted) {
    let n = 0;
    try {
      n = await relayBatch(o, stats);
    } catch (e) {
      // the batch rolled back (claims included): nothing was lost. A deadlock between relays is retried at once;
      // anything else (a store down) after a pause
      const kind = classifyError(e);
      if (kind === 'deadlock' || kind === 'serialization') {
        stats.retried++;
        continue;
      }
      o.log.warn({ event: 'relay.batch_failed', err: (e as Error).message }, 'relay batch failed; retrying');
      await sleep(Math.min(5000, (o.idleMs ?? 100) * 10), o.signal);
      continue;
    }
    if (n > 0) {
      stats.batches++;
      await o.onBatch?.(stats);
      continue;
    }
    // with untilEmpty, changes waiting for a retry keep the relay running until they are applied or dead-lettered
    if (o.untilEmpty && (await outboxLag(o.primary).catch(() => ({ pending: 1 }))).pending === 0) break;
    await sleep(o.idleMs ?? 100, o.signal);
  }
  return stats;
}

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
 * One claim-apply-acknowledge round. Returns the number of outbox rows it handled.
 * @internal
 */
export async function relayBatch(o: RelayOptions, stats: RelayStats): Promise<number> {
  const { primary } = o;
  const broken = brokenAckForTests();
  return primary.transaction(async (ptx) => {
    const claimed = await claimOutbox(primary, ptx, o.batchSize ?? 500);
    if (!claimed.length) return 0;
    const failures = new Map<string, string>(); // outbox id → reason
    const byEntity = groupBy(claimed, (r) => r.entity);
    for (const [name, rows] of byEntity) {
      const entity = o.entities.find((e) => e.name === name);
      if (!entity) {
        for (const r of rows) failures.set(r.id, `unknown entity "${name}" (not in the config)`);
        continue;
      }
      try {
        await applyKeys(o, ptx, entity, rows, stats);
      } catch (e) {
        // TEST ONLY (brokenAckForTests): the failed changes are acknowledged below as if applied
        if (broken) continue;
        // the secondary is unreachable: give the claims back untouched (no attempt counted) and wait
        if (isTransient(e)) throw e;
        // isolate the poison change: apply key by key
        const byKey = groupBy(rows, (r) => r.entity_key);
        for (const group of byKey.values()) {
          try {
            await applyKeys(o, ptx, entity, group, stats);
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
    await acknowledge(o, ptx, claimed, failures, stats);
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

async function applyKeys(
  o: RelayOptions,
  ptx: Executor,
  entity: ResolvedEntity,
  rows: OutboxRow[],
  stats: RelayStats,
): Promise<void> {
  const keys = rows.map((r) => ({ key: r.entity_key, keyValues: decodeKeyValues(r.key_values) }));
  const r = await withRetry(() => applyChanges(o.primary, o.secondary, entity, keys, ptx), {
    attempts: 3,
    onRetry: () => {
      stats.retried++;
    },
  });
  stats.applied += r.applied;
  stats.skipped += r.skipped;
  stats.deleted += r.deleted;
  relayMetrics.changes.inc({ entity: entity.name }, rows.length);
  relayMetrics.applied.inc({ entity: entity.name }, r.applied);
  relayMetrics.deleted.inc({ entity: entity.name }, r.deleted);
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
