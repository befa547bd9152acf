import { joinDelimited } from '../core/composite.js';
import { TandemError } from '../core/errors.js';
import {
  compileColumn,
  unpad,
  specSource,
  staticFit,
  type FitCheck,
  type ResolvedEntity,
  type ResolvedTarget,
} from '../core/mapping.js';
import type { Row, SchemaInfo, Store, TableInfo } from '../stores/types.js';
import { assertConfigDistinctTables } from './overlap.js';
import { resolveSensitive } from './sensitive.js';
import type { EntityConfig, TandemConfig } from './schema.js';

/** Suggests a near name for "did you mean" hints: same name ignoring case and `_`. */
function near(name: string, names: Iterable<string>): string {
  const norm = (s: string) => s.toLowerCase().replace(/_/g, '');
  for (const n of names) if (norm(n) === norm(name)) return ` (did you mean "${n}"?)`;
  return '';
}

function table(schema: SchemaInfo, name: string, side: 'source' | 'target', entity: string): TableInfo {
  const t = schema.tables.get(name);
  if (!t)
    throw new TandemError(
      'TABLE_NOT_FOUND',
      `entity ${entity}: ${side} table "${name}" does not exist${near(name, schema.tables.keys())}`,
      { table: name, side },
    );
  return t;
}

function column(t: TableInfo, name: string, entity: string, role: string) {
  const c = t.columns.find((x) => x.name === name);
  if (!c)
    throw new TandemError(
      'COLUMN_NOT_FOUND',
      `entity ${entity}: ${role} column "${name}" does not exist in source table "${t.name}"${near(
        name,
        t.columns.map((x) => x.name),
      )}`,
      { table: t.name, column: name },
    );
  return c;
}

/**
 * Resolves one entity against the source and target schemas: every table and column named must exist, the key
 * must be mapped to a primary or unique key of each target table, and the column specs compile to functions.
 * Throws TANDEM_ERR_TABLE_NOT_FOUND, _COLUMN_NOT_FOUND, _MAPPING_COLUMN_NOT_FOUND, _MAPPING_INVALID or
 * _TARGET_KEY_MISSING, naming the entity, table and column.
 */
