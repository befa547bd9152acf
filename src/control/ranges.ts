import { TandemError } from '../core/errors.js';
import type { Executor, Store } from '../stores/types.js';
import { ChunkAlreadyCommitted, decodeKeyValues, encodeKeyValues } from './control.js';
import { fenceLease, type Lease } from './lease.js';

/**
 * The key ranges of parallel backfill workers (control schema v9, table `backfill_ranges`, in the target next to
 * the checkpoints they belong to; docs/backfill.md "Parallel workers").
 *
 * An entity's backfill is planned once, by the first worker that reaches it: a plan of one range is the entity's
 * checkpoint row alone (as before v9; checkpoints written by older versions are such plans and resume as they
 * were); a plan of `n ≥ 2` ranges is the checkpoint row (status and the sum of the ranges' counts, kept exact in
 * every chunk's transaction) plus one row per range here, written in the same transaction as the checkpoint row
 * (the first planner's commit wins; the others read its plan). Range `i` of `n` covers the source keys in
 * (`lower_key`, `upper_key`] in the order the keyset scan reads them; the first range's lower bound and the last
 * range's upper bound are open (null), so rows inserted above the planned keys while the backfill runs are
 * copied by the last range. Bounds and positions hold the source's raw key values as a checkpoint's `last_key`
 * does (`encodeKeyValues`: a JSON array, one value per key column).
 *
 * Every range has its own lease `backfill:<entity>/<i>` (src/control/lease.ts) and every move of its position is
 * fenced on that lease's token inside the chunk's transaction ({@link advanceRange}).
 */

/** Status of one range: `pending` (never started), `running` (started, not finished), `done`. */
export type RangeStatus = 'pending' | 'running' | 'done';

/** One range of an entity's plan as stored. */
export interface RangeRow {
  entity: string;
  /** 1-based. */
  range: number;
  /** Ranges in the plan. */
  of: number;
  /** The plan this row belongs to (a `--restart` makes a new plan). */
  planId: string;
  /** Exclusive lower bound, null: from the first key. */
  lowerKey: unknown[] | null;
  /** Inclusive upper bound, null: to the last key, however many are added meanwhile. */
  upperKey: unknown[] | null;
  /** The range's checkpoint: the last key copied, null before the first chunk. */
  lastKey: unknown[] | null;
  rowsCopied: number;
  rowsApplied: number;
  /** Rows planned for the range (a count at planning time), null when unknown. */
  rowsEstimate: number | null;
  status: RangeStatus;
  updatedAt: string | null;
}

/** The lease scope of range `range` of an entity planned in several ranges: `backfill:<entity>/<range>`. */
export function rangeScope(entity: string, range: number): string {
  return `backfill:${entity}/${range}`;
}

const COLS =
  'entity, range_no, ranges, plan_id, lower_key, upper_key, last_key, rows_copied, rows_applied, rows_estimate, status, updated_at';

const key = (v: unknown): unknown[] | null => (v === null || v === undefined ? null : decodeKeyValues(String(v)));

function toRow(r: Record<string, unknown>): RangeRow {
  return {
    entity: String(r.entity),
    range: Number(r.range_no),
    of: Number(r.ranges),
    planId: String(r.plan_id),
    lowerKey: key(r.lower_key),
    upperKey: key(r.upper_key),
    lastKey: key(r.last_key),
    rowsCopied: Number(r.rows_copied),
    rowsApplied: Number(r.rows_applied),
    rowsEstimate: r.rows_estimate === null || r.rows_estimate === undefined ? null : Number(r.rows_estimate),
    status: String(r.status) as RangeStatus,
    updatedAt: r.updated_at === null || r.updated_at === undefined ? null : String(r.updated_at),
  };
}

/**
 * The ranges of `entity` (every entity when null), in range order. Empty for an entity planned as one range or not
 * planned yet. Throws what the store throws (a store below schema v9 has no such table: callers check the version).
 */
export async function listRanges(db: Executor, store: Store, entity: string | null): Promise<RangeRow[]> {
  const t = store.controlTable('backfill_ranges');
  const rows = await db.query<Record<string, unknown>>(
    entity === null
      ? `SELECT ${COLS} FROM ${t} ORDER BY entity, range_no`
      : `SELECT ${COLS} FROM ${t} WHERE entity = ${store.sql.param(1)} ORDER BY range_no`,
    entity === null ? [] : [entity],
  );
  return rows.map(toRow);
}

/** One range of a plan to write: bounds and the rows counted in it. */
export interface PlannedRange {
  lowerKey: unknown[] | null;
  upperKey: unknown[] | null;
  rowsEstimate: number | null;
}

/**
 * Writes the plan of `entity` inside `tx` (the transaction that created or reset its checkpoint row): the rows of
 * its ranges, numbered from 1, all `pending`. Any rows of an earlier plan are deleted first.
 */
