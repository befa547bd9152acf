import { TandemError } from '../../core/errors.js';
import { detailOf, kindOfCode, saysValueRefused } from '../common-errors.js';
import type { ErrorKind } from '../types.js';

/** SQLSTATEs of a refused value besides class 22 (data exception): NOT NULL (23502) and CHECK (23514) violations. */
const VALUE_STATES = new Set(['23502', '23514']);

/**
 * What a PostgreSQL/PGlite error means (see `ErrorKind`), from the SQLSTATE `pgError` keeps in `detail.sqlstate`
 * (or the driver's `code` on the cause): 23505 unique, 40P01 deadlock, 40001 serialization, 55P03 lock timeout
 * (checked before unreachable: a lock timeout's message says "timeout"), 25006 read-only, class 22 and 23502/23514
 * value.
 * @internal
 */
export function classifyPgError(e: unknown): ErrorKind {
  if (!(e instanceof TandemError)) return 'other';
  const d = detailOf(e);
  const cause = e.cause as { code?: unknown } | undefined;
  const state =
    typeof d.sqlstate === 'string' && d.sqlstate ? d.sqlstate : typeof cause?.code === 'string' ? cause.code : '';
  if (state === '55P03') return 'lock_timeout';
  const byCode = kindOfCode(e);
  if (byCode) return byCode;
  if (d.violation === 'unique' || state === '23505') return 'unique';
  if (state === '40P01') return 'deadlock';
  if (state === '40001') return 'serialization';
  // a write in a read-only transaction, or refused by Tandem's read-only trigger (src/stores/postgres/read-only.ts)
  if (state === '25006') return 'read_only';
  if (/^22/.test(state) || VALUE_STATES.has(state)) return 'value';
  if (state === '23503') return 'reference';
  return saysValueRefused(e) ? 'value' : 'other';
}
