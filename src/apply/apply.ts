import { createHash } from 'node:crypto';
import { canonicalize } from '../core/canonical.js';
import { TandemError } from '../core/errors.js';
import { predicateSql } from '../core/where.js';
import {
  mapRow,
  markExcluded,
  misfit,
  shownKey,
  type MappedRow,
  type ResolvedEntity,
  type ResolvedTarget,
} from '../core/mapping.js';
import { isUniqueViolation as isStoreUniqueViolation, UNIQUE_VIOLATION, upsertByKey } from '../stores/common.js';
import type {
  ColumnInfo,
  Executor,
  LedgeredUpsertQuery,
  LedgerMode,
  Row,
  Store,
  UpsertQuery,
} from '../stores/types.js';

/** What one apply did: rows offered, rows written (their version won), rows skipped (ledger had newer or equal). */
export interface ApplyResult {
  offered: number;
  applied: number;
  skipped: number;
  /**
   * Keys the mapping leaves out (a transform returned SKIP, or the row does not match the entity's `where`) whose
   * target rows this apply deleted (their tombstone won and a row was there). Absent: none.
   */
  omitted?: number;
}

/** Most bound parameters per upsert statement where every value is bound (below every engine's own limit). */
const MAX_PARAMS = 30_000;

/** The ledger mode of an entity: strict versions when it has a version column, last writer wins otherwise. */
export function ledgerMode(entity: ResolvedEntity): LedgerMode {
  return entity.version ? 'newer' : 'last-writer-wins';
}

/** One mapped value that does not fit its target column: the row, target table and column index, the reason. */
export interface Misfit {
  row: MappedRow;
  /** Index into `entity.targets`. */
  ti: number;
  /** Index into that target's `columns`. */
  ci: number;
  /** Value-free reason (`is NULL but the column is NOT NULL`). */
  why: string;
}

/**
 * Every mapped value of `rows` that does not fit its target column (at most `limit`), in row order. Rows the
 * mapping skips are not checked.
 */
export function findMisfits(entity: ResolvedEntity, rows: MappedRow[], limit = Number.POSITIVE_INFINITY): Misfit[] {
  const out: Misfit[] = [];
  for (const r of rows) {
    if (r.skipped) continue;
    for (let ti = 0; ti < entity.targets.length; ti++) {
      const t = entity.targets[ti]!;
      const values = r.values[ti]!;
      for (let ci = 0; ci < t.columns.length; ci++) {
        const col = t.columns[ci]!;
        const check = t.checks?.[ci] ?? 'full';
        if (check === 'none') continue;
        const why =
          check === 'null'
            ? values[ci] === null || values[ci] === undefined
              ? 'is NULL but the column is NOT NULL'
              : null
            : misfit(values[ci], col);
        if (why) {
          out.push({ row: r, ti, ci, why });
          if (out.length >= limit) return out;
        }
      }
    }
  }
  return out;
}

/**
 * Checks every mapped value against its target column before anything is written.
 * Throws `TANDEM_ERR_VALUE_DOES_NOT_FIT` naming the entity, key, table and column (never the value).
 */
export function checkFits(entity: ResolvedEntity, rows: MappedRow[]): void {
  const m = findMisfits(entity, rows, 1)[0];
  if (!m) return;
  const t = entity.targets[m.ti]!;
  const col = t.columns[m.ci]!;
  const key = shownKey(entity, m.row.key);
  throw new TandemError(
    'VALUE_DOES_NOT_FIT',
    `entity ${entity.name} key ${key}: the value for ${t.table.name}.${col.name} ${m.why}`,
    { entity: entity.name, key, table: t.table.name, column: col.name },
  );
}

/** Options of {@link applyRows}. */
export interface ApplyOptions {
  /**
   * The source store, to re-read rows that stand in the way of a unique index (an email two users swapped).
   * Without it a unique conflict fails the apply (the caller retries it later).
   */
  source?: Store;
  /**
   * The rows were read from the primary before their keys were locked on the secondary (a backfill chunk). For an
   * entity with a version that changes nothing (the version decides). For one without (last-writer-wins), such a
   * read may be older than a change a relay applied meanwhile, so only keys the version ledger does not hold yet
   * are written (`if-absent`); a key it holds was applied by a relay or the fast path, from a read made under the
   * key's lock, and every later change of it has its own outbox entry.
   */
  readBeforeLock?: boolean;
}

/** Rounds of unique-conflict resolution before the apply gives up (and the caller retries later). */
const MAX_CONFLICT_ROUNDS = 5;

/**
 * The one guarded apply path, shared by backfill, relay and the fast path: maps source rows, checks they fit,
 * advances the version ledger inside `tx` and upserts only the rows whose version won into every target table
 * (parents first). Idempotent and order-free: applying the same or an older row again changes nothing.
 *
 * A unique index other than the key (say `email`) can refuse a row because another target row still holds the
 * value: two users swapped emails, or the holder changed or was deleted on the primary and that change has not
 * arrived yet. Then, with `options.source`, the holders are re-read from the primary and applied in the same
 * transaction (a holder gone from the primary applies as a delete), their unique values parked first so that a
 * swap can pass — see {@link resolveUniqueConflicts}. No row is lost and none is dropped: if it cannot be
 * resolved, the error reaches the caller, whose transaction rolls back and is retried.
 *
 * Runs inside the caller's transaction on the target, so the caller can commit its own bookkeeping (a
 * backfill checkpoint) atomically with the rows.
 */