export async function writePlan(
  tx: Executor,
  store: Store,
  entity: string,
  planId: string,
  ranges: PlannedRange[],
): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  const t = store.controlTable('backfill_ranges');
  await tx.execute(`DELETE FROM ${t} WHERE entity = ${p(1)}`, [entity]);
  if (ranges.length < 2) return;
  for (const [i, r] of ranges.entries())
    await tx.execute(
      `INSERT INTO ${t} (entity, range_no, ranges, plan_id, lower_key, upper_key, last_key, rows_copied, rows_applied, rows_estimate, status) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, NULL, 0, 0, ${p(7)}, 'pending')`,
      [
        entity,
        i + 1,
        ranges.length,
        planId,
        r.lowerKey ? encodeKeyValues(r.lowerKey) : null,
        r.upperKey ? encodeKeyValues(r.upperKey) : null,
        r.rowsEstimate,
      ],
    );
}

/** Reads one range, or null when the plan has no such range (any more). */
export async function readRange(db: Executor, store: Store, entity: string, range: number): Promise<RangeRow | null> {
  const p = (i: number) => store.sql.param(i);
  const r = await db.query<Record<string, unknown>>(
    `SELECT ${COLS} FROM ${store.controlTable('backfill_ranges')} WHERE entity = ${p(1)} AND range_no = ${p(2)}`,
    [entity, range],
  );
  return r[0] ? toRow(r[0]) : null;
}

const moved = (r: Pick<RangeRow, 'entity' | 'range' | 'of'>) =>
  new TandemError(
    'INTERNAL',
    `checkpoint of range ${r.range} of ${r.of} of entity ${r.entity} was moved by another process; stop the other backfill first`,
  );

/**
 * Marks a range `running` (a worker took it), fenced on its lease (else TANDEM_ERR_LEASE_LOST, nothing written).
 * Returns the range as stored; null when the plan was replaced meanwhile (a `--restart`): the caller drops it.
 */
export async function startRange(store: Store, r: RangeRow, lease: Lease): Promise<RangeRow | null> {
  const p = (i: number) => store.sql.param(i);
  return store.transaction(async (tx) => {
    await fenceLease(tx, store, lease);
    await tx.execute(
      `UPDATE ${store.controlTable('backfill_ranges')} SET status = 'running', started_at = COALESCE(started_at, ${store.sql.now()}), updated_at = ${store.sql.now()} WHERE entity = ${p(1)} AND range_no = ${p(2)} AND plan_id = ${p(3)} AND status = 'pending'`,
      [r.entity, r.range, r.planId],
    );
    const cur = await readRange(tx, store, r.entity, r.range);
    return cur && cur.planId === r.planId ? cur : null;
  });
}

/**
 * Moves a range's checkpoint from `prevKey` to `lastKey` inside the chunk's own transaction `tx`, fenced first on
 * the range's lease (TANDEM_ERR_LEASE_LOST: the transaction, rows included, rolls back), and adds the chunk's
 * counts to the entity's checkpoint row (the sum of its ranges). Returns the entity's rows copied so far, all
 * ranges and workers together. Like `advanceCheckpoint`: a range already at `lastKey` (a retried chunk whose first
 * COMMIT went through) throws {@link ChunkAlreadyCommitted}; anywhere else TANDEM_ERR_INTERNAL.
 */
export async function advanceRange(
  tx: Executor,
  store: Store,
  r: Pick<RangeRow, 'entity' | 'range' | 'of' | 'planId'>,
  prevKey: unknown[] | null,
  lastKey: unknown[],
  copied: number,
  applied: number,
  lease: Lease,
): Promise<number> {
  const p = (i: number) => store.sql.param(i);
  await fenceLease(tx, store, lease);
  const now = store.sql.now();
  const t = store.controlTable('backfill_ranges');
  const n = await tx.execute(
    `UPDATE ${t} SET last_key = ${p(1)}, rows_copied = rows_copied + ${p(2)}, rows_applied = rows_applied + ${p(3)}, updated_at = ${now} WHERE entity = ${p(4)} AND range_no = ${p(5)} AND plan_id = ${p(6)} AND status <> 'done' AND COALESCE(last_key, '') = ${p(7)}`,
    [encodeKeyValues(lastKey), copied, applied, r.entity, r.range, r.planId, prevKey ? encodeKeyValues(prevKey) : ''],
  );
  if (n < 1) {
    const cur = await tx.query<{ last_key: string | null; plan_id: string }>(
      `SELECT last_key, plan_id FROM ${t} WHERE entity = ${p(1)} AND range_no = ${p(2)}`,
      [r.entity, r.range],
    );
    if (cur[0]?.plan_id === r.planId && cur[0]?.last_key === encodeKeyValues(lastKey))
      throw new ChunkAlreadyCommitted();
    throw moved(r);
  }
  const cp = store.controlTable('checkpoints');
  await tx.execute(
    `UPDATE ${cp} SET rows_copied = rows_copied + ${p(1)}, rows_applied = rows_applied + ${p(2)}, updated_at = ${now} WHERE entity = ${p(3)}`,
    [copied, applied, r.entity],
  );
  const total = await tx.query<{ n: unknown }>(`SELECT rows_copied AS n FROM ${cp} WHERE entity = ${p(1)}`, [r.entity]);
  return Number(total[0]?.n ?? 0);
}

