/**
 * Argon2id hashing (OWASP defaults, configurable), needsRehash on parameter drift, the verifyPassword needsRehash
 * flag, and the semaphore (bounded concurrency, queue cap → TANDEM_ERR_IDENTITY_BUSY).
 */
import { describe, expect, it } from 'vitest';
import {
  Argon2idHasher,
  OWASP_ARGON2ID,
  Semaphore,
  hashPassword,
  needsRehash,
  parseArgon2Phc,
  verifyArgon2,
  verifyPassword,
} from '../../src/identity/index.js';

// Small parameters keep the suite fast where the policy itself is not under test.
const FAST = { memoryCost: 256, timeCost: 1, parallelism: 1 };

describe('Argon2idHasher', () => {
  it('hashes with OWASP parameters by default (m=19456, t=2, p=1, 32-byte tag, 16-byte salt)', async () => {
    expect(OWASP_ARGON2ID).toMatchObject({
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
      outputLen: 32,
      saltLen: 16,
    });
    const phc = await hashPassword('correct horse');
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyArgon2(phc, 'correct horse')).toBe(true);
    expect(await verifyArgon2(phc, 'correct horsE')).toBe(false);
    expect(needsRehash(phc)).toBe(false);
    // The registry reports it as current argon2id.
    expect(await verifyPassword('correct horse', phc)).toEqual({ ok: true, scheme: 'argon2id', needsRehash: false });
  });

  it('is configurable, salts every hash, and verifies unicode and empty passwords', async () => {
    const hasher = new Argon2idHasher({ ...FAST, outputLen: 16, saltLen: 8 });
    const a = await hasher.hash('p\u00e4ssw\u00f6rd \u20ac');
    const b = await hasher.hash('p\u00e4ssw\u00f6rd \u20ac');
    expect(a).not.toBe(b);
    expect(parseArgon2Phc(a, 'argon2id')).toMatchObject({
      type: 'argon2id',
      version: 19,
      memoryCost: 256,
      timeCost: 1,
      parallelism: 1,
    });
    expect(await hasher.verify(a, 'p\u00e4ssw\u00f6rd \u20ac')).toBe(true);
    expect(await hasher.verify(b, 'passw\u00f6rd \u20ac')).toBe(false);
    const empty = await hasher.hash('');
    expect(await hasher.verify(empty, '')).toBe(true);
    expect(await hasher.verify(empty, ' ')).toBe(false);
    expect(hasher.needsRehash(a)).toBe(false);
  });

  it('rejects invalid policies with TANDEM_ERR_CONFIG_INVALID', () => {
    expect(() => new Argon2idHasher({ memoryCost: 4 })).toThrow(
      expect.objectContaining({ code: 'TANDEM_ERR_CONFIG_INVALID' }),
    );
    expect(() => new Argon2idHasher({ timeCost: 0 })).toThrow(
      expect.objectContaining({ code: 'TANDEM_ERR_CONFIG_INVALID' }),
    );
    expect(() => new Argon2idHasher({ parallelism: 1.5 })).toThrow(
      expect.objectContaining({ code: 'TANDEM_ERR_CONFIG_INVALID' }),
    );
    expect(() => new Argon2idHasher({ saltLen: 4 })).toThrow(
      expect.objectContaining({ code: 'TANDEM_ERR_CONFIG_INVALID' }),
    );
    expect(() => new Argon2idHasher({ concurrency: 0 })).toThrow(
      expect.objectContaining({ code: 'TANDEM_ERR_CONFIG_INVALID' }),
    );
  });
});

