/**
 * Resolves an entity's `identity` block (src/config/schema.ts) against the resolved entity: which source columns
 * hold the identifier and the legacy hash, which target table and columns receive them, and how each side's
 * identifier column is searched.
 */
import type { ColumnSpec, IdentityConfig } from '../config/schema.js';
import { TandemError } from '../core/errors.js';
import type { ResolvedEntity, ResolvedTarget } from '../core/mapping.js';
import type { Store } from '../stores/types.js';
import { detectLookupMode, type LookupMode } from './normalize.js';
import type { VerifyOptions } from './types.js';

/** An entity's identity settings, resolved. */
export interface ResolvedIdentity {
  entity: ResolvedEntity;
  config: IdentityConfig;
  source: {
    table: string;
    /** Source identifier column. */
    identifier: string;
    /** Source legacy-hash column. */
    password: string;
    /** Columns read for a login: everything the mapping needs plus the two above (key first). */
    columns: string[];
    mode: LookupMode;
  };
  target: {
    /** The target table holding identifier and password. */
    table: ResolvedTarget;
    identifier: string;
    password: string;
    /** Target columns of the entity key, in entity key order. */
    keyColumns: string[];
    /** Whether the mapping copies the source password column to the target one unchanged. */
    passwordByRename: boolean;
    mode: LookupMode;
  };
  /** Registry options of the source's hashes (raw-hex layout, Firebase parameters, WordPress trimming). */
  verifyOptions: VerifyOptions;
}

function copiesFrom(spec: ColumnSpec, column: string, allowCast: boolean): boolean {
  if (typeof spec === 'string') return spec === column;
  return 'from' in spec && spec.from === column && (allowCast || !spec.cast);
}

/** Finds the target table and column of `name` (`col` or `table.col`), or the one the mapping copies `from` to. */
function targetColumn(
  entity: ResolvedEntity,
  name: string | undefined,
  from: string,
  role: string,
  allowCast: boolean,
): { t: ResolvedTarget; column: string } {
  if (name) {
    const dot = name.indexOf('.');
    const [tableName, col] = dot === -1 ? [undefined, name] : [name.slice(0, dot), name.slice(dot + 1)];
    const candidates = entity.targets.filter(
      (t) => (tableName === undefined || t.table.name === tableName) && t.table.columns.some((c) => c.name === col),
    );
    if (candidates.length !== 1) {
      throw new TandemError(
        'CONFIG_INVALID',
        `entity ${entity.name}: identity.${role} "${name}" must name one column of one target table of the entity${candidates.length > 1 ? ' (several tables have it: write table.column)' : ''}`,
        { entity: entity.name },
      );
    }
    return { t: candidates[0]!, column: col };
  }
  for (const t of entity.targets) {
    const hit = Object.entries(t.config.columns).find(([, spec]) => copiesFrom(spec, from, allowCast));
    if (hit) return { t, column: hit[0] };
  }
  throw new TandemError(
    'CONFIG_INVALID',
    `entity ${entity.name}: no target column receives source column "${from}"; map it, or name it with identity.${role}`,
    { entity: entity.name },
  );
}

/**
 * Resolves the identity settings of an entity.
 * @param entity the resolved entity (its config must have an `identity` block, or pass `config`)
 * @param source the legacy store (for `auto` lookup detection), or null when the legacy store is gone
 * @param target the new store
 * @param config overrides the entity's own `identity` block
 * @throws TANDEM_ERR_CONFIG_INVALID when the entity has no identity block or its columns do not resolve;
 *   TANDEM_ERR_COLUMN_NOT_FOUND for a missing source column
 */
export async function resolveIdentity(
  entity: ResolvedEntity,
  source: Store | null,
  target: Store,
  config?: IdentityConfig,
): Promise<ResolvedIdentity> {
  const cfg = config ?? entity.config.identity;
  if (!cfg)
    throw new TandemError(
      'CONFIG_INVALID',
      `entity ${entity.name} has no identity block (identity: { identifier, password })`,
      { entity: entity.name },
    );
  for (const [role, col] of [
    ['identifier', cfg.identifier],
    ['password', cfg.password],
  ] as const) {
    if (!entity.source.columns.some((c) => c.name === col)) {
      throw new TandemError(
        'COLUMN_NOT_FOUND',
        `entity ${entity.name}: identity.${role} column "${col}" does not exist in source table "${entity.source.name}"`,
        { table: entity.source.name, column: col },
      );
    }
  }
  const id = targetColumn(entity, cfg.targetIdentifier, cfg.identifier, 'targetIdentifier', true);
  const pw = targetColumn(entity, cfg.targetPassword, cfg.password, 'targetPassword', false);
  if (id.t !== pw.t) {
    throw new TandemError(
      'CONFIG_INVALID',
      `entity ${entity.name}: the target identifier (${id.t.table.name}.${id.column}) and password (${pw.t.table.name}.${pw.column}) must be in the same table`,
      { entity: entity.name },
    );
  }
  const columns = [...entity.readColumns];
  for (const c of [cfg.identifier, cfg.password]) if (!columns.includes(c)) columns.push(c);
  const sourceMode =
    (cfg.lookup?.source ?? 'auto') === 'auto'
      ? source
        ? await detectLookupMode(source, entity.source.name, cfg.identifier)
        : 'lower'
      : (cfg.lookup!.source as LookupMode);
  const targetMode =
    (cfg.lookup?.target ?? 'auto') === 'auto'
      ? await detectLookupMode(target, id.t.table.name, id.column)
      : (cfg.lookup!.target as LookupMode);
  const verifyOptions: VerifyOptions = {};
  if (cfg.rawHex) verifyOptions.rawHex = cfg.rawHex;
  if (cfg.firebase) verifyOptions.firebase = cfg.firebase;
  if (cfg.wordpressTrim !== undefined) verifyOptions.wordpressTrim = cfg.wordpressTrim;
  return {
    entity,
    config: cfg,
    source: {
      table: entity.source.name,
      identifier: cfg.identifier,
      password: cfg.password,
      columns,
      mode: sourceMode,
    },
    target: {
      table: id.t,
      identifier: id.column,
      password: pw.column,
      keyColumns: id.t.keyColumns,
      passwordByRename:
        id.t.config.columns[pw.column] !== undefined &&
        copiesFrom(id.t.config.columns[pw.column]!, cfg.password, false),
      mode: targetMode,
    },
    verifyOptions,
  };
}
