import murmurhash from 'murmurhash';
import type { BucketBy } from '../config/schema.js';
import { canonicalInteger } from '../core/canonical.js';
import { TandemError } from '../core/errors.js';
import { keyString, type ResolvedEntity } from '../core/mapping.js';

/**
 * Bucketing (docs/routing.md, "Bucketing"): every key has a sticky place in 0…9999,
 *
 *     bucket = floor(murmur3_x86_32(UTF-8 bytes of salt + ":" + canonical key, seed 0) × 10000 / 2³²)
 *
 * and a key is in a sample of `p` percent (0…100, two decimals) when `bucket < p × 100`. So a key in at 5 % stays in
 * at 20 % (the ramp is monotonic), the share of a sample is `p` to the bucket (1/10000), and any language with a
 * MurmurHash3 can compute it: the docs list test vectors, checked against Python's `mmh3` (the reference C++ code).
 *
 * The **canonical key** is the project's one key text (`keyString`, src/core/mapping.ts, as in the outbox, the
 * version ledger and the mismatches table): a JSON array of the key's values in key-column order, each value in
 * its canonical text by its column's type (src/core/canonical.ts) — integers in decimal without leading zeros
 * (`["42"]`), text as it is (`["José"]`, non-ASCII kept as UTF-8, not escaped), UUIDs lower-case, composite keys
 * with one element per column (`["7","42"]`).
 */

/** Buckets per key space: a bucket is 0…9999, so percentages have two decimals. */
export const BUCKETS = 10_000;

/**
 * MurmurHash3 x86_32 of `bytes` with `seed` (unsigned 32-bit result). The implementation is the npm package
 * `murmurhash` (Gary Court's port of Austin Appleby's MurmurHash3.cpp, `MurmurHash3_x86_32`), pinned; it was
 * checked against Python's `mmh3` on 20,000 random byte strings and the vectors in test/routing/bucket.test.ts.
 */
export function murmur3x86_32(bytes: Uint8Array, seed = 0): number {
  return murmurhash.v3(bytes, seed) >>> 0;
}

/**
 * The bucket (0…9999) of a canonical key under `salt`: `floor(h × 10000 / 2³²)` with `h` the MurmurHash3 x86_32
 * (seed 0) of the UTF-8 bytes of `salt + ":" + canonicalKey`. Exact: `h × 10000 < 2⁵³`.
 */
export function bucketOf(salt: string, canonicalKey: string): number {
  const h = murmur3x86_32(Buffer.from(`${salt}:${canonicalKey}`, 'utf8'), 0);
  return Math.floor((h * BUCKETS) / 2 ** 32);
}

/**
 * A percentage (0…100, up to two decimals) as the number of buckets it covers (0…10000), rounded to the nearest
 * bucket so that float noise (`0.29 × 100 = 28.999…`) never moves a key.
 */
export function bucketsOf(percent: number): number {
  return Math.max(0, Math.min(BUCKETS, Math.round(percent * 100)));
}

/** Whether a bucket is inside a sample of `percent`: `bucket < percent × 100`. */
export function inSample(bucket: number, percent: number): boolean {
  return bucket < bucketsOf(percent);
}

/**
 * The canonical key of raw key values of `entity` (its source key columns): see the module comment. Throws
 * TANDEM_ERR_ROUTING_KEY_INVALID when the number of values is not the number of key columns, or a value cannot be
 * read as its column's type (the message names the column, never the value).
 */
export function canonicalKeyOf(entity: Pick<ResolvedEntity, 'name' | 'key' | 'keyColumns'>, values: unknown[]): string {
  if (values.length !== entity.key.length)
    throw new TandemError(
      'ROUTING_KEY_INVALID',
      `entity ${entity.name} has a key of ${entity.key.length} column(s) (${entity.key.join(', ')}); ${values.length} value(s) were given`,
    );
  values.forEach((v, i) => {
    if (v === null || v === undefined)
      throw new TandemError('ROUTING_KEY_INVALID', `entity ${entity.name}: key column ${entity.key[i]} is null`);
  });
  try {
    return keyString(values, entity.keyColumns);
  } catch {
    const i = values.findIndex((v, j) => {
      try {
        keyString([v], [entity.keyColumns[j]!]);
        return false;
      } catch {
        return true;
      }
    });
    const col = entity.keyColumns[Math.max(0, i)]!;
    throw new TandemError(
      'ROUTING_KEY_INVALID',
      `entity ${entity.name}: the value given for key column ${entity.key[Math.max(0, i)]} is not a ${col.category}`,
    );
  }
}

/** The text of one bucketing value returned by a `bucketBy` function: a string as it is, an integer in decimal. */
function valueText(entity: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return canonicalInteger(v);
  throw new TandemError(
    'ROUTING_KEY_INVALID',
    `entity ${entity}: bucketBy must return strings or integers, not ${v === null ? 'null' : typeof v}`,
  );
}

/**
 * What an entity's keys are bucketed by, as a function from a canonical key to the text that is hashed:
 * without `bucketBy`, the canonical key itself; with key column name(s), the canonical key of those columns' values
 * (`["7"]` for `bucketBy: 'org_id'` on the key `(org_id, user_id)` = `["7","42"]`); with a function, the JSON array
 * of the text of what it returns for the key's canonical values (`(k) => k[0]` gives `["7"]` too). Throws
 * TANDEM_ERR_CONFIG_INVALID when a named column is not a key column of the entity.
 */
export function bucketKeyFn(
  entity: Pick<ResolvedEntity, 'name' | 'key'>,
  by: BucketBy | undefined,
): (canonicalKey: string) => string {
  if (by === undefined) return (k) => k;
  if (typeof by === 'function') {
    return (k) => {
      const out = by(JSON.parse(k) as string[]);
      return JSON.stringify((Array.isArray(out) ? out : [out]).map((v) => valueText(entity.name, v)));
    };
  }
  const cols = Array.isArray(by) ? by : [by];
  const idx = cols.map((c) => {
    const i = entity.key.indexOf(c);
    if (i < 0)
      throw new TandemError(
        'CONFIG_INVALID',
        `routing.bucketBy.${entity.name}: ${c} is not a key column of entity ${entity.name} (key: ${entity.key.join(', ')}); use a function of the key for other values`,
      );
    return i;
  });
  return (k) => {
    const values = JSON.parse(k) as string[];
    return JSON.stringify(idx.map((i) => values[i]));
  };
}
