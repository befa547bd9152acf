import { isTransient } from '../../apply/retry.js';
import { ensureControlSchema } from '../../control/control.js';
import type { Phase } from '../../control/phase.js';
import { errorLine } from '../../core/errors.js';
import type { Migration } from '../migration.js';
import type { BackfillService, BackfillServiceOptions } from './backfill.js';
import type { GuardService, GuardServiceOptions } from './guard.js';
import type { RelayService, RelayServiceOptions } from './relay.js';
import { BaseService, pause, type Service } from './service.js';
import type { VerifyService, VerifyServiceOptions } from './verify.js';

/** Options of the supervisor (`tandem run`). */
export interface SupervisorOptions {
  backfill?: Omit<BackfillServiceOptions, 'mode'>;
  relay?: Omit<RelayServiceOptions, 'untilEmpty' | 'phasePollMs'>;
  /**
   * Continuous verification; `intervalSeconds: 0` turns it off (default: config `verify.intervalSeconds`, else 300 s).
   */
  verify?: Omit<VerifyServiceOptions, 'onError' | 'cycles'>;
  /** The guard in `shadow` and `canary` (default: the config's `guard`); `intervalSeconds: 0` turns it off. */
  guard?: Omit<GuardServiceOptions, 'evaluations'>;
  /** How often the phase is read, ms. Default 2000. */
  phasePollMs?: number;
}

/** Phases in which the worker relays and verifies: the legacy store takes or receives writes. */
const LIVE: readonly Phase[] = ['dual_write', 'shadow', 'canary', 'new_primary', 'legacy_read_only'];
/** Phases in which the guard watches the new store's reads. */
const GUARDED: readonly Phase[] = ['shadow', 'canary'];

/**
 * Runs the services the phase calls for, and follows the phase without a restart:
 * - `prepare`, `decommissioned`: nothing (it waits for the phase to change);
 * - from `dual_write` to `legacy_read_only`: the relay, in the direction of the phase — it turns around at write
 *   cutover (legacy → new before, new → legacy after);
 * - while the legacy store is primary: the backfill of every entity, until done (one worker per entity at a
 *   time: the others wait on its lease);
 * - once the backfill is done (or after write cutover): continuous verification every `verify.intervalSeconds`;
 * - in `shadow` and `canary`: the guard (src/runtime/services/guard.ts), which sets the canary to 0 on a breach.
 * It creates the control plane where missing, waiting out a store that is down. A service that fails for good
 * (not a transient error) fails the supervisor; `stop()` stops every service gracefully.
 */
export class Supervisor extends BaseService<void> {
  readonly name = 'supervisor';
  backfill: BackfillService | null = null;
  relay: RelayService | null = null;
  verify: VerifyService | null = null;
  guard: GuardService | null = null;
  #backfillDone = false;
  #kick: () => void = () => {};
  #failure: unknown = null;

  constructor(
    m: Migration,
    private readonly o: SupervisorOptions = {},
  ) {
    super(m);
  }

  /** The services running now. */
  get running(): Service[] {
    return [this.backfill, this.relay, this.verify, this.guard].filter((s): s is NonNullable<typeof s> => s !== null);
  }

  #wake = () => this.#kick();

  #watch<S extends Service>(s: S, onEnd?: () => void): S {
    s.start().then(() =>
      s.wait().then(
        () => {
          onEnd?.();
          this.#wake();
        },
        (e) => {
          this.#failure ??= e;
          this.#wake();
        },
      ),
    );
    return s;
  }

  async #prepare(signal: AbortSignal): Promise<void> {
    const m = this.m;
    let backoff = 1000;
    for (;;) {
      try {
        await ensureControlSchema(m.stores.new);
        if (m.stores.control !== m.stores.new) await ensureControlSchema(m.stores.control);
        await ensureControlSchema(m.stores.legacy);
        await m.readPhase();
        this.setState('running');
        return;
      } catch (e) {
        if (!isTransient(e) || signal.aborted) throw e;
        m.events.emit('store:waiting', { store: 'stores', error: errorLine(e) });
        m.log.warn({ event: 'run.store_waiting', err: errorLine(e) }, 'a store cannot be reached; waiting for it');
        this.setState('waiting', e);
        await pause(backoff, signal);
        backoff = Math.min(10_000, backoff * 2);
      }
    }
  }

  async #reconcile(phase: Phase): Promise<void> {
    const m = this.m;
    const live = LIVE.includes(phase);
    const forward = m.roles(phase).direction === 'forward';
    const wantRelay = live;
    const wantBackfill = live && forward && !this.#backfillDone;
    const interval = this.o.verify?.intervalSeconds ?? m.config.verify.intervalSeconds ?? 300;
    const wantVerify = live && interval > 0 && (this.#backfillDone || !forward);
    const stops: Promise<void>[] = [];
    if (wantRelay && !this.relay) this.relay = this.#watch(m.services.relay({ ...this.o.relay, phasePollMs: 0 }));
    if (!wantRelay && this.relay) {
      stops.push(this.relay.stop());
      this.relay = null;
    }
    if (wantBackfill && !this.backfill) {
      const svc = m.services.backfill({ ...this.o.backfill, mode: 'until-done' });
      this.backfill = this.#watch(svc, () => {
        if (svc.state === 'done') this.#backfillDone = true;
        if (this.backfill === svc) this.backfill = null;
      });
    }
    if (!wantBackfill && this.backfill) {
      stops.push(this.backfill.stop());
      this.backfill = null;
    }
    if (wantVerify && !this.verify)
      this.verify = this.#watch(m.services.verify({ ...this.o.verify, intervalSeconds: interval, onError: 'retry' }));
    if (!wantVerify && this.verify) {
      stops.push(this.verify.stop());
      this.verify = null;
    }
    const wantGuard = GUARDED.includes(phase) && (this.o.guard?.intervalSeconds ?? m.config.guard.intervalSeconds) > 0;
    if (wantGuard && !this.guard) this.guard = this.#watch(m.services.guard({ ...this.o.guard }));
    if (!wantGuard && this.guard) {
      stops.push(this.guard.stop());
      this.guard = null;
    }
    await Promise.all(stops);
  }

  protected async run(signal: AbortSignal): Promise<void> {
    const m = this.m;
    await this.#prepare(signal);
    const unwatch = m.watchPhase(this.o.phasePollMs ?? 2000);
    m.events.on('phase:changed', this.#wake);
    const onAbort = () => this.#wake();
    signal.addEventListener('abort', onAbort, { once: true });
    let last: Phase | null = null;
    try {
      while (!signal.aborted) {
        const woke = new Promise<void>((res) => {
          this.#kick = res;
        });
        if (this.#failure) throw this.#failure;
        const phase = m.knownPhase ?? 'prepare';
        if (phase !== last) m.log.info({ event: 'run.phase', phase }, `phase ${phase}`);
        last = phase;
        await this.#reconcile(phase);
        await woke;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      m.events.off('phase:changed', this.#wake);
      unwatch();
      await Promise.all(this.running.map((s) => s.stop()));
      this.backfill = this.relay = this.verify = this.guard = null;
    }
  }
}
