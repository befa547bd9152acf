import { TandemError } from '../core/errors.js';
import { specSource, type ResolvedTarget } from '../core/mapping.js';
import type { TableInfo } from '../stores/types.js';

/** Levenshtein distance of two short names (for "did you mean" hints). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** The closest of `names` to `name` (case-insensitive edit distance ≤ 1/3 of its length, at least 2), or null. */
export function closestName(name: string, names: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const n of names) {
    const dd = distance(name.toLowerCase(), n.toLowerCase());
    if (dd < bestD) {
      best = n;
      bestD = dd;
    }
  }
  return best;
}

/**
 * Resolves an entity's `sensitive` list against the real columns. Each name must be a source column, a target
 * column of one of the entity's target tables, or `table.column` of a target table; anything else is
 * `TANDEM_ERR_CONFIG_INVALID` with the nearest real name as a suggestion (a typo must not silently print the
 * hashes it was meant to hide). A sensitive source column makes every target column copied from it sensitive
 * too (verify redacts by target column). Returns the set of names verify and errors redact: the names given,
 * plus `table.column` of each target column fed by a sensitive source column.
 */
export function resolveSensitive(
  entity: string,
  names: readonly string[] | undefined,
  source: TableInfo,
  targets: ResolvedTarget[],
): Set<string> {
  const out = new Set<string>();
  if (!names?.length) return out;
  const sourceCols = new Set(source.columns.map((c) => c.name));
  const targetCols = new Set<string>();
  for (const t of targets)
    for (const c of t.table.columns) {
      targetCols.add(c.name);
      targetCols.add(`${t.table.name}.${c.name}`);
    }
  for (const n of names) {
    if (!sourceCols.has(n) && !targetCols.has(n)) {
      const hint = closestName(n, [...sourceCols, ...targetCols]);
      throw new TandemError(
        'CONFIG_INVALID',
        `entity ${entity}: sensitive column "${n}" is neither a column of source table "${source.name}" nor of its target tables${hint ? ` (did you mean "${hint}"?)` : ''}`,
        { entity, column: n },
      );
    }
    out.add(n);
    if (!sourceCols.has(n)) continue;
    for (const t of targets) {
      Object.entries(t.config.columns).forEach(([col, spec]) => {
        if (specSource(spec) === n) out.add(`${t.table.name}.${col}`);
      });
    }
  }
  return out;
}
