/**
 * Argon2id for the identity bridge: hashing new passwords, verifying PHC strings
 * (`$argon2id$v=19$m=…,t=…,p=…$salt$tag`),
 * deciding when a hash must be redone because the policy changed, and a semaphore that bounds how many Argon2
 * computations run at once (each one holds `memoryCost` KiB, so an unbounded login burst would run the process out of
 * memory; excess callers get `TANDEM_ERR_IDENTITY_BUSY` instead).
 *
 * Algorithm: RFC 9106 (Argon2), computed by `@node-rs/argon2` (Rust `argon2` crate). The string format is the PHC
 * string format used by the reference implementation (https://github.com/P-H-C/phc-winner-argon2, `src/encoding.c`).
 * Defaults are OWASP's Password Storage Cheat Sheet first choice: m = 19456 KiB (19 MiB), t = 2, p = 1.
 */
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { hash as argon2Hash, hashRaw as argon2HashRaw, type Algorithm, type Version } from '@node-rs/argon2';
import { TandemError } from '../core/errors.js';
import { hashMalformed, hashUnsupported, identityBusy } from './errors.js';
import { DEFAULT_CAPS, type Argon2Params, type WorkFactorCaps } from './types.js';
import { capped, constantTimeEqual, decodeBase64, parseDecimal } from './util.js';

/** OWASP's Argon2id parameters (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane; 32-byte tag, 16-byte salt. */
export const OWASP_ARGON2ID: Readonly<Argon2Params> = Object.freeze({
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
  saltLen: 16,
});

// ---------------------------------------------------------------------------------------------------------------
// Semaphore
// ---------------------------------------------------------------------------------------------------------------

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
  timer?: NodeJS.Timeout;
}

/**
 * A counting semaphore with a bounded FIFO queue. At most `max` tasks run at once; up to `queueCap` more wait;
 * beyond that {@link Semaphore.run} rejects at once with `TANDEM_ERR_IDENTITY_BUSY`. With `queueTimeoutMs`, a task
 * that waited that long is rejected with the same code.
 */
export class Semaphore {
  readonly max: number;
  readonly queueCap: number;
  readonly queueTimeoutMs: number | undefined;
  #active = 0;
  readonly #queue: Waiter[] = [];

  /**
   * @param max concurrent tasks (≥ 1); default: the number of CPUs (`os.availableParallelism()`)
   * @param queueCap waiting tasks (≥ 0); default 64
   * @param queueTimeoutMs optional longest wait in the queue
   * @throws TANDEM_ERR_CONFIG_INVALID for non-integer or out-of-range values
   */
  constructor(max: number = availableParallelism(), queueCap = 64, queueTimeoutMs?: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new TandemError('CONFIG_INVALID', 'argon2 concurrency must be an integer ≥ 1', { max });
    if (!Number.isInteger(queueCap) || queueCap < 0)
      throw new TandemError('CONFIG_INVALID', 'argon2 queue cap must be an integer ≥ 0', { queueCap });
    if (queueTimeoutMs !== undefined && !(queueTimeoutMs > 0))
      throw new TandemError('CONFIG_INVALID', 'argon2 queue timeout must be > 0 ms', { queueTimeoutMs });
    this.max = max;
    this.queueCap = queueCap;
    this.queueTimeoutMs = queueTimeoutMs;
  }

