import type { ResolvedEntity } from '../core/mapping.js';
import type { Row, Store } from '../stores/types.js';
import type { ChecksumOptions } from './checksum.js';
import {
  listMismatches,
  mismatchFigures,
  recordMismatches,
  setMismatchState,
  type FoundDifference,
  type MismatchOrigin,
  type MismatchState,
} from './mismatches.js';
import { compareKeysNow, rawKeyFromCanonical } from './rows.js';
import { runVerify, type VerifyReport } from './run.js';

/**
 * Continuous reconciliation (`tandem verify --continuous`; a worker calls {@link runContinuous} directly).
 *
 * Every cycle:
 * 1. a checksum pass over every entity (throttled like any checksum run); the differing keys it finds are
 *    recorded **pending** in the control plane's mismatches table;
 * 2. keys the relay applied recently — version-ledger entries whose `applied_at` lies in the window since the
 *    last cycle, shifted back by the lag window — are compared now, key by key; differing ones are recorded
 *    pending too (a cheap recheck of exactly what changed, between two full passes);
 * 3. pending keys first seen at least `lagSeconds` ago, and confirmed ones, are compared again: still
 *    different → **confirmed**; now equal → **resolved**. A change the relay was still carrying when the pass
 *    ran therefore never becomes a confirmed mismatch;
 * 4. parity per entity and mismatch counts per state are published as gauges (src/verify/metrics.ts) and
 *    handed to `onCycle`.
 * Then it sleeps until `intervalSeconds` after the cycle started, and runs again until `signal` aborts or
 * `cycles` cycles ran.
 */
export interface ContinuousOptions {
  /** Seconds between the starts of two cycles. */
  intervalSeconds: number;
  /** Seconds a difference must last before it is confirmed. */
  lagSeconds: number;
  /** Stop after this many cycles (default: run until aborted). */
  cycles?: number;
  pageRows: number;
  maxReportedDifferences: number;
  maxRowsPerSecond?: number;
  chunkSeconds?: number;
  /** Per cycle: stop the checksum pass after this many differing keys / seconds. */
  maxDifferences?: number;
  maxSeconds?: number;
  /** Most recently applied keys rechecked per entity and cycle. Default 10,000. */
  maxRecentKeys?: number;
  checksum?: Partial<ChecksumOptions>;
  signal?: AbortSignal;
  onCycle?: (c: CycleReport) => void | Promise<void>;
  /** The clock (Unix ms), for tests. */
  now?: () => number;
}

/** What one cycle did. */
export interface CycleReport {
  cycle: number;
  startedAt: string;
  seconds: number;
  pass: VerifyReport;
  /** Per entity: recently applied keys rechecked, and how many differed. */
  recent: Record<string, { checked: number; differing: number }>;
  /** Per entity: mismatches moved by the recheck. */
  rechecked: Record<string, { confirmed: number; resolved: number }>;
  /** Per entity and state, after the cycle. */
  mismatches: Record<string, Record<MismatchState, number>>;
  /**
   * Per entity, the open mismatches (pending and confirmed) by who found them: `verify` (this and earlier
   * verifications) or `shadow` (shadow reads, src/routing/compare.ts), after the cycle.
   */
  origins?: Record<string, Record<MismatchOrigin, number>>;
}

/** Most differing keys one pass records per entity (a table that differs everywhere needs a backfill, not a list). */
export const MAX_RECORDED_PER_ENTITY = 10_000;

/**
 * Compares again the keys of `e` that are pending since at least `lagMs` (and the confirmed ones): still
 * different → confirmed (last-seen updated), equal → resolved. Returns how many moved where.
 */
export async function recheckMismatches(
  source: Store,
  target: Store,
  control: Store,
  e: ResolvedEntity,
  nowMs: number,
  lagMs: number,
): Promise<{ confirmed: number; resolved: number }> {
  const list = (await listMismatches(control, e.name, ['pending', 'confirmed'])).filter(
    (m) => m.state === 'confirmed' || m.firstSeenMs <= nowMs - lagMs,
  );
  if (!list.length) return { confirmed: 0, resolved: 0 };
  const res = await compareKeysNow(
    source,
    target,
    e,
    list.map((m) => ({ key: m.key, keyValues: m.keyValues })),
  );
  const still = list.filter((m) => res.get(m.key));
  const gone = list.filter((m) => !res.get(m.key));
  const promote = still.filter((m) => m.state === 'pending').map((m) => m.key);
  const keep = still.filter((m) => m.state === 'confirmed').map((m) => m.key);
  await setMismatchState(control, e.name, promote, 'confirmed', nowMs, true);
  await setMismatchState(control, e.name, keep, 'confirmed', nowMs, true);
  await setMismatchState(
    control,
    e.name,
    gone.map((m) => m.key),
    'resolved',
    nowMs,
  );
  return { confirmed: promote.length, resolved: gone.length };
}

