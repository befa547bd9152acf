import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { bucketKeyFn, bucketOf, bucketsOf, canonicalKeyOf, inSample, murmur3x86_32 } from '../../src/routing/bucket.js';
import { routeOf } from '../../src/routing/reader.js';
import { parsePercent } from '../../src/routing/state.js';
import type { ColumnInfo } from '../../src/stores/types.js';

/**
 * Reference values computed independently of this code: Python's `mmh3` 5.3.0 (a binding of Austin Appleby's
 * MurmurHash3.cpp, `MurmurHash3_x86_32`) — `mmh3.hash(text.encode('utf-8'), seed, signed=False)` and, for buckets,
 * `(h * 10000) >> 32` of `mmh3.hash((salt + ':' + key).encode('utf-8'), 0, signed=False)`. "hello" and "The quick
 * brown fox…" are also the widely published vectors 0x248bfa47 and 0x2e4ff723. The same table is in docs/routing.md.
 */
const RAW: [string, number, number][] = [
  ['', 0, 0],
  ['', 1, 1364076727],
  ['hello', 0, 613153351],
  ['hello', 42, 3806057185],
  ['Hello, world!', 0, 3224780355],
  ['The quick brown fox jumps over the lazy dog', 0, 776992547],
  ['ü', 0, 2017519274],
  ['日本語', 0, 2779017879],
  ['😀', 0, 3199479546],
  ['abc', 0, 3017643002],
  ['abcd', 0, 1139631978],
  ['abcde', 0, 3902511862],
];

const BUCKETS: [string, string, number][] = [
  ['s1', '["42"]', 5741],
  ['s1', '["1"]', 5939],
  ['s1', '["alice@example.com"]', 4238],
  ['s1', '["José"]', 1147],
  ['s1', '["北京"]', 4777],
  ['s1', '["😀"]', 3409],
  ['s1', '["7","42"]', 9206],
  ['s1', '["42","7"]', 9082],
  ['s1', '["0f8fad5b-d9cb-469f-a165-70867728950e"]', 6684],
  ['tandem', '["42"]', 8924],
  ['', '["42"]', 5390],
  ['Zürich-2026', '["Ünïcödé","-1"]', 9164],
];

const col = (category: ColumnInfo['category']) =>
  ({ name: 'c', category, scale: null, floatBytes: null }) as unknown as ColumnInfo;
const users = { name: 'users', key: ['id'], keyColumns: [col('integer')] };
const memberships = { name: 'memberships', key: ['org_id', 'user_id'], keyColumns: [col('integer'), col('integer')] };
const byEmail = { name: 'people', key: ['email'], keyColumns: [col('text')] };
const byUuid = { name: 'things', key: ['id'], keyColumns: [col('uuid')] };

