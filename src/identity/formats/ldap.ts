/**
 * LDAP `userPassword` schemes (RFC 2307 §5.3 syntax `{SCHEME}value`; scheme names are case-insensitive):
 *
 * | scheme | value |
 * |---|---|
 * | `{SSHA}` `{SSHA256}` `{SSHA384}` `{SSHA512}` `{SMD5}` | base64(H(password ‖ salt) ‖ salt), salt ≥ 4 bytes |
 * | `{SHA}` `{SHA256}` `{SHA384}` `{SHA512}` `{MD5}` | base64(H(password)); hex H(password) is accepted too |
 * | `{CRYPT}` | a crypt(3) string: md5-crypt, apr1, sha256-crypt, sha512-crypt, bcrypt (DES crypt is not supported) |
 *
 * Sources: OpenLDAP `libraries/liblutil/passwd.c` (`{SSHA}`, `{SHA}`, `{SMD5}`, `{MD5}`, `{CRYPT}`) and
 * `contrib/slapd-modules/passwd/sha2/slapd-sha2.c` (`{SHA256}`…`{SSHA512}`); passlib `passlib/handlers/ldap_digests.py`
 * (salt sizes, hex variants). Base64 is standard with padding. `{PBKDF2…}` lives in ./passlib.ts.
 */
import { hashMalformed, hashUnsupported } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { DIGEST_BYTES, constantTimeEqual, decodeBase64, digest, utf8 } from '../util.js';
import { bcrypt2xFormat, bcryptFormat } from './bcrypt.js';
import { apr1Format, md5CryptFormat } from './md5-crypt.js';
import { sha256CryptFormat, sha512CryptFormat } from './sha-crypt.js';

type Algorithm = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';

const SCHEMES: readonly { tag: string; algorithm: Algorithm; salted: boolean; scheme: string }[] = [
  { tag: '{SSHA}', algorithm: 'sha1', salted: true, scheme: 'ldap-ssha' },
  { tag: '{SSHA256}', algorithm: 'sha256', salted: true, scheme: 'ldap-ssha256' },
  { tag: '{SSHA384}', algorithm: 'sha384', salted: true, scheme: 'ldap-ssha384' },
  { tag: '{SSHA512}', algorithm: 'sha512', salted: true, scheme: 'ldap-ssha512' },
  { tag: '{SMD5}', algorithm: 'md5', salted: true, scheme: 'ldap-smd5' },
  { tag: '{SHA}', algorithm: 'sha1', salted: false, scheme: 'ldap-sha' },
  { tag: '{SHA256}', algorithm: 'sha256', salted: false, scheme: 'ldap-sha256' },
  { tag: '{SHA384}', algorithm: 'sha384', salted: false, scheme: 'ldap-sha384' },
  { tag: '{SHA512}', algorithm: 'sha512', salted: false, scheme: 'ldap-sha512' },
  { tag: '{MD5}', algorithm: 'md5', salted: false, scheme: 'ldap-md5' },
];

/** True when `hash` starts with `tag`, ignoring case. */
function hasTag(hash: string, tag: string): boolean {
  return hash.length >= tag.length && hash.slice(0, tag.length).toUpperCase() === tag;
}

/** The salted and unsalted digest schemes. */
export const ldapDigestFormats: readonly HashFormat[] = SCHEMES.map(
  ({ tag, algorithm, salted, scheme }): HashFormat => ({
    scheme,
    identify: (hash) => hasTag(hash, tag),
    async verify(password: string, hash: string, _ctx: FormatContext): Promise<boolean> {
      const value = hash.slice(tag.length);
      const n = DIGEST_BYTES[algorithm];
      if (!salted) {
        const expected = new RegExp(`^[0-9a-fA-F]{${2 * n}}$`).test(value)
          ? Buffer.from(value, 'hex')
          : decodeBase64(value, scheme, 'value', 'required');
        if (expected.length !== n) throw hashMalformed(scheme, `digest has ${expected.length} bytes, expected ${n}`);
        return constantTimeEqual(digest(algorithm, utf8(password)), expected);
      }
      const raw = decodeBase64(value, scheme, 'value', 'required');
      if (raw.length < n + 4)
        throw hashMalformed(
          scheme,
          `value has ${raw.length} bytes; needs a ${n}-byte digest and a salt of at least 4 bytes`,
        );
      const expected = raw.subarray(0, n);
      const salt = raw.subarray(n);
      return constantTimeEqual(digest(algorithm, utf8(password), salt), expected);
    },
  }),
);

const CRYPT_INNER: readonly HashFormat[] = [
  md5CryptFormat,
  apr1Format,
  sha256CryptFormat,
  sha512CryptFormat,
  bcryptFormat,
  bcrypt2xFormat,
];

/** `{CRYPT}` followed by a supported crypt(3) string. */
export const ldapCryptFormat: HashFormat = {
  scheme: 'ldap-crypt',
  identify: (hash) => hasTag(hash, '{CRYPT}'),
  schemeOf(hash: string): string {
    const inner = hash.slice('{CRYPT}'.length);
    const f = CRYPT_INNER.find((x) => x.identify(inner));
    return f ? `ldap-crypt:${f.scheme}` : 'ldap-crypt';
  },
  verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const inner = hash.slice('{CRYPT}'.length);
    const f = CRYPT_INNER.find((x) => x.identify(inner));
    if (!f)
      return Promise.reject(
        hashUnsupported('{CRYPT} supports md5-crypt, apr1, sha256-crypt, sha512-crypt and bcrypt', 'ldap-crypt'),
      );
    return f.verify(password, inner, ctx);
  },
};
