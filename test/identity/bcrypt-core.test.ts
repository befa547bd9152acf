/**
 * The crypt_blowfish emulation (src/identity/formats/bcrypt-core.ts) against Openwall crypt_blowfish 1.3's own test
 * vectors (`wrapper.c`, `tests[]`, also carried by PHP's ext/standard/tests/strings/crypt_blowfish.phpt). Their keys
 * are raw bytes (not UTF-8), so they go through `bcryptRaw`; the `$2a$` ones with 0xFF bytes exercise the
 * countermeasure of crypt_blowfish ≥ 1.1 and the `$2x$` ones the sign-extension bug.
 */
import { describe, expect, it } from 'vitest';
import { hash as bcryptjsHash } from 'bcryptjs';
import { bcryptRaw, verifyPassword } from '../../src/identity/index.js';

const b = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)));

const OPENWALL: readonly (readonly [string, Uint8Array])[] = [
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', b('U*U')],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK', b('U*U*')],
  ['$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a', b('U*U*U')],
  [
    '$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui',
    b('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored'),
  ],
  ['$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e', b([0xa3])],
  ['$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e', b([0xff, 0xff, 0xa3])],
  ['$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e', b([0xff, 0xff, 0xa3])],
  ['$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85.', b([0xff, 0xff, 0xa3])],
  ['$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e', b([0xff, 0xff, 0xa3])],
  ['$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq', b([0xa3])],
  ['$2a$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq', b([0xa3])],
  ['$2b$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq', b([0xa3])],
  ['$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi', b('1', [0xa3], '345')],
  ['$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi', b([0xff, 0xa3], '345')],
  [
    '$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi',
    b([0xff, 0xa3], '34', [0xff, 0xff, 0xff, 0xa3], '345'),
  ],
  [
    '$2y$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi',
    b([0xff, 0xa3], '34', [0xff, 0xff, 0xff, 0xa3], '345'),
  ],
  [
    '$2a$05$/OK.fbVrR/bpIqNJ5ianF.ZC1JEJ8Z4gPfpe1JOr/oyPXTWl9EFd.',
    b([0xff, 0xa3], '34', [0xff, 0xff, 0xff, 0xa3], '345'),
  ],
  ['$2y$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e', b([0xff, 0xa3], '345')],
  ['$2a$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e', b([0xff, 0xa3], '345')],
  ['$2a$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS', b([0xa3], 'ab')],
  ['$2x$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS', b([0xa3], 'ab')],
  ['$2y$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS', b([0xa3], 'ab')],
  ['$2x$05$6bNw2HLQYeqHYyBfLMsv/OiwqTymGIGzFsA4hOTWebfehXHNprcAS', b([0xd1, 0x91])],
  ['$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy', b('')],
];

describe('bcrypt core: Openwall crypt_blowfish 1.3 wrapper.c test vectors (raw byte keys)', () => {
  for (const [hash, key] of OPENWALL) {
    it(`${Buffer.from(key).toString('hex').slice(0, 24) || '(empty)'} → ${hash.slice(0, 7)}…${hash.slice(-8)}`, async () => {
      expect(await bcryptRaw(key, hash)).toBe(hash);
    });
  }
});

describe('bcrypt $2x$ through verifyPassword', () => {
  it('U+0451 (UTF-8 d1 91) verifies against crypt_blowfish $2x$ and passlib $2y$ vectors', async () => {
    // $2x$: wrapper.c; $2y$: passlib test_handlers_bcrypt.py ("8bit bug (fixed in 2y/2b)")
    expect(
      await verifyPassword('\u0451', '$2x$05$6bNw2HLQYeqHYyBfLMsv/OiwqTymGIGzFsA4hOTWebfehXHNprcAS'),
    ).toMatchObject({ ok: true, scheme: 'bcrypt-2x' });
    expect(
      await verifyPassword('\u0451', '$2y$05$6bNw2HLQYeqHYyBfLMsv/OUcZd0LKP39b87nBw3.S2tVZSqiQX6eu'),
    ).toMatchObject({ ok: true, scheme: 'bcrypt' });
    expect((await verifyPassword('\u0451', '$2x$05$6bNw2HLQYeqHYyBfLMsv/OUcZd0LKP39b87nBw3.S2tVZSqiQX6eu')).ok).toBe(
      false,
    );
  });

  it('the core agrees with bcryptjs on $2a$/$2b$/$2y$ for UTF-8 passwords', async () => {
    for (const pw of ['', 'a', 'p\u00e4ssw\u00f6rd \u20ac', '\u{1f600} emoji', 'x'.repeat(80)]) {
      for (const minor of ['a', 'b', 'y']) {
        const setting = `$2${minor}$04$abcdefghijklmnopqrstuu`;
        expect(await bcryptRaw(Buffer.from(pw, 'utf8'), setting)).toBe(await bcryptjsHash(pw, setting));
      }
    }
  });
});
