/**
 * ASP.NET Identity password hashes (base64 blobs without a textual marker).
 *
 * Source: ASP.NET Core `src/Identity/Extensions.Core/src/PasswordHasher.cs` (`VerifyHashedPasswordV2`,
 * `VerifyHashedPasswordV3`), which also verifies the hashes of ASP.NET Identity 2 / `System.Web.Helpers.Crypto`:
 *
 * - v2: base64(0x00 ‖ salt[16] ‖ PBKDF2-HMAC-SHA1(password, salt, 1000 iterations, 32 bytes)) — exactly 49 bytes;
 * - v3: base64(0x01 ‖ prf:u32be ‖ iterations:u32be ‖ saltLength:u32be ‖ salt ‖ subkey), prf 0 = HMAC-SHA1,
 *   1 = HMAC-SHA256, 2 = HMAC-SHA512; salt and subkey at least 16 bytes each; the subkey length is the rest.
 *
 * Identification, since there is no marker: v3 = standard base64 beginning `AQAAAA` (0x01 0x00 0x00 0x00…); v2 =
 * standard base64 whose first byte is 0x00 (first characters `A[A-P]`), at least 12 characters, not all hex digits
 * (so bare hex digests are not taken for it). Passwords are UTF-8. v3 iterations are capped like PBKDF2.
 */
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { decodeBase64, pbkdf2Matches, utf8 } from '../util.js';

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** ASP.NET Identity v2 (0x00 marker). */
export const aspnetV2Format: HashFormat = {
  scheme: 'aspnet-identity-v2',
  identify: (hash) => /^A[A-P]/.test(hash) && hash.length >= 12 && B64.test(hash) && !/^[0-9A-Fa-f]+$/.test(hash),
  verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const scheme = 'aspnet-identity-v2';
    const raw = decodeBase64(hash, scheme, 'blob', 'required');
    if (raw.length !== 49 || raw[0] !== 0x00) throw hashMalformed(scheme, `blob has ${raw.length} bytes, expected 49`);
    return pbkdf2Matches(scheme, utf8(password), raw.subarray(1, 17), 1000, raw.subarray(17), 'sha1', ctx.caps);
  },
};

const PRF: Record<number, string> = { 0: 'sha1', 1: 'sha256', 2: 'sha512' };

/** ASP.NET Identity v3 (0x01 marker, prf / iterations / salt-length header). */
export const aspnetV3Format: HashFormat = {
  scheme: 'aspnet-identity-v3',
  identify: (hash) => hash.startsWith('AQAAAA') && B64.test(hash),
  verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const scheme = 'aspnet-identity-v3';
    const raw = decodeBase64(hash, scheme, 'blob', 'required');
    if (raw.length < 13 || raw[0] !== 0x01) throw hashMalformed(scheme, 'blob is shorter than its 13-byte header');
    const prf = PRF[raw.readUInt32BE(1)];
    if (prf === undefined) throw hashMalformed(scheme, 'unknown PRF');
    const iterations = raw.readUInt32BE(5);
    const saltLength = raw.readUInt32BE(9);
    if (saltLength < 16) throw hashMalformed(scheme, 'salt is shorter than 16 bytes');
    if (raw.length < 13 + saltLength + 16) throw hashMalformed(scheme, 'subkey is shorter than 16 bytes');
    const salt = raw.subarray(13, 13 + saltLength);
    const subkey = raw.subarray(13 + saltLength);
    return pbkdf2Matches(scheme, utf8(password), salt, iterations, subkey, prf, ctx.caps);
  },
};
