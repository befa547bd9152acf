/**
 * The hash format registry: identifies a stored password hash by its marker and verifies a password against it.
 *
 * ```ts
 * identifyHash('$2y$10$…')                          // 'bcrypt'
 * await verifyPassword('hunter2', storedHash)       // { ok: true, scheme: 'phpass', needsRehash: true }
 * await verifyPassword(pw, 'firebase-scrypt$…', { firebase: projectParams })
 * await verifyPassword(pw, sha1Hex, { rawHex: { algorithm: 'sha1' } })
 * ```
 *
 * Formats, in the order they are tried (each module documents its specification or reference implementation):
 * Argon2 (`$argon2id$ $argon2i$ $argon2d$`), bcrypt (`$2$ $2a$ $2b$ $2y$`, `$2x$`), WordPress 6.8 (`$wp$`), md5-crypt
 * (`$1$`, `$apr1$`), sha-crypt (`$5$ $6$`), phpass (`$P$ $H$`), passlib PBKDF2 (`$pbkdf2…$`, `{PBKDF2…}`), passlib
 * scrypt (`$scrypt$`), Django (`pbkdf2_sha256$ pbkdf2_sha1$ bcrypt_sha256$ bcrypt$ argon2$ scrypt$ sha1$ md5$`),
 * Werkzeug (`pbkdf2:…$ scrypt:…$`), LDAP (`{SSHA} {SHA} {SMD5} {MD5} {SSHA256} {SSHA512} … {CRYPT}`), Atlassian
 * (`{PKCS5S2}`), MySQL 4.1 (`*HEX`), Firebase scrypt (`firebase-scrypt$`), ASP.NET Identity v3 / v2 (base64 blobs),
 * and bare digests (only with `options.rawHex`).
 *
 * Guarantees: digests are compared with `crypto.timingSafeEqual` (length-equalised); work factors read from a hash
 * are checked against caps before anything is computed (`TANDEM_ERR_HASH_WORK_FACTOR`); damaged hashes of a known
 * format throw `TANDEM_ERR_HASH_MALFORMED`, unknown ones `TANDEM_ERR_HASH_UNSUPPORTED`; no error message contains
 * the password or the hash.
 */
import { hashMalformed, hashUnsupported } from './errors.js';
import { needsRehash as argon2NeedsRehash } from './argon2.js';
import { DEFAULT_CAPS, type FormatContext, type HashFormat, type VerifyOptions } from './types.js';
import { argon2dFormat, argon2iFormat, argon2idFormat } from './formats/argon2.js';
import { aspnetV2Format, aspnetV3Format } from './formats/aspnet.js';
import { atlassianFormat } from './formats/atlassian.js';
import { bcrypt2xFormat, bcryptFormat } from './formats/bcrypt.js';
import { djangoFormats } from './formats/django.js';
import { firebaseScryptFormat } from './formats/firebase.js';
import { ldapCryptFormat, ldapDigestFormats } from './formats/ldap.js';
import { apr1Format, md5CryptFormat } from './formats/md5-crypt.js';
import { mysql41Format } from './formats/mysql.js';
import { passlibPbkdf2Formats } from './formats/passlib.js';
import { phpassFormat } from './formats/phpass.js';
import { rawHexFormat } from './formats/raw-hex.js';
import { scryptFormat } from './formats/scrypt.js';
import { sha256CryptFormat, sha512CryptFormat } from './formats/sha-crypt.js';
import { werkzeugPbkdf2Format, werkzeugScryptFormat } from './formats/werkzeug.js';
import { wordpressBcryptFormat } from './formats/wordpress.js';

/** Every format, in identification order. Markers do not overlap; bare-shape formats come last. */
export const FORMATS: readonly HashFormat[] = Object.freeze([
  argon2idFormat,
  argon2iFormat,
  argon2dFormat,
  bcryptFormat,
  bcrypt2xFormat,
  wordpressBcryptFormat,
  md5CryptFormat,
  apr1Format,
  sha256CryptFormat,
  sha512CryptFormat,
  phpassFormat,
  ...passlibPbkdf2Formats,
  scryptFormat,
  ...djangoFormats,
  werkzeugPbkdf2Format,
  werkzeugScryptFormat,
  ...ldapDigestFormats,
  ldapCryptFormat,
  atlassianFormat,
  mysql41Format,
  firebaseScryptFormat,
  aspnetV3Format,
  aspnetV2Format,
  rawHexFormat,
]);

/** Default of `VerifyOptions.maxPasswordBytes`. */
export const DEFAULT_MAX_PASSWORD_BYTES = 4096;