export function resolveEntity(
  name: string,
  cfg: EntityConfig,
  sourceSchema: SchemaInfo,
  targetSchema: SchemaInfo,
  sourceEnforcesTypes = false,
): ResolvedEntity {
  const source = table(sourceSchema, cfg.table, 'source', name);
  const key = Array.isArray(cfg.key) ? cfg.key : [cfg.key];
  const keyColumns = key.map((k) => column(source, k, name, 'key'));
  const version = cfg.version ? column(source, cfg.version, name, 'version') : null;
  if (version && !['integer', 'timestamp', 'timestamptz', 'decimal'].includes(version.category))
    throw new TandemError(
      'MAPPING_INVALID',
      `entity ${name}: version column "${version.name}" is ${version.dataType}; it must be an integer or a timestamp`,
    );
  const read = new Set<string>(key);
  if (version) read.add(version.name);
  let declarative = true;
  const targets: ResolvedTarget[] = cfg.targets.map((tc) => {
    const t = table(targetSchema, tc.table, 'target', name);
    const columns = Object.keys(tc.columns).map((colName) => {
      const c = t.columns.find((x) => x.name === colName);
      if (!c)
        throw new TandemError(
          'MAPPING_COLUMN_NOT_FOUND',
          `entity ${name}: the mapping writes column "${colName}" but target table "${t.name}" has no such column${near(
            colName,
            t.columns.map((x) => x.name),
          )}`,
          { table: t.name, column: colName },
        );
      return c;
    });
    const valueOf = Object.values(tc.columns).map((spec, i) => {
      const src = specSource(spec);
      if (src !== null) {
        column(source, src, name, 'mapped');
        read.add(src);
      } else if (typeof spec === 'object' && 'transform' in spec) declarative = false;
      const f = compileColumn(spec);
      const from = src !== null ? source.columns.find((c) => c.name === src) : undefined;
      // an array column into a MySQL/MariaDB SET: its elements joined with `,` (the SET's own form)
      if (from?.category === 'array' && columns[i]?.isSet) return (row: Row) => joinDelimited(f(row), ',');
      // a char(n) source: its pad is not data (docs/canonical-encoding.md)
      return from?.padded ? (row: Row) => unpad(f(row)) : f;
    });
    if (tc.transform) declarative = false;
    // the target columns that receive the entity key, by plain rename
    const keyColumns = key.map((k) => {
      const hit = Object.entries(tc.columns).find(([, spec]) =>
        typeof spec === 'string' ? spec === k : 'from' in spec && spec.from === k && !spec.cast,
      );
      if (!hit)
        throw new TandemError(
          'MAPPING_INVALID',
          `entity ${name}: target table "${t.name}" does not receive key column "${k}" (map it by name, e.g. { ${JSON.stringify(k.toLowerCase())}: ${JSON.stringify(k)} })`,
          { table: t.name },
        );
      return hit[0];
    });
    const uniques = [t.primaryKey, ...t.uniqueKeys].filter((u) => u.length > 0);
    const match = uniques.find((u) => u.length === keyColumns.length && u.every((c) => keyColumns.includes(c)));
    if (!match)
      throw new TandemError(
        'TARGET_KEY_MISSING',
        `entity ${name}: target table "${t.name}" has no primary key or unique index on (${keyColumns.join(', ')}), so rows cannot be upserted by key`,
        { table: t.name },
      );
    // values copied by plain rename from a column whose declared type already fits need no run-time check
    const checks = Object.values(tc.columns).map((spec, i): FitCheck => {
      const src = typeof spec === 'string' ? spec : 'from' in spec && !spec.cast ? spec.from : null;
      return src ? staticFit(source.columns.find((c) => c.name === src)!, columns[i]!, sourceEnforcesTypes) : 'full';
    });
    return {
      table: t,
      columns,
      keyColumns: match.length === keyColumns.length ? keyColumns : match,
      valueOf,
      checks,
      config: tc,
    };
  });
  // with all source columns known, read them in table order (key first)
  const readColumns = [...key, ...source.columns.map((c) => c.name).filter((c) => read.has(c) && !key.includes(c))];
  // a transform may read any column: read the whole row when one is present
  if (!declarative) for (const c of source.columns) if (!readColumns.includes(c.name)) readColumns.push(c.name);
  return {
    name,
    config: cfg,
    source,
    key,
    keyColumns,
    version,
    readColumns,
    declarative,
    targets: orderTargets(targets),
    sensitive: resolveSensitive(name, cfg.sensitive, source, targets),
  };
}

/** Orders an entity's target tables parents first when they reference each other (users before user_profiles). */
function orderTargets(targets: ResolvedTarget[]): ResolvedTarget[] {
  const names = new Set(targets.map((t) => t.table.name));
  const out: ResolvedTarget[] = [];
  const left = [...targets];
  while (left.length) {
    const i = left.findIndex((t) =>
      t.table.foreignKeys.every(
        (fk) =>
          fk.refTable === t.table.name || !names.has(fk.refTable) || out.some((o) => o.table.name === fk.refTable),
      ),
    );
    out.push(...left.splice(Math.max(i, 0), 1));
  }
  return out;
}

/**
 * Orders entities so that parents are filled first: entity A precedes B when a target table of B has a foreign
 * key to a target table of A (self references are ignored: rows of one table go in key order). `explicit` (the
 * config's `order`) wins and may list a subset (the rest follow in FK order). Throws TANDEM_ERR_FK_CYCLE.
 */
