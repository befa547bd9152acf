import { TandemError } from '../../core/errors.js';
import { detailOf, kindOfCode, saysValueRefused } from '../common-errors.js';
import { saysReadOnly } from '../read-only.js';
import type { ErrorKind } from '../types.js';

/**
 * Server error numbers of a duplicate value in a primary or unique key: ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME.
 * @internal
 */
export const MYSQL_DUPLICATE_KEY = new Set([1062, 1586]);

/** Errors meaning a value was refused: out of range, truncated, incorrect value, too long, NULL, CHECK. */
const VALUE_ERRNOS = new Set([1048, 1264, 1265, 1292, 1366, 1367, 1406, 1411, 3140, 3819, 4025]);

/** `ALGORITHM=…` (or `LOCK=…`) is not supported for this operation: ER_ALTER_OPERATION_NOT_SUPPORTED(_REASON). */
const UNSUPPORTED_ERRNOS = new Set([1845, 1846]);

/**
 * Refusals of a write to a read-only table, server or transaction: ER_OPEN_AS_READONLY, ER_OPTION_PREVENTS_STATEMENT
 * (`--read-only`), ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION.
 */
const READ_ONLY_ERRNOS = new Set([1036, 1290, 1792]);

/** ER_SIGNAL_EXCEPTION: an unhandled `SIGNAL SQLSTATE '45000'` (Tandem's read-only trigger raises one). */
const SIGNAL_EXCEPTION = 1644;

/**
 * What a MySQL/MariaDB error means (see `ErrorKind`), from the server's error number `mysqlError` keeps in
 * `detail.errno`: 1062/1586 unique, 1213 deadlock, 1205 lock wait timeout, the value errors, 1845/1846
 * unsupported `ALGORITHM`, read-only (1036, 1290, 1792, and 1644 with Tandem's read-only message).
 * @internal
 */
export function classifyMysqlError(e: unknown): ErrorKind {
  if (!(e instanceof TandemError)) return 'other';
  const byCode = kindOfCode(e);
  if (byCode) return byCode;
  const d = detailOf(e);
  const errno = d.errno === undefined || d.errno === null ? undefined : Number(d.errno);
  if (d.violation === 'unique' || (errno !== undefined && MYSQL_DUPLICATE_KEY.has(errno))) return 'unique';
  if (errno === 1213) return 'deadlock';
  if (errno === 1205) return 'lock_timeout';
  if (errno !== undefined && UNSUPPORTED_ERRNOS.has(errno)) return 'unsupported';
  if ((errno !== undefined && READ_ONLY_ERRNOS.has(errno)) || (errno === SIGNAL_EXCEPTION && saysReadOnly(e.message)))
    return 'read_only';
  if (errno !== undefined && VALUE_ERRNOS.has(errno)) return 'value';
  // a foreign key: no parent row (1452, 1216), or a parent row still referenced (1451, 1217)
  if (errno === 1452 || errno === 1216 || errno === 1451 || errno === 1217) return 'reference';
  // the SQLSTATE the server sends with it: class 22 (data exception), 23502 (NOT NULL), 23514 (CHECK)
  const state = typeof d.sqlstate === 'string' ? d.sqlstate : '';
  if (/^22/.test(state) || state === '23502' || state === '23514') return 'value';
  return saysValueRefused(e) ? 'value' : 'other';
}