/** Longest stored hash considered at all (longer input is malformed before any parsing). */
const MAX_HASH_LENGTH = 4096;

function findFormat(storedHash: string, options: VerifyOptions): HashFormat | undefined {
  return FORMATS.find((f) => f.identify(storedHash, options));
}

/**
 * Names the scheme of a stored hash from its marker (prefix, or shape for the marker-less formats), without
 * validating the rest — `verifyPassword` does that.
 * @param storedHash the value of the legacy password column
 * @param options only `rawHex` matters here: bare digests are identified only when it is given
 * @returns a scheme name (`bcrypt`, `sha512-crypt`, `django-pbkdf2-sha256`, `ldap-crypt:md5-crypt`, `hex-sha1`, …) or
 *   null when no format recognises it (including non-strings and empty strings). Never throws.
 */
export function identifyHash(storedHash: string, options: VerifyOptions = {}): string | null {
  if (typeof storedHash !== 'string' || storedHash === '' || storedHash.length > MAX_HASH_LENGTH) return null;
  const f = findFormat(storedHash, options);
  return f ? (f.schemeOf?.(storedHash, options) ?? f.scheme) : null;
}

/** Result of {@link verifyPassword}. */
export interface VerifyResult {
  /** The password matches the stored hash. */
  ok: boolean;
  /** The scheme of the stored hash, as {@link identifyHash} names it. */
  scheme: string;
  /**
   * The stored hash should be replaced by a fresh Argon2id hash: true for every scheme except `argon2id` at the current
   * parameters.
   */
  needsRehash: boolean;
}

/**
 * Verifies a password against a stored hash of any supported format.
 * @param password the password as typed (a string; hashed as UTF-8, without Unicode normalisation — legacy systems
 *   hashed the bytes they received). Longer than `options.maxPasswordBytes` (default 4096 bytes): `ok: false` at once
 * @param storedHash the stored hash (for Firebase: `firebase-scrypt$<salt>$<hash>`, see formats/firebase.ts)
 * @param options caps, Argon2 policy, Firebase parameters, raw-digest layout, WordPress trimming, Argon2 semaphore
 * @returns `{ ok, scheme, needsRehash }`
 * @throws TANDEM_ERR_HASH_UNSUPPORTED when no format recognises the hash (or it needs options not given)
 * @throws TANDEM_ERR_HASH_MALFORMED when the hash is damaged (truncated, bad characters, bad base64, impossible
 * parameters)
 * @throws TANDEM_ERR_HASH_WORK_FACTOR when a work factor in the hash is above its cap (nothing is computed)
 * @throws TANDEM_ERR_IDENTITY_BUSY when an Argon2 verification finds the semaphore's queue full
 * @throws TypeError when `password` is not a string
 */
export async function verifyPassword(
  password: string,
  storedHash: string,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  if (typeof storedHash !== 'string' || storedHash === '')
    throw hashUnsupported('the stored hash is empty or not a string');
  if (storedHash.length > MAX_HASH_LENGTH)
    throw hashMalformed('unknown', `stored hash is longer than ${MAX_HASH_LENGTH} characters`);
  const format = findFormat(storedHash, options);
  if (!format) throw hashUnsupported('no known format matches the stored hash');
  const scheme = format.schemeOf?.(storedHash, options) ?? format.scheme;
  const ctx: FormatContext = { caps: { ...DEFAULT_CAPS, ...options.caps }, options };
  if (Buffer.byteLength(password, 'utf8') > (options.maxPasswordBytes ?? DEFAULT_MAX_PASSWORD_BYTES)) {
    return { ok: false, scheme, needsRehash: true };
  }
  let ok: boolean;
  try {
    ok = await format.verify(password, storedHash, ctx);
  } catch (e) {
    if (
      e instanceof Error &&
      'code' in e &&
      typeof (e as { code: unknown }).code === 'string' &&
      (e as { code: string }).code.startsWith('TANDEM_ERR_')
    )
      throw e;
    // A library failing on a hash that passed our parsing: report it as malformed, without its message (which
    // could quote input).
    throw hashMalformed(scheme, 'the hash was rejected by the underlying implementation');
  }
  const needsRehash = scheme === 'argon2id' ? argon2NeedsRehash(storedHash, options.argon2) : true;
  return { ok, scheme, needsRehash };
}

/** The scheme names `verifyPassword` can report (raw digests and `{CRYPT}` combinations are families). */
export function supportedSchemes(): string[] {
  return FORMATS.map((f) => f.scheme);
}
