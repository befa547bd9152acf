import { TandemError } from '../core/errors.js';
import type { AdvanceSequencesOptions, SequenceAdvance } from './types.js';

/**
 * The shared arithmetic of {@link Store.advanceSequences} (src/stores/<dialect>/sequences.ts reads and moves the
 * engine's counters): the next value a counter must hand out, and the report entry.
 */

/**
 * The margin of `o` as a bigint ≥ 0. Throws `TANDEM_ERR_USAGE` for a negative or non-integer margin.
 * @internal
 */
export function marginOf(o: AdvanceSequencesOptions | undefined): bigint {
  const m = o?.margin ?? 0;
  if (typeof m === 'bigint') {
    if (m < 0n) throw new TandemError('USAGE', `sequence margin must be a whole number ≥ 0, not ${m}`);
    return m;
  }
  if (!Number.isSafeInteger(m) || m < 0)
    throw new TandemError('USAGE', `sequence margin must be a whole number ≥ 0, not ${m}`);
  return BigInt(m);
}

/**
 * The decision for one counter: its next value `from` (null where the engine has none yet), the column's `max`
 * (null: empty table) and the margin. The counter moves to `max + 1 + margin` only when that is above `from`:
 * never down.
 * @internal
 */
export function planAdvance(
  from: bigint | null,
  max: bigint | null,
  margin: bigint,
): { to: bigint | null; move: boolean } {
  if (max === null) return { to: from, move: false };
  const want = max + 1n + margin;
  if (from !== null && from >= want) return { to: from, move: false };
  return { to: want, move: true };
}

/**
 * Advances one counter: plans it ({@link planAdvance}), calls `write(to)` unless it need not move or `dryRun`,
 * and returns its report entry (`note` says why it did not move). Throws what `write` throws.
 * @internal
 */
export async function advanceCounter(
  base: Omit<SequenceAdvance, 'max' | 'from' | 'to' | 'changed' | 'note'> & { max: bigint | null },
  from: bigint | null,
  margin: bigint,
  dryRun: boolean | undefined,
  write: (to: bigint) => Promise<unknown>,
): Promise<SequenceAdvance> {
  const plan = planAdvance(from, base.max, margin);
  if (!plan.move) {
    const note = base.max === null ? 'empty table' : 'already past the keys';
    return advanceEntry({ ...base, from, to: from, changed: false, note });
  }
  if (!dryRun) await write(plan.to!);
  return advanceEntry({ ...base, from, to: plan.to, changed: !dryRun });
}

/**
 * A report entry (values as decimal strings).
 * @internal
 */
export function advanceEntry(
  e: Omit<SequenceAdvance, 'max' | 'from' | 'to'> & { max: bigint | null; from: bigint | null; to: bigint | null },
): SequenceAdvance {
  const s = (v: bigint | null) => (v === null ? null : v.toString());
  const out: SequenceAdvance = {
    table: e.table,
    column: e.column,
    kind: e.kind,
    sequence: e.sequence,
    max: s(e.max),
    from: s(e.from),
    to: s(e.to),
    changed: e.changed,
  };
  if (e.note) out.note = e.note;
  return out;
}

/**
 * A value read from the engine as a bigint (numbers, bigints, decimal strings), or null.
 * @internal
 */
export function bigOrNull(v: unknown): bigint | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  return /^-?\d+$/.test(s.trim()) ? BigInt(s.trim()) : null;
}

/**
 * The error for a table that does not exist in the store.
 * @internal
 */
export function missingTable(url: string, table: string): TandemError {
  return new TandemError('TABLE_NOT_FOUND', `${url}: table "${table}" does not exist`, { table });
}
