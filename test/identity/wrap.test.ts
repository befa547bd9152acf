/**
 * Wrapped hashes ($tandem-wrap$): every wrappable scheme round-trips (the right password verifies through the
 * wrapped form, wrong ones do not, the legacy digest is gone), slow schemes are refused, the pepper is enforced,
 * damaged wrapped hashes and excessive work factors are rejected with their codes. Plus the small pieces of the
 * bridge: identifier normalisation, the token bucket, the failure-counter delay.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Argon2idHasher,
  FailureCounter,
  Semaphore,
  TokenBucket,
  identifierFingerprint,
  isWrappableScheme,
  isWrappedHash,
  normalizeIdentifier,
  parseWrappedHash,
  pepperId,
  verifyPassword,
  verifyWrappedHash,
  wrapLegacyHash,
  type VerifyOptions,
} from '../../src/identity/index.js';
import type { Store } from '../../src/stores/types.js';
import { FAST_ARGON2 } from './stores.js';

const limiter = new Semaphore(2, 1000);
const hasher = (pepper?: string) =>
  new Argon2idHasher({ ...FAST_ARGON2, limiter, ...(pepper ? { secret: Buffer.from(pepper) } : {}) });
const sha = (alg: string, ...p: string[]) => p.reduce((h, x) => h.update(x, 'utf8'), createHash(alg)).digest('hex');

// [password, stored legacy hash, options] — vectors from test/identity/vectors.test.ts and computed ones
const CASES: [string, string, VerifyOptions?][] = [
  ['password', '5f4dcc3b5aa765d61d8327deb882cf99', { rawHex: { algorithm: 'md5' } }],
  ['password', '5F4DCC3B5AA765D61D8327DEB882CF99', { rawHex: { algorithm: 'md5' } }],
  [
    's3cr\u00e9t',
    `${sha('sha256', 's3cr\u00e9t', 'NaCl')}:NaCl`,
    { rawHex: { algorithm: 'sha256', salt: { position: 'suffix', separator: ':' } } },
  ],
  [
    's3cr\u00e9t',
    sha('sha1', 'site-salt', 's3cr\u00e9t'),
    { rawHex: { algorithm: 'sha1', salt: { position: 'prefix', value: 'site-salt' } } },
  ],
  ['hunter2', `sha1$abc$${sha('sha1', 'abc', 'hunter2')}`],
  ['hunter2', `md5$abc$${sha('md5', 'abc', 'hunter2')}`],
  ['hunter2', `md5$$${sha('md5', 'hunter2')}`],
  [
    'hunter2',
    `*${createHash('sha1').update(createHash('sha1').update('hunter2').digest()).digest('hex').toUpperCase()}`,
  ],
  ['helloworld', '{SHA}at+xg6SiyUovktq1redipHiJpaE='],
  ['sekrit', '{SHA}8d42e738c7adee551324955458b5e2c0b49ee655'],
  ['testing123', '{SSHA}0c0blFTXXNuAMHECS4uxrj3ZieMoWImr'],
  ['testing1234', '{SMD5}UjFY34os/pnZQ3oQOzjqGu4yeXE='],
  [
    'toomanysecrets',
    '{SSHA512}wExp4xjiCHS0zidJDC4UJq9EEeIebAQPJ1PWSwfhxWjfutI9XiiKuHm2AE41cEFfK+8HyI8bh+ztbczUGsvVFIgICWWPt7qu',
  ],
  ['U*U*U*U*', '$1$dXc3I7Rw$ctlgjDdWJLMT.qwHsWhXR1'],
  ['', '$1$Eu.GHtia$CFkL/nE1BYTlEPiVx1VWX0'],
  ['myPassword', '$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/'],
  ['U*U*U*U*', '{CRYPT}$1$dXc3I7Rw$ctlgjDdWJLMT.qwHsWhXR1'],
  ['Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
  ['the minimum number is still observed', '$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC'],
  ['', '$6$rounds=1000$emptypw$HlIvXUyYuit0YXo7TQsvDbSukfTPXqMfer3T883.YtTaRpAHhGsXXvUpZxRWVIR6LzICKFT6VsLlh3xHWI3zr0'],
  ['test12345', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0'],
  ['test1', '$H$9aaaaaSXBjgypwqm.JsMssPLiS8YQ00'],
];

describe('wrap at rest: the wrapped-hash format', () => {
  it.each(CASES)('round-trips %j ↔ %s', async (password, stored, options = {}) => {
    expect((await verifyPassword(password, stored, options)).ok).toBe(true); // the vector itself is right
    const { wrapped, scheme } = await wrapLegacyHash(stored, { hasher: hasher(), pepper: null, options });
    expect(isWrappedHash(wrapped)).toBe(true);
    expect(wrapped).toMatch(/^\$tandem-wrap\$v=1\$[a-z0-9:-]+\$-\$[A-Za-z0-9_-]*\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(parseWrappedHash(wrapped)).toMatchObject({ scheme, pepperId: '-' });
    expect(isWrappableScheme(scheme)).toBe(true);
    // the legacy digest no longer appears in any form
    const digest = stored
      .replace(/^\{[A-Z0-9]+\}/, '')
      .split(/[$:]/)
      .filter((x) => x.length >= 16);
    for (const d of digest) expect(wrapped.toLowerCase()).not.toContain(d.toLowerCase());
    const opts = { pepper: null, limiter, options };
    expect(await verifyWrappedHash(password, wrapped, opts)).toEqual({ ok: true, scheme });
    expect(await verifyWrappedHash(`${password}x`, wrapped, opts)).toEqual({ ok: false, scheme });
    expect(
      (
        await verifyWrappedHash(
          password.toUpperCase() === password ? `${password}y` : password.toUpperCase(),
          wrapped,
          opts,
        )
      ).ok,
    ).toBe(false);
  });

  it('keeps WordPress trimming for phpass $P$', async () => {
    const stored = '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0';
    const { wrapped } = await wrapLegacyHash(stored, { hasher: hasher(), pepper: null });
    expect((await verifyWrappedHash('  test12345 ', wrapped, { pepper: null, limiter })).ok).toBe(true);
    expect(
      (await verifyWrappedHash('  test12345 ', wrapped, { pepper: null, limiter, options: { wordpressTrim: false } }))
        .ok,
    ).toBe(false);
  });

  it('enforces the pepper: Argon2 secret, id in the string, mismatch is a configuration error', async () => {
    const stored = `sha1$abc$${sha('sha1', 'abc', 'hunter2')}`;
    const pepper = Buffer.from('p3pp3r');
    const { wrapped } = await wrapLegacyHash(stored, { hasher: hasher('p3pp3r'), pepper });
    expect(parseWrappedHash(wrapped).pepperId).toBe(pepperId(pepper));
    expect(pepperId(pepper)).toMatch(/^[0-9a-f]{8}$/);
    expect(await verifyWrappedHash('hunter2', wrapped, { pepper, limiter })).toMatchObject({ ok: true });
    await expect(verifyWrappedHash('hunter2', wrapped, { pepper: null, limiter })).rejects.toMatchObject({
      code: 'TANDEM_ERR_CONFIG_INVALID',
    });
    await expect(
      verifyWrappedHash('hunter2', wrapped, { pepper: Buffer.from('other'), limiter }),
    ).rejects.toMatchObject({ code: 'TANDEM_ERR_CONFIG_INVALID' });
    // the same digest wrapped without pepper does not verify with the pepper's id forged in
    const plain = (await wrapLegacyHash(stored, { hasher: hasher(), pepper: null })).wrapped;
    const forged = plain.replace('$-$', `$${pepperId(pepper)}$`);
    expect((await verifyWrappedHash('hunter2', forged, { pepper, limiter })).ok).toBe(false);
  });

  it('refuses slow, unknown and unconfigured schemes', async () => {
    const o = { hasher: hasher(), pepper: null };
    await expect(
      wrapLegacyHash('$2b$04$CCCCCCCCCCCCCCCCCCCCC.Cg0ly9t/KVBCBYYDfOmZKwry9JuXClC', o),
    ).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_UNSUPPORTED' });
    await expect(wrapLegacyHash('pbkdf2_sha256$600000$salt$' + 'A'.repeat(43) + '=', o)).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_UNSUPPORTED',
    });
    await expect(wrapLegacyHash('no such format', o)).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_UNSUPPORTED' });
    await expect(wrapLegacyHash('5f4dcc3b5aa765d61d8327deb882cf99', o)).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_UNSUPPORTED',
    }); // bare hex needs rawHex
    expect(isWrappableScheme('bcrypt')).toBe(false);
    expect(isWrappableScheme('argon2id')).toBe(false);
    expect(isWrappableScheme(null)).toBe(false);
  });

  it('rejects malformed legacy and wrapped hashes, and work factors above the caps, with codes', async () => {
    const o = { hasher: hasher(), pepper: null };
    await expect(wrapLegacyHash('sha1$abc$zz', o)).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_MALFORMED' });
    await expect(wrapLegacyHash('$1$salt$short', o)).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_MALFORMED' });
    await expect(wrapLegacyHash(`$5$rounds=5000000$salt$${'a'.repeat(43)}`, o)).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_WORK_FACTOR',
    });
    const good = (await wrapLegacyHash('$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5', o)).wrapped;
    const v = { pepper: null, limiter };
    for (const bad of [
      '$tandem-wrap$',
      '$tandem-wrap$v=2' + good.slice('$tandem-wrap$v=1'.length),
      good.replace('sha256-crypt', 'bcrypt'),
      good.slice(0, -10) + '$',
      good.replace(/\$argon2id\$.*/, ''),
    ]) {
      await expect(verifyWrappedHash('x', bad, v)).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_MALFORMED' });
    }
    // a crafted setting asking for absurd rounds is capped before any work
    const setting = Buffer.from('999999999$saltstring').toString('base64url');
    const crafted = good.replace(/^(\$tandem-wrap\$v=1\$sha256-crypt\$-\$)[A-Za-z0-9_-]*/, `$1${setting}`);
    await expect(verifyWrappedHash('x', crafted, v)).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_WORK_FACTOR' });
    const hugeArgon = good.replace('m=1024', 'm=4194304');
    await expect(verifyWrappedHash('x', hugeArgon, v)).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_WORK_FACTOR' });
  });
});

