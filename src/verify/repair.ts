import { applyDeletes, applyRows, readSourceRows } from '../apply/apply.js';
import { keyString, type ResolvedEntity } from '../core/mapping.js';
import type { Store } from '../stores/types.js';
import { compareKeysNow, type KeyToCheck } from './rows.js';
import type { KeyDifference } from './verify.js';

/** What {@link repairKeys} did for one batch of keys. */
export interface RepairResult {
  /** Keys whose primary row was written to the secondary. */
  applied: number;
  /** Keys absent from the primary, deleted from the secondary (with a tombstone). */
  deleted: number;
}

/** Keys per repair transaction. */
export const REPAIR_BATCH = 200;

/**
 * Re-applies keys of one entity from the primary through the guarded apply, in one transaction on the
 * secondary per call:
 *
 * 1. the version-ledger entries of the keys are rewound (`version = -1`, `deleted = false`) — this takes their
 *    row locks, so relays and other appliers of these keys wait until the repair commits;
 * 2. the primary rows are read *after* the locks are held (the same `readSourceRows` as `applyChanges`), so a
 *    change applied concurrently is never overwritten by an older read;
 * 3. the rows that exist go through `applyRows` (map, fit checks, ledger advance, upsert, unique-conflict
 *    resolution against the primary) and the keys that no longer exist through `applyDeletes` (tombstone,
 *    delete children first) — the same two steps, in the same order, as `applyChanges`.
 *
 * Why not `applyChanges` itself: it opens its own transaction and applies only versions newer than the
 * ledger's, and a repaired key is exactly one whose secondary row went wrong behind the ledger's back (same
 * version, edited or deleted by hand, or a key reused after a delete whose tombstone blocks it). The rewind makes
 * the primary's current version win once, under the same locks, without ever lowering a committed version: the
 * ledger ends at the primary's version, which is at least what it held (primary versions only grow).
 */
export async function repairKeys(
  source: Store,
  target: Store,
  e: ResolvedEntity,
  keys: KeyToCheck[],
): Promise<RepairResult> {
  if (!keys.length) return { applied: 0, deleted: 0 };
  const ledger = target.controlTable('version_ledger');
  const p = (i: number) => target.sql.param(i);
  return target.transaction(async (tx) => {
    const params: unknown[] = [false];
    const ph = (v: unknown) => (params.push(v), p(params.length));
    const entityPh = ph(e.name);
    const keyPh = keys.map((k) => ph(k.key)).join(', ');
    await tx.execute(
      `UPDATE ${ledger} SET version = -1, deleted = ${p(1)} WHERE entity = ${entityPh} AND entity_key IN (${keyPh})`,
      params,
    );
    const rows = await readSourceRows(
      source,
      e,
      keys.map((k) => k.keyValues),
    );
    const present = new Set(
      rows.map((r) =>
        keyString(
          e.key.map((k) => r[k]),
          e.keyColumns,
        ),
      ),
    );
    const gone = keys.filter((k) => !present.has(k.key)).map((k) => ({ key: k.key, keyValues: k.keyValues }));
    const r = await applyRows(target, tx, e, rows, { source });
    const deleted = await applyDeletes(target, tx, e, gone);
    return { applied: r.applied, deleted };
  });
}

/** One key of a dry run: what repair would do to the secondary. */
export interface PlannedRepair {
  key: string;
  action: 'insert' | 'update' | 'delete' | 'none';
  /** For updates: the differing columns (sensitive values redacted), source = the value repair would write. */
  difference: KeyDifference | null;
}

/**
 * What {@link repairKeys} would change, without writing: each key compared now (source = the primary's mapped
 * row, target = the secondary's). `none` when the key already matches.
 */
export async function planRepair(
  source: Store,
  target: Store,
  e: ResolvedEntity,
  keys: KeyToCheck[],
): Promise<PlannedRepair[]> {
  const res = await compareKeysNow(source, target, e, keys);
  return keys.map((k) => {
    const d = res.get(k.key) ?? null;
    const action = !d ? 'none' : d.kind === 'missing' ? 'insert' : d.kind === 'extra' ? 'delete' : 'update';
    return { key: k.key, action, difference: d };
  });
}
