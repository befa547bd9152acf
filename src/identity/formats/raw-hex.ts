/**
 * Bare digests — MD5, SHA-1, SHA-256 or SHA-512 of the password, optionally salted — written as hex (or base64).
 *
 * A bare digest has no marker: 40 hex digits may be SHA-1, RIPEMD-160, a salted variant, or something else. So they
 * are never guessed: a source declares its layout with `options.rawHex` ({@link RawHexConfig}) and only then are
 * they identified (as `hex-<algorithm>`, or `hex-<algorithm>-salted`) and verified. Without that option
 * `identifyHash` returns null for them and `verifyPassword` throws `TANDEM_ERR_HASH_UNSUPPORTED`.
 *
 * Digest = H(salt ‖ password) for `salt.position = 'prefix'`, H(password ‖ salt) for `'suffix'`, H(password)
 * otherwise; the password and salt are UTF-8. Sources: RFC 1321 (MD5), FIPS 180-4 (SHA-1, SHA-2). Real example:
 * Sakila's `staff.password` is unsalted SHA-1 hex.
 */
import { TandemError } from '../../core/errors.js';
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat, RawHexConfig, VerifyOptions } from '../types.js';
import { DIGEST_BYTES, constantTimeEqual, decodeBase64, decodeHex, digest, utf8 } from '../util.js';

/** Splits a stored value into digest text and salt according to the config. */
export function splitStored(stored: string, cfg: RawHexConfig): { digestText: string; salt: string | undefined } {
  const s = cfg.salt;
  if (!s) return { digestText: stored, salt: undefined };
  if ((s.value === undefined) === (s.separator === undefined)) {
    throw new TandemError('CONFIG_INVALID', 'rawHex.salt needs exactly one of value or separator', {
      parameter: 'rawHex.salt',
    });
  }
  if (s.value !== undefined) return { digestText: stored, salt: s.value };
  const sep = s.separator as string;
  if (sep === '')
    throw new TandemError('CONFIG_INVALID', 'rawHex.salt.separator must not be empty', {
      parameter: 'rawHex.salt.separator',
    });
  const saltFirst = s.order === 'salt-first';
  const i = saltFirst ? stored.lastIndexOf(sep) : stored.indexOf(sep);
  if (i === -1) return { digestText: stored, salt: undefined };
  return saltFirst
    ? { digestText: stored.slice(i + sep.length), salt: stored.slice(0, i) }
    : { digestText: stored.slice(0, i), salt: stored.slice(i + sep.length) };
}

function looksEncoded(text: string, cfg: RawHexConfig): boolean {
  return (cfg.encoding ?? 'hex') === 'hex' ? /^[0-9A-Fa-f]+$/.test(text) : /^[A-Za-z0-9+/]+={0,2}$/.test(text);
}

/** The scheme name for a config: `hex-sha1`, `hex-sha1-salted`, `base64-sha256`, … */
export function rawHexScheme(cfg: RawHexConfig): string {
  return `${cfg.encoding === 'base64' ? 'base64' : 'hex'}-${cfg.algorithm}${cfg.salt ? '-salted' : ''}`;
}

/** Bare digests, only with `options.rawHex`. */
export const rawHexFormat: HashFormat = {
  scheme: 'hex',
  schemeOf: (_hash: string, options?: VerifyOptions) => (options?.rawHex ? rawHexScheme(options.rawHex) : 'hex'),
  identify(hash: string, options?: VerifyOptions): boolean {
    const cfg = options?.rawHex;
    if (!cfg || DIGEST_BYTES[cfg.algorithm] === undefined) return false;
    try {
      return looksEncoded(splitStored(hash, cfg).digestText, cfg);
    } catch {
      return false;
    }
  },
  async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const cfg = ctx.options.rawHex as RawHexConfig;
    const scheme = rawHexScheme(cfg);
    const n = DIGEST_BYTES[cfg.algorithm];
    const { digestText, salt } = splitStored(hash, cfg);
    if (cfg.salt?.separator !== undefined && salt === undefined)
      throw hashMalformed(scheme, 'the salt separator is missing');
    const expected =
      (cfg.encoding ?? 'hex') === 'hex'
        ? decodeHex(digestText, scheme, 'digest', n)
        : decodeBase64(digestText, scheme, 'digest');
    if (expected.length !== n) throw hashMalformed(scheme, `digest has ${expected.length} bytes, expected ${n}`);
    const pw = utf8(password);
    const saltBytes = salt === undefined ? undefined : utf8(salt);
    const computed = !saltBytes
      ? digest(cfg.algorithm, pw)
      : cfg.salt?.position === 'prefix'
        ? digest(cfg.algorithm, saltBytes, pw)
        : digest(cfg.algorithm, pw, saltBytes);
    return constantTimeEqual(computed, expected);
  },
};
