import type { Logger } from 'pino';
import { audit } from '../control/control.js';
import { PHASES, type Phase } from '../control/phase.js';
import { TandemError } from '../core/errors.js';
import type { Executor, Store } from '../stores/types.js';
import { type GuardVerdict, ROUTING_STATE_ROWS, type RoutingState } from './types.js';
import { putState, readStates } from '../control/state.js';

/**
 * The routing state in the control plane and its cached view per application instance (docs/routing.md).
 *
 * Rows of the control-plane `state` table (schema v2; no migration of its own), each written on its own
 * ({@link ROUTING_STATE_ROWS}): `routing.shadow_percent` and `routing.canary_percent` (decimal text, 0…100, two
 * decimals), `routing.killed` (`true`/`false`), `routing.guard` (the guard's {@link GuardVerdict} as JSON, written by
 * the guard). A row that is absent or unreadable reads as 0 / not killed / green: the safe side.
 */

/** The routing state with the phase and the guard verdict, as one read of the control plane gives them. */
export interface RoutingSnapshot extends RoutingState {
  phase: Phase;
  /** The guard's verdict, or null when the guard never wrote one (green). */
  guard: GuardVerdict | null;
}

/** What an instance routes by now: the last snapshot read, and whether it has given up on the control plane. */
export interface RoutingView extends RoutingSnapshot {
  /**
   * True when the control plane could not be read for longer than `failSafeSeconds` (or was never read): the
   * instance serves legacy only (docs/routing.md, "Failsafe").
   */
  failsafe: boolean;
  /** When the snapshot was read (epoch ms), or null when none was ever read. */
  readAtMs: number | null;
}

const PERCENT = /^\d{1,3}(\.\d{1,2})?$/;

/**
 * Checks a shadow or canary percentage: a number from 0 to 100 with at most two decimals (a bucket is 0.01 %),
 * given as a number or as decimal text (`"12.5"`). Returns it as a number. Throws
 * TANDEM_ERR_ROUTING_PERCENT_INVALID naming `what` and the value.
 */
export function parsePercent(value: number | string, what = 'percent'): number {
  const bad = () =>
    new TandemError(
      'ROUTING_PERCENT_INVALID',
      `${what} must be a number from 0 to 100 with at most two decimals, not ${JSON.stringify(String(value))}`,
    );
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || value > 100 || Math.abs(value * 100 - Math.round(value * 100)) > 1e-6)
      throw bad();
    return Math.round(value * 100) / 100;
  }
  const t = String(value).trim();
  if (!PERCENT.test(t)) throw bad();
  const n = Number(t);
  if (n > 100) throw bad();
  return n;
}

/** A stored percentage; anything unreadable is 0 (the safe side). */
function storedPercent(v: string | undefined): number {
  if (v === undefined) return 0;
  try {
    return parsePercent(v);
  } catch {
    return 0;
  }
}

/** A stored guard verdict, or null when absent or not a verdict. */
export function parseGuardVerdict(v: string | undefined | null): GuardVerdict | null {
  if (!v) return null;
  try {
    const g = JSON.parse(v) as Partial<GuardVerdict>;
    if (g.state !== 'green' && g.state !== 'insufficient' && g.state !== 'tripped') return null;
    return {
      state: g.state,
      reason: typeof g.reason === 'string' ? g.reason : null,
      atMs: typeof g.atMs === 'number' ? g.atMs : 0,
      cooldownUntilMs: typeof g.cooldownUntilMs === 'number' ? g.cooldownUntilMs : null,
    };
  } catch {
    return null;
  }
}

const ROW_NAMES = ['phase', ...Object.values(ROUTING_STATE_ROWS)];

/**
 * Reads the phase and the routing rows in one statement (through `via`, default the store). Throws what the store
 * throws.
 */
export async function readRoutingSnapshot(control: Store, via: Executor = control): Promise<RoutingSnapshot> {
  const v = await readStates(via, control, [...ROW_NAMES]);
  const phase = v.get('phase');
  return {
    phase: phase && (PHASES as readonly string[]).includes(phase) ? (phase as Phase) : 'prepare',
    shadowPercent: storedPercent(v.get(ROUTING_STATE_ROWS.shadowPercent)),
    canaryPercent: storedPercent(v.get(ROUTING_STATE_ROWS.canaryPercent)),
    killed: v.get(ROUTING_STATE_ROWS.killed) === 'true',
    guard: parseGuardVerdict(v.get(ROUTING_STATE_ROWS.guard)),
  };
}

