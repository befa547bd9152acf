/**
 * scrypt in passlib's PHC-style string: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<checksum>`.
 *
 * Sources: Percival & Josefsson, RFC 7914 (scrypt); passlib 1.7 `passlib/handlers/scrypt.py` for the string format
 * (salt and checksum in standard base64 without padding — passlib's `b64s_encode`; the checksum length is the
 * derived key length, 32 bytes by default; the salt bytes are used as is). N = 2^ln; N, r, p are checked by
 * RFC 7914's rules and capped (`caps.scryptN`, `caps.scryptMaxmem`).
 */
import { hashMalformed, workFactorTooHigh } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { checkScrypt, constantTimeEqual, decodeBase64, parseDecimal, scrypt, utf8 } from '../util.js';

const SCHEME = 'scrypt';

/** passlib `$scrypt$`. */
export const scryptFormat: HashFormat = {
  scheme: SCHEME,
  identify: (hash) => hash.startsWith('$scrypt$'),
  async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const m = /^\$scrypt\$ln=([0-9]+),r=([0-9]+),p=([0-9]+)\$([^$]*)\$([^$]*)$/.exec(hash);
    if (!m) throw hashMalformed(SCHEME, 'expected $scrypt$ln=…,r=…,p=…$<salt>$<checksum>');
    const ln = parseDecimal(m[1], SCHEME, 'ln');
    const r = parseDecimal(m[2], SCHEME, 'r');
    const p = parseDecimal(m[3], SCHEME, 'p');
    if (ln < 1) throw hashMalformed(SCHEME, 'ln must be ≥ 1');
    if (ln > 62) throw workFactorTooHigh(SCHEME, 'ln', ln, Math.log2(ctx.caps.scryptN));
    const salt = decodeBase64(m[4], SCHEME, 'salt', 'forbidden');
    const checksum = decodeBase64(m[5], SCHEME, 'checksum', 'forbidden');
    if (checksum.length < 4) throw hashMalformed(SCHEME, 'checksum is shorter than 4 bytes');
    const N = 2 ** ln;
    checkScrypt(SCHEME, N, r, p, ctx.caps);
    const computed = await scrypt(utf8(password), salt, N, r, p, checksum.length);
    return constantTimeEqual(computed, checksum);
  },
};