/** Canonical keys of `entity` whose ledger entry was applied in (`fromMs`, `toMs`], at most `limit`. */
export async function recentlyApplied(
  target: Store,
  entity: string,
  fromMs: number,
  toMs: number,
  limit: number,
): Promise<string[]> {
  const p = (i: number) => target.sql.param(i);
  const rows = await target.query<Row>(
    `SELECT entity_key FROM ${target.controlTable('version_ledger')} WHERE entity = ${p(1)} AND applied_at > ${p(2)} AND applied_at <= ${p(3)} LIMIT ${Math.max(1, Math.floor(limit))}`,
    [entity, new Date(fromMs), new Date(toMs)],
  );
  return rows.map((r) => (Buffer.isBuffer(r.entity_key) ? r.entity_key.toString('utf8') : String(r.entity_key)));
}

/**
 * Runs continuous reconciliation (see the module comment) until `signal` aborts or `cycles` ran. The control
 * plane must exist in `control` (mismatches) and `target` (version ledger). Throws what the stores throw; the
 * caller decides whether to retry.
 */
export async function runContinuous(
  source: Store,
  target: Store,
  control: Store,
  entities: ResolvedEntity[],
  o: ContinuousOptions,
): Promise<void> {
  const now = o.now ?? (() => Date.now());
  const lagMs = Math.max(0, o.lagSeconds * 1000);
  let windowFrom = now() - lagMs;
  for (let cycle = 1; ; cycle++) {
    if (o.signal?.aborted) return;
    const startMs = now();
    const t0 = performance.now();
    const found = new Map<string, FoundDifference[]>(entities.map((e) => [e.name, []]));
    const pass = await runVerify(source, target, entities, {
      mode: 'checksum',
      pageRows: o.pageRows,
      maxReportedDifferences: o.maxReportedDifferences,
      maxDifferences: o.maxDifferences,
      maxSeconds: o.maxSeconds,
      maxRowsPerSecond: o.maxRowsPerSecond,
      chunkSeconds: o.chunkSeconds,
      checksum: o.checksum,
      signal: o.signal,
      onDifference: (d, kv) => {
        const list = found.get(d.entity)!;
        if (list.length < MAX_RECORDED_PER_ENTITY) list.push({ difference: d, keyValues: kv });
      },
    });
    const passMs = now();
    const recent: CycleReport['recent'] = {};
    const rechecked: CycleReport['rechecked'] = {};
    const windowTo = passMs - lagMs;
    for (const e of entities) {
      await recordMismatches(control, e.name, found.get(e.name)!, passMs);
      // keys applied in the window, compared now
      let checked = 0,
        differing = 0;
      if (windowTo > windowFrom) {
        const keys = await recentlyApplied(target, e.name, windowFrom, windowTo, o.maxRecentKeys ?? 10_000).catch(
          () => [] as string[],
        );
        checked = keys.length;
        if (keys.length) {
          const res = await compareKeysNow(
            source,
            target,
            e,
            keys.map((k) => ({ key: k, keyValues: rawKeyFromCanonical(k, e.keyColumns) })),
          );
          const diffs: FoundDifference[] = [];
          for (const k of keys) {
            const d = res.get(k);
            if (d) diffs.push({ difference: d, keyValues: rawKeyFromCanonical(k, e.keyColumns) });
          }
          differing = diffs.length;
          await recordMismatches(control, e.name, diffs, passMs);
        }
      }
      recent[e.name] = { checked, differing };
      rechecked[e.name] = await recheckMismatches(source, target, control, e, now(), lagMs);
    }
    if (windowTo > windowFrom) windowFrom = windowTo;
    const { counts: mismatches, origins } = await mismatchFigures(
      control,
      entities.map((e) => e.name),
    );
    await o.onCycle?.({
      cycle,
      startedAt: new Date(startMs).toISOString(),
      seconds: (performance.now() - t0) / 1000,
      pass,
      recent,
      rechecked,
      mismatches,
      origins,
    });
    if (o.cycles !== undefined && cycle >= o.cycles) return;
    const wait = o.intervalSeconds * 1000 - (performance.now() - t0);
    if (wait > 0) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, wait);
        o.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            res();
          },
          { once: true },
        );
      });
    }
  }
}
