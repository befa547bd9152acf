import { TandemError } from '../core/errors.js';
import { classifyMysqlError } from './mysql/errors.js';
import { classifyPgError } from './postgres/errors.js';
import { classifySqliteError } from './sqlite/errors.js';
import { type ErrorKind, TRANSIENT_KINDS } from './types.js';

const KINDS: readonly ErrorKind[] = [
  'unique',
  'deadlock',
  'serialization',
  'lock_timeout',
  'connection',
  'auth',
  'not_found',
  'value',
  'unsupported',
  'read_only',
  'other',
];

/**
 * What an error from any store means, when the caller does not know which store raised it (a retried unit of
 * work that touches two stores): `detail.kind` when the store set one (a user's own store may), else the
 * dialect's classifier chosen by the codes the error carries (`sqliteCode`, MySQL `errno`, else SQLSTATE).
 * With the store at hand, prefer {@link Store.classifyError}. Never throws.
 */
export function classifyError(e: unknown): ErrorKind {
  if (!(e instanceof TandemError)) return 'other';
  const d = (e.detail ?? {}) as Record<string, unknown>;
  if (typeof d.kind === 'string' && (KINDS as readonly string[]).includes(d.kind)) return d.kind as ErrorKind;
  if (typeof d.sqliteCode === 'string') return classifySqliteError(e);
  if (typeof d.errno === 'number') return classifyMysqlError(e);
  return classifyPgError(e);
}

/** True when the error's kind lets the whole transaction run again (see `TRANSIENT_KINDS`). */
export function isTransientKind(kind: ErrorKind): boolean {
  return TRANSIENT_KINDS.includes(kind);
}
