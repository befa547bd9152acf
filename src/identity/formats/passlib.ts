/**
 * passlib's PBKDF2 hashes: `$pbkdf2$` (HMAC-SHA1), `$pbkdf2-sha256$`, `$pbkdf2-sha512$`, and their LDAP-prefixed
 * twins `{PBKDF2}`, `{PBKDF2-SHA256}`, `{PBKDF2-SHA512}` (passlib's `ldap_pbkdf2_*`).
 *
 * Source: passlib 1.7 `passlib/handlers/pbkdf2.py` (`Pbkdf2DigestHandler`) and `passlib/utils/binary.py`
 * (`ab64_encode`/`ab64_decode`). Format: `$pbkdf2-<digest>$<rounds>$<salt>$<checksum>`, salt and checksum in
 * "adapted base64" (standard alphabet with `.` for `+`, no padding); the checksum is one digest long (20, 32, 64
 * bytes); the salt bytes are used as is. Rounds are capped (`caps.pbkdf2Iterations`).
 */
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { DIGEST_BYTES, decodeAb64, parseDecimal, pbkdf2Matches, utf8 } from '../util.js';

type Variant = { scheme: string; prefix: string; digest: 'sha1' | 'sha256' | 'sha512' };

const VARIANTS: readonly Variant[] = [
  { scheme: 'passlib-pbkdf2-sha1', prefix: '$pbkdf2$', digest: 'sha1' },
  { scheme: 'passlib-pbkdf2-sha256', prefix: '$pbkdf2-sha256$', digest: 'sha256' },
  { scheme: 'passlib-pbkdf2-sha512', prefix: '$pbkdf2-sha512$', digest: 'sha512' },
  { scheme: 'ldap-pbkdf2-sha1', prefix: '{PBKDF2}', digest: 'sha1' },
  { scheme: 'ldap-pbkdf2-sha256', prefix: '{PBKDF2-SHA256}', digest: 'sha256' },
  { scheme: 'ldap-pbkdf2-sha512', prefix: '{PBKDF2-SHA512}', digest: 'sha512' },
];

/**
 * Verifies the part after the prefix: `<rounds>$<salt ab64>$<checksum ab64>`.
 * @throws TANDEM_ERR_HASH_MALFORMED / TANDEM_ERR_HASH_WORK_FACTOR
 */
async function verifyBody(password: string, body: string, v: Variant, ctx: FormatContext): Promise<boolean> {
  const parts = body.split('$');
  if (parts.length !== 3) throw hashMalformed(v.scheme, 'expected <rounds>$<salt>$<checksum>');
  const [roundsText, saltText, checksumText] = parts as [string, string, string];
  const rounds = parseDecimal(roundsText, v.scheme, 'rounds');
  const salt = decodeAb64(saltText, v.scheme, 'salt');
  const checksum = decodeAb64(checksumText, v.scheme, 'checksum');
  if (checksum.length !== DIGEST_BYTES[v.digest])
    throw hashMalformed(v.scheme, `checksum has ${checksum.length} bytes, expected ${DIGEST_BYTES[v.digest]}`);
  return pbkdf2Matches(v.scheme, utf8(password), salt, rounds, checksum, v.digest, ctx.caps);
}

/** The six passlib PBKDF2 formats (three `$pbkdf2…$`, three LDAP `{PBKDF2…}`). */
export const passlibPbkdf2Formats: readonly HashFormat[] = VARIANTS.map(
  (v): HashFormat => ({
    scheme: v.scheme,
    // LDAP scheme names are case-insensitive (RFC 3112 §3); `{PBKDF2}` must not swallow `{PBKDF2-SHA256}`.
    identify: (hash) =>
      v.prefix.startsWith('{') ? hash.slice(0, v.prefix.length).toUpperCase() === v.prefix : hash.startsWith(v.prefix),
    verify: (password, hash, ctx) => verifyBody(password, hash.slice(v.prefix.length), v, ctx),
  }),
);