/** The result of a routing-state write: the field's value before and after. */
export interface RoutingChange<T> {
  from: T;
  to: T;
}

/** Options of the routing-state writers. */
export interface RoutingWriteOptions {
  /** The command or caller named in the audit log (default: the writer's own name, `shadow`, `canary`, …). */
  command?: string;
  /** Extra audit arguments (never secrets). */
  args?: Record<string, unknown>;
  /** Who asked, for the audit log (the API: `token:<name>`); default this process's `user@host`. */
  actor?: string;
  /** The clock, epoch ms (tests). */
  now?: () => number;
}

/**
 * Sets the shadow percentage (the sticky share of keys whose new read is shadowed). Audited. Throws
 * TANDEM_ERR_ROUTING_PERCENT_INVALID before writing anything. The control plane must exist (ensureControlSchema).
 */
export async function setShadowPercent(
  control: Store,
  percent: number | string,
  o: RoutingWriteOptions = {},
): Promise<RoutingChange<number>> {
  const to = parsePercent(percent, 'the shadow percentage');
  const from = await control.transaction(async (tx) => {
    const cur = await readRoutingSnapshot(control, tx);
    await putState(tx, control, ROUTING_STATE_ROWS.shadowPercent, String(to));
    return cur.shadowPercent;
  });
  await audit(control, {
    command: o.command ?? 'shadow',
    args: { percent: to, ...o.args },
    outcome: 'ok',
    detail: `shadow ${from}% → ${to}%`,
    actor: o.actor,
  });
  return { from, to };
}

/**
 * Sets the canary percentage (the sticky share of keys served by new in `canary`). Audited.
 *
 * Raising it is refused with TANDEM_ERR_ROUTING_GUARD_TRIPPED (nothing written, the refusal audited) while the
 * guard's verdict is `tripped` and its `cooldownUntilMs` is in the future. After the cooldown, this explicit call
 * clears the trip: the verdict row is set to green (the audit entry names the reason it cleared). Lowering it is
 * always allowed. Throws TANDEM_ERR_ROUTING_PERCENT_INVALID before writing anything.
 */
export async function setCanaryPercent(
  control: Store,
  percent: number | string,
  o: RoutingWriteOptions = {},
): Promise<RoutingChange<number> & { clearedTrip: string | null }> {
  const to = parsePercent(percent, 'the canary percentage');
  const now = (o.now ?? Date.now)();
  const command = o.command ?? 'canary';
  let refused: TandemError | null = null;
  const r = await control.transaction(async (tx) => {
    const cur = await readRoutingSnapshot(control, tx);
    const g = cur.guard;
    let clearedTrip: string | null = null;
    if (g?.state === 'tripped') {
      if (to > cur.canaryPercent && g.cooldownUntilMs !== null && g.cooldownUntilMs > now) {
        const left = Math.ceil((g.cooldownUntilMs - now) / 1000);
        refused = new TandemError(
          'ROUTING_GUARD_TRIPPED',
          `the guard tripped (${g.reason ?? 'no reason given'}); the canary cannot be raised for another ${left} s (cooldown until ${new Date(g.cooldownUntilMs).toISOString()})`,
          { cooldownUntilMs: g.cooldownUntilMs },
        );
        return null;
      }
      clearedTrip = g.reason ?? 'tripped';
      const green: GuardVerdict = { state: 'green', reason: null, atMs: now, cooldownUntilMs: null };
      await putState(tx, control, ROUTING_STATE_ROWS.guard, JSON.stringify(green));
    }
    await putState(tx, control, ROUTING_STATE_ROWS.canaryPercent, String(to));
    return { from: cur.canaryPercent, to, clearedTrip };
  });
  if (!r) {
    const e = refused as unknown as TandemError;
    await audit(control, {
      command,
      args: { percent: to, ...o.args },
      outcome: 'error',
      detail: e.toLine(),
      actor: o.actor,
    }).catch(() => {});
    throw e;
  }
  const detail = `canary ${r.from}% → ${r.to}%${r.clearedTrip ? `; guard trip cleared (was: ${r.clearedTrip})` : ''}`;
  await audit(control, { command, args: { percent: to, ...o.args }, outcome: 'ok', detail, actor: o.actor });
  return r;
}

