/**
 * phpass "portable" hashes: `$P$` (WordPress ≤ 6.7, Drupal 7 imports) and `$H$` (phpBB 3) — the same algorithm.
 *
 * Source: Solar Designer's phpass 0.3/0.5 (https://www.openwall.com/phpass/, `PasswordHash.php`,
 * `crypt_private` / `encode64`, public domain). Format: `$P$` + one hash64 character giving log2 of the iteration
 * count (7..30) + 8 salt characters + 22 hash64 characters (34 characters). Algorithm: h = MD5(salt ‖ password),
 * then 2^count times h = MD5(h ‖ password). The iteration count is capped (`caps.phpassLog2`).
 *
 * WordPress trims the password before hashing (`wp_hash_password`, `wp_authenticate`); with
 * `options.wordpressTrim` (default true) a `$P$` hash that does not match the password as given is tried once more
 * with the PHP-trimmed password.
 */
import { createHash } from 'node:crypto';
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { HASH64, capped, constantTimeEqualString, isHash64, phpTrim, utf8, yieldToEventLoop } from '../util.js';

/** phpass `encode64` (little-endian 6-bit groups, 16 bytes → 22 characters). */
function encode64(input: Uint8Array, count: number): string {
  let out = '';
  let i = 0;
  do {
    let value = input[i++];
    out += HASH64[value & 0x3f];
    if (i < count) value |= input[i] << 8;
    out += HASH64[(value >> 6) & 0x3f];
    if (i++ >= count) break;
    if (i < count) value |= input[i] << 16;
    out += HASH64[(value >> 12) & 0x3f];
    if (i++ >= count) break;
    out += HASH64[(value >> 18) & 0x3f];
  } while (i < count);
  return out;
}

/**
 * phpass `crypt_private` checksum: 22 characters.
 * @param salt the 8 salt characters
 * @param log2 log2 of the iteration count (already checked)
 */
export async function phpassChecksum(password: Uint8Array, salt: string, log2: number): Promise<string> {
  let h = createHash('md5').update(salt, 'latin1').update(password).digest();
  const count = 2 ** log2;
  for (let i = 0; i < count; i++) {
    h = createHash('md5').update(h).update(password).digest();
    if (i % 50000 === 49999) await yieldToEventLoop();
  }
  return encode64(h, 16);
}

/** Parses a phpass hash and checks its iteration count; returns its parts. */
function parse(hash: string, scheme: string, cap: number): { log2: number; salt: string; checksum: string } {
  if (hash.length !== 34) throw hashMalformed(scheme, `hash has ${hash.length} characters, expected 34`);
  const body = hash.slice(3);
  if (!isHash64(body)) throw hashMalformed(scheme, 'hash has characters outside hash64');
  const log2 = HASH64.indexOf(body[0]);
  if (log2 < 7 || log2 > 30) throw hashMalformed(scheme, 'iteration count character out of range (7..30)');
  capped(scheme, 'log2(iterations)', log2, cap);
  return { log2, salt: body.slice(1, 9), checksum: body.slice(9) };
}

/** phpass `$P$` and `$H$`. */
export const phpassFormat: HashFormat = {
  scheme: 'phpass',
  identify: (hash) => hash.startsWith('$P$') || hash.startsWith('$H$'),
  async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const { log2, salt, checksum } = parse(hash, 'phpass', ctx.caps.phpassLog2);
    if (constantTimeEqualString(await phpassChecksum(utf8(password), salt, log2), checksum)) return true;
    const trimmed = phpTrim(password);
    if (hash.startsWith('$P$') && ctx.options.wordpressTrim !== false && trimmed !== password) {
      return constantTimeEqualString(await phpassChecksum(utf8(trimmed), salt, log2), checksum);
    }
    return false;
  },
};
