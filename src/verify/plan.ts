import type { ColumnSpec } from '../config/schema.js';
import type { ResolvedEntity, ResolvedTarget } from '../core/mapping.js';
import type { ColumnInfo, HashColumn, Store, TypeCategory } from '../stores/types.js';
import { canonText, hashForm } from '../core/encoding.js';

/** How one side of one target table is checksummed: inside the engine (`sql`) or by streaming rows to JS. */
export type SideMode = 'sql' | 'stream';

/** One target table of an entity, planned for checksums. */
export interface TargetPlan {
  target: ResolvedTarget;
  /** The target table's key columns (entity key order) with their metadata. */
  keyInfo: ColumnInfo[];
  /** The hashed values as read from the target table: its mapped columns, in `target.columns` order. */
  targetHash: HashColumn[];
  /**
   * The same values computed from the source row by the mapping; null when a transform makes that impossible in SQL.
   */
  sourceHash: HashColumn[] | null;
  /** Whether the target side runs in the engine. */
  targetMode: SideMode;
  /**
   * Per-column fallback: indexes (into `target.columns`) of the columns a pushed-down side cannot encode in SQL
   * (a float, a json, a cast the engine does not match exactly). Both sides leave them out of the SQL row hash
   * and hash them in JS instead, over the key and these columns only, streamed by keyset; the two hashes of a
   * row are added. Empty when every column is pushed down, or when the whole side streams.
   */
  streamed: number[];
}

/** An entity planned for checksums. */
export interface EntityPlan {
  entity: ResolvedEntity;
  keyCategories: TypeCategory[];
  targets: TargetPlan[];
  /** The source side computes the hashes of every target table in one pass: in SQL when all of them can be. */
  sourceMode: SideMode;
  /** Why a side streams (one line each), for the report. */
  notes: string[];
}

/** The hashed columns of a pushed-down side's SQL: all of them but the per-column fallback's. */
export function pushedHash<T>(hash: T[], tp: Pick<TargetPlan, 'streamed'>): T[] {
  return tp.streamed.length ? hash.filter((_, i) => !tp.streamed.includes(i)) : hash;
}

/**
 * Plans the checksums of an entity: for every target table, the hashed columns on the target side (its mapped
 * columns, by their own types) and on the source side (each target column's mapping: a renamed source column, a
 * `{ from, cast }`, or a constant, encoded by the target column's type). A side is pushed down when its store's
 * dialect supports every value (`ChecksumSql.supports`). A column that one side cannot encode (a float, a json,
 * a cast the engine does not reproduce exactly) falls back alone: both sides hash it in JS over the key and that
 * column, streamed by keyset, and push the other columns down (`streamed`); only when it is a key column, or
 * when no column would be left in SQL, does the whole side stream rows and hash them in JS with the same
 * encoding. Column transforms and row transforms (TypeScript) cannot run in SQL: the source side of such an
 * entity streams, the target side is still pushed down. Pure; throws nothing.
 */
