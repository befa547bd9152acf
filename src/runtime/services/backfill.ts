import { isTransient } from '../../apply/retry.js';
import { runBackfill, type EntityBackfillResult } from '../../backfill/backfill.js';
import { preflight } from '../../backfill/preflight.js';
import { preflightTriggerLines } from '../../cutover/warnings.js';
import { errorLine, isTandemError } from '../../core/errors.js';
import type { Migration } from '../migration.js';
import { BaseService, pause } from './service.js';

/** Options of the backfill service. */
export interface BackfillServiceOptions {
  /** Only these entities (default all, in fill order). */
  entities?: string[];
  /** Start over from the first key even where a checkpoint exists. */
  restart?: boolean;
  /** Overrides the config's throttle (rows per second). */
  maxRowsPerSecond?: number;
  /** Where the TTY progress line goes (null: JSON logs only). */
  progressOut?: NodeJS.WriteStream | null;
  /** Told which entity is being copied (the process's heartbeat). */
  heartbeat?: { setScope(scope: string | null): void };
  /**
   * `once` (the `tandem backfill` command): one run; an entity held elsewhere (that this run took no range of) or
   * an error fails it. `until-done` (the worker): every entity, ranges taken in fill order, waiting while other
   * workers hold them (or took them over: `TANDEM_ERR_LEASE_LOST`) and while a store is down, until every entity
   * is copied. Default `once`.
   */
  mode?: 'once' | 'until-done';
  /** until-done: how long to wait before trying a held lease again, ms. Default 2000. */
  retryMs?: number;
  /** Range workers in this process (default `config.backfill.workers`, else 1). */
  workers?: number;
}

/**
 * The backfill as a service (src/backfill/backfill.ts does the work: keyset chunks, checkpoints, lease with
 * fencing). Emits `backfill:start`, `backfill:progress` after every committed chunk, `backfill:held` while
 * another worker holds an entity, `backfill:done`. Its result: one {@link EntityBackfillResult} per entity run.
 */
export class BackfillService extends BaseService<EntityBackfillResult[]> {
  readonly name = 'backfill';

  constructor(
    m: Migration,
    private readonly o: BackfillServiceOptions = {},
  ) {
    super(m);
  }

  #run(entities: Migration['entities'], signal: AbortSignal, wait: boolean): Promise<EntityBackfillResult[]> {
    const m = this.m;
    for (const e of entities) m.events.emit('backfill:start', { entity: e.name });
    return runBackfill({
      config: m.config,
      source: m.stores.legacy,
      target: m.stores.new,
      control: m.stores.control,
      entities,
      log: m.log,
      progressOut: this.o.progressOut ?? null,
      restart: this.o.restart,
      maxRowsPerSecond: this.o.maxRowsPerSecond,
      signal,
      heartbeat: this.o.heartbeat,
      workers: this.o.workers,
      onChunk: (entity, copied, total) => m.events.emit('backfill:progress', { entity, copied, total }),
      onThrottle: (entity, throttle) => m.events.emit('backfill:throttle', { entity, throttle }),
      onEntityDone: (r) => m.events.emit('backfill:done', { entity: r.entity, copied: r.copiedTotal }),
      ...(wait
        ? {
            whenHeld: 'wait' as const,
            pollMs: Math.min(this.o.retryMs ?? 2000, 1000),
            // another worker copies every range left of this entity: wait for it to finish (or for its lease to
            // expire, or its holder to die)
            onHeld: (entity: string, e: unknown) => {
              m.log.info(
                { event: 'backfill.held', entity, err: errorLine(e) },
                `${entity}: backfill held by another worker; waiting`,
              );
              m.events.emit('backfill:held', { entity, error: errorLine(e) });
              this.setState('waiting');
            },
            onEntityDone: (r: EntityBackfillResult) => {
              this.setState('running');
              m.events.emit('backfill:done', { entity: r.entity, copied: r.copiedTotal });
            },
          }
        : {}),
    });
  }

  protected async run(signal: AbortSignal): Promise<EntityBackfillResult[]> {
    const only = this.o.entities;
    const entities = only ? this.m.entities.filter((e) => only.includes(e.name)) : this.m.entities;
    if ((this.o.mode ?? 'once') === 'once') return this.#run(entities, signal, false);
    let checked = false;
    let backoff = 1000;
    const done = new Map<string, EntityBackfillResult>();
    for (;;) {
      if (signal.aborted) return [...done.values()];
      try {
        if (!checked) {
          await preflight(this.m.stores.legacy, entities);
          // user triggers on the target tables: a warning line each, not an error (docs/mapping.md)
          for (const line of await preflightTriggerLines(this.m).catch(() => []))
            this.m.log.warn({ event: 'backfill.target_triggers' }, line);
          checked = true;
        }
        // every entity at once: the workers take ranges in fill order, waiting while other workers hold them
        const rs = await this.#run(
          entities.filter((e) => !done.has(e.name)),
          signal,
          true,
        );
        this.setState('running');
        for (const r of rs) if (r.status !== 'interrupted') done.set(r.entity, r);
        return entities.map((e) => done.get(e.name)).filter((r): r is EntityBackfillResult => !!r);
      } catch (e) {
        // LEASE_HELD and LEASE_LOST are waited out inside the run; a store that is down is waited out here
        if (!isTransient(e) && !isTandemError(e, 'LEASE_HELD') && !isTandemError(e, 'LEASE_LOST')) throw e;
        this.m.log.warn(
          { event: 'backfill.waiting', err: errorLine(e) },
          'backfill failed on a transient error; retrying',
        );
        this.setState('waiting', e);
        await pause(backoff, signal);
        backoff = Math.min(30_000, backoff * 2);
      }
    }
  }
}
