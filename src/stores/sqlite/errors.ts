import { TandemError } from '../../core/errors.js';
import { detailOf, kindOfCode, saysValueRefused } from '../common-errors.js';
import { saysReadOnly } from '../read-only.js';
import type { ErrorKind } from '../types.js';

/**
 * Extended result codes of a duplicate primary or unique key value.
 * @internal
 */
export const SQLITE_UNIQUE_CODES = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);

/**
 * What an SQLite error means (see `ErrorKind`), from the extended result code `sqliteError` keeps in
 * `detail.sqliteCode`: UNIQUE/PRIMARYKEY constraint unique, `SQLITE_BUSY*` lock timeout (another process held
 * the write lock past `busy_timeout`), CHECK/NOT NULL constraint, MISMATCH and TOOBIG value, `SQLITE_READONLY*` and
 * Tandem's read-only trigger read-only.
 * @internal
 */
export function classifySqliteError(e: unknown): ErrorKind {
  if (!(e instanceof TandemError)) return 'other';
  const byCode = kindOfCode(e);
  if (byCode) return byCode;
  const d = detailOf(e);
  const code = typeof d.sqliteCode === 'string' ? d.sqliteCode : '';
  if (d.violation === 'unique' || SQLITE_UNIQUE_CODES.has(code)) return 'unique';
  if (/^SQLITE_BUSY/.test(code)) return 'lock_timeout';
  // a read-only database file, or Tandem's read-only trigger (RAISE(ABORT, 'tandem read-only: …'))
  if (/^SQLITE_READONLY/.test(code) || (code === 'SQLITE_CONSTRAINT_TRIGGER' && saysReadOnly(e.message)))
    return 'read_only';
  if (/^SQLITE_(CONSTRAINT_(CHECK|NOTNULL)|MISMATCH|TOOBIG)$/.test(code)) return 'value';
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'reference';
  return saysValueRefused(e) ? 'value' : 'other';
}
