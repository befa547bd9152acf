/**
 * Wrap at rest: a fast legacy hash in the new store (an unsalted MD5, a Django `sha1$salt$…`, a MySQL `*HEX`, …) is
 * replaced, without knowing the password, by Argon2id of its digest, so the new store never holds a hash that a GPU
 * cracks at billions of guesses per second. On login the bridge recomputes the legacy digest from the password and
 * the legacy parameters kept in clear (salt, rounds), verifies it against the Argon2id tag, and then replaces the
 * wrapped hash by a direct Argon2id hash of the password.
 *
 * Stored form (one string, fits any text column):
 *
 * ```
 * $tandem-wrap$v=1$<legacy scheme>$<pepper id>$<setting, base64url>$argon2id$v=19$m=…,t=…,p=…$<salt>$<tag>
 * ```
 *
 * - `legacy scheme`: the scheme as `identifyHash` names it (`django-sha1`, `mysql41`, `hex-md5`, `ldap-ssha`, …);
 * - `pepper id`: `-` without pepper, else 8 hex digits of SHA-256 of the pepper (so a missing or different pepper is
 *   reported as such, not as a wrong password). The pepper (`TANDEM_IDENTITY_PEPPER`) is Argon2's secret input `K`
 *   (RFC 9106 §3.1): without it a stolen database does not even allow offline guessing;
 * - `setting`: what the legacy scheme needs besides the password to recompute its digest (salt, rounds, the
 *   `$1$salt$` prefix…) — the same information the legacy hash held in clear;
 * - the rest: an Argon2id PHC string over the legacy digest bytes (the decoded checksum).
 *
 * Wrappable schemes are the fast ones: bare digests (`options.rawHex`), Django salted / unsalted SHA-1 and MD5,
 * MySQL 4.1, LDAP `{SHA}` `{SSHA}` `{MD5}` `{SMD5}` and their SHA-2 variants, md5-crypt, apr1, phpass, sha256-crypt,
 * sha512-crypt, and `{CRYPT}` around the crypt formats. Slow schemes (bcrypt, PBKDF2, scrypt, Argon2, …) are left as
 * they are: they are already costly to attack, and wrapping would only add work to every login.
 */
import { createHash } from 'node:crypto';
import { TandemError } from '../core/errors.js';
import { verifyArgon2, type Argon2idHasher, type Semaphore } from './argon2.js';
import { hashMalformed } from './errors.js';
import { md5CryptChecksum } from './formats/md5-crypt.js';
import { phpassChecksum } from './formats/phpass.js';
import { splitStored } from './formats/raw-hex.js';
import { shaCryptChecksum } from './formats/sha-crypt.js';
import { identifyHash } from './registry.js';
import { DEFAULT_CAPS, type RawHexConfig, type VerifyOptions, type WorkFactorCaps } from './types.js';
import {
  DIGEST_BYTES,
  HASH64,
  capped,
  decodeBase64,
  decodeHex,
  digest,
  isHash64,
  parseDecimal,
  phpTrim,
  utf8,
} from './util.js';

/** The marker of a wrapped hash. */
export const WRAP_PREFIX = '$tandem-wrap$';

interface Ctx {
  options: VerifyOptions;
  caps: WorkFactorCaps;
}

/** How one legacy scheme is wrapped: what stays in clear, which bytes are wrapped, how to recompute them. */
interface Wrapper {
  /** Splits a stored legacy hash into its setting and its digest bytes. Throws HASH_MALFORMED / HASH_WORK_FACTOR. */
  split(stored: string, ctx: Ctx): { setting: string; digest: Buffer };
  /** The candidate digests of `password` under `setting` (usually one; phpass may try the PHP-trimmed password too). */
  derive(password: string, setting: string, ctx: Ctx): Promise<Buffer[]>;
}

// --- bare digests -------------------------------------------------------------------------------------------

function rawCfg(ctx: Ctx, scheme: string): RawHexConfig {
  const cfg = ctx.options.rawHex;
  if (!cfg)
    throw new TandemError('HASH_UNSUPPORTED', `unsupported ${scheme} hash: options.rawHex is required`, {
      scheme,
      reason: 'options.rawHex is required',
    });
  return cfg;
}

