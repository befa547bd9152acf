import { createHash } from 'node:crypto';

/**
 * Synthetic legacy users for the demo and the benchmarks: deterministic for a seed (mulberry32), with the
 * shapes real user tables have — unicode names, NULLs, statuses, decimal balances, microsecond timestamps and
 * a mix of legacy password hashes (unsalted MD5 hex, Django `sha1$salt$hex` and `md5$salt$hex`, MySQL
 * `PASSWORD()` `*`+SHA1(SHA1)), all computed for real from the password `password<id>`.
 */
export interface SyntheticUser {
  id: number;
  email: string;
  first_name: string;
  last_name: string;
  bio: string | null;
  status: string;
  balance: string;
  password_hash: string;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  version: number;
}

/** mulberry32: a small, fast, seedable PRNG (Tommy Ettinger, public domain). Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  'Anna',
  'José',
  'Zoë',
  'Mikołaj',
  'Søren',
  'Ава',
  'Дмитрий',
  '陳',
  '美咲',
  'Åsa',
  'Chloé',
  'Nguyễn',
  'Ayşe',
  'Björk',
  'Øystein',
  'محمد',
  'Émile',
  'Renée',
  'João',
  'Łukasz',
  'Olivia',
  'Noah',
  'Liam',
  'Emma',
  'Yusuf',
  'Ines',
];
const LAST = [
  'Müller',
  'García',
  'Øvergaard',
  'Kowalski',
  'Smith',
  'Иванова',
  '山田',
  'Dubois',
  "O'Brien",
  'van der Berg',
  'Nakamura',
  'Şahin',
  'Jones',
  'Ferreira',
  'Nowak',
  'Lindqvist',
  'Rossi',
  'Ó Súilleabháin',
];
const BIOS = [
  'Loves hiking ⛰️',
  'Café owner ☕',
  'Writes code at night',
  '',
  'Multi-line\nbio with a tab\tand "quotes"',
  'Emoji fan 😀🎉',
  'Backslash \\ and percent % and underscore _',
];
const STATUS = ['active', 'active', 'active', 'inactive', 'pending', 'banned'];

const hex = (alg: string, s: string) => createHash(alg).update(s, 'utf8').digest('hex');
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A `YYYY-MM-DD HH:MM:SS.ffffff` UTC timestamp from microseconds since the epoch. */
export function timestampText(micros: number): string {
  const d = new Date(Math.floor(micros / 1000));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(micros % 1_000_000, 6)}`;
}

/** The legacy hash of `password`, in one of four real legacy formats chosen by `kind`. */
export function legacyHash(password: string, kind: number, salt: string): string {
  switch (kind % 4) {
    case 0:
      return hex('md5', password);
    case 1:
      return `sha1$${salt}$${hex('sha1', salt + password)}`;
    case 2:
      return `md5$${salt}$${hex('md5', salt + password)}`;
    default:
      return `*${createHash('sha1').update(createHash('sha1').update(password, 'utf8').digest()).digest('hex').toUpperCase()}`;
  }
}

/** User `id` (1-based) of the synthetic population for `seed`. Same inputs, same user. */
export function syntheticUser(id: number, seed = 42): SyntheticUser {
  const r = prng(seed * 1_000_003 + id);
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
  const created =
    Date.UTC(2012, 0, 1) * 1000 + Math.floor(r() * 12 * 365 * 86400) * 1_000_000 + Math.floor(r() * 1_000_000);
  const updated = created + Math.floor(r() * 400 * 86400) * 1_000_000 + Math.floor(r() * 1_000_000);
  const salt = Math.floor(r() * 36 ** 6)
    .toString(36)
    .padStart(6, '0');
  return {
    id,
    email: `user${id}@example.${pick(['com', 'org', 'net', 'de', 'jp'])}`,
    first_name: pick(FIRST),
    last_name: pick(LAST),
    bio: r() < 0.3 ? null : pick(BIOS),
    status: pick(STATUS),
    balance: (Math.floor(r() * 2_000_000) / 100 - (r() < 0.05 ? 5000 : 0)).toFixed(2),
    password_hash: legacyHash(`password${id}`, Math.floor(r() * 4), salt),
    created_at: timestampText(created),
    updated_at: timestampText(updated),
    last_login_at: r() < 0.25 ? null : timestampText(updated + Math.floor(r() * 86400) * 1_000_000),
    version: 1 + Math.floor(r() * 5),
  };
}
