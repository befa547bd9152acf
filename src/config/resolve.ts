import { joinDelimited } from '../core/composite.js';
import { TandemError } from '../core/errors.js';
import { type Problem, problemsError } from '../core/problems.js';
import { compileWhere } from '../core/where.js';
import {
  compileColumn,
  unpad,
  specSource,
  staticFit,
  type FitCheck,
  type ResolvedEntity,
  type ResolvedTarget,
} from '../core/mapping.js';
import type { ColumnInfo, Row, SchemaInfo, SourcePredicate, Store, TableInfo } from '../stores/types.js';
import { assertConfigDistinctTables } from './overlap.js';
import { dataProblems } from '../backfill/preflight.js';
import { resolveSensitive } from './sensitive.js';
import type { EntityConfig, TandemConfig, TargetConfig } from './schema.js';

/** Suggests a near name for "did you mean" hints: same name ignoring case and `_`. */
function nearName(name: string, names: Iterable<string>): string | null {
  const norm = (s: string) => s.toLowerCase().replace(/_/g, '');
  for (const n of names) if (norm(n) === norm(name)) return n;
  return null;
}

/** A name for a fix: {@link nearName}, else the one name at most two edits away (names of 4+ characters). */
function fixName(name: string, names: Iterable<string>): string | null {
  const list = [...names];
  const same = nearName(name, list);
  if (same !== null || name.length < 4) return same;
  const close = list.filter((n) => editDistance(n.toLowerCase(), name.toLowerCase()) <= 2);
  return close.length === 1 ? close[0]! : null;
}

/** Levenshtein distance of two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function near(name: string, names: Iterable<string>): string {
  const n = nearName(name, names);
  return n === null ? '' : ` (did you mean "${n}"?)`;
}

function table(
  schema: SchemaInfo,
  name: string,
  side: 'source' | 'target',
  entity: string,
  problems: Problem[],
): TableInfo | null {
  const t = schema.tables.get(name);
  if (!t) {
    const n = fixName(name, schema.tables.keys());
    problems.push({
      entity,
      table: name,
      column: '',
      problem: `${side} table does not exist`,
      fix: n ? `table: ${JSON.stringify(n)}` : `name an existing ${side} table`,
      code: 'TABLE_NOT_FOUND',
      message: `entity ${entity}: ${side} table "${name}" does not exist${near(name, schema.tables.keys())}`,
      detail: { table: name, side },
    });
    return null;
  }
  return t;
}

function column(t: TableInfo, name: string, entity: string, role: string, problems: Problem[]) {
  const c = t.columns.find((x) => x.name === name);
  if (!c) {
    const names = t.columns.map((x) => x.name);
    const n = fixName(name, names);
    problems.push({
      entity,
      table: t.name,
      column: name,
      problem: `${role} column does not exist in the source table`,
      fix: n ? `${JSON.stringify(n)} instead of ${JSON.stringify(name)}` : 'name an existing source column',
      code: 'COLUMN_NOT_FOUND',
      message: `entity ${entity}: ${role} column "${name}" does not exist in source table "${t.name}"${near(name, names)}`,
      detail: { table: t.name, column: name },
    });
    return null;
  }
  return c;
}

/**
 * Resolves one entity against the source and target schemas: every table and column named must exist, the key
 * must be mapped to a primary or unique key of each target table, and the column specs compile to functions.
 * Throws TANDEM_ERR_TABLE_NOT_FOUND, _COLUMN_NOT_FOUND, _MAPPING_COLUMN_NOT_FOUND, _MAPPING_INVALID,
 * _TARGET_KEY_MISSING or _WHERE_INVALID naming the entity, table and column — or, when the entity has several
 * problems, TANDEM_ERR_PREFLIGHT_FAILED listing them all in `detail.problems` (src/core/problems.ts).
 */
export function resolveEntity(
  name: string,
  cfg: EntityConfig,
  sourceSchema: SchemaInfo,
  targetSchema: SchemaInfo,
  sourceEnforcesTypes = false,
): ResolvedEntity {
  const problems: Problem[] = [];
  const e = collectEntity(name, cfg, sourceSchema, targetSchema, sourceEnforcesTypes, problems);
  if (problems.length || !e) throw problemsError(problems);
  return e;
}

/**
 * {@link resolveEntity} that adds every problem it finds to `problems` instead of throwing at the first;
 * returns null when the entity could not be resolved.
 */
