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