export async function applyRows(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  sourceRows: Row[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  return applyMapped(target, tx, entity, prepareRows(entity, sourceRows), options);
}

/**
 * The pure half of {@link applyRows}: maps source rows and checks they fit the target columns. Callers that
 * pipeline (the backfill maps chunk N+1 while chunk N is being written) call it ahead of the transaction.
 * Throws TANDEM_ERR_VALUE_DOES_NOT_FIT / _MAPPING_INVALID.
 */
export function prepareRows(entity: ResolvedEntity, sourceRows: Row[]): MappedRow[] {
  const mapped = sourceRows.map((r) => mapRow(entity, r));
  checkFits(entity, mapped);
  return mapped;
}

/** The transactional half of {@link applyRows}, for rows already through {@link prepareRows}. */
export async function applyMapped(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  mapped: MappedRow[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const mode = options.readBeforeLock && !entity.version ? 'if-absent' : ledgerMode(entity);
  const live = mapped.filter((m) => !m.skipped);
  const left = mapped.filter((m) => m.skipped);
  const omitted = left.length ? await applyOmitted(target, tx, entity, left, mode) : 0;
  if (live.length && target.sql.ledgeredUpsert) {
    const n = await applyLedgered(target, tx, entity, live, mode);
    if (n !== null) return { offered: mapped.length, applied: n, skipped: mapped.length - n - omitted, omitted };
  }
  const won = live.length
    ? await target.advanceLedger(
        tx,
        target.controlTable('version_ledger'),
        entity.name,
        live.map((m) => ({ key: m.key, version: m.version, deleted: false })),
        mode,
      )
    : new Set<string>();
  // one row per key: the last one offered for a key wins (same version → same row)
  const chosen = new Map<string, MappedRow>();
  for (const m of live) if (won.has(m.key)) chosen.set(m.key, m);
  const rows = [...chosen.values()];
  if (rows.length) {
    const guarded = options.source && hasOtherUniqueKeys(entity);
    if (guarded) await tx.execute('SAVEPOINT tandem_apply');
    try {
      await upsertRows(target, tx, entity, rows);
      if (guarded) await tx.execute('RELEASE SAVEPOINT tandem_apply');
    } catch (e) {
      if (!guarded || !isUniqueViolation(e)) throw e;
      await tx.execute('ROLLBACK TO SAVEPOINT tandem_apply');
      await resolveUniqueConflicts(target, tx, entity, rows, options.source!);
    }
  }
  return {
    offered: mapped.length,
    applied: rows.length,
    skipped: mapped.length - rows.length - omitted,
    omitted,
  };
}

/**
 * Fewest rows for which the apply takes the store's bulk load ({@link SqlDialect.stagedUpsert}): it costs two more
 * round trips than the one statement (staging setup, COPY), which pays off on a backfill chunk (thousands of
 * rows), not on a relay batch of a few keys.
 */
export const BULK_LOAD_MIN_ROWS = 256;

/**
 * The one-step form of "advance the ledger, upsert the winners" — a bulk load into a staging table and one
 * statement from it where the store has one ({@link SqlDialect.stagedUpsert} with {@link Executor.copyFrom}),
 * else one statement with the rows bound as arrays ({@link SqlDialect.ledgeredUpsert}) — for an
 * entity with one target table and a batch whose keys are distinct (a backfill chunk, most relay batches).
 * Rows go in the ledger's lock order (`normalizeLedgerEntries`: keys sorted), inside a savepoint. Returns how many
 * keys won; null when the batch does not fit the form (several target tables, a repeated key) or the statement was
 * refused for a value or a unique key — then the savepoint is rolled back, nothing of it stays, and the caller
 * runs the two-step path, which finds the refused row or resolves the unique conflict. Other errors (a deadlock,
 * a lost connection) are thrown: the caller's transaction is retried whole.
 */
async function applyLedgered(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  live: MappedRow[],
  mode: LedgerMode,
): Promise<number | null> {
  if (entity.targets.length !== 1) return null;
  const rows = [...live].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 1; i < rows.length; i++) if (rows[i]!.key === rows[i - 1]!.key) return null;
  const t = entity.targets[0]!;
  const q: LedgeredUpsertQuery = {
    ledgerTable: target.controlTable('version_ledger'),
    entity: entity.name,
    mode,
    keys: rows.map((r) => r.key),
    versions: rows.map((r) => r.version),
    table: t.table.name,
    columns: t.columns.map((c) => c.name),
    key: t.keyColumns,
    rows: rows.map((r) => r.values[0]!),
    columnInfo: t.columns,
  };
  // a bulk load where the store has one on this connection (PostgreSQL: COPY into a staging table), else the
  // one statement with every column bound as an array
  const staged =
    rows.length >= BULK_LOAD_MIN_ROWS && tx.copyFrom && target.sql.stagedUpsert ? target.sql.stagedUpsert(q) : null;
  const st = staged ? staged.apply : target.sql.ledgeredUpsert!(q);
  // the staging setup takes no parameters: it goes with the SAVEPOINT in one round trip
  await tx.execute(staged ? `SAVEPOINT tandem_apply; ${staged.setup}` : 'SAVEPOINT tandem_apply');
  try {
    if (staged) await tx.copyFrom!(staged.copy, staged.data);
    const out = await tx.query<{ won: number }>(st.sql, st.params);
    await tx.execute('RELEASE SAVEPOINT tandem_apply');
    return Number(out[0]?.won ?? 0);
  } catch (e) {
    if (!isUniqueViolation(e) && !isValueRefused(target, e)) throw e;
    await tx.execute('ROLLBACK TO SAVEPOINT tandem_apply');
    await tx.execute('RELEASE SAVEPOINT tandem_apply');
    return null;
  }
}

/**
 * Applies rows the mapping leaves out (SKIP, or not matching the entity's `where`) as absent: a tombstone at the
 * row's own version in the version ledger (so a later change of the row that matches again wins over it, and an
 * older read cannot bring the row back), then the key's target rows deleted, children first. At an equal version
 * the tombstone wins (`last-writer-wins`): the same row, now left out. Returns how many keys had a target row it
 * deleted (a second apply of the same rows deletes none).
 */
async function applyOmitted(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  rows: MappedRow[],
  mode: LedgerMode,
): Promise<number> {
  const won = await target.advanceLedger(
    tx,
    target.controlTable('version_ledger'),
    entity.name,
    rows.map((m) => ({ key: m.key, version: m.version, deleted: true })),
    mode === 'newer' ? 'last-writer-wins' : mode,
  );
  const doomed = new Map<string, unknown[]>();
  for (const m of rows) if (won.has(m.key)) doomed.set(m.key, m.keyValues);
  return doomed.size ? deleteTargetRows(target, tx, entity, [...doomed.values()]) : 0;
}

/**
 * Deletes the target rows of raw key values from every target table of the entity, children first. Returns the
 * rows deleted from the first (parent) table: the keys that had a row.
 */
async function deleteTargetRows(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  keys: unknown[][],
): Promise<number> {
  let parent = 0;
  for (const t of [...entity.targets].reverse())
    for (let i = 0; i < keys.length; i += 500) {
      const w = keysWhere(target, t.keyColumns, keys.slice(i, i + 500));
      const n = await tx.execute(`DELETE FROM ${target.sql.table(t.table.name)} WHERE ${w.sql}`, w.params);
      if (t === entity.targets[0]) parent += n;
    }
  return parent;
}

/**
 * Upserts mapped rows into every target table of the entity, parents first, in statements of bounded size.
 * Each row is written where its own key is and nowhere else: a row whose value of another unique key is held by
 * another row raises a unique violation (`upsertByKey`: the store's `upsert` where it has one — MySQL/MariaDB —,
 * otherwise `sql.upsert`, whose `ON CONFLICT (key)` already behaves so).
 */
async function upsertRows(target: Store, tx: Executor, entity: ResolvedEntity, rows: MappedRow[]): Promise<void> {
  for (let ti = 0; ti < entity.targets.length; ti++) {
    const t = entity.targets[ti]!;
    const columns = t.columns.map((c) => c.name);
    const values = rows.map((r) => r.values[ti]!);
    const caps = target.capabilities;
    // one array per column binds any number of rows; otherwise every value is a parameter
    const per = caps.arrayParams
      ? values.length
      : Math.max(1, Math.floor(Math.min(MAX_PARAMS, caps.maxParams) / columns.length));
    for (let i = 0; i < values.length; i += per) {
      const q: UpsertQuery = {
        table: t.table.name,
        columns,
        key: t.keyColumns,
        rows: values.slice(i, i + per),
        columnInfo: t.columns,
      };
      const slice = rows.slice(i, i + per);
      // where a failed statement aborts the transaction (PostgreSQL), a savepoint keeps it usable for finding the row
      const mark = slice.length > 1 && caps.abortsTransactionOnError;
      if (mark) await tx.execute('SAVEPOINT tandem_stmt');
      try {
        await upsertByKey(target, tx, q);
        if (mark) await tx.execute('RELEASE SAVEPOINT tandem_stmt');
      } catch (e) {
        if (!isValueRefused(target, e)) throw e;
        if (mark) await tx.execute('ROLLBACK TO SAVEPOINT tandem_stmt');
        const row =
          slice.length > 1
            ? await findRefusedRow(
                target,
                tx,
                t,
                slice.map((r) => r.values[ti]!),
              ).catch(() => -1)
            : 0;
        throw translateWriteError(target, e, entity, ti, slice, row >= 0 ? slice[row] : undefined);
      }
    }
  }
}

/** Unique keys of a target table other than the one its rows are upserted on, limited to mapped columns. */
function otherUniqueKeys(t: ResolvedEntity['targets'][number]): string[][] {
  const mapped = new Set(t.columns.map((c) => c.name));
  return [t.table.primaryKey, ...t.table.uniqueKeys].filter(
    (u) =>
      u.length > 0 &&
      !(u.length === t.keyColumns.length && u.every((c) => t.keyColumns.includes(c))) &&
      u.every((c) => mapped.has(c)),
  );
}

function hasOtherUniqueKeys(entity: ResolvedEntity): boolean {
  return entity.targets.some((t) => otherUniqueKeys(t).length > 0);
}

/**
 * True when a write was refused for a duplicate value of a primary or unique key. The stores classify their own
 * engine's codes (`detail.violation`, see `isUniqueViolation` in src/stores/common.ts); this is the same test.
 */
export function isUniqueViolation(e: unknown): boolean {
  return isStoreUniqueViolation(e);
}

/** Most keys one conflict resolution may pull in (the batch and every holder, transitively) before it gives up. */
const MAX_INVOLVED_KEYS = 10_000;

/**
 * The target rows, outside `known`, that hold one of the unique values (other than the key) of `rows`: their
 * canonical key string and raw key values as the target returns them.
 */
async function findHolders(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  rows: MappedRow[],
  known: ReadonlyMap<string, unknown>,
): Promise<Map<string, unknown[]>> {
  const holders = new Map<string, unknown[]>();
  for (let ti = 0; ti < entity.targets.length; ti++) {
    const t = entity.targets[ti]!;
    const keyInfo = t.keyColumns.map((k) => t.table.columns.find((c) => c.name === k)!);
    for (const u of otherUniqueKeys(t)) {
      const idx = u.map((c) => t.columns.findIndex((x) => x.name === c));
      const values = rows
        .map((r) => idx.map((i) => r.values[ti]![i]))
        .filter((v) => v.every((x) => x !== null && x !== undefined));
      for (let i = 0; i < values.length; i += 500) {
        const w = keysWhere(target, u, values.slice(i, i + 500));
        const found = await tx.query<Row>(
          `SELECT ${t.keyColumns.map((k) => target.sql.ident(k)).join(', ')} FROM ${target.sql.table(t.table.name)} WHERE ${w.sql}`,
          w.params,
        );
        for (const f of found) {
          const kv = t.keyColumns.map((k) => f[k]);
          const ks = JSON.stringify(kv.map((v, j) => canonicalize(v, keyInfo[j]!)));
          if (!known.has(ks)) holders.set(ks, kv);
        }
      }
    }
  }
  return holders;
}

/**
 * Resolves unique-index conflicts of `rows` (already past the ledger) in round after round:
 * 1. find the target rows, outside this batch, that hold one of the batch's unique values (the holders) —
 *    transitively: a holder's fresh value (read from the primary) may be held by yet another stale row, whose
 *    own fresh value by another, and so on (emails rotated among users whose changes have not arrived yet), so
 *    holders of holders are looked up until no new one appears (at most {@link MAX_INVOLVED_KEYS} keys);
 * 2. re-read the batch and all the holders from the primary in one statement (one consistent state, in which
 *    unique values are unique) — a stale batch row may be the very cause — and write their fresh state (the
 *    ledger advances last-writer-wins: never down, and a tombstone still wins); keys gone from the primary
 *    apply as deletes;
 * 3. park the unique columns of every target row of the batch (NULL where the column allows it, otherwise a
 *    placeholder made from the key's hash) so that values can move between rows — a swap or a rotation;
 * 4. upsert the batch. On a static primary this succeeds in the first round whatever the length of the chain;
 *    a new conflict (the primary changed between the reads) starts a new round.
 * Throws the last unique violation after {@link MAX_CONFLICT_ROUNDS} rounds, or when a chain pulls in more than
 * {@link MAX_INVOLVED_KEYS} keys.
 */
export async function resolveUniqueConflicts(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  rows: MappedRow[],
  source: Store,
): Promise<void> {
  const batch = new Map(rows.map((r) => [r.key, r]));
  let last: unknown;
  for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
    // 1. holders outside the batch, transitively: the holders of the values the batch has now (maybe stale) and
    //    will have (fresh), then the holders of the holders' fresh values, until none is new. Before this closure
    //    one link of such a chain was found per round, so a rotation of more than five stale rows could never
    //    be applied: a relay change retried until dead-lettered, a backfill chunk failed on every restart
    const known = new Map<string, unknown>(batch);
    const holders = new Map<string, unknown[]>();
    let probe: MappedRow[] = [
      ...batch.values(),
      ...(
        await readSourceRows(
          source,
          entity,
          [...batch.values()].map((r) => r.keyValues),
        )
      )
        .map((r) => mapRow(entity, r))
        .filter((m) => !m.skipped),
    ];
    for (;;) {
      const found = await findHolders(target, tx, entity, probe, known);
      if (!found.size) break;
      for (const [k, kv] of found) {
        known.set(k, kv);
        holders.set(k, kv);
      }
      // still a unique conflict (callers retry it, the relay dead-letters it in the end), not an internal error
      if (known.size > MAX_INVOLVED_KEYS)
        throw (
          last ??
          new TandemError(
            'STORE_QUERY',
            `entity ${entity.name}: a unique-value conflict involves more than ${MAX_INVOLVED_KEYS} target rows; it was not resolved`,
            { violation: UNIQUE_VIOLATION },
          )
        );
      probe = (await readSourceRows(source, entity, [...found.values()]))
        .map((r) => mapRow(entity, r))
        .filter((m) => !m.skipped);
    }
    // 2. the batch and its holders, re-read from the primary: each one's fresh state is the newest (a stale
    //    batch row may be what conflicts); keys gone from the primary apply as deletes
    const involved = new Map<string, unknown[]>([
      ...[...batch.values()].map((r) => [r.key, r.keyValues] as [string, unknown[]]),
      ...holders,
    ]);
    // without a version, a read counts only when made under the key's lock (see lockKeys)
    if (!entity.version) await lockKeys(target, tx, entity, [...involved.keys()]);
    const read = (await readSourceRows(source, entity, [...involved.values()])).map((r) => mapRow(entity, r));
    checkFits(entity, read);
    const present = new Set(read.map((m) => m.key));
    const gone = [...involved].filter(([k]) => !present.has(k)).map(([key, keyValues]) => ({ key, keyValues }));
    await applyDeletes(target, tx, entity, gone);
    // rows the mapping now leaves out (SKIP, `where`) free their unique values too
    const left = read.filter((m) => m.skipped);
    if (left.length) await applyOmitted(target, tx, entity, left, 'last-writer-wins');
    const fresh = read.filter((m) => !m.skipped);
    // last-writer-wins: a fresh read never moves a version down (>=), and a tombstone still wins
    const won = await target.advanceLedger(
      tx,
      target.controlTable('version_ledger'),
      entity.name,
      fresh.map((m) => ({ key: m.key, version: m.version, deleted: false })),
      'last-writer-wins',
    );
    batch.clear();
    for (const m of fresh) if (won.has(m.key)) batch.set(m.key, m);
    // 3. park the unique values of the batch's rows that are already in the target and whose unique values move
    //    (a row that keeps its values holds nothing another row of the batch needs; a chunk of 5,000 rows used to
    //    cost 5,000 UPDATEs per table here, which under steady swaps kept a backfill from ever finishing)
    const all = [...batch.values()];
    for (let ti = 0; ti < entity.targets.length; ti++) {
      const t = entity.targets[ti]!;
      const keys = otherUniqueKeys(t);
      if (!keys.length) continue;
      const cols = [...new Set(keys.flat())].map((c) => t.table.columns.find((x) => x.name === c)!);
      for (const r of await movingRows(target, tx, entity, ti, cols, all)) {
        const params: unknown[] = [];
        const sets = cols.map((c) => {
          if (c.nullable) return `${target.sql.ident(c.name)} = NULL`;
          if (c.category !== 'text')
            throw new TandemError(
              'MAPPING_INVALID',
              `entity ${entity.name}: cannot move unique values of ${t.table.name}.${c.name} (NOT NULL, not text) between rows; resolve the conflict by hand`,
            );
          params.push(parkedValue(r.key, c.maxLength));
          return `${target.sql.ident(c.name)} = ${target.sql.param(params.length)}`;
        });
        const w = keysWhere(target, t.keyColumns, [r.keyValues], params.length + 1);
        await tx.execute(`UPDATE ${target.sql.table(t.table.name)} SET ${sets.join(', ')} WHERE ${w.sql}`, [
          ...params,
          ...w.params,
        ]);
      }
    }
    // 4. write the batch
    await tx.execute('SAVEPOINT tandem_resolve');
    try {
      await upsertRows(target, tx, entity, all);
      await tx.execute('RELEASE SAVEPOINT tandem_resolve');
      return;
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      await tx.execute('ROLLBACK TO SAVEPOINT tandem_resolve');
      last = e;
    }
  }
  throw last;
}

