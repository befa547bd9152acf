import { canonicalTimestamp } from '../core/canonical.js';
import { backoffMs, type BackoffPolicy } from '../core/async.js';
import { controlTableFor, sqlFor } from '../stores/dialects.js';
import type { Dialect, Executor, Row, SqlDialect, Store } from '../stores/types.js';

/**
 * The outbox, in one place: its tables (DDL of control-schema v2), the insert the application's transaction
 * runs, the claim a relay or the broker bridge takes, and what follows a claim — acknowledge (delete),
 * reschedule with backoff, or move to the dead-letter table — plus the lag figure and the key encoding of its
 * rows. Used by the dual writer (src/capture/writer.ts), the relay (src/apply/relay.ts) and the broker bridge
 * (src/apply/broker.ts). Engine differences come from the store's SQL builders and capabilities.
 *
 * Rows: `outbox(id, entity, entity_key, key_values, created_at, attempts, next_attempt_at, last_error)` in the
 * primary; `dead_letters(id, origin, change_id, entity, entity_key, key_values, attempts, reason, first_seen_at,
 * dead_at)` in the control store, one per (origin, change id).
 */

/**
 * Raw key values as JSON (bigints as strings, Buffers as `{type:'Buffer',data}`): outbox rows, checkpoints, mismatches.
 * @internal
 */
