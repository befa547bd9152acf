/**
 * Atlassian (Jira, Confluence, Crowd) `{PKCS5S2}` hashes.
 *
 * Source: Atlassian's `DefaultPasswordEncoder` / `PKCS5S2PasswordHashGenerator` (atlassian-password-encoder), as
 * documented by passlib 1.7 `passlib/handlers/pbkdf2.py` (`atlassian_pbkdf2_sha1`): the value is
 * base64(salt[16] ‖ PBKDF2-HMAC-SHA1(password, salt, 10000 iterations, 32 bytes)), 64 base64 characters. The
 * iteration count is fixed by the format (10000, below any sensible cap).
 */
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { decodeBase64, pbkdf2Matches, utf8 } from '../util.js';

const TAG = '{PKCS5S2}';

/** Atlassian `{PKCS5S2}`. */
export const atlassianFormat: HashFormat = {
  scheme: 'atlassian-pbkdf2-sha1',
  identify: (hash) => hash.length >= TAG.length && hash.slice(0, TAG.length).toUpperCase() === TAG,
  verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const scheme = 'atlassian-pbkdf2-sha1';
    const raw = decodeBase64(hash.slice(TAG.length), scheme, 'value', 'required');
    if (raw.length !== 48) throw hashMalformed(scheme, `value has ${raw.length} bytes, expected 48`);
    return pbkdf2Matches(scheme, utf8(password), raw.subarray(0, 16), 10000, raw.subarray(16), 'sha1', ctx.caps);
  },
};