export function collectEntity(
  name: string,
  cfg: EntityConfig,
  sourceSchema: SchemaInfo,
  targetSchema: SchemaInfo,
  sourceEnforcesTypes: boolean,
  problems: Problem[],
): ResolvedEntity | null {
  // the problems of this entity are the ones added from here on
  const before = problems.length;
  const where = cfg.where === undefined ? null : compileWhereProblem(name, cfg, problems);
  const source = table(sourceSchema, cfg.table, 'source', name, problems);
  const key = Array.isArray(cfg.key) ? cfg.key : [cfg.key];
  const keyColumns = source ? key.map((k) => column(source, k, name, 'key', problems)) : [];
  const version = source && cfg.version ? column(source, cfg.version, name, 'version', problems) : null;
  if (version && !['integer', 'timestamp', 'timestamptz', 'decimal'].includes(version.category))
    problems.push({
      entity: name,
      table: cfg.table,
      column: version.name,
      problem: `version column is ${version.dataType}; it must be an integer or a timestamp`,
      fix: 'version: an integer or timestamp column (or no version: last writer wins)',
      code: 'MAPPING_INVALID',
      message: `entity ${name}: version column "${version.name}" is ${version.dataType}; it must be an integer or a timestamp`,
    });
  const read = new Set<string>(key);
  if (version) read.add(version.name);
  let declarative = true;
  const targets: (ResolvedTarget | null)[] = cfg.targets.map((tc) => {
    const t = table(targetSchema, tc.table, 'target', name, problems);
    const targetNames = Object.keys(tc.columns);
    const valueOf = Object.values(tc.columns).map((spec, i) => {
      const src = specSource(spec);
      if (src !== null) {
        if (source) column(source, src, name, 'mapped', problems);
        read.add(src);
      } else if (typeof spec === 'object' && 'transform' in spec) declarative = false;
      const f = compileColumn(spec);
      const from = src !== null ? source?.columns.find((c) => c.name === src) : undefined;
      const into = t?.columns.find((x) => x.name === targetNames[i]);
      // an array column into a MySQL/MariaDB SET: its elements joined with `,` (the SET's own form)
      if (from?.category === 'array' && into?.isSet) return (row: Row) => joinDelimited(f(row), ',');
      // a char(n) source: its pad is not data (docs/canonical-encoding.md)
      return from?.padded ? (row: Row) => unpad(f(row)) : f;
    });
    if (tc.transform) declarative = false;
    if (!t) return null;
    const columns = Object.keys(tc.columns).map((colName) => {
      const c = t.columns.find((x) => x.name === colName);
      if (!c) {
        const names = t.columns.map((x) => x.name);
        const n = fixName(colName, names);
        problems.push({
          entity: name,
          table: t.name,
          column: colName,
          problem: 'the mapping writes a column the target table does not have',
          fix: n ? `${JSON.stringify(n)} instead of ${JSON.stringify(colName)}` : `remove ${colName} from columns`,
          code: 'MAPPING_COLUMN_NOT_FOUND',
          message: `entity ${name}: the mapping writes column "${colName}" but target table "${t.name}" has no such column${near(colName, names)}`,
          detail: { table: t.name, column: colName },
        });
      }
      return c;
    });
    // the target columns that receive the entity key, by plain rename
    const keyTargets = key.map((k) => {
      const hit = Object.entries(tc.columns).find(([, spec]) =>
        typeof spec === 'string' ? spec === k : 'from' in spec && spec.from === k && !spec.cast,
      );
      if (!hit)
        problems.push({
          entity: name,
          table: t.name,
          column: k,
          problem: `the target table does not receive key column "${k}"`,
          fix: `columns: { ${JSON.stringify(k.toLowerCase())}: ${JSON.stringify(k)} }`,
          code: 'MAPPING_INVALID',
          message: `entity ${name}: target table "${t.name}" does not receive key column "${k}" (map it by name, e.g. { ${JSON.stringify(k.toLowerCase())}: ${JSON.stringify(k)} })`,
          detail: { table: t.name },
        });
      return hit?.[0];
    });
    if (keyTargets.some((k) => k === undefined) || columns.some((c) => !c)) return null;
    const keyCols = keyTargets as string[];
    const uniques = [t.primaryKey, ...t.uniqueKeys].filter((u) => u.length > 0);
    const match = uniques.find((u) => u.length === keyCols.length && u.every((c) => keyCols.includes(c)));
    if (!match) {
      problems.push({
        entity: name,
        table: t.name,
        column: keyCols.join(', '),
        problem: 'no primary key or unique index on the mapped key, so rows cannot be upserted by key',
        fix: keyFix(tc.columns, t, keyCols),
        code: 'TARGET_KEY_MISSING',
        message: `entity ${name}: target table "${t.name}" has no primary key or unique index on (${keyCols.join(', ')}), so rows cannot be upserted by key`,
        detail: { table: t.name },
      });
      return null;
    }
    const cols = columns as ColumnInfo[];
    // values copied by plain rename from a column whose declared type already fits need no run-time check
    const checks = Object.values(tc.columns).map((spec, i): FitCheck => {
      const src = typeof spec === 'string' ? spec : 'from' in spec && !spec.cast ? spec.from : null;
      const sc = src ? source?.columns.find((c) => c.name === src) : undefined;
      return sc ? staticFit(sc, cols[i]!, sourceEnforcesTypes) : 'full';
    });
    return {
      table: t,
      columns: cols,
      keyColumns: match.length === keyCols.length ? keyCols : match,
      valueOf,
      checks,
      config: tc,
    };
  });
  if (problems.length > before || !source) return null;
  const resolvedTargets = targets as ResolvedTarget[];
  // with all source columns known, read them in table order (key first)
  const readColumns = [...key, ...source.columns.map((c) => c.name).filter((c) => read.has(c) && !key.includes(c))];
  // a transform may read any column: read the whole row when one is present
  if (!declarative) for (const c of source.columns) if (!readColumns.includes(c.name)) readColumns.push(c.name);
  return {
    name,
    config: cfg,
    source,
    key,
    keyColumns: keyColumns as ColumnInfo[],
    version,
    readColumns,
    declarative,
    targets: orderTargets(resolvedTargets),
    sensitive: resolveSensitive(name, cfg.sensitive, source, resolvedTargets),
    where,
  };
}

