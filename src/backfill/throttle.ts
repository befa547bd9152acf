/**
 * The backfill's throttle, gh-ost's way: before each chunk the backfill asks {@link Throttle.check} whether it
 * must wait and why. Checked in this order, the first that holds wins:
 *
 * 1. `paused` — the operator paused the backfill (`tandem ctl pause`, POST /api/backfill/pause: the control-plane
 *    row `backfill.paused`, src/control/backfill-control.ts). The same read brings the operator's tune
 *    (`maxRowsPerSecond`, `chunkSeconds`), which the caller applies to its pacer.
 * 2. `flag-file` — `backfill.throttle.flagFile` exists (gh-ost's `--throttle-flag-file`).
 * 3. `replica-lag` — the replica at `replicaUrl` lags more than `maxReplicaLagSeconds` ({@link Store.replicaLag}:
 *    MySQL/MariaDB `Seconds_Behind_Master`; PostgreSQL `replay_lag` of `replicaName` read on the primary, or
 *    `now() - pg_last_xact_replay_timestamp()` read on a standby).
 * 4. `query` — the user's throttle query (`query.sql`, run on the source) returns a number above `query.max`.
 *
 * (`rate`, the fifth reason, is the pacer's: src/backfill/pacer.ts.) Each check runs at most every
 * `checkSeconds` (default 1); between two runs its last answer stands. A check that fails — the replica is down,
 * not a replica, replication stopped, the query errs or returns no number — holds the backfill (throttle-safe,
 * as gh-ost does): the reason is the check's own kind, the detail names TANDEM_ERR_THROTTLE_CHECK_FAILED and the
 * cause, and a warning is logged once per distinct failure. A failing read of the control plane keeps its last
 * answer (a control store that is down stops the chunk's commit anyway).
 */
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { BackfillThrottleConfig } from '../config/schema.js';
import { readBackfillControl, type BackfillControl } from '../control/backfill-control.js';
import type { ThrottleReason } from '../control/throttle-state.js';
import { errorLine, isTandemError, TandemError } from '../core/errors.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';

/** Why the backfill must wait now: the reason kind and the human detail (`replica lag 7.2 s > 5 s on r1`). */
export interface ThrottleVerdict {
  reason: ThrottleReason;
  detail: string;
}

/** What {@link Throttle.check} answers: the verdict (null: go on) and the operator's control in force. */
export interface ThrottleCheck {
  verdict: ThrottleVerdict | null;
  control: BackfillControl;
}

/** Options of {@link Throttle}. */
export interface ThrottleOptions {
  /** `backfill.throttle` of the config (undefined: only the operator's pause applies). */
  config?: BackfillThrottleConfig;
  /** Where the throttle query runs. */
  source: Store;
  /** The control plane (operator pause and tune); absent: never paused, never tuned. */
  control?: Store;
  log: Logger;
  /** Opens the replica's store (default `openStore`); the throttle closes it in {@link Throttle.close}. */
  openReplica?: (url: string) => Promise<Store>;
}

const NOT_SET: BackfillControl = { paused: false, maxRowsPerSecond: null, chunkSeconds: null };

/** A number as a detail shows it: at most one decimal (`7.2`, `5`). */
const num = (n: number) => String(Math.round(n * 10) / 10);

/** One check with its own clock: runs at most every `everyMs`, its last verdict stands in between. */
class Cached<T> {
  private at = Number.NEGATIVE_INFINITY;
  private value: T;
  constructor(
    initial: T,
    private readonly everyMs: number,
    private readonly run: () => Promise<T>,
  ) {
    this.value = initial;
  }
  async get(force: boolean): Promise<T> {
    const now = performance.now();
    if (force || now - this.at >= this.everyMs) {
      this.at = now;
      this.value = await this.run();
    }
    return this.value;
  }
}

/**
 * Decides before each chunk whether the backfill waits and why (see the module doc). One per backfill run;
 * {@link Throttle.close} closes the replica connection it opened.
 */
export class Throttle {
  /** Seconds between two runs of a check (and between two polls while throttled). */
  readonly checkSeconds: number;
  private replica: Promise<Store> | null = null;
  private readonly warned = new Set<string>();
  private readonly controlCheck: Cached<BackfillControl>;
  private readonly lagCheck: Cached<ThrottleVerdict | null> | null;
  private readonly queryCheck: Cached<ThrottleVerdict | null> | null;