/**
 * The rows of `rows` whose target row (table `ti`) exists and holds other values in `cols` than the row will
 * write: the ones whose unique values must be parked before the batch is written. Values are compared in the
 * canonical encoding; a value that cannot be encoded counts as moving (parking more is always safe).
 */
async function movingRows(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  ti: number,
  cols: ColumnInfo[],
  rows: MappedRow[],
): Promise<MappedRow[]> {
  const t = entity.targets[ti]!;
  const keyInfo = t.keyColumns.map((k) => t.table.columns.find((c) => c.name === k)!);
  const idx = cols.map((c) => t.columns.findIndex((x) => x.name === c.name));
  const same = (a: unknown, b: unknown, c: ColumnInfo): boolean => {
    if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
    try {
      return canonicalize(a, c) === canonicalize(b, c);
    } catch {
      return false;
    }
  };
  const current = new Map<string, Row>();
  const select = [...t.keyColumns, ...cols.map((c) => c.name).filter((c) => !t.keyColumns.includes(c))];
  for (let i = 0; i < rows.length; i += 500) {
    const w = keysWhere(
      target,
      t.keyColumns,
      rows.slice(i, i + 500).map((r) => r.keyValues),
    );
    const found = await tx.query<Row>(
      `SELECT ${select.map((c) => target.sql.ident(c)).join(', ')} FROM ${target.sql.table(t.table.name)} WHERE ${w.sql}`,
      w.params,
    );
    for (const f of found) current.set(JSON.stringify(t.keyColumns.map((k, j) => canonicalize(f[k], keyInfo[j]!))), f);
  }
  return rows.filter((r) => {
    const cur = current.get(r.key);
    if (!cur) return false;
    return cols.some((c, j) => idx[j]! < 0 || !same(cur[c.name], r.values[ti]![idx[j]!], c));
  });
}

