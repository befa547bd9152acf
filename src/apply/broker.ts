import type { Logger } from 'pino';
import { groupBy, sleep } from '../core/async.js';
import type { Change, Delivery, Transport } from '../core/change.js';
import type { ResolvedEntity } from '../core/mapping.js';
import { acknowledgeOutbox, claimOutbox, deadLetter, decodeKeyValues, outboxCreatedMs } from '../outbox/outbox.js';
import type { Store } from '../stores/types.js';
import { applyChanges } from './apply.js';
import { withRetry } from './retry.js';
import { brokenAckForTests, DEFAULT_RELAY_BATCH, emptyRelayStats, relayMetrics, type RelayStats } from './relay.js';

/**
 * Moves changes from the primary's outbox into a broker: claims due outbox rows (`FOR UPDATE SKIP LOCKED`),
 * publishes them and waits for the broker's confirmation, then deletes them — all inside the claim's
 * transaction, so a crash before the commit only publishes again (the message id stays `outbox:<id>`, and the
 * guarded apply makes a duplicate harmless). Runs until `signal` aborts, or with `untilEmpty` until the outbox
 * is empty. Returns the number of changes forwarded.
 */
export async function forwardOutbox(o: {
  primary: Store;
  transport: Transport;
  log: Logger;
  batchSize?: number;
  signal?: AbortSignal;
  untilEmpty?: boolean;
  idleMs?: number;
}): Promise<number> {
  let forwarded = 0;
  const origin = `outbox:${o.primary.url}`;
  while (!o.signal?.aborted) {
    let n = 0;
    try {
      n = await o.primary.transaction(async (tx) => {
        const rows = await claimOutbox(o.primary, tx, o.batchSize ?? DEFAULT_RELAY_BATCH);
        if (!rows.length) return 0;
        const changes: Change[] = rows.map((r) => ({
          entity: r.entity,
          key: r.entity_key,
          keyValues: decodeKeyValues(r.key_values),
          id: `${origin}:${r.id}`.slice(-120),
          at: outboxCreatedMs(r.created_at),
        }));
        await o.transport.publish(changes);
        await acknowledgeOutbox(
          o.primary,
          tx,
          rows.map((r) => r.id),
        );
        return rows.length;
      });
    } catch (e) {
      o.log.warn(
        { event: 'forward.failed', err: (e as Error).message },
        'could not forward outbox changes to the broker; retrying',
      );
      await sleep(1000, o.signal);
      continue;
    }
    forwarded += n;
    if (n) continue;
    if (o.untilEmpty) break;
    await sleep(o.idleMs ?? 100, o.signal);
  }
  return forwarded;
}

/**
 * The relay's broker side: consumes changes at least once and applies each batch through `applyChanges`
 * (re-read the primary, guarded apply, tombstones for keys gone). A batch that fails is redelivered by the
 * broker with backoff; a change that keeps failing is dead-lettered by the transport and recorded in the
 * control plane's dead-letter table (so `tandem status` shows it and cutover is blocked). With `untilEmpty`,
 * stops once the broker reports nothing pending.
 */
export async function consumeChanges(o: {
  transport: Transport;
  primary: Store;
  secondary: Store;
  control: Store;
  entities: ResolvedEntity[];
  log: Logger;
  batchSize?: number;
  maxAttempts?: number;
  signal?: AbortSignal;
  untilEmpty?: boolean;
}): Promise<RelayStats> {
  const stats = emptyRelayStats();
  const stop = new AbortController();
  o.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const handler = async (batch: Delivery[]) => {
    const byEntity = groupBy(batch, (d) => d.change.entity);
    for (const [name, ds] of byEntity) {
      const entity = o.entities.find((e) => e.name === name);
      if (!entity) throw new Error(`unknown entity "${name}" (not in the config)`);
      // an unreachable store is waited out here (about five minutes), so an outage does not use up the
      // deliveries the broker counts toward dead-lettering; other failures go back to the broker at once
      // TEST ONLY (brokenAckForTests): a failed apply is acknowledged as if it had been applied
      const apply = () =>
        applyChanges(
          o.primary,
          o.secondary,
          entity,
          ds.map((d) => ({ key: d.change.key, keyValues: d.change.keyValues })),
        );
      if (brokenAckForTests()) {
        const r = await withRetry(apply, { attempts: 3 }).catch(() => ({ applied: 0, skipped: 0, deleted: 0 }));
        stats.applied += r.applied;
        continue;
      }
      const r = await withRetry(
        () =>
          applyChanges(
            o.primary,
            o.secondary,
            entity,
            ds.map((d) => ({ key: d.change.key, keyValues: d.change.keyValues })),
          ),
        {
          attempts: 60,
          onRetry: () => {
            stats.retried++;
            if (stop.signal.aborted) throw new Error('stopping');
          },
        },
      );
      stats.applied += r.applied;
      stats.skipped += r.skipped;
      stats.deleted += r.deleted;
      relayMetrics.changes.inc({ entity: name }, ds.length);
      relayMetrics.applied.inc({ entity: name }, r.applied);
      relayMetrics.deleted.inc({ entity: name }, r.deleted);
    }
    stats.batches++;
    stats.changes += batch.length;
    stats.retried += batch.filter((d) => d.attempt > 1).length;
    for (const d of batch) stats.maxLagMs = Math.max(stats.maxLagMs, Date.now() - d.change.at);
  };
  const recording = new Set<Promise<void>>();
  let watcher: Promise<void> | undefined;
  if (o.untilEmpty) {
    watcher = (async () => {
      // stop after the broker has reported nothing pending twice in a row
      let quiet = 0;
      while (!stop.signal.aborted) {
        await sleep(300, stop.signal);
        const n = await o.transport.pending().catch(() => 1);
        quiet = n === 0 ? quiet + 1 : 0;
        if (quiet >= 2) stop.abort();
      }
    })();
  }
  await o.transport.consume(handler, {
    signal: stop.signal,
    batchSize: o.batchSize ?? DEFAULT_RELAY_BATCH,
    maxAttempts: o.maxAttempts,
    onDeadLetter: (d, reason) => {
      stats.deadLettered++;
      relayMetrics.deadLetters.inc({ entity: d.change.entity });
      o.log.error(
        { event: 'relay.dead_letter', entity: d.change.entity, attempts: d.attempt, reason },
        `change of ${d.change.entity} dead-lettered after ${d.attempt} deliveries`,
      );
      const p = deadLetter(
        o.control,
        o.transport.kind,
        {
          id: d.change.id,
          entity: d.change.entity,
          entity_key: d.change.key,
          key_values: JSON.stringify(d.change.keyValues),
          created_at: new Date(d.change.at).toISOString(),
        },
        d.attempt,
        reason,
      ).catch((e) =>
        o.log.error(
          { event: 'relay.dead_letter_record_failed', err: (e as Error).message },
          'could not record a dead letter in the control plane',
        ),
      );
      recording.add(p);
      void p.finally(() => recording.delete(p));
    },
  });
  stop.abort();
  await watcher;
  await Promise.all([...recording]);
  return stats;
}
