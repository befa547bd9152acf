/**
 * Public API of the identity bridge (docs/identity.md):
 *
 * - {@link createIdentityBridge} / {@link openIdentityBridge} → `bridge.authenticate({ identifier, password })`: lazy
 *   password migration on login, without user enumeration;
 * - {@link wrapAtRest}, {@link identityReport}, {@link sunsetIdentities}: the operator tasks behind
 *   `tandem identity wrap | report | sunset`;
 * - {@link wrapLegacyHash} / {@link verifyWrappedHash}: the wrapped-hash format;
 * - {@link normalizeIdentifier}: the identifier normal form used on both sides;
 *
 * and the hashing layer underneath:
 *
 * - {@link verifyPassword} / {@link identifyHash}: the legacy hash format registry;
 * - {@link Argon2idHasher}, {@link hashPassword}, {@link needsRehash}, {@link Semaphore}: Argon2id with OWASP
 *   defaults and bounded concurrency;
 * - error helpers for the `TANDEM_ERR_HASH_*` / `TANDEM_ERR_IDENTITY_BUSY` codes.
 */
export {
  identifyHash,
  verifyPassword,
  supportedSchemes,
  FORMATS,
  DEFAULT_MAX_PASSWORD_BYTES,
  type VerifyResult,
} from './registry.js';
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
export {
  normalizeIdentifier,
  identifierFingerprint,
  lookupWhere,
  detectLookupMode,
  MAX_IDENTIFIER_LENGTH,
  type LookupMode,
} from './normalize.js';
export { TokenBucket, type TokenBucketOptions } from './budget.js';
export {
  IdentityLedger,
  FailureCounter,
  type IdentityState,
  type LedgerWrite,
  type LedgerWriteMode,
  type FailurePolicy,
  type FailureGate,
} from './ledger.js';
export { resolveIdentity, type ResolvedIdentity } from './resolve.js';
export {
  WRAP_PREFIX,
  isWrappableScheme,
  isWrappedHash,
  parseWrappedHash,
  pepperFromEnv,
  pepperId,
  verifyWrappedHash,
  wrapLegacyHash,
  type ParsedWrappedHash,
  type VerifyWrappedOptions,
  type WrapOptions,
} from './wrap.js';
export {
  IdentityBridge,
  createIdentityBridge,
  openIdentityBridge,
  type AuthFailure,
  type AuthResult,
  type AuthSuccess,
  type BridgeStats,
  type Credentials,
  type IdentityBridgeOptions,
} from './bridge.js';
export {
  csvField,
  formatIdentityReport,
  hashKind,
  identityReport,
  sunsetIdentities,
  wrapAtRest,
  type IdentityReport,
  type StateCounts,
  type SunsetEntry,
  type SunsetResult,
  type WrapAtRestOptions,
  type WrapAtRestResult,
} from './operators.js';
