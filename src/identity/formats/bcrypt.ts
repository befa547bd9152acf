/**
 * bcrypt: `$2a$`, `$2b$`, `$2y$` (and the original `$2$`) through `bcryptjs`, and `$2x$` through the crypt_blowfish
 * emulation of ./bcrypt-core.ts.
 *
 * Format: `$2<minor>$<cost:2 digits>$<salt:22 bcrypt-base64 chars><checksum:31 bcrypt-base64 chars>` (60 characters).
 * Sources: Provos & Mazières, "A Future-Adaptable Password Scheme" (USENIX 1999); OpenBSD `lib/libc/crypt/bcrypt.c`
 * (`$2a$`, `$2b$` — the 2014 fix of the 255-byte length wraparound); Openwall crypt_blowfish 1.3 (`$2x$`, `$2y$`,
 * CVE-2011-2483). bcrypt uses at most the first 72 bytes of the UTF-8 password.
 *
 * `$2x$` is the prefix PHP ≥ 5.3.7 assigns to hashes made by the sign-extension bug of crypt_blowfish ≤ 1.0.4:
 * for passwords with bytes ≥ 0x80 they differ from correct bcrypt. We reproduce the buggy key schedule exactly
 * (verified against crypt_blowfish's published `$2x$` vectors and libxcrypt), so such users can still log in once and
 * be re-hashed with Argon2id. For ASCII passwords `$2x$` equals `$2a$`.
 */
import { hash as bcryptjsHash } from 'bcryptjs';
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat, WorkFactorCaps } from '../types.js';
import { capped, constantTimeEqualString, utf8 } from '../util.js';
import { bcryptBase64Decode, bcryptBase64Encode, bcryptRawBytes } from './bcrypt-core.js';

const BCRYPT_FULL = /^\$2([abxy]?)\$([0-9]{2})\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

/** A parsed bcrypt string. */
export interface ParsedBcrypt {
  minor: '' | 'a' | 'b' | 'x' | 'y';
  cost: number;
  /** Everything before the checksum: `$2b$10$` + 22 salt characters. */
  setting: string;
  checksum: string;
}

/**
 * Parses a bcrypt string and checks the cost against the cap.
 * @throws TANDEM_ERR_HASH_MALFORMED (wrong length, characters, cost < 4) / TANDEM_ERR_HASH_WORK_FACTOR (cost > cap)
 */
export function parseBcrypt(hash: string, scheme: string, caps: Pick<WorkFactorCaps, 'bcryptCost'>): ParsedBcrypt {
  const m = BCRYPT_FULL.exec(hash);
  if (!m) {
    if (!/^\$2[abxy]?\$[0-9]{2}\$/.test(hash)) throw hashMalformed(scheme, 'expected $2<a|b|x|y>$<2-digit cost>$');
    const rest = hash.replace(/^\$2[abxy]?\$[0-9]{2}\$/, '');
    if (!/^[./A-Za-z0-9]*$/.test(rest))
      throw hashMalformed(scheme, 'salt or checksum has characters outside bcrypt base64');
    throw hashMalformed(scheme, `salt and checksum have ${rest.length} characters, expected 53`);
  }
  const cost = Number(m[2]);
  if (cost < 4) throw hashMalformed(scheme, 'cost must be ≥ 4');
  capped(scheme, 'cost', cost, caps.bcryptCost);
  return { minor: m[1] as ParsedBcrypt['minor'], cost, setting: hash.slice(0, hash.length - 31), checksum: m[4] };
}

/**
 * Verifies a password string against a bcrypt hash of any supported prefix.
 * @param scheme the scheme reported in errors (the callers wrap bcrypt: Django, WordPress, LDAP `{CRYPT}`)
 * @throws as {@link parseBcrypt}
 */
export async function verifyBcrypt(
  password: string,
  hash: string,
  scheme: string,
  caps: Pick<WorkFactorCaps, 'bcryptCost'>,
): Promise<boolean> {
  const parsed = parseBcrypt(hash, scheme, caps);
  let computed: string;
  if (parsed.minor === 'x') {
    const salt = bcryptBase64Decode(parsed.setting.slice(7), 16);
    if (!salt) throw hashMalformed(scheme, 'salt is not bcrypt base64');
    computed = bcryptBase64Encode(await bcryptRawBytes(utf8(password), 'x', parsed.cost, salt));
  } else {
    // bcryptjs accepts $2$, $2a$, $2b$ and $2y$; it keeps the prefix and recomputes the checksum from the setting.
    const full = await bcryptjsHash(password, parsed.setting);
    computed = full.slice(full.length - 31);
  }
  return constantTimeEqualString(computed, parsed.checksum);
}

/** bcrypt `$2$`, `$2a$`, `$2b$`, `$2y$` (verified by bcryptjs). */
export const bcryptFormat: HashFormat = {
  scheme: 'bcrypt',
  identify: (hash) => /^\$2[aby]?\$/.test(hash),
  verify: (password: string, hash: string, ctx: FormatContext) => verifyBcrypt(password, hash, 'bcrypt', ctx.caps),
};

/** bcrypt `$2x$` (crypt_blowfish's sign-extension bug, emulated exactly). */
export const bcrypt2xFormat: HashFormat = {
  scheme: 'bcrypt-2x',
  identify: (hash) => hash.startsWith('$2x$'),
  verify: (password: string, hash: string, ctx: FormatContext) => verifyBcrypt(password, hash, 'bcrypt-2x', ctx.caps),
};