describe('bucketing', () => {
  it('MurmurHash3 x86_32 over UTF-8 bytes matches the reference', () => {
    for (const [text, seed, h] of RAW)
      expect(murmur3x86_32(Buffer.from(text, 'utf8'), seed), `${text}/${seed}`).toBe(h);
  });

  it('bucketOf matches the reference vectors, non-ASCII and composite keys included', () => {
    for (const [salt, key, b] of BUCKETS) expect(bucketOf(salt, key), `${salt}:${key}`).toBe(b);
  });

  it('the canonical key is the project key text: integers in decimal, text as is, UUIDs lower-case, one element per column', () => {
    expect(canonicalKeyOf(users, [42])).toBe('["42"]');
    expect(canonicalKeyOf(users, ['0042'])).toBe('["42"]');
    expect(canonicalKeyOf(users, [42n])).toBe('["42"]');
    expect(canonicalKeyOf(memberships, [7, '42'])).toBe('["7","42"]');
    expect(canonicalKeyOf(byEmail, ['José'])).toBe('["José"]');
    expect(canonicalKeyOf(byUuid, ['0F8FAD5B-D9CB-469F-A165-70867728950E'])).toBe(
      '["0f8fad5b-d9cb-469f-a165-70867728950e"]',
    );
    expect(bucketOf('s1', canonicalKeyOf(memberships, [7, 42]))).toBe(9206);
    expect(bucketOf('s1', canonicalKeyOf(byEmail, ['北京']))).toBe(4777);
  });

  it('a key that does not fit the entity key is TANDEM_ERR_ROUTING_KEY_INVALID, naming the column and not the value', () => {
    expect(() => canonicalKeyOf(users, ['abc'])).toThrow(
      /TANDEM_ERR_ROUTING_KEY_INVALID|key column id is not a integer/,
    );
    try {
      canonicalKeyOf(users, ['secret-value']);
    } catch (e) {
      expect((e as { code: string }).code).toBe('TANDEM_ERR_ROUTING_KEY_INVALID');
      expect((e as Error).message).not.toContain('secret-value');
    }
    expect(() => canonicalKeyOf(memberships, [7])).toThrow(/2 column\(s\)/);
    expect(() => canonicalKeyOf(users, [null])).toThrow(/is null/);
  });

  it('bucketBy: a key column, or a function of the canonical key, buckets a tenant as one', () => {
    const byOrg = bucketKeyFn(memberships, 'org_id');
    expect(byOrg('["7","42"]')).toBe('["7"]');
    expect(byOrg('["7","43"]')).toBe('["7"]');
    const fn = bucketKeyFn(memberships, (k) => Number(k[0]));
    expect(fn('["7","42"]')).toBe('["7"]');
    expect(() => bucketKeyFn(memberships, 'role')).toThrow(/not a key column/);
    expect(() => bucketKeyFn(users, () => ({}) as unknown as string)('["1"]')).toThrow(/strings or integers/);
  });

  // 10,000 keys: the share of a p% sample is binomial with sd ≤ 0.5 pp, so ±1.5 pp is three sd and more
  it('canary shares are within ±1.5 % over 10,000 keys, and the ramp is monotonic', () => {
    const buckets = Array.from({ length: 10_000 }, (_, i) => bucketOf('tandem', canonicalKeyOf(users, [i + 1])));
    const inAt = (p: number) => new Set(buckets.flatMap((b, i) => (inSample(b, p) ? [i] : [])));
    let prev = new Set<number>();
    for (const p of [1, 5, 12.5, 20, 50, 99]) {
      const s = inAt(p);
      expect(Math.abs(s.size / 100 - p), `share at ${p}%`).toBeLessThanOrEqual(1.5);
      for (const k of prev) expect(s.has(k)).toBe(true);
      prev = s;
    }
    expect(inAt(0).size).toBe(0);
    expect(inAt(100).size).toBe(10_000);
    expect(bucketsOf(0.29)).toBe(29);
  });

  it('config: routing defaults, and a bucketBy naming no entity is TANDEM_ERR_CONFIG_INVALID', () => {
    const base = {
      source: 'sqlite:a.db',
      target: 'sqlite:b.db',
      entities: { users: { table: 'users', key: 'id', targets: [{ table: 'users', columns: { id: 'id' } }] } },
    };
    expect(parseConfig(base).routing).toEqual({
      salt: 'tandem',
      refreshMs: 1000,
      failSafeSeconds: 30,
      budgetMs: 100,
      shadowDeadlineMs: 1000,
      maxConcurrentShadow: 64,
    });
    expect(() => parseConfig({ ...base, routing: { bucketBy: { usres: 'id' } } })).toThrow(
      expect.objectContaining({
        code: 'TANDEM_ERR_CONFIG_INVALID',
        message: expect.stringMatching(/routing\.bucketBy\.usres: no entity named usres/),
      }),
    );
    expect(() => parseConfig({ ...base, routing: { refreshMs: 10 } })).toThrow(/routing\.refreshMs/);
  });

  it('percentages: 0…100, at most two decimals', () => {
    expect(parsePercent('12.5')).toBe(12.5);
    expect(parsePercent('0')).toBe(0);
    expect(parsePercent('100')).toBe(100);
    expect(parsePercent(0.29)).toBe(0.29);
    for (const bad of ['101', '-1', '5.123', 'abc', '', '1e1', '0x10', 'NaN'])
      expect(() => parsePercent(bad), bad).toThrow(/TANDEM_ERR_ROUTING_PERCENT_INVALID|two decimals/);
    for (const bad of [100.01, -0.01, 1.001, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => parsePercent(bad)).toThrow(/two decimals/);
  });

  it('routes by phase, percentages, kill switch, guard and failsafe', () => {
    const base = {
      phase: 'canary' as const,
      shadowPercent: 50,
      canaryPercent: 10,
      killed: false,
      guard: null,
      failsafe: false,
    };
    expect(routeOf(base, 999)).toMatchObject({ serve: 'new', fallback: true, shadow: false });
    expect(routeOf(base, 1000)).toMatchObject({ serve: 'legacy', shadow: true });
    expect(routeOf(base, 5000)).toMatchObject({ serve: 'legacy', shadow: false });
    expect(routeOf(base, null)).toMatchObject({ serve: 'legacy', shadow: false });
    expect(routeOf({ ...base, killed: true }, 0)).toMatchObject({ serve: 'legacy', shadow: false });
    expect(routeOf({ ...base, failsafe: true }, 0)).toMatchObject({ serve: 'legacy', shadow: false });
    expect(
      routeOf({ ...base, guard: { state: 'tripped', reason: 'x', atMs: 0, cooldownUntilMs: null } }, 0),
    ).toMatchObject({ serve: 'legacy', shadow: true });
    for (const phase of ['prepare', 'dual_write'] as const)
      expect(routeOf({ ...base, phase }, 0)).toMatchObject({ serve: 'legacy', shadow: false });
    expect(routeOf({ ...base, phase: 'shadow' }, 0)).toMatchObject({ serve: 'legacy', shadow: true });
    expect(routeOf({ ...base, phase: 'new_primary' }, 9999)).toMatchObject({ serve: 'new', fallback: true });
    expect(routeOf({ ...base, phase: 'new_primary', killed: true }, 0)).toMatchObject({ serve: 'legacy' });
    for (const phase of ['legacy_read_only', 'decommissioned'] as const)
      expect(routeOf({ ...base, phase, killed: true, failsafe: true }, 0)).toMatchObject({
        serve: 'new',
        fallback: false,
      });
  });
});
