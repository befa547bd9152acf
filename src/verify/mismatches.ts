import { decodeKeyValues, encodeKeyValues } from '../outbox/outbox.js';
import type { Store } from '../stores/types.js';
import { mismatchGauge } from './metrics.js';
import type { KeyDifference } from './verify.js';

/**
 * Mismatches in the control plane (`tandem.mismatches`, `tandem_mismatches` on MySQL/SQLite; migration 4).
 *
 * A differing key found by verify is recorded **pending** (or **confirmed** at once when the caller asks: a
 * one-shot verify without a lag window). A later recheck, at least the lag window after it was first seen
 * (so that a change the relay is still carrying is not reported), moves it to **confirmed** when it still
 * differs, or to **resolved** when it now matches. `tandem repair` moves confirmed keys it fixed to
 * **repaired**. A key seen again after repaired/resolved starts a new episode (pending, new first-seen).
 * Times are Unix milliseconds. Column names are stored, never values (they may be sensitive).
 *
 * Each episode has an **origin** (migration 7): `verify` (a checksum, full or sample verification, continuous or
 * one-shot) or `shadow` (a shadow read's comparison, src/routing/compare.ts). The origin is the one that opened
 * the episode: a key already pending or confirmed keeps it when the other finds it too; a new episode takes the
 * origin of whoever found it.
 */
export type MismatchState = 'pending' | 'confirmed' | 'repaired' | 'resolved';

/** Who found a mismatch: verification (`verify`) or a shadow read's comparison (`shadow`). */
export type MismatchOrigin = 'verify' | 'shadow';

/** Every {@link MismatchOrigin}, in display order. */
export const MISMATCH_ORIGINS: readonly MismatchOrigin[] = ['verify', 'shadow'];

/** One row of the mismatches table. */
export interface Mismatch {
  entity: string;
  key: string;
  keyValues: unknown[];
  kind: KeyDifference['kind'];
  /** `table.column` of the differing columns (no values). */
  columns: string[];
  state: MismatchState;
  /** Who opened this episode (`verify` for rows written before migration 7). */
  origin: MismatchOrigin;
  firstSeenMs: number;
  lastSeenMs: number;
  stateMs: number;
  checks: number;
}

/** A difference to record, with the raw key values of the side that has the row. */
export interface FoundDifference {
  difference: KeyDifference;
  keyValues: unknown[];
}

const BATCH = 200;

function columnsOf(d: KeyDifference): string[] {
  return d.columns.map((c) => `${c.table}.${c.column}`);
}

/**
 * Records differences of one entity found at `nowMs` by `origin` (default `verify`): new keys (and keys whose last
 * episode ended, repaired or resolved) start pending — or confirmed with `confirm` — with that origin; keys already
 * pending or confirmed keep their state, first-seen and origin, with last-seen, kind, columns and the check count
 * updated (and a pending one confirmed with `confirm`). Returns how many keys were new.
 */
export async function recordMismatches(
  control: Store,
  entity: string,
  found: FoundDifference[],
  nowMs: number,
  confirm = false,
  origin: MismatchOrigin = 'verify',
): Promise<number> {
  const t = control.controlTable('mismatches');
  const p = (i: number) => control.sql.param(i);
  let created = 0;
  const unique = [...new Map(found.map((f) => [f.difference.key, f])).values()];
  for (let i = 0; i < unique.length; i += BATCH) {
    const batch = unique.slice(i, i + BATCH);
    await control.transaction(async (tx) => {
      const existing = new Map(
        (
          await tx.query<{ entity_key: string; state: string }>(
            `SELECT entity_key, state FROM ${t} WHERE entity = ${p(1)} AND entity_key IN (${batch.map((_, j) => p(j + 2)).join(', ')})`,
            [entity, ...batch.map((f) => f.difference.key)],
          )
        ).map((r) => [String(r.entity_key), String(r.state)]),
      );
      for (const f of batch) {
        const d = f.difference;
        const cur = existing.get(d.key);
        const cols = JSON.stringify(columnsOf(d));
        if (cur === undefined) {
          created++;
          await tx.execute(
            `INSERT INTO ${t} (entity, entity_key, key_values, kind, columns_differing, state, first_seen_ms, last_seen_ms, state_ms, checks, origin) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}, 1, ${p(10)})`,
            [
              entity,
              d.key,
              encodeKeyValues(f.keyValues),
              d.kind,
              cols,
              confirm ? 'confirmed' : 'pending',
              nowMs,
              nowMs,
              nowMs,
              origin,
            ],
          );
        } else if (cur === 'repaired' || cur === 'resolved') {
          created++;
          await tx.execute(
            `UPDATE ${t} SET key_values = ${p(1)}, kind = ${p(2)}, columns_differing = ${p(3)}, state = ${p(4)}, first_seen_ms = ${p(5)}, last_seen_ms = ${p(6)}, state_ms = ${p(7)}, checks = 1, origin = ${p(8)} WHERE entity = ${p(9)} AND entity_key = ${p(10)}`,
            [
              encodeKeyValues(f.keyValues),
              d.kind,
              cols,
              confirm ? 'confirmed' : 'pending',
              nowMs,
              nowMs,
              nowMs,
              origin,
              entity,
              d.key,
            ],
          );
        } else {
          const promote = confirm && cur === 'pending';
          await tx.execute(
            `UPDATE ${t} SET kind = ${p(1)}, columns_differing = ${p(2)}, last_seen_ms = ${p(3)}, checks = checks + 1${promote ? `, state = 'confirmed', state_ms = ${p(4)}` : ''} WHERE entity = ${p(promote ? 5 : 4)} AND entity_key = ${p(promote ? 6 : 5)}`,
            promote ? [d.kind, cols, nowMs, nowMs, entity, d.key] : [d.kind, cols, nowMs, entity, d.key],
          );
        }
      }
    });
  }
  return created;
}

