import { TandemError } from '../core/errors.js';
import { mapRow, misfit, type MappedRow, type ResolvedEntity } from '../core/mapping.js';
import type { Executor, LedgerMode, Row, Store } from '../stores/types.js';

/** What one apply did: rows offered, rows written (their version won), rows skipped (ledger had newer or equal). */
export interface ApplyResult {
  offered: number;
  applied: number;
  skipped: number;
}

/** Largest number of bound parameters per statement for dialects that bind every value (MySQL, SQLite). */
const MAX_PARAMS = 30_000;

/** The ledger mode of an entity: strict versions when it has a version column, last writer wins otherwise. */
export function ledgerMode(entity: ResolvedEntity): LedgerMode {
  return entity.version ? 'newer' : 'last-writer-wins';
}

/**
 * Checks every mapped value against its target column before anything is written.
 * Throws `TANDEM_ERR_VALUE_DOES_NOT_FIT` naming the entity, key, table and column (never the value).
 */
export function checkFits(entity: ResolvedEntity, rows: MappedRow[]): void {
  for (const r of rows) {
    entity.targets.forEach((t, ti) => {
      const values = r.values[ti]!;
      for (let ci = 0; ci < t.columns.length; ci++) {
        const col = t.columns[ci]!;
        const why = misfit(values[ci], col);
        if (why) throw new TandemError('VALUE_DOES_NOT_FIT', `entity ${entity.name} key ${r.key}: the value for ${t.table.name}.${col.name} ${why}`, { entity: entity.name, key: r.key, table: t.table.name, column: col.name });
      }
    });
  }
}

/**
 * The one guarded apply path, shared by backfill and relay: maps source rows, checks they fit, advances the
 * version ledger inside `tx` and upserts only the rows whose version won into every target table (parents
 * first). Idempotent and order-free: applying the same or an older row again changes nothing.
 *
 * Runs inside the caller's transaction on the target, so the caller can commit its own bookkeeping (a
 * backfill checkpoint) atomically with the rows.
 */
export async function applyRows(target: Store, tx: Executor, entity: ResolvedEntity, sourceRows: Row[]): Promise<ApplyResult> {
  const mapped = sourceRows.map((r) => mapRow(entity, r));
  checkFits(entity, mapped);
  const won = await target.advanceLedger(
    tx,
    target.controlTable('version_ledger'),
    entity.name,
    mapped.map((m) => ({ key: m.key, version: m.version, deleted: false })),
    ledgerMode(entity),
  );
  // one row per key: the last one offered for a key wins (same version → same row)
  const chosen = new Map<string, MappedRow>();
  for (const m of mapped) if (won.has(m.key)) chosen.set(m.key, m);
  const rows = [...chosen.values()];
  if (rows.length) {
    for (let ti = 0; ti < entity.targets.length; ti++) {
      const t = entity.targets[ti]!;
      const columns = t.columns.map((c) => c.name);
      const values = rows.map((r) => r.values[ti]!);
      const per = target.dialect === 'postgres' || target.dialect === 'pglite' ? values.length : Math.max(1, Math.floor(MAX_PARAMS / columns.length));
      for (let i = 0; i < values.length; i += per) {
        const st = target.sql.upsert({ table: t.table.name, columns, key: t.keyColumns, rows: values.slice(i, i + per), columnInfo: t.columns });
        try {
          await tx.execute(st.sql, st.params);
        } catch (e) {
          throw translateWriteError(e, entity, t.table.name);
        }
      }
    }
  }
  return { offered: sourceRows.length, applied: rows.length, skipped: sourceRows.length - rows.length };
}

/** Turns a database's "value too long / out of range / invalid input" into TANDEM_ERR_VALUE_DOES_NOT_FIT. */
function translateWriteError(e: unknown, entity: ResolvedEntity, table: string): unknown {
  const te = e as TandemError;
  const sqlstate = String((te.detail as { sqlstate?: string } | undefined)?.sqlstate ?? '');
  if (/^22/.test(sqlstate) || /out of range|too long|invalid input|incorrect .* value|data truncat/i.test(te.message ?? ''))
    return new TandemError('VALUE_DOES_NOT_FIT', `entity ${entity.name}: a value does not fit target table ${table}: ${te.message}`, { entity: entity.name, table }, { cause: e });
  return e;
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
export function keysWhere(store: Store, columns: string[], keys: unknown[][], first = 1): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const ph = (v: unknown) => (params.push(v), store.sql.param(first + params.length - 1));
  if (columns.length === 1) return { sql: `${store.sql.ident(columns[0]!)} IN (${keys.map((k) => ph(k[0])).join(', ')})`, params };
  return { sql: keys.map((k) => `(${columns.map((c, i) => `${store.sql.ident(c)} = ${ph(k[i])}`).join(' AND ')})`).join(' OR '), params };
}

/** Reads the current source rows of an entity for the given raw key values (rows that no longer exist are absent). */
export async function readSourceRows(source: Store, entity: ResolvedEntity, keys: unknown[][], via: Executor = source): Promise<Row[]> {
  if (!keys.length) return [];
  const w = keysWhere(source, entity.key, keys);
  return via.query<Row>(`SELECT ${entity.readColumns.map((c) => source.sql.ident(c)).join(', ')} FROM ${source.sql.table(entity.source.name)} WHERE ${w.sql}`, w.params);
}

/**
 * Applies deletes through the guarded path: writes tombstones in the version ledger and deletes the target rows
 * (children first) of the keys whose tombstone is new. Returns how many keys were deleted.
 */
export async function applyDeletes(target: Store, tx: Executor, entity: ResolvedEntity, keys: { key: string; keyValues: unknown[] }[]): Promise<number> {
  if (!keys.length) return 0;
  const won = await target.advanceLedger(tx, target.controlTable('version_ledger'), entity.name, keys.map((k) => ({ key: k.key, version: TOMBSTONE_VERSION, deleted: true })), 'newer');
  const doomed = keys.filter((k) => won.has(k.key));
  if (!doomed.length) return 0;
  for (const t of [...entity.targets].reverse()) {
    const w = keysWhere(target, t.keyColumns, doomed.map((k) => k.keyValues));
    await tx.execute(`DELETE FROM ${target.sql.table(t.table.name)} WHERE ${w.sql}`, w.params);
  }
  return doomed.length;
}
