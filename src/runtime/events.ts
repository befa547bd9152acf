import { EventEmitter } from 'node:events';
import type { RelayStats } from '../apply/relay.js';
import type { Phase } from '../control/phase.js';
import type { ThrottleState } from '../control/throttle-state.js';
import type { GuardBreach, GuardFigures } from '../routing/guard.js';
import type { GuardVerdict } from '../routing/types.js';

/** Which way the relay runs: legacy → new before write cutover, new → legacy (the reverse relay) after. */
export type RelayDirection = 'forward' | 'reverse';

/** The state of a long-running service (see src/runtime/services/service.ts). */
export type ServiceState = 'idle' | 'running' | 'waiting' | 'stopping' | 'stopped' | 'done' | 'failed';

/**
 * Every event of the runtime and its services, by name, with its payload: one map, in the style of
 * graphile-worker's `WorkerEventMap`. Subscribe with `migration.events.on('relay:batch', (e) => …)`.
 */
export interface TandemEventMap {
  /** The phase read from the control store differs from the last one seen. */
  'phase:changed': { from: Phase | null; to: Phase };
  /** A service moved to another state; `error` (one redacted line) when it failed or waits on a failure. */
  'service:state': { service: string; state: ServiceState; error?: string };
  /** A store could not be reached; the runtime waits and retries. */
  'store:waiting': { store: 'legacy' | 'new' | 'control' | 'stores'; error: string };
  /** One entity's backfill started (or resumed). */
  'backfill:start': { entity: string };
  /** A chunk committed: rows copied so far (all runs together) of `total` counted at start. */
  'backfill:progress': { entity: string; copied: number; total: number };
  /** One entity's backfill is copied to its end. */
  'backfill:done': { entity: string; copied: number };
  /**
   * An entity's backfill throttle reason changed: why it waits now (`paused`, `flag-file`, `replica-lag`, `query`,
   * `rate`), or null when it runs at full speed again.
   */
  'backfill:throttle': { entity: string; throttle: ThrottleState | null };
  /** The backfill of an entity is held by another worker (its lease): this one waits. */
  'backfill:held': { entity: string; error: string };
  /** A relay batch was handled: figures of the current leg so far. */
  'relay:batch': { direction: RelayDirection; mode: 'direct' | 'publish' | 'consume'; stats: RelayStats };
  /** The relay turned around at a write cutover (or a rollback). */
  'relay:direction': { direction: RelayDirection };
  /** One continuous-verification cycle ended. */
  'verify:cycle': { cycle: number; headline: string; complete: boolean };
  /** A cycle left mismatches of an entity pending or confirmed. */
  'verify:mismatch': { entity: string; pending: number; confirmed: number };
  /** One guard evaluation: the verdict in force and the figures per entity of the new store's reads. */
  'guard:verdict': { verdict: GuardVerdict; figures: GuardFigures[] };
  /** This evaluation tripped the guard: the canary was set to 0 (the reason has the figures). */
  'guard:tripped': { verdict: GuardVerdict; breaches: GuardBreach[] };
}

/** Names of {@link TandemEventMap}. */
export type TandemEventName = keyof TandemEventMap;

/**
 * A typed event emitter over {@link TandemEventMap}. A listener that throws is logged by the caller's emitter
 * wrapper, never breaks a service: `emit` catches and drops listener errors.
 */
export class TandemEvents {
  readonly #e = new EventEmitter();

  constructor() {
    this.#e.setMaxListeners(100);
  }

  on<K extends TandemEventName>(name: K, fn: (payload: TandemEventMap[K]) => void): this {
    this.#e.on(name, fn);
    return this;
  }

  once<K extends TandemEventName>(name: K, fn: (payload: TandemEventMap[K]) => void): this {
    this.#e.once(name, fn);
    return this;
  }

  off<K extends TandemEventName>(name: K, fn: (payload: TandemEventMap[K]) => void): this {
    this.#e.off(name, fn);
    return this;
  }

  /** Calls every listener of `name`; a listener's error is swallowed (a listener never stops a service). */
  emit<K extends TandemEventName>(name: K, payload: TandemEventMap[K]): void {
    for (const fn of this.#e.listeners(name)) {
      try {
        (fn as (p: TandemEventMap[K]) => void)(payload);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }
}
