import { TandemError, redactUrl } from '../core/errors.js';
import { capabilitiesFor } from '../stores/dialects.js';
import { sameStore } from '../stores/identity.js';
import type { Dialect, Store } from '../stores/types.js';
import { parseStoreUrl } from '../stores/url.js';
import type { Proposal } from '../init/generate.js';
import type { TandemConfig } from './schema.js';

/**
 * Nothing Tandem writes may be a legacy table: when the target is the same store as the source (same server and
 * database/schema, however the two URLs spell it), no entity may write a table that is the source table of any
 * entity — backfill would overwrite the legacy rows with transformed values. Different tables of one database
 * stay allowed (splitting `users` into `users_v2` + `user_profiles` in place, the expand-contract case).
 *
 * A `control` store that is the source is allowed: Tandem only writes its own control tables there (schema
 * `tandem` or the `tandem_` prefix), which the legacy-write guard (src/control/legacy-guard.ts) enforces.
 */

/** One entity as the overlap check sees it: its source table and the tables it writes on the target. */
export interface EntityTables {
  entity: string;
  sourceTable: string;
  targetTables: string[];
}

/** How two stores were found to be one, for the error message. */
type Sameness = 'url' | 'server' | null;

/**
 * Table names compare case-insensitively where the engine may fold them (MySQL/MariaDB, SQLite; unknown dialects too).
 */
function norm(dialect: Dialect | undefined, table: string): string {
  return dialect && capabilitiesFor(dialect).tableNameCase === 'sensitive' ? table : table.toLowerCase();
}

function dialectOf(url: string): Dialect | undefined {
  try {
    return parseStoreUrl(url).dialect;
  } catch {
    return undefined;
  }
}

/**
 * True when the URLs name one store; a URL that does not parse is compared by the stores (openStore rejects it anyway).
 */
function sameByUrl(a: string, b: string): boolean {
  try {
    return sameStore(a, b);
  } catch {
    return false;
  }
}

const identities = new WeakMap<Store, Promise<string | null>>();

/** The store's server identity, asked once per store; null when the store cannot tell (a user adapter). */
function serverIdentityOf(store: Store): Promise<string | null> {
  let p = identities.get(store);
  if (!p) {
    p = store.serverIdentity ? store.serverIdentity() : Promise.resolve(null);
    identities.set(store, p);
  }
  return p;
}

/**
 * Throws `TANDEM_ERR_CONFIG_INVALID` for the first entity whose target table is a source table of any entity,
 * when `same` says the source and target are one store, naming the entity, the table and both URLs (redacted).
 * Also refuses a target table that is one of Tandem's own control tables (`tandem_*` on MySQL/SQLite, schema
 * `tandem` on PostgreSQL), whatever the stores.
 */
export function checkEntityTables(
  entities: EntityTables[],
  sourceUrl: string,
  targetUrl: string,
  same: Sameness,
): void {
  const dialect = dialectOf(targetUrl);
  const targetSchema = (() => {
    try {
      return parseStoreUrl(targetUrl).url?.searchParams.get('schema') ?? null;
    } catch {
      return null;
    }
  })();
  // control tables in a schema `tandem` where the engine has schemas, else with the prefix `tandem_`
  const schemas = dialect ? capabilitiesFor(dialect).schemas : false;
  for (const e of entities) {
    for (const t of e.targetTables) {
      const controlLike = schemas ? targetSchema === 'tandem' : t.toLowerCase().startsWith('tandem_');
      if (controlLike)
        throw new TandemError(
          'CONFIG_INVALID',
          `entity ${e.entity}: target table "${t}" of ${redactUrl(targetUrl)} is in Tandem's own control namespace (${schemas ? 'schema tandem' : 'prefix tandem_'}); write the entity to another table`,
          { entity: e.entity, table: t },
        );
    }
  }
  if (!same) return;
  const sources = new Map<string, EntityTables>();
  for (const e of entities) sources.set(norm(dialect, e.sourceTable), e);
  for (const e of entities) {
    for (const t of e.targetTables) {
      const owner = sources.get(norm(dialect, t));
      if (!owner) continue;
      throw new TandemError(
        'CONFIG_INVALID',
        `entity ${e.entity}: target table "${t}" is the source table "${owner.sourceTable}"${owner.entity === e.entity ? '' : ` of entity ${owner.entity}`}: ` +
          `the target ${redactUrl(targetUrl)} and the source ${redactUrl(sourceUrl)} are the same store (${same === 'url' ? 'same server and database/schema' : 'the servers report the same identity'}), ` +
          `so writing it would overwrite the legacy rows. Write the entity to another table (e.g. "${t}_v2") or point target at another database`,
        { entity: e.entity, table: t, source: redactUrl(sourceUrl), target: redactUrl(targetUrl) },
      );
    }
  }
}

/** The entities of a config as {@link EntityTables}. */
export function configTables(config: TandemConfig): EntityTables[] {
  return Object.entries(config.entities).map(([entity, e]) => ({
    entity,
    sourceTable: e.table,
    targetTables: e.targets.map((t) => t.table),
  }));
}

/**
 * The check before any store is opened, from the URLs alone (host aliases, default ports, scheme families,
 * real paths of SQLite files and PGlite folders; see `storeIdentity`). Throws `TANDEM_ERR_CONFIG_INVALID`.
 */
export function assertDistinctTablesByUrl(config: Pick<TandemConfig, 'source' | 'target' | 'entities'>): void {
  checkEntityTables(
    configTables(config as TandemConfig),
    config.source,
    config.target,
    sameByUrl(config.source, config.target) ? 'url' : null,
  );
}

/**
 * The check with both stores open: the URLs, then the identity each server reports (`Store.serverIdentity`),
 * which also catches DNS names and port forwards to one server. Writes nothing. Throws
 * `TANDEM_ERR_CONFIG_INVALID`; a store whose identity query fails makes this reject with that store's error.
 */
export async function assertDistinctTables(
  entities: EntityTables[],
  sourceUrl: string,
  targetUrl: string,
  source: Store,
  target: Store,
): Promise<void> {
  let same: Sameness = sameByUrl(sourceUrl, targetUrl) || source === target ? 'url' : null;
  if (!same) {
    const [a, b] = await Promise.all([serverIdentityOf(source), serverIdentityOf(target)]);
    if (a !== null && a === b) same = 'server';
  }
  checkEntityTables(entities, sourceUrl, targetUrl, same);
}

/** {@link assertDistinctTables} for every entity of a config (not only the ones a command works on). */
export function assertConfigDistinctTables(config: TandemConfig, source: Store, target: Store): Promise<void> {
  return assertDistinctTables(configTables(config), config.source, config.target, source, target);
}

/** The entities `tandem init` proposes, as {@link EntityTables}. */
export function proposalTables(p: Proposal): EntityTables[] {
  return p.entities.map((e) => ({ entity: e.name, sourceTable: e.sourceTable, targetTables: [e.targetTable] }));
}
