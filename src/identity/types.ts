/**
 * Shared types of the hash format registry: the {@link HashFormat} contract every format module implements, the
 * options callers pass to `verifyPassword`, and the caps on work factors read from stored hashes.
 */
import type { Semaphore } from './argon2.js';

/**
 * Upper bounds on the work factors a stored hash may ask for. A hash above a cap is rejected with
 * `TANDEM_ERR_HASH_WORK_FACTOR` before anything is computed, so a crafted hash in the legacy store cannot make
 * a login burn seconds of CPU or gigabytes of memory.
 */
export interface WorkFactorCaps {
  /** bcrypt log2 cost (`$2b$NN$`); the format allows 4..31. Default 14. */
  bcryptCost: number;
  /**
   * PBKDF2 iterations (Django, passlib, Werkzeug, ASP.NET Identity v3, LDAP `{PBKDF2}`). Default 2,000,000 (Django 6.0
   * uses 1,200,000; OWASP asks ≥ 600,000 for SHA-256).
   */
  pbkdf2Iterations: number;
  /** scrypt N (CPU/memory cost), for every scrypt-based format. Default 2^17. */
  scryptN: number;
  /**
   * scrypt memory bound in bytes, checked as 128·N·r·p (Werkzeug's maxmem formula, which also bounds the work). Default
   * 256 MiB.
   */
  scryptMaxmem: number;
  /** Argon2 memory cost in KiB (`m=`). Default 262,144 (256 MiB). */
  argon2MemoryKiB: number;
  /** Argon2 passes (`t=`). Default 10. */
  argon2TimeCost: number;
  /** Argon2 lanes (`p=`). Default 8. */
  argon2Parallelism: number;
  /** sha256-crypt / sha512-crypt `rounds=`. Default 1,000,000. */
  shaCryptRounds: number;
  /** phpass log2 iteration count (the 4th character); the format allows 7..30. Default 18. */
  phpassLog2: number;
}

/** The default caps (see {@link WorkFactorCaps} for each value). */
export const DEFAULT_CAPS: Readonly<WorkFactorCaps> = Object.freeze({
  bcryptCost: 14,
  pbkdf2Iterations: 2_000_000,
  scryptN: 2 ** 17,
  scryptMaxmem: 256 * 1024 * 1024,
  argon2MemoryKiB: 256 * 1024,
  argon2TimeCost: 10,
  argon2Parallelism: 8,
  shaCryptRounds: 1_000_000,
  phpassLog2: 18,
});

/**
 * Firebase Authentication's project-level "password hash parameters" (Firebase console → Authentication → Users →
 * ⋮ → Password hash parameters). They are not stored with each user; every user of a project shares them.
 */
export interface FirebaseScryptParams {
  /** `base64_signer_key`, standard base64. */
  signerKey: string;
  /** `base64_salt_separator`, standard base64 (often `Bw==`). */
  saltSeparator: string;
  /** `rounds` (used as scrypt r), 1..8 in Firebase. */
  rounds: number;
  /** `mem_cost` (scrypt N = 2^memCost), 1..14 in Firebase. */
  memCost: number;
}

/**
 * How a source stores bare hex (or base64) digests. The shape of a bare digest says nothing about the algorithm
 * or the salt, so these are only verified when the caller declares them for the source.
 *
 * Digest = H(salt ‖ password) for `position: 'prefix'`, H(password ‖ salt) for `'suffix'`, H(password) without
 * `salt`. The salt is either a fixed `value` (a site-wide salt, or a per-user salt column the caller passes in), or
 * it is stored next to the digest, split on `separator` (`order` says which side the digest is on).
 */
