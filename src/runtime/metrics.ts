import { PHASES } from '../control/phase.js';
import { THROTTLE_REASONS } from '../control/throttle-state.js';
import { errorLine } from '../core/errors.js';
import { gauge, metricsText } from '../core/metrics.js';
import { showGuardState } from '../routing/guard.js';
import { parityGauge } from '../verify/metrics.js';
import { mismatchFigures } from '../verify/mismatches.js';
import type { Migration } from './migration.js';
import { BACKFILL_STATES, type MigrationStatus, readMigrationStatus } from './status.js';

/**
 * The control-plane gauges of `/metrics` (catalogue in docs/metrics.md): figures that live in the control plane
 * (phase, backfill checkpoints and throttle, relay backlog, dead letters, last verification, routing state,
 * guard verdict), read from the status model (src/runtime/status.ts) at scrape time, so every process that
 * serves `/metrics` — `tandem run --http` (src/server/app.ts) and `tandem relay --metrics-port` — shows the
 * fleet's state, not only what it did itself. One status read serves every scrape of the next second
 * ({@link refreshStatusMetrics}). The event counters (rows copied, changes applied, routed requests) are
 * incremented where the event happens (src/backfill/metrics.ts, src/apply/relay.ts, src/routing/).
 *
 * Labels are entity names and closed sets (phase, state, reason, direction): never a key, a row value, a URL, a
 * token or a throttle's detail text.
 */

const G = {
  up: gauge('tandem_status_up', '1 when the last read of the status model (control plane, stores) succeeded, else 0'),
  phase: gauge('tandem_phase_info', 'the current phase of the migration as a label; value always 1', ['phase']),
  checkpointRows: gauge(
    'tandem_backfill_checkpoint_rows',
    'rows the backfill checkpoint says are copied, every run and process together, per entity',
    ['entity'],
  ),
  sourceRows: gauge('tandem_backfill_source_rows', 'rows to copy (estimate when the backfill started), per entity', [
    'entity',
  ]),
  progress: gauge('tandem_backfill_progress_ratio', 'share of the rows copied, 0..1, per entity', ['entity']),
  eta: gauge('tandem_backfill_eta_seconds', 'estimated seconds until the backfill of the entity is done', ['entity']),
  state: gauge(
    'tandem_backfill_state',
    'the backfill state of the entity: 1 for the current one of pending, running, paused, done, failed',
    ['entity', 'state'],
  ),
  throttled: gauge(
    'tandem_backfill_throttled',
    'the backfill of the entity is held back now: 1 for the reason in force (paused, flag-file, replica-lag, query, rate), else 0',
    ['entity', 'reason'],
  ),
  pending: gauge('tandem_relay_pending_changes', 'changes waiting in the live outbox (the primary of the phase)', [
    'direction',
  ]),
  outboxLag: gauge(
    'tandem_relay_outbox_lag_seconds',
    'age of the oldest change waiting in the live outbox, seconds (0 when it is empty)',
    ['direction'],
  ),
  deadLetters: gauge('tandem_relay_dead_letters_queued', 'changes in the dead-letter table now (they block cutover)'),
  lastSuccess: gauge(
    'tandem_verify_last_success_timestamp_seconds',
    'Unix time the last completed verification of the entity started (any tier), seconds',
    ['entity'],
  ),
  differences: gauge(
    'tandem_verify_differences',
    'differing keys (or aggregates, quick tier) the last completed verification of the entity found',
    ['entity'],
  ),
  shadow: gauge('tandem_routing_shadow_ratio', 'share of keys whose new read is shadowed, 0..1 (routing state)'),
  canary: gauge('tandem_routing_canary_ratio', 'share of keys served by new in the canary phase, 0..1 (routing state)'),
  killed: gauge('tandem_routing_killed', '1 while the kill switch is on (every read to legacy), else 0'),
};

/**
 * The gauges rebuilt whole from each status. When a status read fails they are dropped (no stale figure is
 * served); those without labels cannot be left out of the exposition, so they read NaN (unknown) instead.
 */
const DERIVED = [
  G.phase,
  G.checkpointRows,
  G.sourceRows,
  G.progress,
  G.eta,
  G.state,
  G.throttled,
  G.pending,
  G.outboxLag,
  G.deadLetters,
  G.lastSuccess,
  G.differences,
  G.shadow,
  G.canary,
  G.killed,
];