const rawWrapper = (scheme: string): Wrapper => ({
  split(stored, ctx) {
    const cfg = rawCfg(ctx, scheme);
    const n = DIGEST_BYTES[cfg.algorithm]!;
    const { digestText, salt } = splitStored(stored, cfg);
    const d =
      (cfg.encoding ?? 'hex') === 'hex'
        ? decodeHex(digestText, scheme, 'digest', n)
        : decodeBase64(digestText, scheme, 'digest');
    if (d.length !== n) throw hashMalformed(scheme, `digest has ${d.length} bytes, expected ${n}`);
    if (cfg.salt?.separator !== undefined && salt === undefined)
      throw hashMalformed(scheme, 'the salt separator is missing');
    return { setting: salt === undefined ? '' : `s:${salt}`, digest: d };
  },
  async derive(password, setting, ctx) {
    const cfg = rawCfg(ctx, scheme);
    const salt = setting.startsWith('s:') ? setting.slice(2) : cfg.salt?.value;
    const pw = utf8(password);
    if (salt === undefined || !cfg.salt) return [digest(cfg.algorithm, pw)];
    return [
      cfg.salt.position === 'prefix' ? digest(cfg.algorithm, utf8(salt), pw) : digest(cfg.algorithm, pw, utf8(salt)),
    ];
  },
});

// --- Django sha1$ / md5$ ----------------------------------------------------------------------------------------

const djangoDigestWrapper = (scheme: string, algorithm: 'sha1' | 'md5'): Wrapper => ({
  split(stored) {
    const f = stored.split('$');
    if (f.length !== 3 || f[0] !== algorithm) throw hashMalformed(scheme, `expected ${algorithm}$<salt>$<hex>`);
    return { setting: f[1]!, digest: decodeHex(f[2]!, scheme, 'hash', DIGEST_BYTES[algorithm]) };
  },
  async derive(password, setting) {
    return [createHash(algorithm).update(setting, 'utf8').update(password, 'utf8').digest()];
  },
});

// --- MySQL 4.1 --------------------------------------------------------------------------------------------------

const mysql41Wrapper: Wrapper = {
  split(stored) {
    if (stored.length !== 41 || stored[0] !== '*') throw hashMalformed('mysql41', 'expected * and 40 hex digits');
    return { setting: '', digest: decodeHex(stored.slice(1), 'mysql41', 'hash', 20) };
  },
  async derive(password) {
    return [digest('sha1', digest('sha1', utf8(password)))];
  },
};

// --- LDAP digests -------------------------------------------------------------------------------------------------