/** A unique placeholder for a parked text value: `~tandem~` and a hash of the key, cut to the column length. */
function parkedValue(key: string, maxLength?: number): string {
  const v = `~tandem~${createHash('sha256').update(key).digest('hex')}`;
  return maxLength ? v.slice(0, Math.max(1, maxLength)) : v;
}

/**
 * Finds which row of a refused multi-row upsert the target refuses, by bisection: each probe upserts a part of
 * the rows inside a savepoint and rolls back to it, so nothing of it stays. Returns the row's index, or -1.
 */
async function findRefusedRow(target: Store, tx: Executor, t: ResolvedTarget, values: unknown[][]): Promise<number> {
  const refuses = async (from: number, to: number): Promise<boolean> => {
    const st = target.sql.upsert({
      table: t.table.name,
      columns: t.columns.map((c) => c.name),
      key: t.keyColumns,
      rows: values.slice(from, to),
      columnInfo: t.columns,
    });
    await tx.execute('SAVEPOINT tandem_probe');
    let refused = false;
    try {
      await tx.execute(st.sql, st.params);
    } catch (e) {
      refused = isValueRefused(target, e);
    }
    await tx.execute('ROLLBACK TO SAVEPOINT tandem_probe');
    return refused;
  };
  let [lo, hi] = [0, values.length];
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await refuses(lo, mid)) hi = mid;
    else if (await refuses(mid, hi)) lo = mid;
    else return -1;
  }
  return lo;
}

