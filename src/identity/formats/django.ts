/**
 * Django's `django.contrib.auth.hashers` formats, `<algorithm>$<…>`:
 *
 * | stored | algorithm (Django hasher) |
 * |---|---|
 * | `pbkdf2_sha256$<iter>$<salt>$<b64>` | PBKDF2-HMAC-SHA256(password, salt), 32 bytes (PBKDF2PasswordHasher) |
 * | `pbkdf2_sha1$<iter>$<salt>$<b64>` | PBKDF2-HMAC-SHA1, 20 bytes (PBKDF2SHA1PasswordHasher) |
 * | `bcrypt_sha256$$2b$…` | bcrypt(hex(SHA-256(password))) (BCryptSHA256PasswordHasher) |
 * | `bcrypt$$2b$…` | bcrypt(password) (BCryptPasswordHasher) |
 * | `argon2$argon2id$v=19$…` | Argon2 PHC string after the `argon2` prefix (Argon2PasswordHasher) |
 * | `scrypt$<N>$<salt>$<r>$<p>$<b64>` | scrypt, 64 bytes (ScryptPasswordHasher) |
 * | `sha1$<salt>$<hex>` | SHA-1(salt ‖ password) (SHA1PasswordHasher); `sha1$$<hex>` is UnsaltedSHA1PasswordHasher |
 * | `md5$<salt>$<hex>` | MD5(salt ‖ password) (MD5PasswordHasher); `md5$$<hex>` is UnsaltedMD5PasswordHasher's alternate form |
 *
 * Source: Django `django/contrib/auth/hashers.py` (versions 1.4 to 5.x). Salts are text, used as UTF-8 bytes;
 * base64 is standard with padding. Work factors are capped like their algorithms (PBKDF2 iterations, bcrypt cost,
 * scrypt N / memory, Argon2 m / t / p). A bare 32-hex-digit unsalted MD5 (Django also accepts it) has no marker:
 * declare it with `options.rawHex = { algorithm: 'md5' }`.
 */
import { createHash } from 'node:crypto';
import { verifyArgon2 } from '../argon2.js';
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import {
  checkScrypt,
  constantTimeEqual,
  decodeBase64,
  decodeHex,
  parseDecimal,
  pbkdf2Matches,
  scrypt,
  utf8,
} from '../util.js';
import { verifyBcrypt } from './bcrypt.js';

/** Splits `hash` on `$` and checks the field count. */
function fields(hash: string, scheme: string, count: number, shape: string): string[] {
  const f = hash.split('$');
  if (f.length !== count) throw hashMalformed(scheme, `expected ${shape}`);
  return f;
}

function pbkdf2Format(scheme: string, prefix: string, digestName: 'sha256' | 'sha1', bytes: number): HashFormat {
  return {
    scheme,
    identify: (hash) => hash.startsWith(prefix),
    async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
      const [, iterText, salt, b64] = fields(hash, scheme, 4, `${prefix}<iterations>$<salt>$<base64>`) as [
        string,
        string,
        string,
        string,
      ];
      const iterations = parseDecimal(iterText, scheme, 'iterations');
      if (salt === '') throw hashMalformed(scheme, 'salt is empty');
      const expected = decodeBase64(b64, scheme, 'hash');
      if (expected.length !== bytes)
        throw hashMalformed(scheme, `hash has ${expected.length} bytes, expected ${bytes}`);
      return pbkdf2Matches(scheme, utf8(password), utf8(salt), iterations, expected, digestName, ctx.caps);
    },
  };
}

function saltedDigestFormat(scheme: string, algorithm: 'sha1' | 'md5', bytes: number): HashFormat {
  const prefix = `${algorithm}$`;
  return {
    scheme,
    identify: (hash) => hash.startsWith(prefix),
    schemeOf: (hash) => (hash.startsWith(`${prefix}$`) ? `django-unsalted-${algorithm}` : scheme),
    async verify(password: string, hash: string, _ctx: FormatContext): Promise<boolean> {
      const [, salt, hex] = fields(hash, scheme, 3, `${prefix}<salt>$<hex>`) as [string, string, string];
      const expected = decodeHex(hex, scheme, 'hash', bytes);
      const computed = createHash(algorithm).update(salt, 'utf8').update(password, 'utf8').digest();
      return constantTimeEqual(computed, expected);
    },
  };
}

/** The Django formats, most specific prefixes first. */
export const djangoFormats: readonly HashFormat[] = [
  pbkdf2Format('django-pbkdf2-sha256', 'pbkdf2_sha256$', 'sha256', 32),
  pbkdf2Format('django-pbkdf2-sha1', 'pbkdf2_sha1$', 'sha1', 20),
  {
    scheme: 'django-bcrypt-sha256',
    identify: (hash) => hash.startsWith('bcrypt_sha256$'),
    verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
      const inner = hash.slice('bcrypt_sha256$'.length);
      const prehash = createHash('sha256').update(password, 'utf8').digest('hex');
      return verifyBcrypt(prehash, inner, 'django-bcrypt-sha256', ctx.caps);
    },
  },
  {
    scheme: 'django-bcrypt',
    identify: (hash) => hash.startsWith('bcrypt$'),
    verify: (password: string, hash: string, ctx: FormatContext) =>
      verifyBcrypt(password, hash.slice('bcrypt$'.length), 'django-bcrypt', ctx.caps),
  },
  {
    scheme: 'django-argon2',
    identify: (hash) => hash.startsWith('argon2$'),
    verify: (password: string, hash: string, ctx: FormatContext) =>
      verifyArgon2(hash.slice('argon2'.length), password, {
        scheme: 'django-argon2',
        caps: ctx.caps,
        ...(ctx.options.argon2Limiter ? { limiter: ctx.options.argon2Limiter } : {}),
      }),
  },
  {
    scheme: 'django-scrypt',
    identify: (hash) => hash.startsWith('scrypt$'),
    async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
      const scheme = 'django-scrypt';
      const [, nText, salt, rText, pText, b64] = fields(hash, scheme, 6, 'scrypt$<N>$<salt>$<r>$<p>$<base64>') as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      const N = parseDecimal(nText, scheme, 'N');
      const r = parseDecimal(rText, scheme, 'r');
      const p = parseDecimal(pText, scheme, 'p');
      if (salt === '') throw hashMalformed(scheme, 'salt is empty');
      const expected = decodeBase64(b64, scheme, 'hash');
      if (expected.length !== 64) throw hashMalformed(scheme, `hash has ${expected.length} bytes, expected 64`);
      checkScrypt(scheme, N, r, p, ctx.caps);
      return constantTimeEqual(await scrypt(utf8(password), utf8(salt), N, r, p, 64), expected);
    },
  },
  saltedDigestFormat('django-sha1', 'sha1', 20),
  saltedDigestFormat('django-md5', 'md5', 16),
];