export function orderEntities(entities: ResolvedEntity[], explicit?: string[]): ResolvedEntity[] {
  const byName = new Map(entities.map((e) => [e.name, e]));
  if (explicit)
    for (const n of explicit)
      if (!byName.has(n)) throw new TandemError('CONFIG_INVALID', `order: unknown entity "${n}"`);
  const owner = new Map<string, string>();
  for (const e of entities) for (const t of e.targets) owner.set(t.table.name, e.name);
  const deps = new Map<string, Set<string>>();
  for (const e of entities) {
    const d = new Set<string>();
    for (const t of e.targets)
      for (const fk of t.table.foreignKeys) {
        const o = owner.get(fk.refTable);
        if (o && o !== e.name) d.add(o);
      }
    deps.set(e.name, d);
  }
  const out: ResolvedEntity[] = [];
  const done = new Set<string>();
  for (const n of explicit ?? []) {
    out.push(byName.get(n)!);
    done.add(n);
  }
  const rest = entities
    .filter((e) => !done.has(e.name))
    .map((e) => e.name)
    .sort();
  while (rest.length) {
    const i = rest.findIndex((n) => [...deps.get(n)!].every((d) => done.has(d)));
    if (i < 0)
      throw new TandemError(
        'FK_CYCLE',
        `the target tables of entities ${rest.join(', ')} reference each other in a cycle; list the fill order in the config's "order"`,
      );
    const [n] = rest.splice(i, 1);
    out.push(byName.get(n!)!);
    done.add(n!);
  }
  return out;
}

/**
 * Resolves all entities of a config (or the ones named in `only`) against both schemas, checks that each
 * entity key is unique in the source, and returns them in fill order. Writes nothing. Throws
 * TANDEM_ERR_CONFIG_INVALID when an entity's target table is a source table and both are one store
 * (src/config/overlap.ts).
 */
export async function resolveConfig(
  config: TandemConfig,
  source: Store,
  target: Store,
  only?: string[],
): Promise<ResolvedEntity[]> {
  await assertConfigDistinctTables(config, source, target);
  const [s, t] = await Promise.all([source.introspect(), target.introspect()]);
  const names = Object.keys(config.entities);
  for (const n of only ?? [])
    if (!names.includes(n))
      throw new TandemError('CONFIG_INVALID', `unknown entity "${n}" (the config has ${names.join(', ')})`);
  // an engine that does not enforce declared column types (SQLite): its values are always checked
  const resolved = names
    .filter((n) => !only?.length || only.includes(n))
    .map((n) => resolveEntity(n, config.entities[n]!, s, t, source.capabilities.enforcesTypes));
  for (const e of resolved) await checkKeyUnique(source, e);
  return orderEntities(
    resolved,
    config.order?.filter((n) => resolved.some((e) => e.name === n)),
  );
}

/**
 * The entity key must identify one row: a primary key or a unique index whose columns are all NOT NULL proves
 * it from the schema; otherwise one `GROUP BY … HAVING count(*) > 1` query checks the data.
 * Throws TANDEM_ERR_KEY_NOT_UNIQUE.
 */
export async function checkKeyUnique(source: Store, e: ResolvedEntity): Promise<void> {
  const same = (u: string[]) => u.length === e.key.length && u.every((c) => e.key.includes(c));
  const nullable = e.keyColumns.some((c) => c.nullable);
  if (same(e.source.primaryKey) || (!nullable && e.source.uniqueKeys.some(same))) return;
  const cols = e.key.map((k) => source.sql.ident(k)).join(', ');
  const dup = await source.query(
    `SELECT ${cols}, count(*) AS n FROM ${source.sql.table(e.source.name)} GROUP BY ${cols} HAVING count(*) > 1 LIMIT 1`,
  );
  const nulls = nullable
    ? await source.query(
        `SELECT 1 AS x FROM ${source.sql.table(e.source.name)} WHERE ${e.key.map((k) => `${source.sql.ident(k)} IS NULL`).join(' OR ')} LIMIT 1`,
      )
    : [];
  if (dup.length || nulls.length)
    throw new TandemError(
      'KEY_NOT_UNIQUE',
      `entity ${e.name}: key (${e.key.join(', ')}) of source table "${e.source.name}" is not unique${nulls.length ? ' (it holds NULLs)' : ` (${dup[0]!.n} rows share one value)`}; name a unique key`,
      { table: e.source.name },
    );
}
