import { encodeKeyValues } from '../control/control.js';
import type { Row, Store } from '../stores/types.js';

/** The outbox table's name as SQL for a dialect: `"tandem"."outbox"` or `` `tandem_outbox` `` / `"tandem_outbox"`. */
export function outboxTable(dialect: 'postgres' | 'pglite' | 'mysql' | 'sqlite'): string {
  return dialect === 'mysql' ? '`tandem_outbox`' : dialect === 'sqlite' ? '"tandem_outbox"' : '"tandem"."outbox"';
}

/** One change to record: entity, canonical key string, raw key values. */
export interface OutboxEntry {
  entity: string;
  key: string;
  keyValues: unknown[];
}

/**
 * The INSERT that records changes in the outbox, one row per entry, for the application's transaction.
 * Placeholders follow the dialect (`$n` or `?`).
 */
export function outboxInsert(dialect: 'postgres' | 'pglite' | 'mysql' | 'sqlite', entries: OutboxEntry[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const ph = () => (dialect === 'postgres' || dialect === 'pglite' ? `$${params.length}` : '?');
  const values = entries.map((e) => {
    const a = (params.push(e.entity), ph());
    const b = (params.push(e.key), ph());
    const c = (params.push(encodeKeyValues(e.keyValues)), ph());
    // MySQL/MariaDB: the application's session may not be in UTC, but Tandem's timestamps are
    return dialect === 'mysql' ? `(${a}, ${b}, ${c}, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))` : `(${a}, ${b}, ${c})`;
  });
  const cols = dialect === 'mysql' ? 'entity, entity_key, key_values, created_at, next_attempt_at' : 'entity, entity_key, key_values';
  return { sql: `INSERT INTO ${outboxTable(dialect)} (${cols}) VALUES ${values.join(', ')}`, params };
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
 * Claims up to `limit` due outbox rows in `tx` (a transaction on the primary): `FOR UPDATE SKIP LOCKED` on
 * PostgreSQL and MySQL/MariaDB, so several relays share the work without waiting on each other and without a
 * `WHERE id > last_seen` high-water mark (ids become visible out of order). SQLite has one writer at a time:
 * its transaction is the claim.
 */
export async function claimOutbox(store: Store, tx: { query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]> }, limit: number): Promise<OutboxRow[]> {
  const t = store.controlTable('outbox');
  const now = store.dialect === 'sqlite' ? "strftime('%Y-%m-%dT%H:%M:%fZ','now')" : store.dialect === 'mysql' ? 'CURRENT_TIMESTAMP(6)' : 'now()';
  const lock = store.dialect === 'sqlite' ? '' : ' FOR UPDATE SKIP LOCKED';
  const rows = await tx.query<Row>(
    `SELECT id, entity, entity_key, key_values, attempts, created_at FROM ${t} WHERE next_attempt_at <= ${now} ORDER BY next_attempt_at, id LIMIT ${Math.max(1, Math.floor(limit))}${lock}`,
  );
  return rows.map((r) => ({ id: String(r.id), entity: String(r.entity), entity_key: String(r.entity_key), key_values: String(r.key_values), attempts: Number(r.attempts), created_at: String(r.created_at) }));
}