/** Sets the kill switch: every instance serves legacy only (within `refreshMs`), whatever the percentages. Audited. */
export async function killRouting(control: Store, o: RoutingWriteOptions = {}): Promise<RoutingChange<boolean>> {
  return setKilled(control, true, o);
}

/** Clears the kill switch: routing follows the phase and the percentages again. Audited. */
export async function unkillRouting(control: Store, o: RoutingWriteOptions = {}): Promise<RoutingChange<boolean>> {
  return setKilled(control, false, o);
}

async function setKilled(control: Store, killed: boolean, o: RoutingWriteOptions): Promise<RoutingChange<boolean>> {
  const from = await control.transaction(async (tx) => {
    const cur = await readRoutingSnapshot(control, tx);
    await putState(tx, control, ROUTING_STATE_ROWS.killed, String(killed));
    return cur.killed;
  });
  await audit(control, {
    command: o.command ?? (killed ? 'kill' : 'unkill'),
    args: { ...o.args },
    outcome: 'ok',
    detail: `killed ${from} → ${killed}`,
    actor: o.actor,
  });
  return { from, to: killed };
}

/** Options of {@link RoutingStateCache}. */
export interface RoutingCacheOptions {
  /** How often the snapshot is re-read, ms (config `routing.refreshMs`). */
  refreshMs: number;
  /** Unreadable for longer than this, the view is `failsafe` (config `routing.failSafeSeconds`). */
  failSafeSeconds: number;
  /** The phase known before the first read (the migration's), or null. */
  initialPhase?: Phase | null;
  log?: Logger;
}

/**
 * The routing state as one application instance sees it: a snapshot of the control plane re-read every
 * `refreshMs` in the background (one read in flight at most; a timer that does not keep the process alive), served
 * synchronously by {@link view} so a read never waits on the control store. When no read has succeeded for longer
 * than `failSafeSeconds` the view is `failsafe` (legacy only); before the first read succeeds it is failsafe too,
 * with the phase the migration knew. Call {@link start} once, {@link stop} at close.
 */
export class RoutingStateCache {
  #snapshot: RoutingSnapshot;
  #readAt: number | null = null;
  #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | undefined;
  #warned = false;

  constructor(
    private readonly control: Store,
    private readonly o: RoutingCacheOptions,
  ) {
    this.#snapshot = {
      phase: o.initialPhase ?? 'prepare',
      shadowPercent: 0,
      canaryPercent: 0,
      killed: false,
      guard: null,
    };
  }

  /**
   * Reads the snapshot now (shared by concurrent callers); a failure keeps the last one and is logged once per outage.
   */
  refresh(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    // a control store that hangs must not hold the one read in flight forever: past the bound it counts as failed
    let timer: NodeJS.Timeout | undefined;
    const bound = Math.max(2 * this.o.refreshMs, 2000);
    const read = Promise.race([
      readRoutingSnapshot(this.control),
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`no answer within ${bound} ms`)), bound))),
    ]);
    this.#inflight = read
      .then(
        (s) => {
          this.#snapshot = s;
          this.#readAt = Date.now();
          if (this.#warned)
            this.o.log?.info({ event: 'routing.state_readable' }, 'the routing state can be read again');
          this.#warned = false;
        },
        (e) => {
          if (!this.#warned)
            this.o.log?.warn(
              { event: 'routing.state_unreadable', err: (e as Error).message },
              'cannot read the routing state; keeping the last one until the failsafe',
            );
          this.#warned = true;
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.#inflight = undefined;
      });
    return this.#inflight;
  }

  /** Reads the snapshot now, after any read already in flight (so it sees writes made before this call). */
  async readNow(): Promise<void> {
    if (this.#inflight) await this.#inflight;
    await this.refresh();
  }

  /** Starts the background refresh (idempotent) and returns the first read. */
  start(): Promise<void> {
    if (!this.#timer) {
      this.#startedAt = Date.now();
      this.#timer = setInterval(() => void this.refresh(), this.o.refreshMs);
      this.#timer.unref();
    }
    return this.refresh();
  }

  /** Stops the background refresh. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The view to route by now. Never throws, never waits. */
  view(now = Date.now()): RoutingView {
    const since = this.#readAt ?? this.#startedAt;
    const stale = now - since > this.o.failSafeSeconds * 1000;
    return { ...this.#snapshot, failsafe: this.#readAt === null || stale, readAtMs: this.#readAt };
  }
}
