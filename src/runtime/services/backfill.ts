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
   * `once` (the `tandem backfill` command): one run; a held lease or an error fails it. `until-done` (the
   * worker): entity by entity in fill order, waiting while another worker holds an entity's lease (or took it
   * over: `TANDEM_ERR_LEASE_LOST`) and while a store is down, until every entity is copied. Default `once`.
   */
  mode?: 'once' | 'until-done';
  /** until-done: how long to wait before trying a held lease again, ms. Default 2000. */
  retryMs?: number;
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

  #run(entities: Migration['entities'], signal: AbortSignal): Promise<EntityBackfillResult[]> {
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
      onChunk: (entity, copied, total) => m.events.emit('backfill:progress', { entity, copied, total }),
      onThrottle: (entity, throttle) => m.events.emit('backfill:throttle', { entity, throttle }),
    }).then((rs) => {
      for (const r of rs)
        if (r.status !== 'interrupted') m.events.emit('backfill:done', { entity: r.entity, copied: r.copiedTotal });
      return rs;
    });
  }

  protected async run(signal: AbortSignal): Promise<EntityBackfillResult[]> {
    const only = this.o.entities;
    const entities = only ? this.m.entities.filter((e) => only.includes(e.name)) : this.m.entities;
    if ((this.o.mode ?? 'once') === 'once') return this.#run(entities, signal);
    const results: EntityBackfillResult[] = [];
    let checked = false;
    for (const entity of entities) {
      let backoff = 1000;
      for (;;) {
        if (signal.aborted) return results;
        try {
          if (!checked) {
            await preflight(this.m.stores.legacy, entities);
            // user triggers on the target tables: a warning line each, not an error (docs/mapping.md)
            for (const line of await preflightTriggerLines(this.m).catch(() => []))
              this.m.log.warn({ event: 'backfill.target_triggers' }, line);
            checked = true;
          }
          const [r] = await this.#run([entity], signal);
          this.setState('running');
          if (!r || r.status === 'interrupted') return results;
          results.push(r);
          break;
        } catch (e) {
          // another worker copies this entity: wait for it to finish (or for its lease to expire). LEASE_LOST: this
          // worker stalled (or its heartbeat did) and another took the entity over — its chunk rolled back, nothing
          // of it was written; it waits the same way instead of failing the worker
          if (isTandemError(e, 'LEASE_HELD') || isTandemError(e, 'LEASE_LOST')) {
            if (this.state !== 'waiting')
              this.m.log.info(
                { event: 'backfill.held', entity: entity.name, err: errorLine(e) },
                `${entity.name}: backfill held by another worker; waiting`,
              );
            this.m.events.emit('backfill:held', { entity: entity.name, error: errorLine(e) });
            this.setState('waiting');
            await pause(this.o.retryMs ?? 2000, signal);
            continue;
          }
          if (!isTransient(e)) throw e;
          this.m.log.warn(
            { event: 'backfill.waiting', entity: entity.name, err: errorLine(e) },
            `${entity.name}: backfill failed on a transient error; retrying`,
          );
          this.setState('waiting', e);
          await pause(backoff, signal);
          backoff = Math.min(30_000, backoff * 2);
        }
      }
    }
    return results;
  }
}