const LDAP: Record<
  string,
  { tag: string; algorithm: 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512'; salted: boolean }
> = {
  'ldap-ssha': { tag: '{SSHA}', algorithm: 'sha1', salted: true },
  'ldap-ssha256': { tag: '{SSHA256}', algorithm: 'sha256', salted: true },
  'ldap-ssha384': { tag: '{SSHA384}', algorithm: 'sha384', salted: true },
  'ldap-ssha512': { tag: '{SSHA512}', algorithm: 'sha512', salted: true },
  'ldap-smd5': { tag: '{SMD5}', algorithm: 'md5', salted: true },
  'ldap-sha': { tag: '{SHA}', algorithm: 'sha1', salted: false },
  'ldap-sha256': { tag: '{SHA256}', algorithm: 'sha256', salted: false },
  'ldap-sha384': { tag: '{SHA384}', algorithm: 'sha384', salted: false },
  'ldap-sha512': { tag: '{SHA512}', algorithm: 'sha512', salted: false },
  'ldap-md5': { tag: '{MD5}', algorithm: 'md5', salted: false },
};

const ldapWrapper = (scheme: string): Wrapper => {
  const { tag, algorithm, salted } = LDAP[scheme]!;
  const n = DIGEST_BYTES[algorithm]!;
  return {
    split(stored) {
      if (stored.slice(0, tag.length).toUpperCase() !== tag) throw hashMalformed(scheme, `expected ${tag}`);
      const value = stored.slice(tag.length);
      if (!salted) {
        const d = new RegExp(`^[0-9a-fA-F]{${2 * n}}$`).test(value)
          ? Buffer.from(value, 'hex')
          : decodeBase64(value, scheme, 'value', 'required');
        if (d.length !== n) throw hashMalformed(scheme, `digest has ${d.length} bytes, expected ${n}`);
        return { setting: '', digest: d };
      }
      const raw = decodeBase64(value, scheme, 'value', 'required');
      if (raw.length < n + 4)
        throw hashMalformed(
          scheme,
          `value has ${raw.length} bytes; needs a ${n}-byte digest and a salt of at least 4 bytes`,
        );
      return { setting: raw.subarray(n).toString('base64'), digest: Buffer.from(raw.subarray(0, n)) };
    },
    async derive(password, setting) {
      return [
        salted
          ? digest(algorithm, utf8(password), decodeBase64(setting, scheme, 'salt'))
          : digest(algorithm, utf8(password)),
      ];
    },
  };
};

// --- crypt(3) formats ---------------------------------------------------------------------------------------------

const md5CryptWrapper = (scheme: 'md5-crypt' | 'apr1', magic: '$1$' | '$apr1$'): Wrapper => ({
  split(stored) {
    if (!stored.startsWith(magic)) throw hashMalformed(scheme, `expected ${magic}`);
    const parts = stored.slice(magic.length).split('$');
    if (parts.length !== 2) throw hashMalformed(scheme, `expected ${magic}<salt>$<checksum>`);
    const [salt, checksum] = parts as [string, string];
    if (salt.length > 8 || !/^[^\s:$]*$/.test(salt)) throw hashMalformed(scheme, 'bad salt');
    if (checksum.length !== 22 || !isHash64(checksum))
      throw hashMalformed(scheme, 'checksum must be 22 hash64 characters');
    return { setting: salt, digest: Buffer.from(checksum, 'latin1') };
  },
  async derive(password, setting) {
    return [Buffer.from(md5CryptChecksum(utf8(password), Buffer.from(setting, 'utf8'), magic), 'latin1')];
  },
});

const shaCryptWrapper = (scheme: 'sha256-crypt' | 'sha512-crypt'): Wrapper => {
  const prefix = scheme === 'sha256-crypt' ? '$5$' : '$6$';
  const algorithm = scheme === 'sha256-crypt' ? 'sha256' : 'sha512';
  const checksumLen = scheme === 'sha256-crypt' ? 43 : 86;
  const settingOf = (rounds: number, salt: string) => `${rounds}$${salt}`;
  return {
    split(stored, ctx) {
      if (!stored.startsWith(prefix)) throw hashMalformed(scheme, `expected ${prefix}`);
      const parts = stored.slice(prefix.length).split('$');
      let rounds = 5000;
      if (parts.length === 3) {
        const rm = /^rounds=(.*)$/.exec(parts[0]!);
        if (!rm) throw hashMalformed(scheme, 'expected rounds=<N>');
        rounds = parseDecimal(rm[1]!, scheme, 'rounds');
        parts.shift();
      }
      if (parts.length !== 2) throw hashMalformed(scheme, `expected ${prefix}[rounds=N$]<salt>$<checksum>`);
      const [salt, checksum] = parts as [string, string];
      if (salt.length > 16 || !isHash64(salt)) throw hashMalformed(scheme, 'salt must be at most 16 hash64 characters');
      if (checksum.length !== checksumLen || !isHash64(checksum))
        throw hashMalformed(scheme, `checksum must be ${checksumLen} hash64 characters`);
      rounds = Math.min(Math.max(rounds, 1000), 999_999_999);
      capped(scheme, 'rounds', rounds, ctx.caps.shaCryptRounds);
      return { setting: settingOf(rounds, salt), digest: Buffer.from(checksum, 'latin1') };
    },
    async derive(password, setting, ctx) {
      const m = /^([0-9]{1,9})\$([./0-9A-Za-z]{0,16})$/.exec(setting);
      if (!m) throw hashMalformed(scheme, 'bad wrapped setting');
      const rounds = capped(scheme, 'rounds', Number(m[1]), ctx.caps.shaCryptRounds);
      return [
        Buffer.from(await shaCryptChecksum(algorithm, utf8(password), Buffer.from(m[2]!, 'latin1'), rounds), 'latin1'),
      ];
    },
  };
};

const phpassWrapper: Wrapper = {
  split(stored, ctx) {
    if (stored.length !== 34 || !(stored.startsWith('$P$') || stored.startsWith('$H$')) || !isHash64(stored.slice(3)))
      throw hashMalformed('phpass', 'expected $P$ or $H$ and 31 hash64 characters');
    const log2 = HASH64.indexOf(stored[3]!);
    if (log2 < 7 || log2 > 30) throw hashMalformed('phpass', 'iteration count character out of range (7..30)');
    capped('phpass', 'log2(iterations)', log2, ctx.caps.phpassLog2);
    return { setting: stored.slice(0, 12), digest: Buffer.from(stored.slice(12), 'latin1') };
  },
  async derive(password, setting, ctx) {
    if (setting.length !== 12 || !isHash64(setting.slice(3))) throw hashMalformed('phpass', 'bad wrapped setting');
    const log2 = capped('phpass', 'log2(iterations)', HASH64.indexOf(setting[3]!), ctx.caps.phpassLog2);
    if (log2 < 7) throw hashMalformed('phpass', 'iteration count character out of range (7..30)');
    const salt = setting.slice(4, 12);
    const out = [Buffer.from(await phpassChecksum(utf8(password), salt, log2), 'latin1')];
    const trimmed = phpTrim(password);
    if (setting.startsWith('$P$') && ctx.options.wordpressTrim !== false && trimmed !== password) {
      out.push(Buffer.from(await phpassChecksum(utf8(trimmed), salt, log2), 'latin1'));
    }
    return out;
  },
};

const CRYPT_WRAPPERS: Record<string, Wrapper> = {
  'md5-crypt': md5CryptWrapper('md5-crypt', '$1$'),
  apr1: md5CryptWrapper('apr1', '$apr1$'),
  'sha256-crypt': shaCryptWrapper('sha256-crypt'),
  'sha512-crypt': shaCryptWrapper('sha512-crypt'),
};

const ldapCryptWrapper = (inner: Wrapper): Wrapper => ({
  split(stored, ctx) {
    if (stored.slice(0, 7).toUpperCase() !== '{CRYPT}') throw hashMalformed('ldap-crypt', 'expected {CRYPT}');
    return inner.split(stored.slice(7), ctx);
  },
  derive: (password, setting, ctx) => inner.derive(password, setting, ctx),
});

/** The wrapper of a scheme name, or undefined when the scheme is not wrapped. */
function wrapperOf(scheme: string): Wrapper | undefined {
  if (/^(hex|base64)-(md5|sha1|sha256|sha512)(-salted)?$/.test(scheme)) return rawWrapper(scheme);
  switch (scheme) {
    case 'django-sha1':
    case 'django-unsalted-sha1':
      return djangoDigestWrapper(scheme, 'sha1');
    case 'django-md5':
    case 'django-unsalted-md5':
      return djangoDigestWrapper(scheme, 'md5');
    case 'mysql41':
      return mysql41Wrapper;
    case 'phpass':
      return phpassWrapper;
  }
  if (LDAP[scheme]) return ldapWrapper(scheme);
  if (CRYPT_WRAPPERS[scheme]) return CRYPT_WRAPPERS[scheme];
  const m = /^ldap-crypt:(.+)$/.exec(scheme);
  if (m && CRYPT_WRAPPERS[m[1]!]) return ldapCryptWrapper(CRYPT_WRAPPERS[m[1]!]!);
  return undefined;
}

/**
 * Whether a legacy scheme is wrapped at rest (the fast schemes listed in the module comment).
 * @param scheme a scheme name as `identifyHash` returns it (null → false)
 */
export function isWrappableScheme(scheme: string | null | undefined): boolean {
  return typeof scheme === 'string' && wrapperOf(scheme) !== undefined;
}

/** True when `stored` is a wrapped hash (by its marker; {@link parseWrappedHash} validates the rest). */
export function isWrappedHash(stored: unknown): stored is string {
  return typeof stored === 'string' && stored.startsWith(WRAP_PREFIX);
}

/**
 * The short public id of a pepper written into wrapped hashes: 8 hex digits of SHA-256, or `-` without pepper.
 * @param pepper the pepper bytes, or null/empty for none
 */
export function pepperId(pepper: Uint8Array | null | undefined): string {
  if (!pepper || pepper.length === 0) return '-';
  return createHash('sha256').update('tandem-pepper-id\u0000').update(pepper).digest('hex').slice(0, 8);
}

/**
 * The pepper from the environment variable `TANDEM_IDENTITY_PEPPER` (UTF-8), or null when unset or empty.
 * @param env the environment (default `process.env`)
 */
export function pepperFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer | null {
  const v = env.TANDEM_IDENTITY_PEPPER;
  return v ? Buffer.from(v, 'utf8') : null;
}

/** A parsed wrapped hash. */
export interface ParsedWrappedHash {
  /** The legacy scheme that was wrapped. */
  scheme: string;
  /** `-` or the 8-hex-digit pepper id. */
  pepperId: string;
  /** The legacy setting (salt, rounds…), decoded. */
  setting: string;
  /** The Argon2id PHC string over the legacy digest. */
  phc: string;
}

const WRAPPED = /^\$tandem-wrap\$v=1\$([a-z0-9:-]{1,64})\$(-|[0-9a-f]{8})\$([A-Za-z0-9_-]*)(\$argon2id\$[\s\S]*)$/;

/**
 * Parses a wrapped hash.
 * @throws TANDEM_ERR_HASH_MALFORMED when it is not `$tandem-wrap$v=1$<scheme>$<pepper id>$<setting>$argon2id$…`
 */
export function parseWrappedHash(stored: string): ParsedWrappedHash {
  const m = WRAPPED.exec(stored);
  if (!m) throw hashMalformed('tandem-wrap', 'expected $tandem-wrap$v=1$<scheme>$<pepper id>$<setting>$argon2id$…');
  if (!wrapperOf(m[1]!)) throw hashMalformed('tandem-wrap', `scheme ${m[1]} is not wrappable`);
  return { scheme: m[1]!, pepperId: m[2]!, setting: Buffer.from(m[3]!, 'base64url').toString('utf8'), phc: m[4]! };
}

/** Options of {@link wrapLegacyHash}. */
export interface WrapOptions {
  /** Hashes the digest: its policy (Argon2id parameters), semaphore and secret (the pepper) are used. */
  hasher: Argon2idHasher;
  /** The pepper the hasher was built with (only its id is written), or null. */
  pepper: Uint8Array | null;
  /** Registry options of the source (raw-hex layout, WordPress trimming, caps). */
  options?: VerifyOptions;
}

/**
 * Wraps a stored legacy hash (see the module comment).
 * @param stored the legacy hash, as the new store holds it
 * @returns the wrapped string and the legacy scheme
 * @throws TANDEM_ERR_HASH_UNSUPPORTED when the scheme is unknown or not wrappable (a slow scheme)
 * @throws TANDEM_ERR_HASH_MALFORMED / TANDEM_ERR_HASH_WORK_FACTOR for damaged hashes or work factors above the caps
 * @throws TANDEM_ERR_IDENTITY_BUSY when the hasher's semaphore is full
 */
export async function wrapLegacyHash(stored: string, o: WrapOptions): Promise<{ wrapped: string; scheme: string }> {
  const options = o.options ?? {};
  const scheme = identifyHash(stored, options);
  const w = scheme ? wrapperOf(scheme) : undefined;
  if (!scheme || !w) {
    throw new TandemError('HASH_UNSUPPORTED', `unsupported hash for wrapping: ${scheme ?? 'unknown scheme'}`, {
      scheme,
      reason: scheme ? 'not a wrappable (fast) scheme' : 'no known format matches',
    });
  }
  const ctx: Ctx = { options, caps: { ...DEFAULT_CAPS, ...options.caps } };
  const { setting, digest: d } = w.split(stored, ctx);
  const phc = await o.hasher.hash(d);
  return {
    wrapped: `${WRAP_PREFIX}v=1$${scheme}$${pepperId(o.pepper)}$${Buffer.from(setting, 'utf8').toString('base64url')}${phc}`,
    scheme,
  };
}

/** Options of {@link verifyWrappedHash}. */
export interface VerifyWrappedOptions {
  /** The pepper (must be the one the hash was wrapped with), or null. */
  pepper: Uint8Array | null;
  /** The Argon2 semaphore. */
  limiter?: Semaphore;
  /** Registry options of the source (raw-hex layout, WordPress trimming, caps). */
  options?: VerifyOptions;
}

/**
 * Verifies a password against a wrapped hash: recomputes the legacy digest, then checks it against the Argon2id tag.
 * @returns `{ ok, scheme }` with the wrapped legacy scheme
 * @throws TANDEM_ERR_HASH_MALFORMED for a damaged wrapped hash; TANDEM_ERR_CONFIG_INVALID when it was made with
 *   another pepper (or with one while none is configured, or the reverse); TANDEM_ERR_HASH_WORK_FACTOR for Argon2 or
 *   legacy parameters above the caps; TANDEM_ERR_IDENTITY_BUSY when the semaphore is full
 */
export async function verifyWrappedHash(
  password: string,
  stored: string,
  o: VerifyWrappedOptions,
): Promise<{ ok: boolean; scheme: string }> {
  const parsed = parseWrappedHash(stored);
  if (parsed.pepperId !== pepperId(o.pepper)) {
    throw new TandemError(
      'CONFIG_INVALID',
      `a wrapped hash was made with pepper id ${parsed.pepperId} but the configured pepper has id ${pepperId(o.pepper)} (TANDEM_IDENTITY_PEPPER)`,
      { parameter: 'TANDEM_IDENTITY_PEPPER' },
    );
  }
  const options = o.options ?? {};
  const ctx: Ctx = { options, caps: { ...DEFAULT_CAPS, ...options.caps } };
  const candidates = await wrapperOf(parsed.scheme)!.derive(password, parsed.setting, ctx);
  for (const c of candidates) {
    const ok = await verifyArgon2(parsed.phc, c, {
      scheme: 'tandem-wrap',
      caps: ctx.caps,
      ...(o.limiter ? { limiter: o.limiter } : {}),
      ...(o.pepper?.length ? { secret: o.pepper } : {}),
    });
    if (ok) return { ok: true, scheme: parsed.scheme };
  }
  return { ok: false, scheme: parsed.scheme };
}
