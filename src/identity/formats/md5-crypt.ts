/**
 * md5-crypt (`$1$salt$checksum`) and Apache's variant (`$apr1$salt$checksum`).
 *
 * Source: Poul-Henning Kamp's FreeBSD `crypt-md5.c` (1994, "beer-ware"), the reference every implementation
 * copies (glibc `md5-crypt.c`, OpenSSL `passwd -1`); Apache APR `apr_md5.c` (`apr_md5_encode`) for `$apr1$`, which
 * is the same algorithm with the magic string `$apr1$` mixed in instead of `$1$`. Salt: 0..8 characters (not `$`);
 * checksum: 22 hash64 characters. 1000 fixed rounds of MD5, so there is no work factor to cap.
 */
import { createHash } from 'node:crypto';
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { b64From24, constantTimeEqualString, digest, isHash64, utf8 } from '../util.js';

/**
 * Computes the md5-crypt checksum (22 characters) of `password` with `salt` and `magic` (`$1$` or `$apr1$`).
 * Salt is used up to its first 8 bytes, as in the reference.
 */
export function md5CryptChecksum(password: Uint8Array, salt: Uint8Array, magic: '$1$' | '$apr1$'): string {
  const pw = password;
  const s = salt.subarray(0, 8);
  let fin = digest('md5', pw, s, pw);
  const ctx = createHash('md5');
  ctx.update(pw);
  ctx.update(magic);
  ctx.update(s);
  for (let pl = pw.length; pl > 0; pl -= 16) ctx.update(fin.subarray(0, Math.min(pl, 16)));
  const zero = Buffer.from([0]);
  const first = pw.subarray(0, 1);
  for (let i = pw.length; i; i >>>= 1) ctx.update(i & 1 ? zero : first);
  fin = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = createHash('md5');
    c.update(i & 1 ? pw : fin);
    if (i % 3) c.update(s);
    if (i % 7) c.update(pw);
    c.update(i & 1 ? fin : pw);
    fin = c.digest();
  }
  return (
    b64From24(fin[0], fin[6], fin[12], 4) +
    b64From24(fin[1], fin[7], fin[13], 4) +
    b64From24(fin[2], fin[8], fin[14], 4) +
    b64From24(fin[3], fin[9], fin[15], 4) +
    b64From24(fin[4], fin[10], fin[5], 4) +
    b64From24(0, 0, fin[11], 2)
  );
}

function makeFormat(scheme: 'md5-crypt' | 'apr1', magic: '$1$' | '$apr1$'): HashFormat {
  return {
    scheme,
    identify: (hash) => hash.startsWith(magic),
    async verify(password: string, hash: string, _ctx: FormatContext): Promise<boolean> {
      const rest = hash.slice(magic.length);
      const parts = rest.split('$');
      if (parts.length !== 2) throw hashMalformed(scheme, `expected ${magic}<salt>$<checksum>`);
      const [salt, checksum] = parts as [string, string];
      if (salt.length > 8) throw hashMalformed(scheme, 'salt is longer than 8 characters');
      if (!/^[^\s:]*$/.test(salt)) throw hashMalformed(scheme, 'salt has invalid characters');
      if (checksum.length !== 22 || !isHash64(checksum))
        throw hashMalformed(scheme, 'checksum must be 22 hash64 characters');
      const computed = md5CryptChecksum(utf8(password), Buffer.from(salt, 'utf8'), magic);
      return constantTimeEqualString(computed, checksum);
    },
  };
}

/** FreeBSD / glibc md5-crypt, `$1$`. */
export const md5CryptFormat: HashFormat = makeFormat('md5-crypt', '$1$');

/** Apache htpasswd MD5, `$apr1$`. */
export const apr1Format: HashFormat = makeFormat('apr1', '$apr1$');
