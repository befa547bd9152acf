/**
 * Argon2 PHC strings: `$argon2id$`, `$argon2i$`, `$argon2d$` (versions 0x13 and, without `v=`, 0x10).
 *
 * Sources: RFC 9106; the reference implementation https://github.com/P-H-C/phc-winner-argon2 (`src/encoding.c` for
 * the string format). Computed by `@node-rs/argon2` under the Argon2 semaphore (see ../argon2.ts); m, t and p are
 * capped (`caps.argon2MemoryKiB`, `caps.argon2TimeCost`, `caps.argon2Parallelism`).
 */
import { verifyArgon2 } from '../argon2.js';
import type { FormatContext, HashFormat } from '../types.js';

function makeFormat(type: 'argon2id' | 'argon2i' | 'argon2d'): HashFormat {
  return {
    scheme: type,
    identify: (hash) => hash.startsWith(`$${type}$`),
    verify: (password: string, hash: string, ctx: FormatContext) =>
      verifyArgon2(hash, password, {
        scheme: type,
        caps: ctx.caps,
        ...(ctx.options.argon2Limiter ? { limiter: ctx.options.argon2Limiter } : {}),
      }),
  };
}

/** `$argon2id$`. */
export const argon2idFormat: HashFormat = makeFormat('argon2id');
/** `$argon2i$`. */
export const argon2iFormat: HashFormat = makeFormat('argon2i');
/** `$argon2d$`. */
export const argon2dFormat: HashFormat = makeFormat('argon2d');
