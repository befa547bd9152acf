/**
 * sha256-crypt (`$5$`) and sha512-crypt (`$6$`).
 *
 * Source: Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt,
 * version 0.6, 2008), which is also glibc's implementation. Format: `$5$[rounds=N$]salt$checksum`; salt up to 16
 * characters; rounds default 5000, clamped to 1000..999,999,999 by the spec; checksum 43 (`$5$`) or 86 (`$6$`) hash64
 * characters. `rounds` is the work factor and is capped (`caps.shaCryptRounds`).
 */
import { createHash } from 'node:crypto';
import { hashMalformed } from '../errors.js';
import type { FormatContext, HashFormat } from '../types.js';
import {
  b64From24,
  capped,
  constantTimeEqualString,
  digest,
  isHash64,
  parseDecimal,
  utf8,
  yieldToEventLoop,
} from '../util.js';

/** Byte orders of the final encoding (the spec's step 22). Triples are (B2, B1, B0) of b64_from_24bit. */
const ORDER_256: readonly (readonly [number, number, number])[] = [
  [0, 10, 20],
  [21, 1, 11],
  [12, 22, 2],
  [3, 13, 23],
  [24, 4, 14],
  [15, 25, 5],
  [6, 16, 26],
  [27, 7, 17],
  [18, 28, 8],
  [9, 19, 29],
];
const ORDER_512: readonly (readonly [number, number, number])[] = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
];

/** Repeats `block` cyclically to `len` bytes (the spec's steps 16 and 20, "P" and "S" byte sequences). */
function stretch(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
  return out;
}

/**
 * Computes the sha-crypt checksum following the 22 steps of Drepper's specification.
 * @param algorithm `sha256` or `sha512`
 * @param salt the salt bytes (at most 16 are used)
 * @param rounds the round count (already clamped to 1000..999,999,999)
 * @returns the 43- or 86-character checksum; yields to the event loop every 20,000 rounds
 */
export async function shaCryptChecksum(
  algorithm: 'sha256' | 'sha512',
  password: Buffer,
  salt: Buffer,
  rounds: number,
): Promise<string> {
  const n = algorithm === 'sha256' ? 32 : 64;
  const s = salt.subarray(0, 16);
  const P = password;
  // Steps 4-8: digest B = H(P ‖ S ‖ P).
  const B = digest(algorithm, P, s, P);
  // Steps 1-3, 9-12: digest A.
  const a = createHash(algorithm);
  a.update(P);
  a.update(s);
  let cnt: number;
  for (cnt = P.length; cnt > n; cnt -= n) a.update(B);
  a.update(B.subarray(0, cnt));
  for (cnt = P.length; cnt > 0; cnt >>>= 1) a.update(cnt & 1 ? B : P);
  const A = a.digest();
  // Steps 13-16: DP and the P sequence.
  const dp = createHash(algorithm);
  for (let i = 0; i < P.length; i++) dp.update(P);
  const Pseq = stretch(dp.digest(), P.length);
  // Steps 17-20: DS and the S sequence.
  const ds = createHash(algorithm);
  for (let i = 0; i < 16 + A[0]; i++) ds.update(s);
  const Sseq = stretch(ds.digest(), s.length);
  // Step 21: the rounds.
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const c = createHash(algorithm);
    c.update(i & 1 ? Pseq : C);
    if (i % 3) c.update(Sseq);
    if (i % 7) c.update(Pseq);
    c.update(i & 1 ? C : Pseq);
    C = c.digest();
    if (i % 20000 === 19999) await yieldToEventLoop();
  }
  // Step 22: encoding.
  let out = '';
  if (algorithm === 'sha256') {
    for (const [x, y, z] of ORDER_256) out += b64From24(C[x], C[y], C[z], 4);
    out += b64From24(0, C[31], C[30], 3);
  } else {
    for (const [x, y, z] of ORDER_512) out += b64From24(C[x], C[y], C[z], 4);
    out += b64From24(0, 0, C[63], 2);
  }
  return out;
}

function makeFormat(scheme: 'sha256-crypt' | 'sha512-crypt', prefix: '$5$' | '$6$'): HashFormat {
  const algorithm = scheme === 'sha256-crypt' ? 'sha256' : 'sha512';
  const checksumLen = scheme === 'sha256-crypt' ? 43 : 86;
  return {
    scheme,
    identify: (hash) => hash.startsWith(prefix),
    async verify(password: string, hash: string, ctx: FormatContext): Promise<boolean> {
      const parts = hash.slice(prefix.length).split('$');
      let rounds = 5000;
      if (parts.length === 3) {
        const rm = /^rounds=(.*)$/.exec(parts[0]);
        if (!rm) throw hashMalformed(scheme, 'expected rounds=<N>');
        rounds = parseDecimal(rm[1], scheme, 'rounds');
        parts.shift();
      }
      if (parts.length !== 2) throw hashMalformed(scheme, `expected ${prefix}[rounds=N$]<salt>$<checksum>`);
      const [salt, checksum] = parts as [string, string];
      if (salt.length > 16 || !isHash64(salt)) throw hashMalformed(scheme, 'salt must be at most 16 hash64 characters');
      if (checksum.length !== checksumLen || !isHash64(checksum))
        throw hashMalformed(scheme, `checksum must be ${checksumLen} hash64 characters`);
      // The spec clamps rounds to [1000, 999999999]; the cap applies to what will actually be computed.
      rounds = Math.min(Math.max(rounds, 1000), 999_999_999);
      capped(scheme, 'rounds', rounds, ctx.caps.shaCryptRounds);
      const computed = await shaCryptChecksum(algorithm, utf8(password), Buffer.from(salt, 'latin1'), rounds);
      return constantTimeEqualString(computed, checksum);
    },
  };
}

/** sha256-crypt, `$5$`. */
export const sha256CryptFormat: HashFormat = makeFormat('sha256-crypt', '$5$');

/** sha512-crypt, `$6$`. */
export const sha512CryptFormat: HashFormat = makeFormat('sha512-crypt', '$6$');