/**
 * Moves keys of one entity to `state` (with state time `nowMs`; `seen` also updates last-seen and the check
 * count, for a recheck that found the key still different).
 */
export async function setMismatchState(
  control: Store,
  entity: string,
  keys: string[],
  state: MismatchState,
  nowMs: number,
  seen = false,
): Promise<void> {
  const t = control.controlTable('mismatches');
  const p = (i: number) => control.sql.param(i);
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH);
    const params: unknown[] = [];
    const ph = (v: unknown) => (params.push(v), p(params.length));
    const sql = `UPDATE ${t} SET state = ${ph(state)}, state_ms = ${ph(nowMs)}${seen ? `, last_seen_ms = ${ph(nowMs)}, checks = checks + 1` : ''} WHERE entity = ${ph(entity)} AND entity_key IN (${batch.map((k) => ph(k)).join(', ')})`;
    await control.execute(sql, params);
  }
}

/**
 * Mismatches of an entity in the given states (and, with `origins`, of those origins only), oldest first-seen
 * first, at most `limit`. Each carries its {@link Mismatch.origin}.
 */
export async function listMismatches(
  control: Store,
  entity: string,
  states: MismatchState[],
  limit = 100_000,
  origins?: MismatchOrigin[],
): Promise<Mismatch[]> {
  const t = control.controlTable('mismatches');
  const params: unknown[] = [];
  const ph = (v: unknown) => (params.push(v), control.sql.param(params.length));
  // placeholders in text order (`?` dialects bind by position)
  let where = `entity = ${ph(entity)} AND state IN (${states.map(ph).join(', ')})`;
  if (origins?.length) where += ` AND origin IN (${origins.map(ph).join(', ')})`;
  const rows = await control.query<Record<string, unknown>>(
    `SELECT entity, entity_key, key_values, kind, columns_differing, state, origin, first_seen_ms, last_seen_ms, state_ms, checks FROM ${t} WHERE ${where} ORDER BY first_seen_ms, entity_key LIMIT ${Math.max(1, Math.floor(limit))}`,
    params,
  );
  return rows.map((r) => ({
    entity: String(r.entity),
    key: String(r.entity_key),
    keyValues: decodeKeyValues(String(r.key_values)),
    kind: String(r.kind) as Mismatch['kind'],
    columns: r.columns_differing ? (JSON.parse(String(r.columns_differing)) as string[]) : [],
    state: String(r.state) as MismatchState,
    origin: (r.origin == null ? 'verify' : String(r.origin)) as MismatchOrigin,
    firstSeenMs: Number(r.first_seen_ms),
    lastSeenMs: Number(r.last_seen_ms),
    stateMs: Number(r.state_ms),
    checks: Number(r.checks),
  }));
}

/** Count of mismatches per entity and state; also published as the `tandem_verify_mismatches` gauge. */
export async function mismatchCounts(
  control: Store,
  entities: string[],
): Promise<Record<string, Record<MismatchState, number>>> {
  return (await mismatchFigures(control, entities)).counts;
}

/**
 * Open mismatches (pending or confirmed) per entity and origin: `{ users: { verify: 3, shadow: 1 } }`. Every entity
 * of `entities` and every origin is present (0 when none). Writes nothing.
 */
export async function openMismatchesByOrigin(
  control: Store,
  entities: string[],
): Promise<Record<string, Record<MismatchOrigin, number>>> {
  return (await mismatchFigures(control, entities)).origins;
}

/**
 * {@link mismatchCounts} and {@link openMismatchesByOrigin} from one query (the gauge is published too).
 */
export async function mismatchFigures(
  control: Store,
  entities: string[],
): Promise<{
  counts: Record<string, Record<MismatchState, number>>;
  origins: Record<string, Record<MismatchOrigin, number>>;
}> {
  const t = control.controlTable('mismatches');
  const rows = await control.query<{ entity: string; state: string; origin: string; n: unknown }>(
    `SELECT entity, state, origin, count(*) AS n FROM ${t} GROUP BY entity, state, origin`,
  );
  const counts: Record<string, Record<MismatchState, number>> = {};
  const origins: Record<string, Record<MismatchOrigin, number>> = {};
  for (const e of entities) {
    counts[e] = { pending: 0, confirmed: 0, repaired: 0, resolved: 0 };
    origins[e] = { verify: 0, shadow: 0 };
  }
  for (const r of rows) {
    const e = String(r.entity);
    if (!counts[e]) continue;
    const state = String(r.state) as MismatchState;
    const n = Number(r.n);
    counts[e][state] = (counts[e][state] ?? 0) + n;
    if (state === 'pending' || state === 'confirmed') {
      const o = String(r.origin) as MismatchOrigin;
      origins[e]![o] = (origins[e]![o] ?? 0) + n;
    }
  }
  for (const [e, s] of Object.entries(counts)) {
    for (const [state, n] of Object.entries(s)) mismatchGauge.set({ entity: e, state }, n);
  }
  return { counts, origins };
}
