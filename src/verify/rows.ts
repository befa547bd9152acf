import { keysWhere, readSourceRows } from '../apply/apply.js';
import { mapRow, type ResolvedEntity } from '../core/mapping.js';
import type { ColumnInfo, Row, Store } from '../stores/types.js';
import { canonText } from '../core/encoding.js';
import { compareKey, targetReaders, type KeyDifference } from './verify.js';

/** A key to compare now: its canonical string and raw values (source key order). */
export interface KeyToCheck {
  key: string;
  keyValues: unknown[];
}

/** Keys per point read (MariaDB turns longer IN lists into semi-joins). */
const BATCH = 500;

/**
 * Compares the current source and target rows of the given keys, key by key, with the full verify's canonical
 * compare: reads the source rows by key (the apply's `readSourceRows`) and each target table's rows by its key
 * columns. Returns, per canonical key, the difference or null when the key matches (absent on both sides
 * included). Used by samples, continuous rechecks and repair. Throws what the stores throw.
 */
export async function compareKeysNow(
  source: Store,
  target: Store,
  e: ResolvedEntity,
  keys: KeyToCheck[],
): Promise<Map<string, KeyDifference | null>> {
  const out = new Map<string, KeyDifference | null>();
  const readers = targetReaders(e);
  const unique = [...new Map(keys.map((k) => [k.key, k])).values()];
  for (let i = 0; i < unique.length; i += BATCH) {
    const batch = unique.slice(i, i + BATCH);
    const raw = batch.map((k) => k.keyValues);
    const sourceRows = await readSourceRows(source, e, raw);
    const mapped = new Map(
      sourceRows.map((r) => {
        const m = mapRow(e, r);
        return [m.key, m] as const;
      }),
    );
    const perTable: Map<string, Row>[] = [];
    for (const tr of readers) {
      const w = keysWhere(target, tr.t.keyColumns, raw);
      const rows = await target.query<Row>(
        `SELECT ${tr.columns.map((c) => target.sql.ident(c)).join(', ')} FROM ${target.sql.table(tr.t.table.name)} WHERE ${w.sql}`,
        w.params,
      );
      perTable.push(
        new Map(
          rows.map((r) => [
            canonicalKey(
              tr.keyInfo,
              tr.t.keyColumns.map((c) => r[c]),
            ),
            r,
          ]),
        ),
      );
    }
    for (const k of batch)
      out.set(
        k.key,
        compareKey(
          e,
          k.key,
          mapped.get(k.key) ?? null,
          perTable.map((m) => m.get(k.key)),
        ),
      );
  }
  return out;
}

/** The canonical key string of raw key values (as the version ledger and verify write it). */
export function canonicalKey(
  columns: Pick<ColumnInfo, 'category' | 'scale' | 'floatBytes'>[],
  values: unknown[],
): string {
  return JSON.stringify(values.map((v, i) => canonText(v, columns[i]!)));
}

/**
 * Raw key values from a canonical key string (`["42","a"]`), usable as statement parameters on any store:
 * binary keys back to bytes, timestamps as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), booleans as booleans, the rest as
 * their canonical text. Throws `SyntaxError` on a string that is not a JSON array.
 */
export function rawKeyFromCanonical(key: string, columns: Pick<ColumnInfo, 'category'>[]): unknown[] {
  const values = JSON.parse(key) as (string | null)[];
  return values.map((v, i) => {
    if (v === null) return null;
    switch (columns[i]?.category) {
      case 'binary':
        return Buffer.from(v, 'hex');
      case 'timestamp':
      case 'timestamptz':
        return v.replace('T', ' ').replace(/Z$/, '');
      case 'boolean':
        return v === 'true';
      default:
        return v;
    }
  });
}