/**
 * True when the target refused a written row: a value (type, range, length, NOT NULL, CHECK: the kind `value`)
 * or a foreign key with no parent row (the kind `reference`).
 */
function isValueRefused(target: Store, e: unknown): e is TandemError {
  if (!(e instanceof TandemError)) return false;
  const kind = target.classifyError(e);
  return kind === 'value' || kind === 'reference';
}

/**
 * The target column a refused-value error is about: the column the server names (`detail.column`, `column "c"`,
 * `for column 'c'`, `` `d`.`t`.`c` ``, `constraint failed: t.c`), else the only column of the type it names
 * (`for type uuid`, `for enum mood`), else the only column whose value fails {@link misfit}.
 */
function refusedColumn(e: TandemError, t: ResolvedTarget, rows: MappedRow[], ti: number): number {
  const byName = (n: string | undefined) =>
    n ? t.columns.findIndex((c) => c.name === n || c.name.toLowerCase() === n.toLowerCase()) : -1;
  const d = (e.detail ?? {}) as { column?: string };
  const msg = e.message ?? '';
  const named = [
    d.column,
    /column "([^"]+)"/.exec(msg)?.[1],
    /column '([^']+)'/i.exec(msg)?.[1],
    /column `[^`]*`\.`[^`]*`\.`([^`]+)`/.exec(msg)?.[1],
    /constraint failed: [\w$]+\.([\w$]+)/.exec(msg)?.[1],
    // a row no partition takes: the partition key column (PostgreSQL's detail)
    /Partition key of the failing row contains \(([\w$]+)\)/.exec(msg)?.[1],
  ];
  for (const n of named) {
    const i = byName(n);
    if (i >= 0) return i;
  }
  const type = /for (?:type|enum) ([\w ]+?)(?:\(|:|$)/.exec(msg)?.[1]?.trim().toLowerCase();
  if (type) {
    const same = t.columns
      .map((c, i) => [c, i] as const)
      .filter(([c]) => c.dataType.toLowerCase().startsWith(type) || c.category === type);
    if (same.length === 1) return same[0]![1];
  }
  const failing = t.columns
    .map((_c, i) => i)
    .filter((i) => rows.some((r) => misfit(r.values[ti]![i], t.columns[i]!) !== null));
  return failing.length === 1 ? failing[0]! : -1;
}

/**
 * Turns a store's "value too long / out of range / invalid input / NOT NULL / CHECK" for one upsert statement
 * into TANDEM_ERR_VALUE_DOES_NOT_FIT naming the entity, the target table, the column and the key: the server's
 * row found by {@link findRefusedRow}, the server's row number (`at row N`) or the only row of the statement,
 * else the first row whose value fails {@link misfit}, else the statement's keys. The server's message (values already
 * removed by the dialect's
 * scrubber) follows in parentheses; keys of a sensitive key column are shown as `[redacted]`. Other errors
 * pass unchanged (a unique violation is resolved by the caller).
 */
function translateWriteError(
  target: Store,
  e: unknown,
  entity: ResolvedEntity,
  ti: number,
  rows: MappedRow[],
  found?: MappedRow,
): unknown {
  if (
    !isValueRefused(target, e) ||
    e.code === 'TANDEM_ERR_VALUE_DOES_NOT_FIT' ||
    e.code === 'TANDEM_ERR_REFERENCE_MISSING'
  )
    return e;
  const t = entity.targets[ti]!;
  if (target.classifyError(e) === 'reference') return referenceError(e, entity, t, rows, found);
  const ci = refusedColumn(e, t, rows, ti);
  const col = ci >= 0 ? t.columns[ci]! : undefined;
  const atRow = Number(/ at row (\d+)/.exec(e.message)?.[1] ?? 0);
  const row =
    found ??
    (rows.length === 1
      ? rows[0]
      : atRow >= 1 && atRow <= rows.length
        ? rows[atRow - 1]
        : col
          ? rows.find((r) => misfit(r.values[ti]![ci], col) !== null)
          : undefined);
  const server = e.message.replace(/^[^:]*? at [^ ]+: /, '');
  const where = col ? `${t.table.name}.${col.name}` : `a column of ${t.table.name}`;
  const keys = row ? [row.key] : rows.slice(0, 3).map((r) => r.key);
  const shown = keys.map((k) => shownKey(entity, k));
  const which = row
    ? `key ${shown[0]}`
    : `one of the keys ${shown.join(', ')}${rows.length > 3 ? ` (and ${rows.length - 3} more)` : ''}`;
  return new TandemError(
    'VALUE_DOES_NOT_FIT',
    `entity ${entity.name} ${which}: the value for ${where}${col ? ` (${col.dataType})` : ''} was refused by the target (${server})`,
    { entity: entity.name, table: t.table.name, column: col?.name, key: row ? shown[0] : undefined },
    { cause: e },
  );
}

/**
 * A foreign-key refusal of one upsert as TANDEM_ERR_REFERENCE_MISSING naming the entity, the target table, the
 * constraint the server names and the key (the row bisection found, or the statement's only row, else up to three
 * of its keys); the server's message, values removed by the dialect's scrubber, follows in parentheses.
 */
function referenceError(
  e: TandemError,
  entity: ResolvedEntity,
  t: ResolvedTarget,
  rows: MappedRow[],
  found?: MappedRow,
): TandemError {
  const row = found ?? (rows.length === 1 ? rows[0] : undefined);
  const keys = (row ? [row] : rows.slice(0, 3)).map((r) => shownKey(entity, r.key));
  const which = row
    ? `key ${keys[0]}`
    : `one of the keys ${keys.join(', ')}${rows.length > 3 ? ` (and ${rows.length - 3} more)` : ''}`;
  const constraint = /foreign key constraint [`"']?([^`"' ]+)[`"']?/i.exec(e.message)?.[1];
  const server = e.message.replace(/^[^:]*? at [^ ]+: /, '');
  return new TandemError(
    'REFERENCE_MISSING',
    `entity ${entity.name} ${which}: target table ${t.table.name} refused the row: a foreign key${constraint ? ` (${constraint})` : ''} names a row the target does not hold — fill parent entities first (the config's order) or map the referencing column (${server})`,
    { entity: entity.name, table: t.table.name, constraint, key: row ? keys[0] : undefined },
    { cause: e },
  );
}

