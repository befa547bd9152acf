import type { Logger } from 'pino';
import { sleep } from '../core/async.js';
import { loadConfig, parseConfig } from '../config/load.js';
import { assertConfigDistinctTables, assertDistinctTablesByUrl } from '../config/overlap.js';
import { resolveConfig } from '../config/resolve.js';
import type { TandemConfig, TandemConfigInput } from '../config/schema.js';
import { guardLegacyWrites, phaseOf } from '../control/legacy-guard.js';
import { primaryRole, type Phase } from '../control/phase.js';
import { TandemError, errorLine, isTandemError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import type { ResolvedEntity } from '../core/mapping.js';
import { reverseEntity } from '../core/reverse.js';
import { applyTriggerSetting } from '../apply/triggers.js';
import { openStore, parseStoreUrl } from '../stores/index.js';
import type { Store } from '../stores/types.js';
import { TandemEvents, type RelayDirection } from './events.js';
import { PhaseCache } from './phase-cache.js';
import { migrationServices, type MigrationServices } from './services/index.js';
import { readMigrationStatus, type MigrationStatus } from './status.js';
import {
  type CanaryDecision,
  createReader,
  RoutingRuntime,
  type Reader,
  type ReadsOptions,
} from '../routing/reader.js';
import { createResultComparator, createStoredRowComparator } from '../routing/compare.js';
import { createReadStats, readShadowCounts, type Publisher } from '../routing/stats.js';
import type { RoutingView } from '../routing/state.js';
import type { ReadObserver, ShadowComparator } from '../routing/types.js';
import type { ShadowCountsSource } from '../routing/shadow-counts.js';

/** The stores of a migration, by role in the migration (not by the phase): see {@link Migration.roles}. */
export interface MigrationStores {
  /** The legacy (source) store, guarded: see {@link MigrationOptions.legacyWrites}. */
  legacy: Store;
  /** The new (target) store: version ledger, checkpoints, leases. */
  new: Store;
  /** Where the phase, heartbeats, dead letters, mismatches and audit log live: `config.control`, else the new store. */
  control: Store;
}

/** The stores and entities as the current phase sees them. */
export interface Roles {
  /** The store that takes the writes (and holds the live outbox): legacy up to `canary`, new from `new_primary`. */
  primary: Store;
  /** The store the relay writes to. */
  secondary: Store;
  /** The entities resolved with `primary` as their source (reversed after write cutover, src/core/reverse.ts). */
  entities: ResolvedEntity[];
  /** `forward` (legacy → new) or `reverse` (new → legacy). */
  direction: RelayDirection;
  /** Which store is primary. */
  primaryName: 'legacy' | 'new';
}

/** Options of {@link openMigration}. */
export interface MigrationOptions {
  /** Resolve only these entities (default all, in fill order); `null`: resolve none (`entities` is empty). */
  entities?: string[] | null;
  /**
   * The legacy-write guard of the legacy store (src/control/legacy-guard.ts): `by-phase` (default) refuses a
   * write outside Tandem's control tables before write cutover; `never` refuses it in every phase (a reader
   * such as the identity bridge); `prepare` lets `tandem prepare`'s schema changes through as well.
   */
  legacyWrites?: 'by-phase' | 'never' | 'prepare';
  /** How long a cached phase is served before one background refresh, ms. Default 1000. */
  phaseTtlMs?: number;
  /** Wait up to this many seconds for a store that cannot be reached (default 0: fail at once; Infinity: forever). */
  waitSeconds?: number;
  /** Ends the wait for a store early. */
  signal?: AbortSignal;
  /** Told about every failed attempt while waiting for a store. */
  onWaiting?: (e: TandemError) => void;
  /** Open the legacy store lazily when it is down (every call on it throws that error) instead of failing. */
  tolerateLegacyDown?: boolean;
  /** Logger (pino); default `createLogger()`. */
  log?: Logger;
  /**
   * The read observer of the migration's readers (`reads()`): windows for the guard, metrics, status counters
   * (src/routing/types.ts `ReadObserver`). Called once, on the first `reads()`. Default: none (reports go nowhere).
   */
  readObserver?: (m: Migration) => ReadObserver;
  /**
   * The stored-row comparator of an entity's shadow reads (src/routing/types.ts `ShadowComparator`), used by
   * `reads()` when the caller gives neither `compare` nor `comparator`. Default: none (shadow reads are not compared).
   */
  shadowComparator?: (m: Migration, entity: string) => ShadowComparator;
  /** Where `status()` takes the fleet's shadow comparison counts from (src/routing/shadow-counts.ts). Default: none. */
  shadowCounts?: ShadowCountsSource;
  /** The canary decision per key of every reader (e.g. OpenFeature), see `CanaryDecision`. Default: the bucket rule. */
  canaryDecision?: CanaryDecision;
}

/** The routing hooks of a migration (see {@link MigrationOptions}). */
export type RoutingHooks = Pick<
  MigrationOptions,
  'readObserver' | 'shadowComparator' | 'shadowCounts' | 'canaryDecision'
>;

/** A store that could not be opened: every method throws the error it failed with. */
function unreachable(url: string, dialect: Store['dialect'], error: unknown): Store {
  return new Proxy({ url, dialect } as Store, {
    get(target, prop) {
      if (prop === 'url' || prop === 'dialect') return target[prop];
      if (prop === 'close') return async () => {};
      if (prop === 'then') return undefined;
      return () => {
        throw error;
      };
    },
  });
}

/**
 * One migration, as every entry point sees it: its config, its three stores, its resolved entities, the phase
 * and the roles that follow from it, its status and its long-running services. Open it with
 * {@link openMigration}; close it once.
 *
 * ```ts
 * import { openMigration } from 'tandem';
 *
 * const m = await openMigration('./tandem.config.ts');
 * const { primary, secondary, entities } = m.roles(await m.phase());
 * const s = await m.status();                       // the status model of docs/status.md
 * console.log(s.phase, s.relay.pending, s.entities.map((e) => e.backfill.state));
 * const relay = m.services.relay({ mode: 'direct' });
 * m.events.on('relay:batch', (e) => console.log(e.stats.applied));
 * await relay.start();
 * // …
 * await relay.stop();
 * await m.close();
 * ```
 */
export class Migration {
  /** Typed events of the runtime and its services. */
  readonly events = new TandemEvents();
  /** Factories of the long-running services (backfill, relay, continuous verification, supervisor). */
  readonly services: MigrationServices;
  readonly #phase: PhaseCache;
  readonly #reversed = new Map<string, ResolvedEntity>();
  #closed = false;
  #routing: RoutingRuntime | undefined;
  #observer: ReadObserver | undefined;
  #publisher: Publisher | undefined;
  readonly #readers = new Set<Reader<never, unknown>>();

  /** @internal use {@link openMigration} */
  constructor(
    /** The validated config. */
    readonly config: TandemConfig,
    /** The config file's path, or null for a config object. */
    readonly configPath: string | null,
    readonly stores: MigrationStores,
    /** The resolved entities, in fill order (empty when opened with `entities: null`). */
    readonly entities: ResolvedEntity[],
    readonly log: Logger,
    phaseTtlMs: number,
    /** The routing hooks: read observer, shadow comparator, shadow counts. */
    readonly hooks: RoutingHooks = {},
  ) {
    this.#phase = new PhaseCache(stores.control, log, phaseTtlMs, (from, to) =>
      this.events.emit('phase:changed', { from, to }),
    );
    this.services = migrationServices(this);
  }

  /** The names of the entities: the resolved ones, or every entity of the config when none were resolved. */
  get entityNames(): string[] {
    return this.entities.length ? this.entities.map((e) => e.name) : Object.keys(this.config.entities);
  }

  /**
   * The current phase, from a cache refreshed in the background (at most one read in flight); never blocks a
   * write beyond a short bound (see src/runtime/phase-cache.ts). Never throws.
   */
  phase(): Promise<Phase> {
    return this.#phase.get();
  }

  /** Reads the phase from the control store now (throws what the store throws). The cache is updated. */
  readPhase(): Promise<Phase> {
    return this.#phase.readNow();
  }

  /** The last phase known (null before the first read). */
  get knownPhase(): Phase | null {
    return this.#phase.known;
  }

  /**
   * The roles in `phase` (default: the last phase known, `dual_write` before any): which store is primary,
   * which is secondary, and the entities as seen from the primary — reversed after write cutover. The only
   * place that derives roles from the phase. Throws TANDEM_ERR_MAPPING_INVALID when an entity cannot be
   * reversed (its legacy key is not copied to the new store).
   */
  roles(phase: Phase = this.#phase.known ?? 'dual_write'): Roles {
    const { legacy, new: next } = this.stores;
    if (primaryRole(phase) === 'legacy')
      return { primary: legacy, secondary: next, entities: this.entities, direction: 'forward', primaryName: 'legacy' };
    const entities = this.entities.map((e) => {
      let r = this.#reversed.get(e.name);
      if (!r) this.#reversed.set(e.name, (r = reverseEntity(e)));
      return r;
    });
    return { primary: next, secondary: legacy, entities, direction: 'reverse', primaryName: 'new' };
  }

  /** The entity named `name` as seen from the primary of `phase` (see {@link roles}), or undefined. */
  entity(name: string, phase?: Phase): ResolvedEntity | undefined {
    return this.roles(phase).entities.find((e) => e.name === name);
  }

  /** Reads the status model (docs/status.md). Writes nothing. */
  status(): Promise<MigrationStatus> {
    return readMigrationStatus(this);
  }

  /**
   * Polls the phase every `intervalMs` (default 2000); a change emits `phase:changed` on {@link events}.
   * Returns the function that stops polling. Never throws (a failed read keeps the last phase).
   */
  watchPhase(intervalMs = 2000): () => void {
    const timer = setInterval(() => {
      this.#phase.readNow().catch(() => {});
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * A routed reader of `entity` (docs/routing.md): `read(key)` calls the application's own `legacy(key)` and
   * `new(key)` as the phase and the routing state say — legacy only up to `dual_write`; legacy with detached,
   * sampled shadow reads of new in `shadow`; the canary's share of keys from new (falling back to legacy on an
   * error or past `budgetMs`) in `canary`; new with fallback in `new_primary`; new only after. The routing state is
   * read from the control plane every `routing.refreshMs` by one background refresh shared by every reader of
   * this migration; past `routing.failSafeSeconds` without a read, legacy only. Throws
   * TANDEM_ERR_ROUTING_UNKNOWN_ENTITY when the entity is not resolved in this migration, TANDEM_ERR_CONFIG_INVALID
   * for a `bucketBy` naming a column outside the key.
   *
   * ```ts
   * const users = m.reads('users', {
   *   legacy: (id: number) => legacyDb.query('SELECT * FROM users WHERE id = ?', [id]).then(([r]) => r[0] ?? null),
   *   new: (id: number) => pool.query('SELECT * FROM users WHERE id = $1', [id]).then((r) => r.rows[0] ?? null),
   *   budgetMs: 50,
   * });
   * const user = await users.read(42);
   * ```
   */
  reads<K = unknown, T = unknown>(entity: string, options: ReadsOptions<K, T>): Reader<K, T> {
    // the forward entity: keys are bucketed by the legacy key in every phase, so a key stays in its bucket
    const e = this.entities.find((x) => x.name === entity);
    if (!e) {
      const known = Object.keys(this.config.entities);
      throw new TandemError(
        'ROUTING_UNKNOWN_ENTITY',
        known.includes(entity)
          ? `entity ${entity} was not resolved in this migration (open it with its entities, not entities: null)`
          : `unknown entity "${entity}" (entities: ${known.join(', ')})`,
      );
    }
    const rt = this.#routingRuntime();
    this.#observer ??= this.hooks.readObserver?.(this) ?? this.#defaultObserver();
    const observer = options.observer ?? this.#observer;
    // the comparison: the caller's comparator; else the application's `compare` of the two results, lag-aware
    // (a `false` on a key with a change in flight is lagging, re-checked by reading again); else the migration's
    // hook; else the default — both stored rows re-read by key and compared as verify does
    const toKey = (kv: unknown[]) => (kv.length === 1 ? kv[0] : kv) as K;
    const user = options.compare;
    const comparator =
      options.comparator ??
      (user
        ? createResultComparator(
            async (a, b, kv) => {
              const v = await user(a as T, b as T, toKey(kv));
              return v === true || v === 'matched';
            },
            this,
            entity,
            { observer, reread: { legacy: (kv) => options.legacy(toKey(kv)), new: (kv) => options.new(toKey(kv)) } },
          )
        : (this.hooks.shadowComparator?.(this, entity) ?? createStoredRowComparator(this, entity, { observer })));
    const canaryDecision = options.canaryDecision ?? this.hooks.canaryDecision;
    const reader = createReader<K, T>(rt, e, { ...options, compare: undefined, observer, comparator, canaryDecision });
    this.#readers.add(reader as unknown as Reader<never, unknown>);
    return reader;
  }

  /**
   * The default read observer: in-process windows (Prometheus metrics included) published to the control plane
   * every `guard.publishSeconds`, where the guard of `tandem run` judges the fleet's aggregate.
   */
  #defaultObserver(): ReadObserver {
    const stats = createReadStats();
    this.#publisher = stats.startPublishing(this.stores.control, {
      intervalMs: this.config.guard.publishSeconds * 1000,
      onError: (e) =>
        this.log.debug({ event: 'routing.publish_failed', err: errorLine(e) }, 'read windows not published; retried'),
    });
    return stats;
  }

  #routingRuntime(): RoutingRuntime {
    this.#routing ??= new RoutingRuntime(this.stores.control, this.config.routing, this.log, this.knownPhase);
    return this.#routing;
  }

  /**
   * The routing state this instance routes by now (cached; see {@link reads}), starting the background refresh
   * on the first call. Never throws.
   */
  routingView(): RoutingView {
    return this.#routingRuntime().cache.view();
  }

  /** Re-reads the routing state now, seeing every write made before the call (a failure keeps the last one). */
  refreshRouting(): Promise<void> {
    return this.#routingRuntime().cache.readNow();
  }

  /** Closes Tandem's own connections (each store once). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#routing?.close();
    await Promise.all([...this.#readers].map((r) => r.close().catch(() => {})));
    await this.#publisher?.stop().catch(() => {});
    const all = new Set([this.stores.legacy, this.stores.new, this.stores.control]);
    await Promise.all([...all].map((s) => s.close().catch(() => {})));
  }
}

/**
 * Opens a migration: loads and validates the config (an object, or the path of a `tandem.config.ts`), opens
 * the legacy, new and control stores, resolves the entities against both schemas and reads the phase once
 * (without failing when the control plane does not exist yet). Writes nothing.
 *
 * The legacy store is guarded (src/control/legacy-guard.ts): before write cutover a write to a legacy table
 * throws TANDEM_ERR_LEGACY_WRITE_REFUSED. A target table that is also a source table throws
 * TANDEM_ERR_CONFIG_INVALID before any store is opened. A store that cannot be reached throws
 * TANDEM_ERR_STORE_UNREACHABLE, after waiting up to `waitSeconds` for it.
 *
 * ```ts
 * const m = await openMigration('./tandem.config.ts', { entities: ['users'] });
 * try {
 *   console.log(await m.phase(), m.roles().direction);
 * } finally {
 *   await m.close();
 * }
 * ```
 */
