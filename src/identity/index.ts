/**
 * Public API of the identity bridge's hashing layer (the bridge flow, wrap-at-rest and CLI build on it):
 *
 * - {@link verifyPassword} / {@link identifyHash}: the legacy hash format registry;
 * - {@link Argon2idHasher}, {@link hashPassword}, {@link needsRehash}, {@link Semaphore}: Argon2id with OWASP
 *   defaults and bounded concurrency;
 * - error helpers for the `TANDEM_ERR_HASH_*` / `TANDEM_ERR_IDENTITY_BUSY` codes.
 */
export { identifyHash, verifyPassword, supportedSchemes, FORMATS, DEFAULT_MAX_PASSWORD_BYTES, type VerifyResult } from './registry.js';
export {
  Argon2idHasher,
  OWASP_ARGON2ID,
  Semaphore,
  getDefaultLimiter,
  setDefaultLimiter,
  hashPassword,
  needsRehash,
  parseArgon2Phc,
  resolveArgon2Params,
  verifyArgon2,
  type Argon2HasherOptions,
  type ParsedArgon2,
  type VerifyArgon2Options,
} from './argon2.js';
export {
  DEFAULT_CAPS,
  type Argon2Params,
  type FirebaseScryptParams,
  type FormatContext,
  type HashFormat,
  type RawHexConfig,
  type VerifyOptions,
  type WorkFactorCaps,
} from './types.js';
export { hashMalformed, hashUnsupported, identityBusy, workFactorTooHigh, type IdentityErrorCode } from './errors.js';
export { firebaseStoredHash } from './formats/firebase.js';
export { bcryptRaw } from './formats/bcrypt-core.js';
export { wordpressPrehash } from './formats/wordpress.js';
