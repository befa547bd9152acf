/**
 * A bcrypt (EksBlowfish) core that works on raw key bytes and reproduces Openwall crypt_blowfish's handling of the
 * `$2x$` and `$2a$` prefixes, which `bcryptjs` does not: bcryptjs rejects `$2x$`, and it only takes JavaScript
 * strings (UTF-8), never arbitrary bytes.
 *
 * Reference: Provos & Mazières, "A Future-Adaptable Password Scheme" (USENIX 1999) for EksBlowfish, and Openwall
 * crypt_blowfish 1.3 (`crypt_blowfish.c`, `BF_set_key` / `BF_crypt`, public domain, by Solar Designer) for the
 * prefixes introduced after CVE-2011-2483:
 *
 * - `$2x$`: the key schedule of crypt_blowfish ≤ 1.0.4, which sign-extended bytes ≥ 0x80 when packing the key
 *   into 32-bit words (`tmp |= (signed char)*ptr`). It is reproduced exactly here ("bug" flag), so `$2x$` hashes
 *   written by old PHP (`crypt()` before 5.3.7) and re-labelled `$2x$` verify with the password that made them.
 * - `$2a$` in crypt_blowfish ≥ 1.1: the correct schedule plus a "safety" flip of bit 16 of P[0] when the password
 *   is one of the rare strings for which the buggy and correct schedules coincide (it needs 0xFF bytes, which
 *   UTF-8 never produces — so for text passwords `$2a$` is plain bcrypt, as in OpenBSD and bcryptjs).
 * - `$2b$` / `$2y$`: the correct schedule.
 *
 * The key is the password bytes followed by a NUL byte, repeated cyclically to 72 bytes (18 words).
 */
import { BLOWFISH_P, BLOWFISH_S } from './blowfish-tables.js';

/** bcrypt's own base64 alphabet (different order from crypt's hash64). */
const BF_ITOA64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BF_ATOI64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) BF_ATOI64[BF_ITOA64.charCodeAt(i)] = i;

/**
 * Decodes `nbytes` bytes from bcrypt base64 (extra low bits of the last character are ignored, as bcrypt does).
 * @returns the bytes, or null when a character is outside the alphabet or the string is too short
 */
export function bcryptBase64Decode(s: string, nbytes: number): Uint8Array | null {
  const out = new Uint8Array(nbytes);
  let o = 0;
  let i = 0;
  const next = (): number => {
    const c = s.charCodeAt(i++);
    return c < 128 ? BF_ATOI64[c] : -1;
  };
  while (o < nbytes) {
    const c1 = next();
    const c2 = next();
    if (c1 < 0 || c2 < 0) return null;
    out[o++] = (c1 << 2) | ((c2 & 0x30) >> 4);
    if (o >= nbytes) break;
    const c3 = next();
    if (c3 < 0) return null;
    out[o++] = ((c2 & 0x0f) << 4) | ((c3 & 0x3c) >> 2);
    if (o >= nbytes) break;
    const c4 = next();
    if (c4 < 0) return null;
    out[o++] = ((c3 & 0x03) << 6) | c4;
  }
  return out;
}

/** Encodes bytes with bcrypt base64, no padding (16 bytes → 22 characters, 23 bytes → 31 characters). */
export function bcryptBase64Encode(b: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c1 = b[i++];
    out += BF_ITOA64[c1 >> 2];
    let c = (c1 & 0x03) << 4;
    if (i >= b.length) {
      out += BF_ITOA64[c];
      break;
    }
    const c2 = b[i++];
    out += BF_ITOA64[c | (c2 >> 4)];
    c = (c2 & 0x0f) << 2;
    if (i >= b.length) {
      out += BF_ITOA64[c];
      break;
    }
    const c3 = b[i++];
    out += BF_ITOA64[c | (c3 >> 6)];
    out += BF_ITOA64[c3 & 0x3f];
  }
  return out;
}