const UNLABELLED = [G.deadLetters, G.shadow, G.canary, G.killed];

/** Drops the derived gauges: unknown until the next status read. */
function unknown(): void {
  for (const g of DERIVED) g.reset();
  for (const g of UNLABELLED) g.set({}, Number.NaN);
}
unknown();

/**
 * Sets the control-plane gauges from one status model (see the module comment). Synchronous: a scrape never
 * sees a half-written set. Verify parity (`tandem_verify_parity_ratio`) and the guard state
 * (`tandem_routing_guard_state`) are the gauges their own modules set, overwritten here with the stored figures.
 */
export function publishStatus(s: MigrationStatus): void {
  for (const g of DERIVED) g.reset();
  G.up.set({}, 1);
  if ((PHASES as readonly string[]).includes(s.phase)) G.phase.set({ phase: s.phase }, 1);
  for (const e of s.entities) {
    const entity = e.name;
    const b = e.backfill;
    G.checkpointRows.set({ entity }, b.copied);
    if (b.total !== null) G.sourceRows.set({ entity }, b.total);
    if (b.state === 'done') G.progress.set({ entity }, 1);
    else if (b.total) G.progress.set({ entity }, Math.min(1, b.copied / b.total));
    if (b.etaSeconds !== null) G.eta.set({ entity }, b.etaSeconds);
    for (const st of BACKFILL_STATES) G.state.set({ entity, state: st }, st === b.state ? 1 : 0);
    const reason = b.throttle?.reason ?? null;
    for (const r of THROTTLE_REASONS) G.throttled.set({ entity, reason: r }, r === reason ? 1 : 0);
    if (e.verify) {
      G.lastSuccess.set({ entity }, Date.parse(e.verify.at) / 1000);
      G.differences.set({ entity }, e.verify.differences);
      if (e.verify.parity !== null) parityGauge.set({ entity }, e.verify.parity / 100);
    }
  }
  const direction = s.relay.direction;
  if (s.relay.pending !== null) G.pending.set({ direction }, s.relay.pending);
  if (s.relay.lagSeconds !== null) G.outboxLag.set({ direction }, s.relay.lagSeconds);
  G.deadLetters.set({}, s.relay.deadLetters);
  G.shadow.set({}, s.routing.shadowPercent / 100);
  G.canary.set({}, s.routing.canaryPercent / 100);
  G.killed.set({}, s.routing.killed ? 1 : 0);
  showGuardState(s.routing.guard.state);
}

/** Options of {@link refreshStatusMetrics}. */
export interface StatusMetricsOptions {
  /** A status read younger than this (ms) is reused. Default 1000. */
  maxAgeMs?: number;
}

const cache = new WeakMap<Migration, { at: number; done: Promise<void> }>();

/**
 * Fills the control-plane gauges from `m`'s status model, at most one read per `maxAgeMs` (default 1 s) —
 * concurrent scrapes share the read in flight. Also refreshes `tandem_verify_mismatches` from the control
 * plane. Never throws: a failed read sets `tandem_status_up` to 0 and drops the derived gauges (NaN for those
 * without labels; logged at debug).
 */
export function refreshStatusMetrics(m: Migration, o: StatusMetricsOptions = {}): Promise<void> {
  const now = Date.now();
  const hit = cache.get(m);
  if (hit && now - hit.at < (o.maxAgeMs ?? 1000)) return hit.done;
  const done = (async () => {
    try {
      const s = await readMigrationStatus(m);
      publishStatus(s);
      if (s.controlSchemaVersion >= 2) await mismatchFigures(m.stores.control, m.entityNames).catch(() => {});
    } catch (e) {
      unknown();
      G.up.set({}, 0);
      m.log.debug({ event: 'metrics.status_failed', err: errorLine(e) }, 'metrics: the status could not be read');
    }
  })();
  cache.set(m, { at: now, done });
  return done;
}

/** The Prometheus text of every metric, the control-plane gauges of `m` refreshed first (what `/metrics` serves). */
export async function migrationMetricsText(m: Migration, o: StatusMetricsOptions = {}): Promise<string> {
  await refreshStatusMetrics(m, o);
  return metricsText();
}
