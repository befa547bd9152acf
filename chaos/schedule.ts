/**
 * The fault schedule of a chaos seed: a list of timed faults drawn from a generator of its own (mulberry32 seeded
 * from the seed mixed with a constant), independent of the writers' randomness. The same seed gives the same
 * schedule; the harness prints it before the run and, after, checks that every requested kind really happened.
 */
import { prng } from '../src/demo/users.js';

/** A direction of a chaos seed: which store is legacy (source) and which is new (target). */
export type Direction = 'mariadb-postgres' | 'postgres-mariadb' | 'sqlite-pglite';
export const DIRECTIONS: readonly Direction[] = ['mariadb-postgres', 'postgres-mariadb', 'sqlite-pglite'];
/** The directions of a `--cutover` run (servers only: see {@link makeSchedule}). */
export const SERVER_DIRECTIONS: readonly Direction[] = ['mariadb-postgres', 'postgres-mariadb'];

/**
 * Fault kinds. `kill_worker` is the SIGKILL of the one process that runs both backfill and relay (sqlite→pglite:
 * PGlite is opened by one process only); `target_outage` there is simulated inside that process (every target
 * statement fails as an unreachable store), since an embedded store has no connection to cut.
 */
export type FaultKind =
  | 'kill_backfill'
  | 'kill_relay'
  | 'kill_worker'
  | 'target_outage'
  | 'duplicates'
  | 'broker_restart'
  | 'cutover'
  | 'rollback';

/** One fault: when (ms after the writers start), what, and its parameters. */
export interface Fault {
  atMs: number;
  kind: FaultKind;
  /**
   * `durationMs` (outage, broker down), `worker` (which relay), `count` (duplicated changes); `afterBackfillMs`:
   * ms after the backfill is done instead of `atMs`; `afterPreviousMs` (cutover, rollback): ms after the previous
   * cutover or rollback of the schedule returned (they run one after the other, the first `afterBackfillMs`).
   */
  params: { durationMs?: number; worker?: number; count?: number; afterBackfillMs?: number; afterPreviousMs?: number };
}

/** A seed's plan: direction, fast path, backfill timing and the faults. */
export interface Schedule {
  /** The seed the schedule's generator was started from (derived from the chaos seed). */
  scheduleSeed: number;
  direction: Direction;
  /** Fast-path budget of the dual writer, ms; 0 = off (the relay is the only path). */
  budgetMs: number;
  /** Whether the backfill is meant to finish before the writers stop or after. */
  backfill: 'before' | 'after';
  faults: Fault[];
  /** The kinds the run must show at least once. */
  requested: FaultKind[];
}

/** mulberry32 (src/demo/users.ts `prng`): a small seeded generator of floats in [0, 1). */
export const mulberry32 = prng;