describe('identifier normalisation', () => {
  it('trims, lower-cases and composes (NFC) the same way for every spelling', () => {
    const forms = ['Zo\u00eb@Example.COM', ' zoe\u0308@example.com', 'ZOE\u0308@EXAMPLE.COM\t', 'zo\u00eb@example.com'];
    expect(new Set(forms.map(normalizeIdentifier))).toEqual(new Set(['zo\u00eb@example.com']));
    expect(normalizeIdentifier('\u0130stanbul')).toBe('i\u0307stanbul'); // İ → i + combining dot (default case mapping)
    expect(normalizeIdentifier('STRASSE')).not.toBe(normalizeIdentifier('stra\u00dfe')); // simple folding: ß stays ß
    expect(normalizeIdentifier(undefined)).toBe('');
    expect(normalizeIdentifier(42)).toBe('');
  });

  it('fingerprints identifiers without revealing them (keyed with the pepper when there is one)', () => {
    const a = identifierFingerprint('users', 'zo\u00eb@example.com');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(identifierFingerprint('users', 'zo\u00eb@example.com', Buffer.from('p'))).not.toBe(a);
    expect(identifierFingerprint('staff', 'zo\u00eb@example.com')).not.toBe(a);
  });
});

describe('token bucket (legacy query budget)', () => {
  it('serves the burst, then the rate, and refuses waits beyond the limit', async () => {
    let now = 0;
    const b = new TokenBucket({ perSecond: 10, burst: 3, maxWaitMs: 150 }, () => now);
    for (let i = 0; i < 3; i++) await b.take();
    expect(b.available()).toBeCloseTo(0);
    // next token in 100 ms: waited for (fake clock: the wait is a real timer of ~100 ms)
    const t0 = performance.now();
    await b.take();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    // two tokens owed now (-1): the next wait would be 200 ms > 150 ms
    await expect(b.take()).rejects.toMatchObject({
      code: 'TANDEM_ERR_IDENTITY_BUSY',
      detail: { reason: 'legacy budget' },
    });
    now += 1000;
    expect(b.available()).toBe(3);
    expect(() => new TokenBucket({ perSecond: 0 })).toThrow(
      expect.objectContaining({ code: 'TANDEM_ERR_CONFIG_INVALID' }),
    );
  });
});

describe('failure counter delay', () => {
  it('grows exponentially after the free attempts, is capped, and expires', () => {
    const fake = {
      dialect: 'postgres',
      controlTable: (n: string) => n,
      sql: { param: (i: number) => `$${i}` },
    } as unknown as Store;
    const c = new FailureCounter(fake, { freeAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000, resetAfterMs: 60_000 });
    expect([0, 1, 2, 3, 4, 5, 6, 7, 10].map((n) => c.delayFor(n))).toEqual([0, 0, 0, 100, 200, 400, 800, 1000, 1000]);
    expect(c.gate(4, 1000, 1050)).toEqual({ failures: 4, retryAfterMs: 150 });
    expect(c.gate(4, 1000, 1300)).toEqual({ failures: 4, retryAfterMs: 0 });
    expect(c.gate(40, 0, 60_001)).toEqual({ failures: 0, retryAfterMs: 0 });
  });
});