describe('needsRehash', () => {
  const current = '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$' + 'A'.repeat(43);
  it('is false only for argon2id v19 at exactly the policy', () => {
    expect(needsRehash(current)).toBe(false);
    expect(needsRehash(current, { memoryCost: 65536 })).toBe(true); // policy raised
    expect(needsRehash(current, { memoryCost: 12288, timeCost: 3 })).toBe(true); // OWASP alternative
    expect(needsRehash(current.replace('t=2', 't=1'))).toBe(true);
    expect(needsRehash(current.replace('p=1', 'p=2'))).toBe(true);
    expect(needsRehash(current.replace('$argon2id$', '$argon2i$'))).toBe(true);
    expect(needsRehash(current.replace('v=19$', 'v=16$'))).toBe(true);
    // 8-byte salt
    expect(needsRehash('$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$' + 'A'.repeat(43), { saltLen: 16 })).toBe(true);
    // 16-byte tag
    expect(needsRehash('$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAA')).toBe(true);
    expect(needsRehash('$2b$10$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.')).toBe(true);
    expect(needsRehash('garbage')).toBe(true);
  });

  it('verifyPassword reports needsRehash for legacy schemes and for argon2id off-policy', async () => {
    const legacy = await verifyPassword(
      'password',
      '$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4',
    );
    expect(legacy).toEqual({ ok: true, scheme: 'argon2id', needsRehash: true });
    const atPolicy = await verifyPassword(
      'password',
      '$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4',
      {
        argon2: { memoryCost: 256, timeCost: 2, parallelism: 1, saltLen: 8 },
      },
    );
    expect(atPolicy).toEqual({ ok: true, scheme: 'argon2id', needsRehash: false });
    const md5 = await verifyPassword('password', '$1$abcdefgh$G//4keteveJp0qb8z2DxG/');
    expect(md5.needsRehash).toBe(true);
  });
});

describe('Semaphore', () => {
  it('bounds concurrency and runs queued tasks in order', async () => {
    const sem = new Semaphore(2, 10);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const task = (i: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      order.push(i);
      return i;
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => sem.run(task(i))));
    expect(results).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(sem.stats()).toEqual({ active: 0, queued: 0, max: 2, queueCap: 10 });
  });

  it('rejects with TANDEM_ERR_IDENTITY_BUSY when the queue is full, without running the task', async () => {
    const sem = new Semaphore(1, 2);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = sem.run(() => gate);
    const queued = [sem.run(async () => 1), sem.run(async () => 2)];
    let ran = false;
    const overflow = sem.run(async () => {
      ran = true;
    });
    await expect(overflow).rejects.toMatchObject({
      code: 'TANDEM_ERR_IDENTITY_BUSY',
      detail: { active: 1, queued: 2, reason: 'queue full' },
    });
    expect(ran).toBe(false);
    release();
    await first;
    expect(await Promise.all(queued)).toEqual([1, 2]);
    expect(sem.stats().active).toBe(0);
  });

  it('a task that fails releases its slot', async () => {
    const sem = new Semaphore(1, 0);
    await expect(sem.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await sem.run(async () => 'ok')).toBe('ok');
  });

  it('queueTimeoutMs turns a long wait into TANDEM_ERR_IDENTITY_BUSY', async () => {
    const sem = new Semaphore(1, 5, 20);
    let release!: () => void;
    const first = sem.run(() => new Promise<void>((r) => (release = r)));
    await expect(sem.run(async () => 'late')).rejects.toMatchObject({
      code: 'TANDEM_ERR_IDENTITY_BUSY',
      detail: { reason: 'queue timeout' },
    });
    release();
    await first;
    expect(sem.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('a burst of Argon2 hashes beyond concurrency + queue gets BUSY for the excess, the rest succeed', async () => {
    const hasher = new Argon2idHasher({ ...FAST, concurrency: 1, queueCap: 3 });
    const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => hasher.hash(`pw${i}`)));
    const ok = settled.filter((s) => s.status === 'fulfilled');
    const busy = settled.filter((s) => s.status === 'rejected');
    expect(ok).toHaveLength(4);
    expect(busy).toHaveLength(4);
    for (const b of busy)
      expect((b as PromiseRejectedResult).reason).toMatchObject({ code: 'TANDEM_ERR_IDENTITY_BUSY' });
  });

  it('legacy Argon2 verification in the registry uses the limiter given in the options', async () => {
    const sem = new Semaphore(1, 0);
    let release!: () => void;
    const hold = sem.run(() => new Promise<void>((r) => (release = r)));
    await expect(
      verifyPassword(
        'password',
        '$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8',
        { argon2Limiter: sem },
      ),
    ).rejects.toMatchObject({ code: 'TANDEM_ERR_IDENTITY_BUSY' });
    release();
    await hold;
    expect(
      (
        await verifyPassword(
          'password',
          '$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8',
          { argon2Limiter: sem },
        )
      ).ok,
    ).toBe(true);
  });
});
