/**
 * WordPress ≥ 6.8 password hashes: `$wp$2y$NN$…` = `$wp` followed by a bcrypt hash of a pre-hash of the password.
 *
 * Source: WordPress 6.8 `wp-includes/pluggable.php`, `wp_hash_password()` / `wp_check_password()`:
 * `'$wp' . password_hash( base64_encode( hash_hmac( 'sha384', $password, 'wp-sha384', true ) ), PASSWORD_BCRYPT )`,
 * checked with `password_verify( $password_to_verify, substr( $hash, 3 ) )`. The pre-hash (64 base64 characters)
 * lifts bcrypt's 72-byte limit. WordPress trims the password first (`wp_hash_password` and `wp_authenticate` call
 * PHP `trim()`); so do we unless `options.wordpressTrim === false`. The bcrypt cost is capped as for bcrypt.
 */
import { createHmac } from 'node:crypto';
import type { FormatContext, HashFormat } from '../types.js';
import { phpTrim } from '../util.js';
import { verifyBcrypt } from './bcrypt.js';

/** The WordPress 6.8 pre-hash: base64(HMAC-SHA384(key = "wp-sha384", password)). */
export function wordpressPrehash(password: string): string {
  return createHmac('sha384', 'wp-sha384').update(password, 'utf8').digest('base64');
}

/** WordPress 6.8 `$wp$2y$…`. */
export const wordpressBcryptFormat: HashFormat = {
  scheme: 'wordpress-bcrypt',
  identify: (hash) => hash.startsWith('$wp$'),
  verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const pw = ctx.options.wordpressTrim === false ? password : phpTrim(password);
    return verifyBcrypt(wordpressPrehash(pw), hash.slice(3), 'wordpress-bcrypt', ctx.caps);
  },
};