export function planEntity(e: ResolvedEntity, source: Store, target: Store): EntityPlan {
  const notes: string[] = [];
  const srcSql = source.sql.checksum;
  const tgtSql = target.sql.checksum;
  const targets: TargetPlan[] = e.targets.map((t) => {
    const keyInfo = t.keyColumns.map((k) => t.table.columns.find((c) => c.name === k)!);
    const targetHash: HashColumn[] = t.columns.map((c) => ({ column: c, as: c }));
    let sourceHash: HashColumn[] | null = null;
    if (t.config.transform) notes.push(`${t.table.name}: a row transform (TypeScript) maps it; source side streamed`);
    else {
      const specs = Object.values(t.config.columns) as ColumnSpec[];
      const hs: (HashColumn | null)[] = t.columns.map((c, i) => sourceHashColumn(e, specs[i]!, c));
      const transforms = t.columns.filter((_, i) => hs[i] === null).map((c) => c.name);
      if (transforms.length)
        notes.push(
          `${t.table.name}: ${transforms.join(', ')} ${transforms.length > 1 ? 'are' : 'is'} a TypeScript transform; source side streamed`,
        );
      else sourceHash = hs as HashColumn[];
    }
    // the columns a pushed-down side cannot encode exactly
    const badTarget = tgtSql ? t.columns.flatMap((_, i) => (tgtSql.supports(targetHash[i]!) ? [] : [i])) : [];
    const badSource =
      srcSql && sourceHash ? t.columns.flatMap((_, i) => (srcSql.supports(sourceHash![i]!) ? [] : [i])) : [];
    const bad = [...new Set([...badTarget, ...badSource])].sort((a, b) => a - b);
    // per-column fallback, unless a key column is among them or nothing would be left in SQL
    const keyIdx = t.columns.flatMap((c, i) => (t.keyColumns.includes(c.name) ? [i] : []));
    const split = bad.length > 0 && bad.length < t.columns.length && !bad.some((i) => keyIdx.includes(i));
    let targetMode: SideMode = 'sql';
    if (!tgtSql) {
      targetMode = 'stream';
      notes.push(`${t.table.name}: the target store has no checksum SQL; target side streamed`);
    } else if (badTarget.length && !split) {
      targetMode = 'stream';
      const names = badTarget.map((i) => `${t.columns[i]!.name} (${t.columns[i]!.dataType})`);
      notes.push(`${t.table.name}: target side streamed (${target.dialect} cannot encode ${names.join(', ')} in SQL)`);
    }
    if (split) {
      const why = [
        ...(badTarget.length
          ? [
              `${target.dialect} cannot encode ${badTarget.map((i) => `${t.columns[i]!.name} (${t.columns[i]!.dataType})`).join(', ')}`,
            ]
          : []),
        ...(badSource.length
          ? [`${source.dialect} cannot encode ${badSource.map((i) => describe(sourceHash![i]!)).join(', ')}`]
          : []),
      ];
      notes.push(
        `${t.table.name}: ${bad.map((i) => t.columns[i]!.name).join(', ')} compared by streaming (${why.join('; ')} in SQL); the other columns pushed down`,
      );
    }
    return { target: t, keyInfo, targetHash, sourceHash, targetMode, streamed: split ? bad : [] };
  });
  let sourceMode: SideMode = srcSql ? 'sql' : 'stream';
  if (!srcSql) notes.push('the source store has no checksum SQL; source side streamed');
  for (const tp of targets) {
    if (!tp.sourceHash) sourceMode = 'stream';
    else if (srcSql) {
      const bad = pushedHash(tp.sourceHash, tp).filter((h) => !srcSql.supports(h));
      if (bad.length) {
        sourceMode = 'stream';
        notes.push(
          `${tp.target.table.name}: source side streamed (${source.dialect} cannot encode ${bad.map(describe).join(', ')} in SQL)`,
        );
      }
    }
  }
  return { entity: e, keyCategories: e.keyColumns.map((c) => c.category), targets, sourceMode, notes };
}

/** A source hash column as the notes name it: `g as binary cast ewkb`. */
function describe(h: HashColumn): string {
  return `${h.column?.name ?? '(constant)'} as ${h.as.category}${h.cast ? ` cast ${h.cast}` : ''}`;
}

/** The source-side hash column of one target column's spec; null for a TypeScript transform. */
function sourceHashColumn(e: ResolvedEntity, spec: ColumnSpec, target: ColumnInfo): HashColumn | null {
  const col = (name: string) => e.source.columns.find((c) => c.name === name)!;
  if (typeof spec === 'string') return { column: col(spec), as: target };
  if ('from' in spec)
    return {
      column: col(spec.from),
      as: target,
      ...(spec.cast ? { cast: spec.cast } : {}),
      ...(spec.separator !== undefined ? { separator: spec.separator } : {}),
    };
  if ('value' in spec) {
    const text = canonText(spec.value, target);
    return { column: null, constant: text === null ? null : hashForm(text, target.category), as: target };
  }
  return null;
}
