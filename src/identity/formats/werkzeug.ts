/**
 * Werkzeug (Flask) `generate_password_hash` outputs:
 *
 * - `pbkdf2:<digest>:<iterations>$<salt>$<hex>` — `hashlib.pbkdf2_hmac(digest, password, salt, iterations).hex()`,
 *   key length = digest size;
 * - `scrypt:<n>:<r>:<p>$<salt>$<hex>` (Werkzeug ≥ 3.0) — `hashlib.scrypt(password, salt=salt, n, r, p,
 *   maxmem=132·n·r·p)`, 64 bytes.
 *
 * Source: Werkzeug `src/werkzeug/security.py` (`_hash_internal`, `generate_password_hash`, `check_password_hash`).
 * Salt and password are UTF-8. Werkzeug always writes the parameters it used; a hash without them
 * (`pbkdf2:sha256$…`) cannot be verified without knowing which Werkzeug version made it and is reported as
 * unsupported. The legacy salted-HMAC forms of Werkzeug < 2.3 (`sha256$salt$hmac`) are not supported: `sha1$…` and
 * `md5$…` collide with Django's formats. Work factors are capped like PBKDF2 and scrypt.
 */
import { hashMalformed, hashUnsupported } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import {
  DIGEST_BYTES,
  checkScrypt,
  constantTimeEqual,
  decodeHex,
  parseDecimal,
  pbkdf2Matches,
  scrypt,
  utf8,
} from '../util.js';

function split(hash: string, scheme: string): [string, string, string] {
  const i = hash.indexOf('$');
  const j = i === -1 ? -1 : hash.indexOf('$', i + 1);
  if (i === -1 || j === -1) throw hashMalformed(scheme, 'expected <method>$<salt>$<hex>');
  const hex = hash.slice(j + 1);
  if (hex.includes('$')) throw hashMalformed(scheme, 'too many $-separated fields');
  return [hash.slice(0, i), hash.slice(i + 1, j), hex];
}

/** Werkzeug `pbkdf2:<digest>:<iterations>$…`. */
export const werkzeugPbkdf2Format: HashFormat = {
  scheme: 'werkzeug-pbkdf2',
  identify: (hash) => hash.startsWith('pbkdf2:') || hash.startsWith('pbkdf2$'),
  async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const scheme = 'werkzeug-pbkdf2';
    const [method, salt, hex] = split(hash, scheme);
    const args = method.split(':').slice(1);
    if (args.length < 2)
      throw hashUnsupported('the iteration count is missing (Werkzeug’s default depends on its version)', scheme);
    if (args.length > 2) throw hashMalformed(scheme, 'method must be pbkdf2:<digest>:<iterations>');
    const [digestName, iterText] = args as [string, string];
    const bytes = DIGEST_BYTES[digestName];
    if (bytes === undefined)
      throw hashUnsupported('digest must be md5, sha1, sha224, sha256, sha384 or sha512', scheme);
    const iterations = parseDecimal(iterText, scheme, 'iterations');
    if (salt === '') throw hashMalformed(scheme, 'salt is empty');
    const expected = decodeHex(hex, scheme, 'hash', bytes);
    return pbkdf2Matches(scheme, utf8(password), utf8(salt), iterations, expected, digestName, ctx.caps);
  },
};

/** Werkzeug `scrypt:<n>:<r>:<p>$…`. */
export const werkzeugScryptFormat: HashFormat = {
  scheme: 'werkzeug-scrypt',
  identify: (hash) => hash.startsWith('scrypt:'),
  async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const scheme = 'werkzeug-scrypt';
    const [method, salt, hex] = split(hash, scheme);
    const args = method.split(':').slice(1);
    if (args.length !== 3) throw hashMalformed(scheme, 'method must be scrypt:<n>:<r>:<p>');
    const [N, r, p] = args.map((a) => parseDecimal(a, scheme, 'n, r, p')) as [number, number, number];
    if (salt === '') throw hashMalformed(scheme, 'salt is empty');
    const expected = decodeHex(hex, scheme, 'hash', 64);
    checkScrypt(scheme, N, r, p, ctx.caps);
    return constantTimeEqual(await scrypt(utf8(password), utf8(salt), N, r, p, 64), expected);
  },
};