/**
 * Marks a range done, fenced on its lease (TANDEM_ERR_LEASE_LOST), and in the same transaction the entity's
 * checkpoint too when no range of its plan is left ({@link finishEntityIfDone}). Returns whether the entity is done.
 */
export async function finishRange(store: Store, r: RangeRow, lease: Lease): Promise<boolean> {
  const p = (i: number) => store.sql.param(i);
  const now = store.sql.now();
  return store.transaction(async (tx) => {
    await fenceLease(tx, store, lease);
    const n = await tx.execute(
      `UPDATE ${store.controlTable('backfill_ranges')} SET status = 'done', finished_at = ${now}, updated_at = ${now} WHERE entity = ${p(1)} AND range_no = ${p(2)} AND plan_id = ${p(3)}`,
      [r.entity, r.range, r.planId],
    );
    if (n < 1) throw moved(r);
    return finishIfDone(tx, store, r.entity);
  });
}

async function finishIfDone(tx: Executor, store: Store, entity: string): Promise<boolean> {
  const p = (i: number) => store.sql.param(i);
  const now = store.sql.now();
  const cp = store.controlTable('checkpoints');
  // the checkpoint row is locked first (every finisher updates it), so two workers finishing the last two ranges at
  // once are serialized and the second one sees the first one's range done
  await tx.execute(`UPDATE ${cp} SET updated_at = ${now} WHERE entity = ${p(1)}`, [entity]);
  const left = await tx.query<{ n: unknown }>(
    `SELECT count(*) AS n FROM ${store.controlTable('backfill_ranges')} WHERE entity = ${p(1)} AND status <> 'done'`,
    [entity],
  );
  if (Number(left[0]?.n ?? 0) > 0) return false;
  await tx.execute(
    `UPDATE ${cp} SET status = 'done', finished_at = COALESCE(finished_at, ${now}) WHERE entity = ${p(1)} AND status <> 'done'`,
    [entity],
  );
  return true;
}

/**
 * Marks the checkpoint of an entity planned in ranges done when every range is (idempotent; a worker that only
 * waited for others calls it too). Returns whether the entity is done.
 */
export async function finishEntityIfDone(store: Store, entity: string): Promise<boolean> {
  return store.transaction((tx) => finishIfDone(tx, store, entity));
}

/**
 * Creates the checkpoint row of `entity` (status running, nothing copied, `rowsTotal`) with its plan `ranges`
 * (rows here only for two or more) in one transaction — unless it has a checkpoint already (another worker planned
 * first, or an earlier run did): then nothing is written. Returns whether this call planned.
 */
export async function createPlan(
  store: Store,
  entity: string,
  rowsTotal: number,
  planId: string,
  ranges: PlannedRange[],
): Promise<boolean> {
  const cp = store.controlTable('checkpoints');
  return store.transaction(async (tx) => {
    // (affected-row counts of an insert-ignore differ by engine: the plan id read back says whose row it is)
    await tx.execute(
      store.sql.insertIgnore(
        cp,
        ['entity', 'rows_copied', 'rows_applied', 'rows_total', 'status', 'plan_id'],
        ['entity'],
      ),
      [entity, 0, 0, rowsTotal, 'running', planId],
    );
    const r = await tx.query<{ plan_id: unknown }>(`SELECT plan_id FROM ${cp} WHERE entity = ${store.sql.param(1)}`, [
      entity,
    ]);
    if (r[0]?.plan_id !== planId) return false;
    await writePlan(tx, store, entity, planId, ranges);
    return true;
  });
}

/**
 * `--restart`: resets the checkpoint row of `entity` (nothing copied, running) and replaces its plan by `ranges`,
 * in one transaction. The caller holds every lease of the entity's old plan, so no worker moves a position of it
 * meanwhile (and a stalled one is fenced by the tokens those acquisitions bumped).
 */
export async function resetPlan(
  store: Store,
  entity: string,
  rowsTotal: number,
  planId: string,
  ranges: PlannedRange[],
): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  const cp = store.controlTable('checkpoints');
  await store.transaction(async (tx) => {
    const n = await tx.execute(
      `UPDATE ${cp} SET last_key = NULL, rows_copied = 0, rows_applied = 0, rows_total = ${p(1)}, status = 'running', plan_id = ${p(2)}, started_at = ${store.sql.now()}, updated_at = ${store.sql.now()}, finished_at = NULL WHERE entity = ${p(3)}`,
      [rowsTotal, planId, entity],
    );
    if (n < 1)
      await tx.execute(
        `INSERT INTO ${cp} (entity, last_key, rows_copied, rows_applied, rows_total, status, plan_id) VALUES (${p(1)}, NULL, 0, 0, ${p(2)}, 'running', ${p(3)})`,
        [entity, rowsTotal, planId],
      );
    await writePlan(tx, store, entity, planId, ranges);
  });
}
