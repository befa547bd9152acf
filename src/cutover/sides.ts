import { TandemError } from '../core/errors.js';
import type { Migration } from '../runtime/migration.js';
import type { Store } from '../stores/types.js';

/** One side of a migration, by role in it (not by phase): the legacy (source) store or the new (target) one. */
export type Side = 'new' | 'legacy';

/** The sides, for option parsing. */
export const SIDES: readonly Side[] = ['new', 'legacy'];

/**
 * The tables of the migration's entities on `side`, each once, in fill order: the source table of every entity
 * on `legacy`, every target table on `new`. Needs a migration opened with its entities; throws
 * `TANDEM_ERR_USAGE` when it has none.
 */
export function sideTables(m: Migration, side: Side): string[] {
  if (!m.entities.length)
    throw new TandemError('USAGE', 'the migration was opened without its entities: no table to work on');
  const names =
    side === 'legacy'
      ? m.entities.map((e) => e.source.name)
      : m.entities.flatMap((e) => e.targets.map((t) => t.table.name));
  return [...new Set(names)];
}

/** The store of `side` (legacy: guarded, src/control/legacy-guard.ts). */
export function sideStore(m: Migration, side: Side): Store {
  return side === 'legacy' ? m.stores.legacy : m.stores.new;
}

/** The error for a store (a user's own adapter) that lacks a capability the command needs. */
export function unsupported(store: Store, what: string): TandemError {
  return new TandemError('STORE_UNSUPPORTED', `${store.url} cannot ${what}: its store adapter does not implement it`, {
    store: store.url,
  });
}