export interface RawHexConfig {
  algorithm: 'md5' | 'sha1' | 'sha256' | 'sha512';
  salt?: {
    position: 'prefix' | 'suffix';
    /** The salt itself (UTF-8). Exclusive with `separator`. */
    value?: string;
    /** The stored value is `<digest><separator><salt>` (or salt first, see `order`). Exclusive with `value`. */
    separator?: string;
    /** Where the digest is in the stored value when `separator` is used. Default `digest-first`. */
    order?: 'digest-first' | 'salt-first';
  };
  /** How the digest is written. Default `hex` (either case). */
  encoding?: 'hex' | 'base64';
}

/** Argon2id parameters (the current policy). See `src/identity/argon2.ts`. */
export interface Argon2Params {
  /** Memory in KiB. OWASP: 19456 (19 MiB). */
  memoryCost: number;
  /** Passes. OWASP: 2. */
  timeCost: number;
  /** Lanes. OWASP: 1. */
  parallelism: number;
  /** Tag length in bytes. Default 32. */
  outputLen: number;
  /** Salt length in bytes for new hashes. Default 16. */
  saltLen: number;
}

/** Options of `verifyPassword` / `identifyHash`. All optional. */
export interface VerifyOptions {
  /** Overrides of {@link DEFAULT_CAPS}. */
  caps?: Partial<WorkFactorCaps>;
  /** The current Argon2id policy; an `$argon2id$` hash with other parameters reports `needsRehash: true`. */
  argon2?: Partial<Argon2Params>;
  /** Project parameters for `firebase-scrypt$…` hashes. Without them those hashes are `HASH_UNSUPPORTED`. */
  firebase?: FirebaseScryptParams;
  /** Declares that this source stores bare digests. Without it bare hex is `HASH_UNSUPPORTED`. */
  rawHex?: RawHexConfig;
  /**
   * WordPress trims the password before hashing it (`wp_hash_password` and `wp_authenticate` both call `trim()`).
   * When true (default), `$wp$` hashes are checked against the PHP-trimmed password, and `$P$` hashes fall back to
   * the trimmed password when the untrimmed one fails.
   */
  wordpressTrim?: boolean;
  /**
   * Longest password, in UTF-8 bytes, that is hashed at all (default 4096, the limit Django introduced in 2013 for
   * CVE-2013-1443). sha-crypt and phpass cost grows with the password length times the rounds, so longer
   * passwords get `{ ok: false }` without any computation.
   */
  maxPasswordBytes?: number;
  /** Semaphore bounding concurrent Argon2 computations; defaults to the process-wide one of `argon2.ts`. */
  argon2Limiter?: Semaphore;
}

/** What a format's `verify` receives besides the password and hash: resolved caps and the caller's options. */
export interface FormatContext {
  caps: WorkFactorCaps;
  options: VerifyOptions;
}

/**
 * One stored-hash format. Each module under `src/identity/formats/` exports one or more of these; the registry
 * asks each in turn whether it {@link HashFormat.identify identifies} a stored hash.
 *
 * `identify` looks at the marker only (prefix, or shape when a format has none) so that a truncated or damaged hash
 * of a known format is reported as `TANDEM_ERR_HASH_MALFORMED` by `verify` rather than as unsupported.
 * `verify` parses strictly, throws `TANDEM_ERR_HASH_MALFORMED` / `TANDEM_ERR_HASH_WORK_FACTOR` before computing
 * anything, and compares digests with `crypto.timingSafeEqual`.
 */
export interface HashFormat {
  /** Stable scheme name reported by `identifyHash` / `verifyPassword` (e.g. `bcrypt`, `django-pbkdf2-sha256`). */
  readonly scheme: string;
  /** True when the stored hash carries this format's marker. Never throws. */
  identify(hash: string, options?: VerifyOptions): boolean;
  /** Resolves true when `password` matches. Throws TandemErrors for malformed hashes and excessive work factors. */
  verify(password: string, hash: string, ctx: FormatContext): Promise<boolean>;
  /** A more specific scheme name for this hash (e.g. `ldap-crypt:sha512-crypt`); defaults to `scheme`. */
  schemeOf?(hash: string, options?: VerifyOptions): string;
}
