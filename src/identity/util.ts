/**
 * Small helpers shared by the hash formats: strict decoders (base64 variants, hex, crypt's hash64), constant-time
 * comparison, strict decimal parsing, work-factor checks and promisified `node:crypto` KDFs.
 *
 * Every decoder validates its whole input and throws `TANDEM_ERR_HASH_MALFORMED` (naming the scheme, never the
 * value) instead of silently skipping bad characters the way `Buffer.from(s, 'base64')` does.
 */
import { createHash, pbkdf2 as pbkdf2Cb, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { hashMalformed, workFactorTooHigh } from './errors.js';

/** UTF-8 bytes of a password (passlib's and Django's convention for text passwords). */
export function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/**
 * Compares two byte strings in time that depends only on the longer length: both are copied into equal-length
 * buffers and compared with `crypto.timingSafeEqual`; a length mismatch then makes the result false.
 * @returns true when `a` and `b` have the same length and bytes
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const len = Math.max(a.length, b.length, 1);
  const pa = Buffer.alloc(len);
  const pb = Buffer.alloc(len);
  pa.set(a);
  pb.set(b);
  const same = timingSafeEqual(pa, pb);
  return same && a.length === b.length;
}

/** {@link constantTimeEqual} on two ASCII strings (crypt-style encoded checksums). */
export function constantTimeEqualString(a: string, b: string): boolean {
  return constantTimeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

const B64_STD = /^[A-Za-z0-9+/]*$/;
const B64_AB64 = /^[A-Za-z0-9./]*$/;

/**
 * Decodes standard base64 (RFC 4648 §4) strictly.
 * @param padding `required`: length % 4 == 0 with correct `=` padding; `optional`: padding may be omitted but, if
 *   present, must be correct; `forbidden`: no `=` at all
 * @throws TANDEM_ERR_HASH_MALFORMED on bad characters, impossible lengths or wrong padding
 */
export function decodeBase64(
  s: string,
  scheme: string,
  what: string,
  padding: 'required' | 'optional' | 'forbidden' = 'optional',
): Buffer {
  const eq = s.indexOf('=');
  const body = eq === -1 ? s : s.slice(0, eq);
  const pad = eq === -1 ? '' : s.slice(eq);
  if (!B64_STD.test(body)) throw hashMalformed(scheme, `${what} is not valid base64`);
  if (pad !== '' && pad !== '=' && pad !== '==') throw hashMalformed(scheme, `${what} has bad base64 padding`);
  if (padding === 'forbidden' && pad !== '') throw hashMalformed(scheme, `${what} must not have base64 padding`);
  if (body.length % 4 === 1) throw hashMalformed(scheme, `${what} has an impossible base64 length`);
  const expectedPad = (4 - (body.length % 4)) % 4;
  if (pad !== '' && pad.length !== expectedPad) throw hashMalformed(scheme, `${what} has bad base64 padding`);
  if (padding === 'required' && pad.length !== expectedPad) throw hashMalformed(scheme, `${what} lacks base64 padding`);
  return Buffer.from(body, 'base64');
}

/**
 * Decodes passlib's "adapted base64" (`ab64`: standard alphabet with `.` instead of `+`, no padding), used by
 * passlib's `$pbkdf2…$` hashes (passlib.utils.binary.ab64_decode).
 * @throws TANDEM_ERR_HASH_MALFORMED on bad characters or impossible lengths
 */
export function decodeAb64(s: string, scheme: string, what: string): Buffer {
  if (!B64_AB64.test(s)) throw hashMalformed(scheme, `${what} is not valid ab64`);
  if (s.length % 4 === 1) throw hashMalformed(scheme, `${what} has an impossible ab64 length`);
  return Buffer.from(s.replace(/\./g, '+'), 'base64');
}

/**
 * Decodes hex (either case) strictly.
 * @param bytes when given, the exact number of bytes expected
 * @throws TANDEM_ERR_HASH_MALFORMED on odd length, bad characters or a wrong length
 */
export function decodeHex(s: string, scheme: string, what: string, bytes?: number): Buffer {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw hashMalformed(scheme, `${what} is not valid hex`);
  if (bytes !== undefined && s.length !== bytes * 2)
    throw hashMalformed(scheme, `${what} has ${s.length / 2} bytes, expected ${bytes}`);
  return Buffer.from(s, 'hex');
}

/** The crypt(3) "hash64" alphabet (`./0-9A-Za-z`), used by md5-crypt, sha-crypt, phpass and bcrypt. */
export const HASH64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** True when every character of `s` is in {@link HASH64}. */
export function isHash64(s: string): boolean {
  return /^[./0-9A-Za-z]*$/.test(s);
}

/**
 * crypt's `b64_from_24bit`: writes the low `n` 6-bit groups of `(b2 << 16) | (b1 << 8) | b0`, least significant
 * first (md5-crypt, sha-crypt).
 */
export function b64From24(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < n; i++) {
    out += HASH64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

/**
 * Parses a decimal parameter read from a hash: ASCII digits only, no sign, no leading zero (except `0` itself),
 * at most 15 digits (so the value is a safe integer).
 * @throws TANDEM_ERR_HASH_MALFORMED otherwise
 */
export function parseDecimal(s: string, scheme: string, what: string): number {
  if (!/^(0|[1-9][0-9]{0,14})$/.test(s)) throw hashMalformed(scheme, `${what} is not a canonical decimal number`);
  return Number(s);
}

/**
 * Throws `TANDEM_ERR_HASH_WORK_FACTOR` when `value > cap`.
 * @returns `value`
 */
export function capped(scheme: string, parameter: string, value: number, cap: number): number {
  if (value > cap) throw workFactorTooHigh(scheme, parameter, value, cap);
  return value;
}

/** One-shot digest of the concatenation of `parts`. */
export function digest(algorithm: string, ...parts: Uint8Array[]): Buffer {
  const h = createHash(algorithm);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Byte length of each digest name used here. */
export const DIGEST_BYTES: Readonly<Record<string, number>> = Object.freeze({
  md5: 16,
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
});

/** PBKDF2 (RFC 8018 §5.2) on the libuv thread pool. */
export function pbkdf2(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  keylen: number,
  digestName: string,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2Cb(password, salt, iterations, keylen, digestName, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * scrypt (RFC 7914) on the libuv thread pool. `maxmem` is set just above what OpenSSL needs for these parameters
 * (128·r·(N+2) + 128·r·p bytes) — callers check the configured cap first with {@link checkScrypt}.
 */
export function scrypt(
  password: Uint8Array,
  salt: Uint8Array,
  N: number,
  r: number,
  p: number,
  keylen: number,
): Promise<Buffer> {
  const maxmem = 128 * r * (N + 2) + 128 * r * p + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Validates scrypt parameters read from a hash and applies the caps.
 * @throws TANDEM_ERR_HASH_MALFORMED when N is not a power of two > 1, or r / p are 0 or r·p ≥ 2^30 (RFC 7914 §2)
 * @throws TANDEM_ERR_HASH_WORK_FACTOR when N > caps.scryptN or 128·N·r·p > caps.scryptMaxmem
 */
export function checkScrypt(
  scheme: string,
  N: number,
  r: number,
  p: number,
  caps: { scryptN: number; scryptMaxmem: number },
): void {
  if (!Number.isSafeInteger(N) || N < 2 || !Number.isInteger(Math.log2(N))) {
    throw hashMalformed(scheme, 'N must be a power of two greater than 1');
  }
  if (!Number.isSafeInteger(r) || !Number.isSafeInteger(p) || r < 1 || p < 1 || r * p >= 2 ** 30) {
    throw hashMalformed(scheme, 'r and p must be positive with r·p < 2^30');
  }
  capped(scheme, 'N', N, caps.scryptN);
  capped(scheme, '128·N·r·p (bytes)', 128 * N * r * p, caps.scryptMaxmem);
}

/** PHP's `trim()` with its default character list: space, \t, \n, \r, \0, \x0B. */
export function phpTrim(s: string): string {
  return s.replace(/^[ \t\n\r\0\x0B]+|[ \t\n\r\0\x0B]+$/g, '');
}

/** Resolves on the next turn of the event loop (lets long pure-JS loops give other requests a turn). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Checks PBKDF2 iterations (≥ 1, capped), derives `expected.length` bytes and compares in constant time.
 * @throws TANDEM_ERR_HASH_MALFORMED (iterations < 1, empty checksum) / TANDEM_ERR_HASH_WORK_FACTOR (iterations > cap)
 */
export async function pbkdf2Matches(
  scheme: string,
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  expected: Uint8Array,
  digestName: string,
  caps: { pbkdf2Iterations: number },
): Promise<boolean> {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw hashMalformed(scheme, 'iterations must be ≥ 1');
  if (expected.length === 0) throw hashMalformed(scheme, 'checksum is empty');
  capped(scheme, 'iterations', iterations, caps.pbkdf2Iterations);
  const computed = await pbkdf2(password, salt, iterations, expected.length, digestName);
  return constantTimeEqual(computed, expected);
}