/**
 * The version a tombstone carries: the largest bigint. A deleted key's tombstone beats every version the row
 * could ever have had, so no stale read (a backfill chunk, a late relay re-read) can bring it back. The price:
 * a key deleted on the primary and later inserted again is not re-applied (verify reports it); keys that are
 * reused after a delete need `tandem repair` (see docs/design-notes.md).
 */
export const TOMBSTONE_VERSION = 9223372036854775807n;

/**
 * `WHERE` text matching any of `keys` on `columns` (`a IN (…)` for one column, `(a = ? AND b = ?) OR …`
 * otherwise), with placeholders numbered from `first` (1-based).
 */
export function keysWhere(
  store: Store,
  columns: string[],
  keys: unknown[][],
  first = 1,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const ph = (v: unknown) => (params.push(v), store.sql.param(first + params.length - 1));
  if (columns.length === 1)
    return { sql: `${store.sql.ident(columns[0]!)} IN (${keys.map((k) => ph(k[0])).join(', ')})`, params };
  return {
    sql: keys
      .map((k) => `(${columns.map((c, i) => `${store.sql.ident(c)} = ${ph(k[i])}`).join(' AND ')})`)
      .join(' OR '),
    params,
  };
}

/** Reads the current source rows of an entity for the given raw key values (rows that no longer exist are absent). */
export async function readSourceRows(
  source: Store,
  entity: ResolvedEntity,
  keys: unknown[][],
  via: Executor = source,
): Promise<Row[]> {
  if (!keys.length) return [];
  if (entity.read) return entity.read(source, keys, via);
  const cols = entity.readColumns.map((c) => source.sql.ident(c)).join(', ');
  if (!entity.where) {
    const w = keysWhere(source, entity.key, keys);
    return via.query<Row>(`SELECT ${cols} FROM ${source.sql.table(entity.source.name)} WHERE ${w.sql}`, w.params);
  }
  // with a `where`, rows that exist but do not match are read too, marked: they apply as absent (mapRow: skipped)
  const params: unknown[] = [];
  const pred = predicateSql(entity.where, (i) => source.sql.param(i), params);
  const w = keysWhere(source, entity.key, keys, params.length + 1);
  const rows = await via.query<Row>(
    `SELECT ${cols}, CASE WHEN ${pred} THEN 1 ELSE 0 END AS ${source.sql.ident(WHERE_MATCH)} FROM ${source.sql.table(entity.source.name)} WHERE ${w.sql}`,
    [...params, ...w.params],
  );
  for (const r of rows) {
    const match = Number(r[WHERE_MATCH]) === 1;
    delete r[WHERE_MATCH];
    if (!match) markExcluded(r);
  }
  return rows;
}