/**
 * crypt_blowfish's `BF_set_key`: packs the cyclic key stream (password bytes + NUL) into 18 big-endian words.
 * @param bug sign-extend bytes ≥ 0x80 (the `$2x$` behaviour)
 * @param safety apply the `$2a$` countermeasure (flip bit 16 of the first initial word when it is needed)
 * @returns the 18 key words and the value to XOR into the initial P[0]
 */
export function bfSetKey(key: Uint8Array, bug: boolean, safety: boolean): { words: Int32Array; p0Xor: number } {
  const stream = new Uint8Array(key.length + 1);
  stream.set(key);
  const words = new Int32Array(18);
  let ptr = 0;
  let sign = 0;
  let diff = 0;
  for (let i = 0; i < 18; i++) {
    let correct = 0;
    let buggy = 0;
    for (let j = 0; j < 4; j++) {
      const byte = stream[ptr];
      correct = (correct << 8) | byte;
      buggy = (buggy << 8) | (byte >= 0x80 ? byte - 256 : byte); // (BF_word_signed)(signed char)*ptr
      if (j) sign |= buggy & 0x80;
      ptr = byte === 0 ? 0 : ptr + 1;
      if (ptr >= stream.length) ptr = 0; // unreachable: the stream ends with NUL
    }
    diff |= correct ^ buggy;
    words[i] = bug ? buggy : correct;
  }
  diff |= diff >>> 16;
  diff &= 0xffff;
  diff += 0xffff; // bit 16 set iff diff was non-zero
  sign <<= 9; // the non-benign sign-extension flag moves to bit 16
  sign &= ~diff & (safety ? 0x10000 : 0);
  return { words, p0Xor: sign };
}

interface State {
  P: Int32Array;
  S: Int32Array;
}

/** Blowfish encryption of one 64-bit block (16 rounds); returns [L, R] in `lr`. */
function encipher(st: State, lr: Int32Array): void {
  const P = st.P;
  const S = st.S;
  let l = lr[0] ^ P[0];
  let r = lr[1];
  for (let i = 1; i <= 16; i += 2) {
    r ^=
      ((((S[l >>> 24] + S[0x100 | ((l >>> 16) & 0xff)]) | 0) ^ S[0x200 | ((l >>> 8) & 0xff)]) + S[0x300 | (l & 0xff)]) ^
      P[i];
    l ^=
      ((((S[r >>> 24] + S[0x100 | ((r >>> 16) & 0xff)]) | 0) ^ S[0x200 | ((r >>> 8) & 0xff)]) + S[0x300 | (r & 0xff)]) ^
      P[i + 1];
  }
  lr[0] = r ^ P[17];
  lr[1] = l;
}

/** P ^= key words, then re-encrypt P and S in chain from a zero block ("ExpandKey(state, 0, key)"). */
function expandZero(st: State, key: Int32Array, keyLen: number, lr: Int32Array): void {
  for (let i = 0; i < 18; i++) st.P[i] ^= key[i % keyLen];
  lr[0] = 0;
  lr[1] = 0;
  for (let i = 0; i < 18; i += 2) {
    encipher(st, lr);
    st.P[i] = lr[0];
    st.P[i + 1] = lr[1];
  }
  for (let i = 0; i < 1024; i += 2) {
    encipher(st, lr);
    st.S[i] = lr[0];
    st.S[i + 1] = lr[1];
  }
}

// "OrpheanBeholderScryDoubt"
const CTEXT = new Int32Array([0x4f727068, 0x65616e42, 0x65686f6c, 0x64657253, 0x63727944, 0x6f756274]);

/**
 * Runs bcrypt on raw key bytes.
 * @param key password bytes (only the first 72 bytes of key ‖ NUL are used)
 * @param minor `a`, `b`, `x` or `y` (the prefix letter)
 * @param cost log2 rounds, 4..31 (callers apply their own cap first)
 * @param salt 16 salt bytes
 * @param yieldEvery yield to the event loop every this many rounds (0: never)
 * @returns the 23-byte raw result (bcrypt drops the 24th byte)
 */
