/**
 * The identity bridge's error helpers. They build {@link TandemError}s with the four identity codes of the
 * catalogue in `src/core/errors.ts`:
 *
 * | code | thrown when |
 * |---|---|
 * | `TANDEM_ERR_HASH_MALFORMED` | a stored hash has a known marker but cannot be parsed (truncated, bad characters, bad base64, parameters out of range) |
 * | `TANDEM_ERR_HASH_UNSUPPORTED` | no known format matches the stored hash, or the format needs configuration that was not given |
 * | `TANDEM_ERR_HASH_WORK_FACTOR` | a work factor read from a stored hash is above the configured cap (nothing is computed) |
 * | `TANDEM_ERR_IDENTITY_BUSY` | the Argon2 semaphore's queue is full (or the wait timed out), or the legacy-store query budget is spent |
 *
 * Messages and `detail` never contain the password or the stored hash: they name the scheme and the reason only.
 */
import { TandemError } from '../core/errors.js';

/** The identity subset of the error catalogue's short codes. */
export type IdentityErrorCode = 'HASH_MALFORMED' | 'HASH_UNSUPPORTED' | 'HASH_WORK_FACTOR' | 'IDENTITY_BUSY';

/**
 * A stored hash with a recognised marker that cannot be parsed.
 * @param scheme the scheme the marker announced (e.g. `bcrypt`)
 * @param reason a short, secret-free description (e.g. `checksum has 30 characters, expected 31`)
 * @returns a `TANDEM_ERR_HASH_MALFORMED` error with `detail = { scheme, reason }`
 */
export function hashMalformed(scheme: string, reason: string): TandemError {
  return new TandemError('HASH_MALFORMED', `malformed ${scheme} hash: ${reason}`, { scheme, reason });
}

/**
 * A stored hash no format recognises, or a format that needs configuration (Firebase parameters, raw hex digests).
 * @param reason a short, secret-free description
 * @param scheme the scheme when it is known but cannot be used as configured
 * @returns a `TANDEM_ERR_HASH_UNSUPPORTED` error with `detail = { scheme?, reason }`
 */
export function hashUnsupported(reason: string, scheme?: string): TandemError {
  const detail: Record<string, unknown> = { reason };
  if (scheme !== undefined) detail.scheme = scheme;
  return new TandemError(
    'HASH_UNSUPPORTED',
    scheme ? `unsupported ${scheme} hash: ${reason}` : `unsupported hash: ${reason}`,
    detail,
  );
}

/**
 * A work factor read from a stored hash is above the configured cap; thrown before any computation.
 * @param scheme the scheme of the hash
 * @param parameter the parameter name (`cost`, `iterations`, `N`, `memoryCost`, …)
 * @param value the value found in the hash (a number, never secret)
 * @param cap the configured cap
 * @returns a `TANDEM_ERR_HASH_WORK_FACTOR` error with `detail = { scheme, parameter, value, cap }`
 */
export function workFactorTooHigh(scheme: string, parameter: string, value: number, cap: number): TandemError {
  return new TandemError(
    'HASH_WORK_FACTOR',
    `${scheme} hash asks for ${parameter} = ${value}, above the cap of ${cap}`,
    { scheme, parameter, value, cap },
  );
}

/**
 * The Argon2 semaphore cannot take more work: its queue is full, or a caller waited longer than allowed; or the
 * identity bridge's budget of legacy-store queries per second is spent.
 * @param active hashes being computed now (0 for the legacy budget)
 * @param queued hashes waiting (0 for the legacy budget)
 * @param reason `queue full`, `queue timeout` or `legacy budget`
 * @returns a `TANDEM_ERR_IDENTITY_BUSY` error with `detail = { active, queued, reason }`
 */
export function identityBusy(
  active: number,
  queued: number,
  reason: 'queue full' | 'queue timeout' | 'legacy budget' = 'queue full',
): TandemError {
  if (reason === 'legacy budget') {
    return new TandemError('IDENTITY_BUSY', 'the budget of legacy-store queries per second is spent; try again', {
      active,
      queued,
      reason,
    });
  }
  return new TandemError(
    'IDENTITY_BUSY',
    `too many password hashes in progress (${active} running, ${queued} waiting: ${reason}); try again`,
    { active, queued, reason },
  );
}
