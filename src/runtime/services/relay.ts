import { consumeChanges, forwardOutbox } from '../../apply/broker.js';
import { addRelayStats, emptyRelayStats, runRelay, type RelayStats } from '../../apply/relay.js';
import { openTransport, type Transport } from '../../capture/transport/types.js';
import { TandemError } from '../../core/errors.js';
import type { Phase } from '../../control/phase.js';
import type { RelayDirection } from '../events.js';
import type { Migration } from '../migration.js';
import { BaseService } from './service.js';

/** `direct`: outbox → secondary; `publish`: outbox → broker; `consume`: broker → secondary. */
export type RelayMode = 'direct' | 'publish' | 'consume';

/** Options of the relay service. */
export interface RelayServiceOptions {
  mode?: RelayMode;
  /** Changes claimed per batch. Default 2000 (DEFAULT_RELAY_BATCH, src/apply/relay.ts). */
  batchSize?: number;
  /** Attempts before a change goes to the dead-letter table. Default 10. */
  maxAttempts?: number;
  /** Return once every change is applied (or dead-lettered) instead of polling. */
  untilEmpty?: boolean;
  /** Poll the phase itself every this many ms to turn around at write cutover (default 2000; 0: the caller watches). */
  phasePollMs?: number;
}

/** What a relay run did: figures (direct, consume) or changes forwarded (publish), and its last direction. */
export interface RelayServiceResult {
  mode: RelayMode;
  direction: RelayDirection;
  stats: RelayStats;
  forwarded: number;
}

/**
 * The relay as a service: drains the live outbox (the primary's) into the secondary, or into / out of a broker.
 * It follows the phase: across write cutover (or a rollback) it finishes the batch in flight and runs again the
 * other way (`relay:direction`). Emits `relay:batch` after every batch. Several relays may run at once (claims
 * use SKIP LOCKED). Throws TANDEM_ERR_CONFIG_INVALID for a broker mode without `transport` in the config.
 */
export class RelayService extends BaseService<RelayServiceResult> {
  readonly name = 'relay';
  #direction: RelayDirection = 'forward';

  constructor(
    m: Migration,
    private readonly o: RelayServiceOptions = {},
  ) {
    super(m);
  }

  /** The direction of the leg running now. */
  get direction(): RelayDirection {
    return this.#direction;
  }

  protected async run(signal: AbortSignal): Promise<RelayServiceResult> {
    const m = this.m;
    const mode = this.o.mode ?? 'direct';
    if (mode !== 'direct' && !m.config.transport)
      throw new TandemError(
        'CONFIG_INVALID',
        `relay mode ${mode} needs a broker: add transport: { url: 'amqp://…' | 'nats://…' | 'redis://…' } to the config`,
      );
    let leg: AbortController | null = null;
    const onPhase = ({ to }: { to: Phase }) => {
      if (leg && m.roles(to).direction !== this.#direction) leg.abort();
    };
    m.events.on('phase:changed', onPhase);
    const unwatch = (this.o.phasePollMs ?? 2000) > 0 ? m.watchPhase(this.o.phasePollMs ?? 2000) : () => {};
    let transport: Transport | undefined;
    let stats = emptyRelayStats();
    let forwarded = 0;
    try {
      if (m.knownPhase === null) await m.readPhase().catch(() => {});
      if (mode !== 'direct')
        transport = await openTransport(m.config.transport!.url, {
          name: m.config.transport!.name,
          maxAttempts: this.o.maxAttempts ?? 10,
          logger: m.log,
        });
      for (let turn = 0; !signal.aborted; turn++) {
        const r = m.roles(m.knownPhase ?? 'dual_write');
        if (turn > 0 && r.direction !== this.#direction) {
          m.log.warn(
            { event: 'relay.direction', primary: r.primaryName },
            `phase changed: the relay now runs ${r.direction === 'reverse' ? 'new → legacy' : 'legacy → new'}`,
          );
          m.events.emit('relay:direction', { direction: r.direction });
        }
        this.#direction = r.direction;
        const current = new AbortController();
        leg = current;
        const onStop = () => current.abort();
        signal.addEventListener('abort', onStop, { once: true });
        const direction = r.direction;
        const common = {
          primary: r.primary,
          log: m.log,
          batchSize: this.o.batchSize,
          signal: current.signal,
          untilEmpty: this.o.untilEmpty,
        };
        try {
          if (mode === 'publish') forwarded += await forwardOutbox({ ...common, transport: transport! });
          else {
            const onBatch = (s: RelayStats) => m.events.emit('relay:batch', { direction, mode, stats: s });
            const base = {
              ...common,
              secondary: r.secondary,
              control: m.stores.control,
              entities: r.entities,
              maxAttempts: this.o.maxAttempts,
            };
            const s =
              mode === 'consume'
                ? await consumeChanges({ ...base, transport: transport! })
                : await runRelay({ ...base, onBatch });
            stats = addRelayStats(stats, s);
          }
        } finally {
          signal.removeEventListener('abort', onStop);
          leg = null;
        }
        if (this.o.untilEmpty) break;
        // a leg ended without a stop: the phase crossed write cutover; wait for the cached phase to say so
        if (!signal.aborted && m.roles(m.knownPhase ?? 'dual_write').direction === this.#direction)
          await m.readPhase().catch(() => {});
      }
    } finally {
      m.events.off('phase:changed', onPhase);
      unwatch();
      await transport?.close().catch(() => {});
    }
    return { mode, direction: this.#direction, stats, forwarded };
  }
}