/** The column a read by key adds for whether the row matches the entity's `where`. */
const WHERE_MATCH = 'tandem__where_match';

/**
 * Applies deletes through the guarded path: writes tombstones in the version ledger and deletes the target rows
 * (children first) of the keys whose tombstone is new. Returns how many keys were deleted.
 */
export async function applyDeletes(
  target: Store,
  tx: Executor,
  entity: ResolvedEntity,
  keys: { key: string; keyValues: unknown[] }[],
): Promise<number> {
  if (!keys.length) return 0;
  const won = await target.advanceLedger(
    tx,
    target.controlTable('version_ledger'),
    entity.name,
    keys.map((k) => ({ key: k.key, version: TOMBSTONE_VERSION, deleted: true })),
    'newer',
  );
  const doomed = keys.filter((k) => won.has(k.key));
  if (!doomed.length) return 0;
  await deleteTargetRows(
    target,
    tx,
    entity,
    doomed.map((k) => k.keyValues),
  );
  return doomed.length;
}

/** A changed key: its canonical string and raw values. */
export interface ChangedKey {
  key: string;
  keyValues: unknown[];
}

/** What {@link applyChanges} did. */
export interface ChangesResult {
  applied: number;
  skipped: number;
  deleted: number;
}

/**
 * Changed keys of one entity made ready for {@link applyPrepared}: the keys (last raw values per canonical key)
 * and, for an entity with a version, the primary rows already read, mapped and checked (`rows`) and the keys gone
 * from the primary (`gone`). For an entity without one both are absent: they are read under the key locks.
 */