export function encodeKeyValues(values: unknown[]): string {
  return JSON.stringify(values, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * Inverse of {@link encodeKeyValues}.
 * @internal
 */
export function decodeKeyValues(text: string): unknown[] {
  // the reviver costs more than the parse: only text that holds a Buffer needs it
  if (!text.includes('"Buffer"')) return JSON.parse(text) as unknown[];
  return JSON.parse(text, (_k, v) =>
    v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data) : v,
  ) as unknown[];
}

/**
 * The CREATE statements of the outbox and dead-letter tables (control-schema migration 2; never edited once
 * released), with the control table namer `t` and the dialect's column types and clock `sql`.
 * @internal
 */
export function outboxDdl(t: (name: string) => string, sql: Pick<SqlDialect, 'ddl' | 'now'>): string[] {
  const y = sql.ddl;
  const now = sql.now();
  return [
    `CREATE TABLE IF NOT EXISTS ${t('outbox')} (
          id ${y.serial},
          entity ${y.text(128)} NOT NULL,
          entity_key ${y.text(512)} NOT NULL,
          key_values ${y.longtext} NOT NULL,
          created_at ${y.ts} NOT NULL DEFAULT ${now},
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at ${y.ts} NOT NULL DEFAULT ${now},
          last_error ${y.longtext}${y.inlineIndexes ? ', INDEX outbox_due (next_attempt_at, id)' : ''})${y.tableSuffix}`,
    ...(y.inlineIndexes
      ? []
      : [`CREATE INDEX IF NOT EXISTS ${y.indexName('outbox_due')} ON ${t('outbox')} (next_attempt_at, id)`]),
    `CREATE TABLE IF NOT EXISTS ${t('dead_letters')} (
          id ${y.serial},
          origin ${y.text(32)} NOT NULL,
          change_id ${y.text(128)} NOT NULL,
          entity ${y.text(128)} NOT NULL,
          entity_key ${y.text(512)} NOT NULL,
          key_values ${y.longtext} NOT NULL,
          attempts integer NOT NULL,
          reason ${y.longtext} NOT NULL,
          first_seen_at ${y.ts} NOT NULL,
          dead_at ${y.ts} NOT NULL DEFAULT ${now},
          UNIQUE (origin, change_id))${y.tableSuffix}`,
  ];
}

/**
 * The outbox table's name as SQL for a dialect: `"tandem"."outbox"` or `` `tandem_outbox` `` / `"tandem_outbox"`.
 * @internal
 */
export function outboxTable(dialect: Dialect): string {
  return controlTableFor(dialect, 'outbox');
}

/** One change to record: entity, canonical key string, raw key values. */
export interface OutboxEntry {
  entity: string;
  key: string;
  keyValues: unknown[];
}

/**
 * The INSERT that records changes in the outbox, one row per entry, for the application's transaction on its
 * own connection (of `dialect`). Placeholders follow the dialect (`$n` or `?`); the timestamps are taken in UTC
 * whatever the session's time zone.
 * @internal
 */
export function outboxInsert(dialect: Dialect, entries: OutboxEntry[]): { sql: string; params: unknown[] } {
  const sql = sqlFor(dialect);
  const params: unknown[] = [];
  const ph = (v: unknown) => (params.push(v), sql.param(params.length));
  const now = sql.utcNow();
  const values = entries.map(
    (e) => `(${ph(e.entity)}, ${ph(e.key)}, ${ph(encodeKeyValues(e.keyValues))}, ${now}, ${now})`,
  );
  return {
    sql: `INSERT INTO ${outboxTable(dialect)} (entity, entity_key, key_values, created_at, next_attempt_at) VALUES ${values.join(', ')}`,
    params,
  };
}

/** A claimed outbox row. */
export interface OutboxRow {
  id: string;
  entity: string;
  entity_key: string;
  key_values: string;
  attempts: number;
  created_at: string;
}

/**
 * Makes every waiting change of `store`'s outbox due now (`next_attempt_at` = now where it lies ahead): the backoff
 * earlier failed applies set is forgiven once. The cutover's and rollback's drain under the fence calls it first —
 * writes are held while it runs, so a backoff left by a relay that failed during an outage must not stretch the
 * write pause; a change that fails again during the drain backs off as usual. Returns the changes moved.
 */
export async function makeOutboxDue(store: Store): Promise<number> {
  const t = store.controlTable('outbox');
  const now = store.sql.now();
  return store.execute(`UPDATE ${t} SET next_attempt_at = ${now} WHERE next_attempt_at > ${now}`);
}

/**
 * Claims up to `limit` due outbox rows in `tx` (a transaction on the primary): `FOR UPDATE SKIP LOCKED` where
 * the store can ({@link StoreCapabilities.skipLocked}), so several relays share the work without waiting on each
 * other and without a `WHERE id > last_seen` high-water mark (ids become visible out of order). Without it
 * (SQLite: one writer at a time) the transaction is the claim. Oldest change first, by id: the scan then walks the
 * primary key and locks only the rows it returns (ordered by `next_attempt_at, id`, InnoDB's scan of that index
 * and the relays' deletes by primary key deadlocked now and then under several relays).
 * @internal
 */
export async function claimOutbox(store: Store, tx: Pick<Executor, 'query'>, limit: number): Promise<OutboxRow[]> {
  const t = store.controlTable('outbox');
  const lock = store.capabilities.skipLocked ? ' FOR UPDATE SKIP LOCKED' : '';
  const rows = await tx.query<Row>(
    `SELECT id, entity, entity_key, key_values, attempts, created_at FROM ${t} WHERE next_attempt_at <= ${store.sql.now()} ORDER BY id LIMIT ${Math.max(1, Math.floor(limit))}${lock}`,
  );
  return rows.map((r) => ({
    id: String(r.id),
    entity: String(r.entity),
    entity_key: String(r.entity_key),
    key_values: String(r.key_values),
    attempts: Number(r.attempts),
    created_at: String(r.created_at),
  }));
}

/**
 * Acknowledges claimed rows: deletes them by id in `tx` (the claim's transaction), in one statement per 10,000 ids
 * (fewer where the store binds fewer parameters).
 * @internal
 */
export async function acknowledgeOutbox(store: Store, tx: Executor, ids: string[]): Promise<void> {
  const t = store.controlTable('outbox');
  const per = Math.max(1, Math.min(10_000, store.capabilities.maxParams - 1));
  for (let i = 0; i < ids.length; i += per) {
    const chunk = ids.length <= per ? ids : ids.slice(i, i + per);
    await tx.execute(`DELETE FROM ${t} WHERE id IN (${chunk.map((_, j) => store.sql.param(j + 1)).join(', ')})`, chunk);
  }
}

/**
 * The relay's backoff before a failed change is due again: 200 ms × 2^(attempts−1), at most 60 s.
 * @internal
 */
export const RELAY_RETRY: BackoffPolicy = { baseMs: 200, capMs: 60_000 };

/**
 * Gives a claimed row back for a later attempt, in `tx`: records its attempts and the reason (cut to 2000
 * characters) and makes it due after the relay's backoff ({@link RELAY_RETRY}) on the store's clock.
 * @internal
 */
export async function rescheduleOutbox(
  store: Store,
  tx: Executor,
  id: string,
  attempts: number,
  reason: string,
): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  await tx.execute(
    `UPDATE ${store.controlTable('outbox')} SET attempts = ${p(1)}, last_error = ${p(2)}, next_attempt_at = ${store.sql.nowPlus(backoffMs(attempts, RELAY_RETRY))} WHERE id = ${p(3)}`,
    [attempts, reason.slice(0, 2000), id],
  );
}

/**
 * Milliseconds since a stored `created_at` (0 when it cannot be read).
 * @internal
 */
export function outboxAgeMs(createdAt: string): number {
  try {
    const c = canonicalTimestamp(createdAt);
    return Math.max(0, Date.now() - Date.parse(`${c.slice(0, 23)}Z`));
  } catch {
    return 0;
  }
}

