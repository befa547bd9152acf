/**
 * MySQL 4.1+ `PASSWORD()` / `mysql_native_password`: `*` followed by 40 hex digits = upper-case hex of
 * SHA1(SHA1(password)).
 *
 * Source: MySQL `sql/auth/password.cc` (`my_make_scrambled_password_sha1`, `make_password_from_salt`); the same in
 * MariaDB `sql/password.c`. The password is hashed as UTF-8 bytes (what a utf8mb4 connection sends). Lower-case hex
 * is accepted. No work factor.
 */
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import { constantTimeEqual, decodeHex, digest, utf8 } from '../util.js';

/** MySQL 4.1 `*HEX`. */
export const mysql41Format: HashFormat = {
  scheme: 'mysql41',
  identify: (hash) => hash.startsWith('*'),
  async verify(password: string, hash: string, _ctx: FormatContext): Promise<boolean> {
    if (hash.length !== 41) throw hashMalformed('mysql41', `hash has ${hash.length} characters, expected 41`);
    const expected = decodeHex(hash.slice(1), 'mysql41', 'hash', 20);
    return constantTimeEqual(digest('sha1', digest('sha1', utf8(password))), expected);
  },
};