export async function bcryptRawBytes(
  key: Uint8Array,
  minor: 'a' | 'b' | 'x' | 'y',
  cost: number,
  salt: Uint8Array,
  yieldEvery = 64,
): Promise<Uint8Array> {
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError('bcrypt cost must be in 4..31');
  if (salt.length !== 16) throw new RangeError('bcrypt salt must be 16 bytes');
  const { words, p0Xor } = bfSetKey(key.subarray(0, 72), minor === 'x', minor === 'a');
  const saltWords = new Int32Array(4);
  for (let i = 0; i < 4; i++)
    saltWords[i] = (salt[4 * i] << 24) | (salt[4 * i + 1] << 16) | (salt[4 * i + 2] << 8) | salt[4 * i + 3];

  const st: State = { P: Int32Array.from(BLOWFISH_P, (x) => x | 0), S: Int32Array.from(BLOWFISH_S, (x) => x | 0) };
  const lr = new Int32Array(2);
  // EksBlowfishSetup, first part: ExpandKey(state, salt, key).
  for (let i = 0; i < 18; i++) st.P[i] ^= words[i];
  st.P[0] ^= p0Xor;
  let s = 0;
  for (let i = 0; i < 18; i += 2) {
    lr[0] ^= saltWords[s++ & 3];
    lr[1] ^= saltWords[s++ & 3];
    encipher(st, lr);
    st.P[i] = lr[0];
    st.P[i + 1] = lr[1];
  }
  for (let i = 0; i < 1024; i += 2) {
    lr[0] ^= saltWords[s++ & 3];
    lr[1] ^= saltWords[s++ & 3];
    encipher(st, lr);
    st.S[i] = lr[0];
    st.S[i + 1] = lr[1];
  }
  // 2^cost rounds of ExpandKey(state, 0, key); ExpandKey(state, 0, salt).
  const rounds = 2 ** cost;
  for (let r = 0; r < rounds; r++) {
    expandZero(st, words, 18, lr);
    expandZero(st, saltWords, 4, lr);
    if (yieldEvery > 0 && r % yieldEvery === yieldEvery - 1) await new Promise<void>((res) => setImmediate(res));
  }
  // Encrypt "OrpheanBeholderScryDoubt" 64 times.
  const c = Int32Array.from(CTEXT);
  const blk = new Int32Array(2);
  for (let j = 0; j < 6; j += 2) {
    blk[0] = c[j];
    blk[1] = c[j + 1];
    for (let i = 0; i < 64; i++) encipher(st, blk);
    c[j] = blk[0];
    c[j + 1] = blk[1];
  }
  const out = new Uint8Array(24);
  for (let i = 0; i < 6; i++) {
    out[4 * i] = (c[i] >>> 24) & 0xff;
    out[4 * i + 1] = (c[i] >>> 16) & 0xff;
    out[4 * i + 2] = (c[i] >>> 8) & 0xff;
    out[4 * i + 3] = c[i] & 0xff;
  }
  return out.subarray(0, 23);
}

/**
 * bcrypt on raw key bytes with a full setting, e.g. `bcryptRaw(Buffer.from([0xa3]), '$2x$05$/OK.fbVrR/bpIqNJ5ianF.')`.
 * Exposed for known-answer tests with non-UTF-8 keys (crypt_blowfish's own test vectors).
 * @param setting `$2<a|b|x|y>$NN$` followed by 22 salt characters (anything after them is ignored)
 * @returns the full 60-character hash
 * @throws RangeError for an unparsable setting
 */
export async function bcryptRaw(key: Uint8Array, setting: string): Promise<string> {
  const m = /^\$2([abxy])\$([0-9]{2})\$([./A-Za-z0-9]{22})/.exec(setting);
  if (!m) throw new RangeError('bad bcrypt setting');
  const salt = bcryptBase64Decode(m[3], 16);
  if (!salt) throw new RangeError('bad bcrypt salt');
  const raw = await bcryptRawBytes(key, m[1] as 'a' | 'b' | 'x' | 'y', Number(m[2]), salt);
  return `$2${m[1]}$${m[2]}$${bcryptBase64Encode(salt)}${bcryptBase64Encode(raw)}`;
}