/**
 * A stored `created_at` as epoch milliseconds (now when it cannot be read).
 * @internal
 */
export function outboxCreatedMs(createdAt: string): number {
  try {
    const c = canonicalTimestamp(createdAt);
    return Date.parse(`${c.slice(0, 23)}Z`);
  } catch {
    return Date.now();
  }
}

/**
 * Records a change in the dead-letter table of `control` (idempotent per origin and change id: a second record
 * of the same change does nothing). The reason is cut to 2000 characters.
 * @internal
 */
export async function deadLetter(
  control: Store,
  origin: string,
  r: { id: string; entity: string; entity_key: string; key_values: string; created_at: string },
  attempts: number,
  reason: string,
): Promise<void> {
  let first: string;
  try {
    first = canonicalTimestamp(r.created_at).replace('T', ' ').replace('Z', '');
  } catch {
    first = new Date().toISOString().replace('T', ' ').replace('Z', '');
  }
  await control.execute(
    control.sql.insertIgnore(
      control.controlTable('dead_letters'),
      ['origin', 'change_id', 'entity', 'entity_key', 'key_values', 'attempts', 'reason', 'first_seen_at'],
      ['origin', 'change_id'],
    ),
    [origin, r.id, r.entity, r.entity_key, r.key_values, attempts, reason.slice(0, 2000), first],
  );
}

/**
 * Moves a claimed row to the dead-letter table of `control` (origin `outbox`) and deletes it from the outbox in
 * `tx`. The dead letter is written first: a crash between the two leaves the row to be claimed again, and the
 * second record of it does nothing.
 * @internal
 */
export async function deadLetterOutbox(
  primary: Store,
  tx: Executor,
  control: Store,
  r: OutboxRow,
  attempts: number,
  reason: string,
): Promise<void> {
  await deadLetter(control, 'outbox', r, attempts, reason);
  await tx.execute(`DELETE FROM ${primary.controlTable('outbox')} WHERE id = ${primary.sql.param(1)}`, [r.id]);
}

/**
 * Age in ms of the oldest change waiting in the outbox of `primary` (0 when empty), and how many wait.
 * @internal
 */
export async function outboxLag(primary: Store): Promise<{ pending: number; oldestMs: number }> {
  const r = await primary.query<{ n: unknown; oldest: unknown }>(
    `SELECT count(*) AS n, min(created_at) AS oldest FROM ${primary.controlTable('outbox')}`,
  );
  const n = Number(r[0]?.n ?? 0);
  return { pending: n, oldestMs: n && r[0]?.oldest ? outboxAgeMs(String(r[0].oldest)) : 0 };
}

/**
 * Canonical keys of `entity` among `entityKeys` that have at least one change waiting in the outbox of `store`
 * (the primary): due now, waiting for a retry, or claimed by a relay that has not acknowledged it yet. Dead
 * letters are not counted (they left the outbox). 500 keys per statement. Throws what the store throws.
 * Used by the shadow comparison to tell a change in flight from a mismatch (src/routing/compare.ts).
 */
export async function pendingKeys(
  store: Store,
  entity: string,
  entityKeys: string[],
  via: Pick<Executor, 'query'> = store,
): Promise<Set<string>> {
  const out = new Set<string>();
  const unique = [...new Set(entityKeys)];
  const t = store.controlTable('outbox');
  for (let i = 0; i < unique.length; i += 500) {
    const chunk = unique.slice(i, i + 500);
    const rows = await via.query<{ entity_key: unknown }>(
      `SELECT DISTINCT entity_key FROM ${t} WHERE entity = ${store.sql.param(1)} ` +
        `AND entity_key IN (${chunk.map((_, j) => store.sql.param(j + 2)).join(', ')})`,
      [entity, ...chunk],
    );
    for (const r of rows) out.add(Buffer.isBuffer(r.entity_key) ? r.entity_key.toString('utf8') : String(r.entity_key));
  }
  return out;
}

/**
 * How many changes of one key (`entityKey`: the canonical key string, as the dual writer records it) wait in the
 * outbox of `store`. Throws what the store throws.
 */
export async function pendingForKey(
  store: Store,
  entity: string,
  entityKey: string,
  via: Pick<Executor, 'query'> = store,
): Promise<number> {
  const r = await via.query<{ n: unknown }>(
    `SELECT count(*) AS n FROM ${store.controlTable('outbox')} ` +
      `WHERE entity = ${store.sql.param(1)} AND entity_key = ${store.sql.param(2)}`,
    [entity, entityKey],
  );
  return Number(r[0]?.n ?? 0);
}
