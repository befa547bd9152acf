import type { Migration } from '../runtime/migration.js';
import type { AdvanceSequencesOptions, SequenceAdvance } from '../stores/types.js';
import { type Side, sideStore, sideTables, unsupported } from './sides.js';

/** What {@link advanceSequences} did on one side. */
export interface SequencesReport {
  side: Side;
  /** The store's URL, password redacted. */
  store: string;
  dryRun: boolean;
  margin: string;
  /** One entry per numbered column, one `kind: 'none'` entry per table without one (src/stores/types.ts). */
  entries: SequenceAdvance[];
  /** Entries whose counter moved (or would move, in a dry run). */
  advanced: number;
}

/**
 * Advances every sequence, identity and AUTO_INCREMENT counter of the tables of the migration's entities on
 * `side` past the keys the tables hold (`Store.advanceSequences`, one implementation per dialect in
 * src/stores/<dialect>/sequences.ts): `new` at write cutover, so the application's first insert without an
 * explicit key on the new primary does not collide with a copied row; `legacy` at rollback, past the keys the
 * reverse relay copied back. Never lowers a counter. Run it while the tables take no inserts (behind the fence).
 *
 * Throws `TANDEM_ERR_LEGACY_WRITE_REFUSED` for `legacy` (not a dry run) before write cutover (the legacy-write
 * guard), `TANDEM_ERR_STORE_UNSUPPORTED` for a store adapter without the capability, `TANDEM_ERR_TABLE_NOT_FOUND`,
 * `TANDEM_ERR_STORE_QUERY`.
 */
export async function advanceSequences(
  m: Migration,
  side: Side,
  o: AdvanceSequencesOptions = {},
): Promise<SequencesReport> {
  const store = sideStore(m, side);
  if (!store.advanceSequences) throw unsupported(store, 'advance sequences');
  const entries = await store.advanceSequences(sideTables(m, side), o);
  const advanced = entries.filter((e) => e.to !== null && e.from !== e.to).length;
  return { side, store: store.url, dryRun: !!o.dryRun, margin: String(o.margin ?? 0), entries, advanced };
}