  /** Tasks running now and tasks waiting. */
  stats(): { active: number; queued: number; max: number; queueCap: number } {
    return { active: this.#active, queued: this.#queue.length, max: this.max, queueCap: this.queueCap };
  }

  /**
   * Runs `task` when a slot is free and releases the slot when it settles.
   * @returns the task's result
   * @throws TANDEM_ERR_IDENTITY_BUSY when the queue is full (without running the task) or the wait timed out
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.#acquire();
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#active < this.max) {
      this.#active++;
      return Promise.resolve();
    }
    if (this.#queue.length >= this.queueCap) {
      return Promise.reject(identityBusy(this.#active, this.#queue.length, 'queue full'));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (this.queueTimeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const i = this.#queue.indexOf(waiter);
          if (i !== -1) this.#queue.splice(i, 1);
          reject(identityBusy(this.#active, this.#queue.length, 'queue timeout'));
        }, this.queueTimeoutMs);
        waiter.timer.unref?.();
      }
      this.#queue.push(waiter);
    });
  }

  #release(): void {
    const next = this.#queue.shift();
    if (next) {
      // The slot passes straight to the next waiter: #active is unchanged.
      if (next.timer) clearTimeout(next.timer);
      next.resolve();
    } else {
      this.#active--;
    }
  }
}

let defaultLimiter: Semaphore | undefined;

/** The process-wide Argon2 semaphore (CPUs concurrent, 64 queued), created on first use. */
export function getDefaultLimiter(): Semaphore {
  defaultLimiter ??= new Semaphore();
  return defaultLimiter;
}

/**
 * Replaces the process-wide Argon2 semaphore (e.g. from the config's identity section).
 * @param limiter the new semaphore; tasks already queued on the old one finish there
 */
export function setDefaultLimiter(limiter: Semaphore): void {
  defaultLimiter = limiter;
}

// ---------------------------------------------------------------------------------------------------------------
// PHC strings
// ---------------------------------------------------------------------------------------------------------------

/** The parts of an Argon2 PHC string. */
export interface ParsedArgon2 {
  type: 'argon2id' | 'argon2i' | 'argon2d';
  /** 0x13 (19) or 0x10 (16); a string without `v=` is version 16, as in the reference implementation. */
  version: 16 | 19;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  salt: Buffer;
  tag: Buffer;
}

const PHC_ARGON2 = /^\$(argon2id|argon2i|argon2d)\$(?:v=([0-9]+)\$)?([^$]*)\$([^$]*)\$([^$]*)$/;

/**
 * Parses an Argon2 PHC string strictly (parameters in the reference order `m,t,p`; salt and tag in unpadded
 * standard base64) and applies the caps.
 * @param scheme the name to report in errors (`argon2id`, `django-argon2`, …)
 * @throws TANDEM_ERR_HASH_MALFORMED for any syntax error, version other than 16/19, m < 8·p, salt < 8 bytes, tag < 4
 * bytes
 * @throws TANDEM_ERR_HASH_UNSUPPORTED for the optional `keyid` / `data` parameters
 * @throws TANDEM_ERR_HASH_WORK_FACTOR when m, t or p is above its cap
 */
export function parseArgon2Phc(
  phc: string,
  scheme: string,
  caps: Pick<WorkFactorCaps, 'argon2MemoryKiB' | 'argon2TimeCost' | 'argon2Parallelism'> = DEFAULT_CAPS,
): ParsedArgon2 {
  const m = PHC_ARGON2.exec(phc);
  if (!m) throw hashMalformed(scheme, 'not a $argon2<type>$[v=…$]m=…,t=…,p=…$salt$tag string');
  const [, type, v, params, saltB64, tagB64] = m as unknown as [
    string,
    ParsedArgon2['type'],
    string | undefined,
    string,
    string,
    string,
  ];
  let version: 16 | 19 = 16;
  if (v !== undefined) {
    const n = parseDecimal(v, scheme, 'version');
    if (n !== 16 && n !== 19) throw hashMalformed(scheme, 'version must be 16 or 19');
    version = n;
  }
  const pm = /^m=([0-9]+),t=([0-9]+),p=([0-9]+)(,.*)?$/.exec(params);
  if (!pm) throw hashMalformed(scheme, 'parameters must be m=…,t=…,p=…');
  if (pm[4] !== undefined) {
    if (/^(,(keyid|data)=[A-Za-z0-9+/]*)+$/.test(pm[4]))
      throw hashUnsupported('keyid/data parameters are not supported', scheme);
    throw hashMalformed(scheme, 'unexpected parameter');
  }
  const memoryCost = parseDecimal(pm[1], scheme, 'm');
  const timeCost = parseDecimal(pm[2], scheme, 't');
  const parallelism = parseDecimal(pm[3], scheme, 'p');
  if (memoryCost > 0xffffffff || timeCost > 0xffffffff || parallelism > 0xffffff)
    throw hashMalformed(scheme, 'parameter out of range');
  if (timeCost < 1 || parallelism < 1) throw hashMalformed(scheme, 't and p must be ≥ 1');
  if (memoryCost < 8 * parallelism) throw hashMalformed(scheme, 'm must be ≥ 8·p');
  const salt = decodeBase64(saltB64, scheme, 'salt', 'forbidden');
  const tag = decodeBase64(tagB64, scheme, 'tag', 'forbidden');
  if (salt.length < 8) throw hashMalformed(scheme, 'salt is shorter than 8 bytes');
  if (tag.length < 4) throw hashMalformed(scheme, 'tag is shorter than 4 bytes');
  capped(scheme, 'memoryCost (m, KiB)', memoryCost, caps.argon2MemoryKiB);
  capped(scheme, 'timeCost (t)', timeCost, caps.argon2TimeCost);
  capped(scheme, 'parallelism (p)', parallelism, caps.argon2Parallelism);
  return { type, version, memoryCost, timeCost, parallelism, salt, tag };
}

// `@node-rs/argon2` declares Algorithm / Version as `const enum`s whose runtime objects are empty, so a transpiler
// that does not inline const enums (esbuild, tsx, vitest) would pass `undefined` and silently get the defaults.
// The numeric values are spelled out here instead (index.d.ts: Argon2d = 0, Argon2i = 1, Argon2id = 2; V0x10 = 0, V0x13
// = 1).
const ALGORITHMS: Record<ParsedArgon2['type'], Algorithm> = {
  argon2d: 0 as Algorithm,
  argon2i: 1 as Algorithm,
  argon2id: 2 as Algorithm,
};
const V0x10 = 0 as Version;
const V0x13 = 1 as Version;

/** Options of {@link verifyArgon2}. */
export interface VerifyArgon2Options {
  /** Name reported in errors; default: the hash's own type. */
  scheme?: string;
  caps?: Partial<WorkFactorCaps>;
  /** Semaphore to run under; default {@link getDefaultLimiter}. */
  limiter?: Semaphore;
  /** Argon2 secret (`K`, a pepper) the hash was made with. */
  secret?: Uint8Array;
}

/**
 * Verifies a password against an Argon2 PHC string (argon2id, argon2i or argon2d; version 16 or 19). The tag is
 * recomputed with `@node-rs/argon2`'s `hashRaw` from the parsed parameters, under the semaphore, and compared with
 * `crypto.timingSafeEqual`.
 * @returns true when the password matches
 * @throws TANDEM_ERR_HASH_MALFORMED / TANDEM_ERR_HASH_UNSUPPORTED / TANDEM_ERR_HASH_WORK_FACTOR from {@link
 * parseArgon2Phc}
 * @throws TANDEM_ERR_IDENTITY_BUSY when the semaphore's queue is full
 */
export async function verifyArgon2(
  phc: string,
  password: string | Uint8Array,
  options: VerifyArgon2Options = {},
): Promise<boolean> {
  const caps = { ...DEFAULT_CAPS, ...options.caps };
  const parsed = parseArgon2Phc(phc, options.scheme ?? /^\$(argon2[a-z]*)\$/.exec(phc)?.[1] ?? 'argon2', caps);
  const limiter = options.limiter ?? getDefaultLimiter();
  const computed = await limiter.run(() =>
    argon2HashRaw(typeof password === 'string' ? Buffer.from(password, 'utf8') : password, {
      algorithm: ALGORITHMS[parsed.type],
      version: parsed.version === 19 ? V0x13 : V0x10,
      memoryCost: parsed.memoryCost,
      timeCost: parsed.timeCost,
      parallelism: parsed.parallelism,
      outputLen: parsed.tag.length,
      salt: parsed.salt,
      ...(options.secret ? { secret: options.secret } : {}),
    }),
  );
  return constantTimeEqual(computed, parsed.tag);
}

/**
 * Whether a stored hash should be replaced by a fresh Argon2id hash under `params`: true unless it is an
 * `$argon2id$v=19$` PHC string with exactly these m, t, p and tag length and a salt at least `saltLen` long.
 * Parameters that drift in either direction count (raising or lowering the policy both rehash). Never throws:
 * anything unparsable needs a rehash. No caps are applied here.
 */
export function needsRehash(hash: string, params: Partial<Argon2Params> = OWASP_ARGON2ID): boolean {
  const p = { ...OWASP_ARGON2ID, ...params };
  let parsed: ParsedArgon2;
  try {
    const noCaps = { argon2MemoryKiB: Infinity, argon2TimeCost: Infinity, argon2Parallelism: Infinity };
    parsed = parseArgon2Phc(hash, 'argon2id', noCaps);
  } catch {
    return true;
  }
  return (
    parsed.type !== 'argon2id' ||
    parsed.version !== 19 ||
    parsed.memoryCost !== p.memoryCost ||
    parsed.timeCost !== p.timeCost ||
    parsed.parallelism !== p.parallelism ||
    parsed.tag.length !== p.outputLen ||
    parsed.salt.length < p.saltLen
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Hasher
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link Argon2idHasher}: the policy plus the semaphore's shape. */
export interface Argon2HasherOptions extends Partial<Argon2Params> {
  /** Concurrent hashes; default the number of CPUs. Ignored when `limiter` is given. */
  concurrency?: number;
  /** Waiting hashes before `TANDEM_ERR_IDENTITY_BUSY`; default 64. Ignored when `limiter` is given. */
  queueCap?: number;
  /** Longest wait in the queue, in ms; default none. Ignored when `limiter` is given. */
  queueTimeoutMs?: number;
  /** Share a semaphore (e.g. the process-wide {@link getDefaultLimiter}) instead of creating one. */
  limiter?: Semaphore;
  /** Argon2 secret (pepper). Hashes made with it verify only with the same secret. */
  secret?: Uint8Array;
}

/**
 * Validates Argon2id parameters (RFC 9106 §3.1 ranges; salt ≥ 8 bytes, tag ≥ 16 bytes for new hashes).
 * @returns the complete parameters
 * @throws TANDEM_ERR_CONFIG_INVALID naming the parameter
 */
export function resolveArgon2Params(params: Partial<Argon2Params> = {}): Argon2Params {
  const p = { ...OWASP_ARGON2ID, ...params };
  const bad = (name: string, rule: string): never => {
    throw new TandemError('CONFIG_INVALID', `argon2 ${name} ${rule}`, { parameter: name });
  };
  if (!Number.isInteger(p.parallelism) || p.parallelism < 1 || p.parallelism > 255)
    bad('parallelism', 'must be an integer in 1..255');
  if (!Number.isInteger(p.timeCost) || p.timeCost < 1) bad('timeCost', 'must be an integer ≥ 1');
  if (!Number.isInteger(p.memoryCost) || p.memoryCost < 8 * p.parallelism || p.memoryCost > 0xffffffff)
    bad('memoryCost', 'must be an integer ≥ 8·parallelism (KiB)');
  if (!Number.isInteger(p.outputLen) || p.outputLen < 16 || p.outputLen > 1024)
    bad('outputLen', 'must be an integer in 16..1024');
  if (!Number.isInteger(p.saltLen) || p.saltLen < 8 || p.saltLen > 1024)
    bad('saltLen', 'must be an integer in 8..1024');
  return p;
}

/**
 * Hashes and verifies passwords with Argon2id under one policy and one semaphore.
 *
 * ```ts
 * const hasher = new Argon2idHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1, concurrency: 4, queueCap: 64 });
 * const phc = await hasher.hash(password);          // $argon2id$v=19$m=19456,t=2,p=1$…$…
 * await hasher.verify(phc, password);               // true
 * hasher.needsRehash(phc);                          // false until the policy changes
 * ```
 */
export class Argon2idHasher {
  readonly params: Readonly<Argon2Params>;
  readonly limiter: Semaphore;
  readonly #secret: Uint8Array | undefined;

  /** @throws TANDEM_ERR_CONFIG_INVALID for invalid parameters or semaphore settings */
  constructor(options: Argon2HasherOptions = {}) {
    const { concurrency, queueCap, queueTimeoutMs, limiter, secret, ...params } = options;
    this.params = Object.freeze(resolveArgon2Params(params));
    this.limiter = limiter ?? new Semaphore(concurrency ?? availableParallelism(), queueCap ?? 64, queueTimeoutMs);
    this.#secret = secret;
  }

  /**
   * Hashes a password (UTF-8 when a string) with a fresh random salt.
   * @returns a PHC string `$argon2id$v=19$m=…,t=…,p=…$<salt>$<tag>`
   * @throws TANDEM_ERR_IDENTITY_BUSY when the semaphore's queue is full
   */
  hash(password: string | Uint8Array): Promise<string> {
    const salt = randomBytes(this.params.saltLen);
    return this.limiter.run(() =>
      argon2Hash(password, {
        algorithm: ALGORITHMS.argon2id,
        version: V0x13,
        memoryCost: this.params.memoryCost,
        timeCost: this.params.timeCost,
        parallelism: this.params.parallelism,
        outputLen: this.params.outputLen,
        salt,
        ...(this.#secret ? { secret: this.#secret } : {}),
      }),
    );
  }

  /**
   * Verifies a password against any Argon2 PHC string (see {@link verifyArgon2}), under this hasher's semaphore.
   * @throws as {@link verifyArgon2}
   */
  verify(phc: string, password: string | Uint8Array, caps?: Partial<WorkFactorCaps>): Promise<boolean> {
    return verifyArgon2(phc, password, {
      limiter: this.limiter,
      ...(caps ? { caps } : {}),
      ...(this.#secret ? { secret: this.#secret } : {}),
    });
  }

  /** {@link needsRehash} against this hasher's policy. */
  needsRehash(phc: string): boolean {
    return needsRehash(phc, this.params);
  }
}

/**
 * Hashes a password with Argon2id under `params` (OWASP by default) on the process-wide semaphore.
 * @returns a PHC string
 * @throws TANDEM_ERR_CONFIG_INVALID for invalid parameters; TANDEM_ERR_IDENTITY_BUSY when the queue is full
 */
export function hashPassword(password: string | Uint8Array, params: Partial<Argon2Params> = {}): Promise<string> {
  return new Argon2idHasher({ ...params, limiter: getDefaultLimiter() }).hash(password);
}
