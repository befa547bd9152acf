/**
 * What the dashboard reads besides the status model: the guard's windows as time series (from the control plane's
 * `routing_windows`, so every instance's reads count, whichever process serves the page), the recent mismatches
 * of every entity, and the audit log. Reads only. Keys go through `shownKey` (a key made of sensitive columns is
 * never shown); mismatches carry column names, never values.
 */
import { recentAudit } from '../../control/control.js';
import { REDACTED_KEY, shownKey } from '../../core/mapping.js';
import { emptyLatency, latencyQuantile, mergeEncodedLatency } from '../../routing/latency.js';
import type { Origin } from '../../routing/types.js';
import type { Migration } from '../../runtime/migration.js';
import type { Mismatch, MismatchState } from '../../verify/mismatches.js';

/** One bucket of {@link GuardSeries}: sums over every entity and instance of one origin. */
export interface GuardPoint {
  reads: number;
  failures: number;
  /** failures / reads; null without reads. */
  errorRate: number | null;
  /** p99 latency, ms; null without reads. */
  p99Ms: number | null;
  /** Comparisons that decided (matched + mismatched). */
  decided: number;
  /** mismatched / decided; null without comparisons. */
  mismatchRate: number | null;
}

/** The guard's measures over time, per origin. */
export interface GuardSeries {
  /** The span, seconds, and the width of one bucket, seconds. */
  spanSeconds: number;
  bucketSeconds: number;
  /** Oldest bucket first; `legacy` and `new` always present. */
  byOrigin: Record<Origin, GuardPoint[]>;
  /** The whole span per origin. */
  total: Record<Origin, GuardPoint>;
}

interface Acc {
  reads: number;
  failures: number;
  decided: number;
  mismatched: number;
  hist: Uint32Array;
}

const emptyAcc = (): Acc => ({ reads: 0, failures: 0, decided: 0, mismatched: 0, hist: emptyLatency() });

function point(a: Acc): GuardPoint {
  return {
    reads: a.reads,
    failures: a.failures,
    errorRate: a.reads ? a.failures / a.reads : null,
    p99Ms: a.reads ? latencyQuantile(a.hist, 0.99) : null,
    decided: a.decided,
    mismatchRate: a.decided ? a.mismatched / a.decided : null,
  };
}

/**
 * The fleet's read windows published in the last `spanSeconds` (by the control store's clock), summed per origin
 * into `buckets` buckets of equal width by publication time. Throws what the store throws (a control plane before
 * schema v6 has no `routing_windows`).
 */
export async function readGuardSeries(m: Migration, spanSeconds: number, buckets = 30): Promise<GuardSeries> {
  const control = m.stores.control;
  const t = control.controlTable('routing_windows');
  const now = Number((await control.query<{ now: unknown }>(`SELECT ${control.sql.nowMs()} AS now`))[0]?.now);
  const spanMs = Math.max(1, Math.floor(spanSeconds * 1000));
  const from = now - spanMs;
  const rows = await control.query<Record<string, unknown>>(
    `SELECT origin, published_ms, samples, errors, timeouts, fallbacks, latency, matched, mismatched FROM ${t} WHERE published_ms >= ${control.sql.param(1)}`,
    [Math.floor(from)],
  );
  const per: Record<Origin, Acc[]> = {
    legacy: Array.from({ length: buckets }, emptyAcc),
    new: Array.from({ length: buckets }, emptyAcc),
  };
  const total: Record<Origin, Acc> = { legacy: emptyAcc(), new: emptyAcc() };
  for (const r of rows) {
    const origin = String(r.origin);
    if (origin !== 'legacy' && origin !== 'new') continue;
    const n = (k: string) => Number(r[k]) || 0;
    const i = Math.min(buckets - 1, Math.max(0, Math.floor(((n('published_ms') - from) / spanMs) * buckets)));
    for (const a of [per[origin][i]!, total[origin]]) {
      a.reads += n('samples');
      a.failures += n('errors') + n('timeouts') + n('fallbacks');
      a.decided += n('matched') + n('mismatched');
      a.mismatched += n('mismatched');
      mergeEncodedLatency(a.hist, r.latency == null ? null : String(r.latency));
    }
  }
  return {
    spanSeconds: spanMs / 1000,
    bucketSeconds: spanMs / 1000 / buckets,
    byOrigin: { legacy: per.legacy.map(point), new: per.new.map(point) },
    total: { legacy: point(total.legacy), new: point(total.new) },
  };
}

/**
 * A key of `entity` as the dashboard may show it: `shownKey` of the resolved entity, `[redacted]` for a key column
 * listed as sensitive — and for an entity this migration did not resolve (its sensitivity is unknown).
 */
export function shownKeyOf(m: Migration, entity: string, key: string): string {
  const e = m.entities.find((x) => x.name === entity);
  return e ? shownKey(e, key) : REDACTED_KEY;
}

/** A mismatch as the dashboard shows it: the key as `shownKey` prints it, the differing columns by name. */
export interface ShownMismatch {
  entity: string;
  key: string;
  kind: Mismatch['kind'];
  columns: string[];
  state: MismatchState;
  origin: Mismatch['origin'];
  lastSeenMs: number;
}

/**
 * The `limit` most recently seen mismatches over every entity, newest first (one query, no row values: the key, the
 * kind and the names of the differing columns). Keys whose columns are sensitive are replaced (`shownKey`).
 * Throws what the store throws.
 */
export async function recentMismatches(m: Migration, limit = 10): Promise<ShownMismatch[]> {
  const control = m.stores.control;
  const rows = await control.query<Record<string, unknown>>(
    `SELECT entity, entity_key, kind, columns_differing, state, origin, last_seen_ms FROM ${control.controlTable('mismatches')} ORDER BY last_seen_ms DESC, entity, entity_key LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  return rows.map((r) => {
    const name = String(r.entity);
    let columns: string[] = [];
    try {
      columns = r.columns_differing ? (JSON.parse(String(r.columns_differing)) as string[]).map(String) : [];
    } catch {
      columns = [];
    }
    return {
      entity: name,
      key: shownKeyOf(m, name, String(r.entity_key)),
      kind: String(r.kind) as Mismatch['kind'],
      columns,
      state: String(r.state) as MismatchState,
      origin: (r.origin == null ? 'verify' : String(r.origin)) as Mismatch['origin'],
      lastSeenMs: Number(r.last_seen_ms),
    };
  });
}

/** The last `limit` audit entries, newest first (their detail was redacted when written). */
export function recentAuditEntries(m: Migration, limit = 15) {
  return recentAudit(m.stores.control, limit);
}