/** The entity's `where` checked, or null with its problem added. */
function compileWhereProblem(name: string, cfg: EntityConfig, problems: Problem[]): SourcePredicate | null {
  try {
    return compileWhere(name, cfg.where!);
  } catch (e) {
    if (!(e instanceof TandemError)) throw e;
    problems.push({
      entity: name,
      table: cfg.table,
      column: '',
      problem: `where ${String((e.detail as { problem?: unknown }).problem ?? 'is invalid')}`,
      fix: "where: { sql: 'col <> ?', params: [value] } (one predicate, a ? per param)",
      code: 'WHERE_INVALID',
      message: e.message,
      detail: e.detail,
    });
    return null;
  }
}

/**
 * The fix for a target table without a unique key on the mapped key: when its primary key (or a unique key) is
 * made of columns the mapping copies by rename (a partitioned table's `(payment_date, payment_id)`), the entity
 * key those source columns make; otherwise a unique index to add.
 */
function keyFix(columns: TargetConfig['columns'], t: TableInfo, keyCols: string[]): string {
  for (const u of [t.primaryKey, ...t.uniqueKeys].filter((x) => x.length > 0)) {
    const src = u.map((c) => {
      const spec = columns[c];
      return typeof spec === 'string' ? spec : spec && 'from' in spec && !spec.cast ? spec.from : null;
    });
    if (src.every((x) => x !== null)) return `key: ${JSON.stringify(src)}`;
  }
  return `add a unique index on ${t.name} (${keyCols.join(', ')})`;
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
  const problems: Problem[] = [];
  const resolved = names
    .filter((n) => !only?.length || only.includes(n))
    .map((n) => collectEntity(n, config.entities[n]!, s, t, source.capabilities.enforcesTypes, problems))
    .filter((e): e is ResolvedEntity => e !== null);
  for (const e of resolved) {
    try {
      await checkKeyUnique(source, e);
    } catch (err) {
      if (!(err instanceof TandemError && err.code === 'TANDEM_ERR_KEY_NOT_UNIQUE')) throw err;
      problems.push({
        entity: e.name,
        table: e.source.name,
        column: e.key.join(', '),
        problem: 'the key is not unique in the source table',
        fix: 'key: a unique, NOT NULL column (or columns) of the source table',
        code: 'KEY_NOT_UNIQUE',
        message: err.message,
        detail: err.detail,
      });
    }
  }
  // with problems found, the sample of every entity that did resolve is checked too: one run lists them all
  if (problems.length) {
    problems.push(...(await dataProblems(source, resolved)));
    throw problemsError(problems);
  }
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