export interface PreparedChanges {
  entity: ResolvedEntity;
  keys: Map<string, unknown[]>;
  mapped?: MappedRow[];
  gone?: ChangedKey[];
}

/**
 * The first half of {@link applyChanges}, with no secondary transaction: for an entity with a version, re-reads
 * the primary rows of `keys` (through `via`), maps them and checks they fit (so the relay can do it for its next
 * batch while the current one is written); for one without, only collects the keys. Throws what the read throws,
 * TANDEM_ERR_VALUE_DOES_NOT_FIT / _MAPPING_INVALID.
 */
export async function prepareChanges(
  primary: Store,
  entity: ResolvedEntity,
  keys: ChangedKey[],
  via: Executor = primary,
): Promise<PreparedChanges> {
  const unique = new Map<string, unknown[]>();
  for (const k of keys) unique.set(k.key, k.keyValues);
  if (!entity.version) return { entity, keys: unique };
  return { entity, keys: unique, ...(await readChanged(primary, entity, unique, via)) };
}

/** Reads the primary rows of `unique`, maps and checks them; the keys without a row are `gone`. */
async function readChanged(
  primary: Store,
  entity: ResolvedEntity,
  unique: Map<string, unknown[]>,
  via: Executor,
): Promise<{ mapped: MappedRow[]; gone: ChangedKey[] }> {
  const rows = await readSourceRows(primary, entity, [...unique.values()], via);
  const mapped = prepareRows(entity, rows);
  const present = new Set<string>();
  for (const m of mapped) present.add(m.key);
  const gone: ChangedKey[] = [];
  for (const [key, keyValues] of unique) if (!present.has(key)) gone.push({ key, keyValues });
  return { mapped, gone };
}

/**
 * The second half of {@link applyChanges}: in one secondary transaction, locks the keys first for an entity
 * without a version and reads them under the lock, then applies the rows through the guarded apply and the keys
 * gone from the primary as deletes with tombstones. Safe to run again with the same `prepared` (a retry): the
 * rows were read after their changes committed, and the version ledger orders appliers whatever their reads' order.
 */
export async function applyPrepared(
  primary: Store,
  secondary: Store,
  prepared: PreparedChanges,
  via: Executor = primary,
): Promise<ChangesResult> {
  const { entity, keys } = prepared;
  return secondary.transaction(async (tx) => {
    let { mapped, gone } = prepared;
    if (!mapped || !gone) {
      await lockKeys(secondary, tx, entity, [...keys.keys()]);
      ({ mapped, gone } = await readChanged(primary, entity, keys, via));
    }
    const r = await applyMapped(secondary, tx, entity, mapped, { source: primary });
    const deleted = await applyDeletes(secondary, tx, entity, gone);
    // rows left out by the mapping (SKIP, `where`) were deleted like rows gone from the primary
    return { applied: r.applied, skipped: r.skipped, deleted: deleted + (r.omitted ?? 0) };
  });
}

/**
 * Applies changed keys of one entity — the step shared by the relay, the broker consumer and the writer's fast
 * path: re-reads the primary rows (through `via`, by default the primary store itself), then in one secondary
 * transaction applies the rows that exist through the guarded apply and the keys that no longer exist as
 * deletes with tombstones. With a version the ledger orders the appliers whatever the order of their reads, so
 * the read runs before the secondary transaction (shorter locks); without one, the keys are locked first and read
 * under the lock. {@link prepareChanges} then {@link applyPrepared}.
 */
export async function applyChanges(
  primary: Store,
  secondary: Store,
  entity: ResolvedEntity,
  keys: ChangedKey[],
  via: Executor = primary,
): Promise<ChangesResult> {
  return applyPrepared(primary, secondary, await prepareChanges(primary, entity, keys, via), via);
}

/**
 * Locks the version-ledger rows of `keys` on the secondary inside `tx` until it ends, inserting a placeholder
 * (version -1, which every later advance in the same transaction beats) where a key has none: appliers of the same
 * key then run one after the other. Entities without a version need it: their ledger cannot tell an older read
 * from a newer one (last-writer-wins), so two appliers must not interleave "read the primary" and "write the
 * secondary" — the one that locks second reads second, and its read is the newer. (PostgreSQL locks a conflicting
 * row in `INSERT … ON CONFLICT DO UPDATE … WHERE` even when the `WHERE` is false; MySQL/MariaDB lock with
 * placeholders and `FOR UPDATE`; SQLite and PGlite run one transaction at a time.)
 */
export async function lockKeys(target: Store, tx: Executor, entity: ResolvedEntity, keys: string[]): Promise<void> {
  if (!keys.length) return;
  await target.advanceLedger(
    tx,
    target.controlTable('version_ledger'),
    entity.name,
    keys.map((key) => ({ key, version: -1n, deleted: false })),
    'newer',
  );
}