/** Mixes a seed with a stream number (a different generator per purpose: faults, writers, seed rows). */
export function streamSeed(seed: number, stream: number): number {
  let h = (seed ^ Math.imul(stream + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Stream numbers; the fault schedule's generator shares nothing with the writers'. */
export const STREAM = { faults: 1, writers: 2, rows: 3 } as const;

/**
 * Draws the schedule of `seed` for a workload of `seconds`. Every requested kind is placed at least once; target
 * outages come while the relay is the only path: with the backfill meant to finish early, in the second half of
 * the run (the keys written then are behind the finished backfill), otherwise anywhere in the middle (the keys
 * behind the backfill cursor depend on the relay alone).
 */
export function makeSchedule(
  seed: number,
  o: { seconds: number; direction?: Direction; broker?: boolean; faults?: boolean; cutover?: boolean },
): Schedule {
  const scheduleSeed = streamSeed(seed, STREAM.faults);
  const r = mulberry32(scheduleSeed);
  const T = o.seconds * 1000;
  const between = (a: number, b: number) => Math.round(a + r() * (b - a));
  // --cutover rotates over the server directions (seed % 2): the write cutover runs in the harness's process,
  // and a PGlite directory is one process's (the worker's)
  if (o.cutover && o.direction === 'sqlite-pglite')
    throw new Error('--cutover needs a server direction (mariadb-postgres or postgres-mariadb), not sqlite-pglite');
  const direction =
    o.direction ??
    (o.cutover ? SERVER_DIRECTIONS[seed % SERVER_DIRECTIONS.length]! : DIRECTIONS[seed % DIRECTIONS.length]!);
  const budgetMs = direction === 'sqlite-pglite' ? 0 : r() < 0.25 ? 50 : 0;
  const drawn = r() < 0.5 ? 'before' : 'after';
  // --cutover: the backfill finishes while the writers run (a write cutover waits for it), always
  const backfill = o.cutover ? 'before' : drawn;
  const faults: Fault[] = [];
  // cutover → rollback, and a second cutover on half of the seeds, one after the other once the backfill is done
  // (drawn from a generator of their own, so the other faults of a seed stay as they were without --cutover)
  const flips: Fault[] = [];
  if (o.cutover) {
    const fr = mulberry32(streamSeed(scheduleSeed, 17));
    const gap = (a: number, b: number) => Math.round(a + fr() * (b - a));
    flips.push({ atMs: 0, kind: 'cutover', params: { afterBackfillMs: gap(300, 900) } });
    flips.push({ atMs: 0, kind: 'rollback', params: { afterPreviousMs: gap(1500, 3000) } });
    if (fr() < 0.5) flips.push({ atMs: 0, kind: 'cutover', params: { afterPreviousMs: gap(1500, 3000) } });
  }
  if (o.faults === false)
    return {
      scheduleSeed,
      direction,
      budgetMs,
      backfill,
      faults: flips,
      requested: [...new Set(flips.map((f) => f.kind))],
    };
  const embedded = direction === 'sqlite-pglite';
  const requested: FaultKind[] = embedded
    ? ['kill_worker', 'target_outage', 'duplicates']
    : [
        'kill_backfill',
        'kill_relay',
        'target_outage',
        'duplicates',
        ...(o.broker ? (['broker_restart'] as const) : []),
      ];
  // the outage that the relay alone must survive (and that a relay acknowledging failed batches cannot)
  const outage = () => ({ durationMs: between(1200, 2000) });
  // 'before': `afterBackfillMs` after the backfill is done (the writers go on past it); 'after': at `atMs`
  if (backfill === 'before')
    faults.push({
      atMs: between(0.6 * T, 0.72 * T),
      kind: 'target_outage',
      params: { ...outage(), afterBackfillMs: between(200, 600) },
    });
  else faults.push({ atMs: between(0.25 * T, 0.6 * T), kind: 'target_outage', params: outage() });
  for (const kind of requested) {
    if (kind === 'target_outage') continue;
    if (kind === 'kill_backfill' || kind === 'kill_worker') {
      // early enough that the backfill is still running when backfill === 'before'
      faults.push({ atMs: between(0.04 * T, 0.1 * T), kind, params: {} });
    } else if (kind === 'kill_relay')
      faults.push({ atMs: between(0.1 * T, 0.8 * T), kind, params: { worker: Math.floor(r() * 2) } });
    else if (kind === 'duplicates')
      faults.push({ atMs: between(0.1 * T, 0.85 * T), kind, params: { count: between(10, 40) } });
    else faults.push({ atMs: between(0.2 * T, 0.6 * T), kind, params: { durationMs: between(500, 1500) } });
  }
  // a few more, drawn at random
  const extra = Math.floor(o.seconds / 5);
  for (let i = 0; i < extra; i++) {
    const f = r();
    if (f < 0.35 && !embedded)
      faults.push({ atMs: between(0.1 * T, 0.85 * T), kind: 'kill_relay', params: { worker: Math.floor(r() * 2) } });
    else if (f < 0.6)
      faults.push({ atMs: between(0.1 * T, 0.85 * T), kind: 'duplicates', params: { count: between(10, 40) } });
    // with the backfill meant to finish early, no outage before 0.6 T (it would hold the backfill up)
    else if (backfill === 'after')
      faults.push({ atMs: between(0.15 * T, 0.75 * T), kind: 'target_outage', params: outage() });
    else faults.push({ atMs: between(0.6 * T, 0.75 * T), kind: 'target_outage', params: outage() });
  }
  faults.sort((a, b) => a.atMs - b.atMs);
  faults.push(...flips);
  if (flips.length) requested.push('cutover', 'rollback');
  return { scheduleSeed, direction, budgetMs, backfill, faults, requested };
}

/** One line for the log: `schedule_seed=… direction=… fast_path=… backfill=… faults=[t:kind(params) …]`. */
export function formatSchedule(s: Schedule): string {
  const f = s.faults.map(
    (x) =>
      `${x.params.afterBackfillMs !== undefined || x.params.afterPreviousMs !== undefined ? '+' : `${(x.atMs / 1000).toFixed(1)}s:`}${x.kind}${
        Object.keys(x.params).length
          ? `(${Object.entries(x.params)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')})`
          : ''
      }`,
  );
  return `schedule_seed=${s.scheduleSeed} direction=${s.direction} fast_path_ms=${s.budgetMs} backfill=${s.backfill} faults=[${f.join(' ')}]`;
}
