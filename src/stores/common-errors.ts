import type { TandemError } from '../core/errors.js';
import type { ErrorKind } from './types.js';

/**
 * The parts of error classification every dialect shares (src/stores/<dialect>/errors.ts does the rest from
 * its own codes): the TANDEM_ERR_* codes the store mappers give, and the wording of a refused value.
 */

/**
 * The kind told by a TandemError's code alone, or null when the detail must decide.
 * @internal
 */
export function kindOfCode(e: TandemError): ErrorKind | null {
  switch (e.code) {
    case 'TANDEM_ERR_STORE_UNREACHABLE':
      return 'connection';
    case 'TANDEM_ERR_STORE_AUTH':
      return 'auth';
    case 'TANDEM_ERR_STORE_DATABASE_NOT_FOUND':
      return 'not_found';
    default:
      return null;
  }
}

/**
 * A message that says a value was refused, on engines whose code did not (the last resort of `value`).
 * @internal
 */
export function saysValueRefused(e: TandemError): boolean {
  return /out of range|too long|invalid input|incorrect .* value|data truncat/i.test(e.message ?? '');
}

/**
 * The detail of a store error, or an empty object.
 * @internal
 */
export function detailOf(e: TandemError): Record<string, unknown> {
  return (e.detail ?? {}) as Record<string, unknown>;
}