export async function openMigration(
  config: TandemConfigInput | TandemConfig | string,
  options: MigrationOptions = {},
): Promise<Migration> {
  const cfg = typeof config === 'string' ? await loadConfig(config) : parseConfig(config as TandemConfigInput);
  const log = options.log ?? createLogger();
  const until = Date.now() + (options.waitSeconds ?? 0) * 1000;
  for (;;) {
    try {
      return await openOnce(cfg, typeof config === 'string' ? config : null, options, log);
    } catch (e) {
      if (!isTandemError(e, 'STORE_UNREACHABLE') || Date.now() > until || options.signal?.aborted) throw e;
      options.onWaiting?.(e);
      log.warn({ event: 'runtime.store_waiting', err: errorLine(e) }, 'a store cannot be reached; retrying');
      await sleep(1000, options.signal);
    }
  }
}

async function openOnce(
  config: TandemConfig,
  configPath: string | null,
  o: MigrationOptions,
  log: Logger,
): Promise<Migration> {
  assertDistinctTablesByUrl(config);
  const opened: Store[] = [];
  const close = () => Promise.all(opened.map((s) => s.close().catch(() => {})));
  try {
    let phaseStore: Store | undefined;
    const mode = o.legacyWrites ?? 'by-phase';
    const phase = mode === 'never' ? async () => 'prepare' as const : phaseOf(() => phaseStore);
    let raw: Store;
    try {
      raw = await openStore(config.source);
    } catch (e) {
      if (!o.tolerateLegacyDown || !isTandemError(e, 'STORE_UNREACHABLE')) throw e;
      raw = unreachable(config.source, parseStoreUrl(config.source).dialect, e);
    }
    opened.push(raw);
    const legacy = guardLegacyWrites(raw, { phase, prepare: mode === 'prepare' });
    const rawNext = await openStore(config.target);
    opened.push(rawNext);
    // apply.userTriggers: 'replica' — every transaction on the new store runs with user triggers off (checked here)
    const next = await applyTriggerSetting(rawNext, config.apply.userTriggers);
    let control = next;
    if (config.control && config.control !== config.target) {
      control = await openStore(config.control);
      opened.push(control);
    }
    phaseStore = control;
    if (o.entities === null) {
      if (mode === 'prepare') await assertConfigDistinctTables(config, legacy, next);
    }
    const entities = o.entities === null ? [] : await resolveConfig(config, legacy, next, o.entities);
    const hooks = {
      readObserver: o.readObserver,
      shadowComparator: o.shadowComparator,
      // the fleet's comparisons of the last 5 minutes, from the windows every instance publishes
      shadowCounts: o.shadowCounts ?? ((control: Store) => readShadowCounts(control)),
      canaryDecision: o.canaryDecision,
    };
    const m = new Migration(
      config,
      configPath,
      { legacy, new: next, control },
      entities,
      log,
      o.phaseTtlMs ?? 1000,
      hooks,
    );
    // the first read, so that writes start with a known phase; a control plane not created yet is not an error
    await m.readPhase().catch(() => {});
    return m;
  } catch (e) {
    await close();
    throw e;
  }
}
