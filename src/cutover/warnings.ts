/**
 * Warnings about the tables Tandem writes to (issue 13, items 6 and 8; docs/mapping.md, docs/cutover.md):
 *
 * - **user triggers** on target tables: they fire on the rows Tandem writes (backfill, relay, repair) and may
 *   rewrite them (`last_update = now()`), which verify then reports as differences. Tandem's own triggers (names
 *   starting `tandem_`) are left out.
 * - **sequences behind the copied keys**: a sequence, identity or AUTO_INCREMENT counter of the side written to
 *   whose next value is not past the largest copied key, so the application's next insert without a key would
 *   collide with a copied row. Found by a dry run of `Store.advanceSequences`; fixed by
 *   `tandem backfill --sync-sequences` (or at cutover, which advances them behind its fence).
 *
 * Both only read. Warnings never change an exit code.
 */
import { primaryRole, type Phase } from '../control/phase.js';
import type { Migration } from '../runtime/migration.js';
import type { Store } from '../stores/types.js';
import { advanceSequences } from './sequences.js';
import { type Side, sideStore, sideTables } from './sides.js';

/** One target table with user triggers. */
export interface TriggerWarning {
  side: Side;
  table: string;
  /** The entities that write the table. */
  entities: string[];
  /** The user triggers' names (Tandem's own, `tandem_*`, left out). */
  triggers: string[];
}

/** One counter behind the copied keys. Values are decimal strings. */
export interface SequenceWarning {
  side: Side;
  table: string;
  column: string;
  /** `sequence`, `identity`, `auto_increment`, `autoincrement` (src/stores/types.ts `SequenceAdvance`). */
  kind: string;
  /** The sequence's name (the table's for AUTO_INCREMENT), or null. */
  sequence: string | null;
  /** The next value the counter hands out now. */
  next: string;
  /** The largest key the column holds. */
  max: string;
}

/** The store written to in `phase`: the secondary (`new` before write cutover, `legacy` after). */
export function writtenSide(phase: Phase): Side {
  return primaryRole(phase) === 'legacy' ? 'new' : 'legacy';
}

/** A trigger name Tandem owns (read-only, capture and version triggers). */
export const isTandemTrigger = (name: string): boolean => name.toLowerCase().startsWith('tandem_');

/**
 * The user triggers on the tables the migration's entities write on `side` (default `new`, the target), one
 * entry per table that has any. Reads `Store.tableStats`; a store adapter without it reports none. Throws what
 * the store throws.
 */
export async function targetTriggers(m: Migration, side: Side = 'new'): Promise<TriggerWarning[]> {
  const store: Store = sideStore(m, side);
  if (!store.tableStats || !m.entities.length) return [];
  const owners = new Map<string, string[]>();
  for (const e of m.entities)
    for (const t of side === 'new' ? e.targets.map((x) => x.table.name) : [e.source.name]) {
      const list = owners.get(t) ?? [];
      if (!list.includes(e.name)) list.push(e.name);
      owners.set(t, list);
    }
  const stats = await store.tableStats([...owners.keys()]);
  const out: TriggerWarning[] = [];
  for (const s of stats) {
    const triggers = s.triggers.filter((n) => !isTandemTrigger(n));
    if (triggers.length) out.push({ side, table: s.table, entities: owners.get(s.table) ?? [], triggers });
  }
  return out;
}

/**
 * One warning line per table of {@link targetTriggers}, naming its user triggers and the trade-off. `setting`
 * is the config's `apply.userTriggers`: with `replica` the lines say the triggers are off for Tandem's writes.
 */
export function triggerWarningLines(list: TriggerWarning[], setting: 'fire' | 'replica' = 'fire'): string[] {
  return list.map((w) =>
    setting === 'replica' && w.side === 'new'
      ? `warning: ${w.side} table ${w.table} has user trigger(s) ${w.triggers.join(', ')}: off for Tandem's writes (apply.userTriggers: 'replica' — foreign keys are not checked either), they still fire for the application's writes`
      : `warning: ${w.side} table ${w.table} has user trigger(s) ${w.triggers.join(', ')}: they fire on every row Tandem writes (backfill, relay, repair); unchanged rows are not rewritten, but a trigger that changes a mapped column makes verify report differences — set apply: { userTriggers: 'replica' } (PostgreSQL, superuser) or disable the triggers (docs/mapping.md "Target triggers")`,
  );
}

/**
 * The counters of the side written to in `phase` ({@link writtenSide}) that are behind the copied keys: a dry
 * run of `Store.advanceSequences` over the entities' tables there; an entry is behind when its next value is
 * not greater than the column's largest value. A store adapter without `advanceSequences` reports none. Throws
 * what the store throws.
 */
export async function sequenceWarnings(m: Migration, phase: Phase): Promise<SequenceWarning[]> {
  const side = writtenSide(phase);
  if (!m.entities.length || !sideStore(m, side).advanceSequences) return [];
  if (!sideTables(m, side).length) return [];
  const r = await advanceSequences(m, side, { dryRun: true });
  const out: SequenceWarning[] = [];
  for (const e of r.entries) {
    if (e.kind === 'none' || e.kind === 'rowid' || !e.column || e.from === null || e.max === null) continue;
    if (BigInt(e.from) > BigInt(e.max)) continue;
    out.push({ side, table: e.table, column: e.column, kind: e.kind, sequence: e.sequence, next: e.from, max: e.max });
  }
  return out;
}

/** One warning line per counter of {@link sequenceWarnings}, with the fix. */
export function sequenceWarningLines(list: SequenceWarning[]): string[] {
  return list.map(
    (w) =>
      `warning: ${w.kind} ${w.sequence ?? '-'} of ${w.side}.${w.table}.${w.column} is behind the copied keys: next value ${w.next}, max key ${w.max} (the application's next insert without a key collides); fix: tandem backfill --sync-sequences`,
  );
}

/**
 * The lines the backfill pre-flight prints before copying (`tandem backfill`, `tandem run`): one per new-store
 * table with user triggers, as {@link triggerWarningLines} under the config's `apply.userTriggers`. Reads only.
 */
export async function preflightTriggerLines(m: Migration): Promise<string[]> {
  return triggerWarningLines(await targetTriggers(m, 'new'), m.config.apply.userTriggers);
}