  constructor(private readonly o: ThrottleOptions) {
    const c = o.config;
    this.checkSeconds = c?.checkSeconds ?? 1;
    const every = this.checkSeconds * 1000;
    this.controlCheck = new Cached(NOT_SET, every, async () => {
      if (!o.control) return NOT_SET;
      try {
        return await readBackfillControl(o.control);
      } catch (e) {
        this.warnOnce('control', `could not read the backfill control (keeping the last one): ${errorLine(e)}`);
        return this.lastControl;
      }
    });
    this.lagCheck = c?.replicaUrl ? new Cached(null, every, () => this.guard('replica-lag', () => this.lag())) : null;
    this.queryCheck = c?.query ? new Cached(null, every, () => this.guard('query', () => this.query())) : null;
  }

  private lastControl: BackfillControl = NOT_SET;

  /**
   * Whether the backfill must wait before its next chunk, and the operator's control in force. `force` runs every
   * check now (ignoring `checkSeconds`). Never throws: a failing check holds the backfill (module doc).
   */
  async check(force = false): Promise<ThrottleCheck> {
    const control = await this.controlCheck.get(force);
    this.lastControl = control;
    if (control.paused) return { verdict: { reason: 'paused', detail: 'paused by operator' }, control };
    const flag = this.o.config?.flagFile;
    if (flag && existsSync(flag))
      return { verdict: { reason: 'flag-file', detail: `flag file ${flag} exists` }, control };
    const lag = await this.lagCheck?.get(force);
    if (lag) return { verdict: lag, control };
    const q = await this.queryCheck?.get(force);
    if (q) return { verdict: q, control };
    return { verdict: null, control };
  }

  /** Closes the replica's store, when one was opened. */
  async close(): Promise<void> {
    const r = this.replica;
    this.replica = null;
    if (r) await (await r.catch(() => null))?.close().catch(() => {});
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.o.log.warn({ event: 'backfill.throttle_check_failed', check: key.split(':')[0] }, message);
  }

  /** Runs a check; a failure holds the backfill with the check's reason (throttle-safe). */
  private async guard(
    reason: 'replica-lag' | 'query',
    run: () => Promise<ThrottleVerdict | null>,
  ): Promise<ThrottleVerdict | null> {
    try {
      const v = await run();
      // a check that works again warns again on its next failure
      for (const k of [...this.warned]) if (k.startsWith(`${reason}:`)) this.warned.delete(k);
      return v;
    } catch (e) {
      const err = isTandemError(e, 'THROTTLE_CHECK_FAILED')
        ? e
        : new TandemError('THROTTLE_CHECK_FAILED', `${reason} check failed: ${errorLine(e)}`, { check: reason });
      const line = errorLine(err);
      this.warnOnce(`${reason}:${line}`, `backfill held: ${line}`);
      return { reason, detail: `${reason === 'query' ? 'throttle query' : 'replica lag'} check failed: ${line}` };
    }
  }

  private async lag(): Promise<ThrottleVerdict | null> {
    const c = this.o.config!;
    this.replica ??= (this.o.openReplica ?? openStore)(c.replicaUrl!);
    let store: Store;
    try {
      store = await this.replica;
    } catch (e) {
      this.replica = null; // try to connect again at the next check
      throw e;
    }
    if (!store.replicaLag)
      throw new TandemError(
        'THROTTLE_CHECK_FAILED',
        `the ${store.dialect} store at ${store.url} cannot report replica lag (backfill.throttle.replicaUrl)`,
        { check: 'replica-lag' },
      );
    const r = await store.replicaLag({ replicaName: c.replicaName });
    const max = c.maxReplicaLagSeconds;
    return r.seconds > max
      ? { reason: 'replica-lag', detail: `replica lag ${num(r.seconds)} s > ${num(max)} s on ${r.replica}` }
      : null;
  }

  private async query(): Promise<ThrottleVerdict | null> {
    const q = this.o.config!.query!;
    const rows = await this.o.source.query(q.sql);
    const first = rows[0] ? Object.values(rows[0])[0] : undefined;
    const n = first === null || first === undefined || first === '' ? Number.NaN : Number(first);
    if (!Number.isFinite(n))
      throw new TandemError(
        'THROTTLE_CHECK_FAILED',
        `the throttle query returned ${rows.length ? 'no number in its first column' : 'no row'}; it must return one number`,
        { check: 'query' },
      );
    return n > q.max ? { reason: 'query', detail: `throttle query returned ${num(n)} > ${num(q.max)}` } : null;
  }
}
