/**
 * Firebase Authentication's modified scrypt.
 *
 * Source: https://github.com/firebase/scrypt (the reference `scrypt` tool and its README test vector): the derived
 * key is scrypt(password, salt ‖ saltSeparator, N = 2^memCost, r = rounds, p = 1, 64 bytes); the stored hash is
 * AES-256-CTR(key = derived[0..32], IV = 16 zero bytes) applied to the project's signer key.
 *
 * Firebase keeps the per-user salt and hash in two fields and the parameters at project level, so:
 * - the stored form accepted by `verifyPassword` is the string `firebase-scrypt$<salt base64>$<passwordHash base64>`
 *   (build it with {@link firebaseStoredHash} from the `salt` and `passwordHash` of `firebase auth:export`; standard
 *   or URL-safe base64 are both accepted);
 * - the project parameters come from `options.firebase` ({@link FirebaseScryptParams}); without them the hash is
 *   `TANDEM_ERR_HASH_UNSUPPORTED`.
 * N and the memory are capped like every scrypt.
 */
import { createCipheriv } from 'node:crypto';
import { TandemError } from '../../core/errors.js';
import { hashMalformed, hashUnsupported } from '../errors.js';
import type { FirebaseScryptParams, FormatContext, HashFormat } from '../types.js';
import { checkScrypt, constantTimeEqual, decodeBase64, scrypt, utf8 } from '../util.js';

const SCHEME = 'firebase-scrypt';
const PREFIX = 'firebase-scrypt$';

/** Normalises URL-safe base64 to the standard alphabet. */
function stdB64(s: string): string {
  return s.replace(/-/g, '+').replace(/_/g, '/');
}

/**
 * Builds the stored form `firebase-scrypt$<salt>$<hash>` from the two fields of a Firebase export.
 * @param salt the user's `salt` (base64)
 * @param passwordHash the user's `passwordHash` (base64)
 * @throws TANDEM_ERR_HASH_MALFORMED when either contains `$`
 */
export function firebaseStoredHash(salt: string, passwordHash: string): string {
  if (salt.includes('$') || passwordHash.includes('$')) throw hashMalformed(SCHEME, 'salt and hash must be base64');
  return `${PREFIX}${salt}$${passwordHash}`;
}

/**
 * Validates and decodes the project parameters.
 * @throws TANDEM_ERR_CONFIG_INVALID for bad base64 or out-of-range rounds / memCost
 */
export function resolveFirebaseParams(p: FirebaseScryptParams): {
  signerKey: Buffer;
  saltSeparator: Buffer;
  r: number;
  N: number;
} {
  const bad = (what: string): never => {
    throw new TandemError('CONFIG_INVALID', `firebase scrypt ${what}`, { parameter: what.split(' ')[0] });
  };
  let signerKey: Buffer;
  let saltSeparator: Buffer;
  try {
    signerKey = decodeBase64(stdB64(p.signerKey), SCHEME, 'signerKey');
    saltSeparator = decodeBase64(stdB64(p.saltSeparator), SCHEME, 'saltSeparator');
  } catch {
    return bad('signerKey / saltSeparator must be base64');
  }
  if (signerKey.length === 0) bad('signerKey is empty');
  if (!Number.isInteger(p.rounds) || p.rounds < 1 || p.rounds > 64) bad('rounds must be an integer in 1..64');
  if (!Number.isInteger(p.memCost) || p.memCost < 1 || p.memCost > 40) bad('memCost must be an integer in 1..40');
  return { signerKey, saltSeparator, r: p.rounds, N: 2 ** p.memCost };
}

/**
 * The Firebase hash of a password: base64 of AES-256-CTR(scrypt key, signer key).
 * @param salt the user's salt bytes
 */
export async function firebaseScryptHash(
  password: string,
  salt: Uint8Array,
  params: FirebaseScryptParams,
): Promise<Buffer> {
  const { signerKey, saltSeparator, r, N } = resolveFirebaseParams(params);
  const key = await scrypt(utf8(password), Buffer.concat([salt, saltSeparator]), N, r, 1, 64);
  const cipher = createCipheriv('aes-256-ctr', key.subarray(0, 32), Buffer.alloc(16));
  return Buffer.concat([cipher.update(signerKey), cipher.final()]);
}

/** Firebase modified scrypt, stored as `firebase-scrypt$<salt>$<hash>`. */
export const firebaseScryptFormat: HashFormat = {
  scheme: SCHEME,
  identify: (hash) => hash.startsWith(PREFIX),
  async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
    const params = ctx.options.firebase;
    if (!params)
      throw hashUnsupported('options.firebase (signerKey, saltSeparator, rounds, memCost) is required', SCHEME);
    const parts = hash.slice(PREFIX.length).split('$');
    if (parts.length !== 2) throw hashMalformed(SCHEME, 'expected firebase-scrypt$<salt>$<hash>');
    const salt = decodeBase64(stdB64(parts[0]), SCHEME, 'salt');
    const expected = decodeBase64(stdB64(parts[1]), SCHEME, 'hash');
    if (expected.length === 0) throw hashMalformed(SCHEME, 'hash is empty');
    const { signerKey, N, r } = resolveFirebaseParams(params);
    if (expected.length !== signerKey.length)
      throw hashMalformed(
        SCHEME,
        `hash has ${expected.length} bytes, expected ${signerKey.length} (the signer key's length)`,
      );
    checkScrypt(SCHEME, N, r, 1, ctx.caps);
    return constantTimeEqual(await firebaseScryptHash(password, salt, params), expected);
  },
};
