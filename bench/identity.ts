/**
 * Identity bridge benchmark: MariaDB legacy → PostgreSQL new, through `IdentityBridge.authenticate`, with the
 * production settings (Argon2id OWASP m = 19 MiB, t = 2, p = 1; the process-wide semaphore; the default 250 ms time
 * floor on failures).
 *
 *   npm run bench:identity -- [--logins N] [--per-scheme N] [--concurrency C]
 *
 * Figures (logins/s and p50/p99 latency):
 *   bare   — a bare Argon2id verify of the same hash (the floor of what any login costs)
 *   (a)    — users already migrated (direct Argon2id hash in the new store): sequential, then C concurrent logins;
 *            the overhead of the bridge over the bare verify is printed (aim: under 10 %)
 *   (b)    — legacy users migrated by their first login, per legacy scheme (verify legacy hash + Argon2id hash +
 *            the guarded write of the user and the ledger row)
 *   (c)    — unknown users: with the default floor (what clients see), and the work behind it with the floor off
 *
 * Databases `tandem_bench_identity_<run>` (MariaDB) and `tandem_bench_identity_<run>_new` (PostgreSQL), `<run>`
 * random, are created for the run and dropped at the end (only those: two benchmarks at once never meet).
 * Environment: TANDEM_BENCH_MYSQL, TANDEM_BENCH_PG (see bench/common.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseConfig } from '../src/config/load.js';
import { ensureControlSchema } from '../src/control/control.js';
import { createLogger } from '../src/core/logger.js';
import { md5CryptChecksum } from '../src/identity/formats/md5-crypt.js';
import { phpassChecksum } from '../src/identity/formats/phpass.js';
import { shaCryptChecksum } from '../src/identity/formats/sha-crypt.js';
import { Argon2idHasher, createIdentityBridge, getDefaultLimiter, type IdentityBridge } from '../src/identity/index.js';
import { openMigration } from '../src/runtime/migration.js';
import { MYSQL_BASE, PG_BASE } from './common.js';

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '300' },
    'per-scheme': { type: 'string', default: '60' },
    concurrency: { type: 'string', default: String(availableParallelism()) },
  },
});
const LOGINS = Number(args.logins);
const PER_SCHEME = Number(args['per-scheme']);
const CONCURRENCY = Number(args.concurrency);

const SCHEMES = [
  'hex-md5',
  'django-sha1',
  'mysql41',
  'ldap-ssha',
  'md5-crypt',
  'phpass',
  'sha512-crypt',
  'bcrypt',
] as const;
type Scheme = (typeof SCHEMES)[number];

async function legacyHash(scheme: Scheme, pw: string): Promise<string> {
  const salt = randomBytes(6).toString('base64').replace(/[+/=]/g, 'x').slice(0, 8);
  const hex = (alg: string, ...p: string[]) => p.reduce((h, x) => h.update(x, 'utf8'), createHash(alg)).digest('hex');
  switch (scheme) {
    case 'hex-md5':
      return hex('md5', pw);
    case 'django-sha1':
      return `sha1$${salt}$${hex('sha1', salt, pw)}`;
    case 'mysql41':
      return `*${createHash('sha1').update(createHash('sha1').update(pw, 'utf8').digest()).digest('hex').toUpperCase()}`;
    case 'ldap-ssha': {
      const s = randomBytes(8);
      return `{SSHA}${Buffer.concat([createHash('sha1').update(pw, 'utf8').update(s).digest(), s]).toString('base64')}`;
    }
    case 'md5-crypt':
      return `$1$${salt}$${md5CryptChecksum(Buffer.from(pw), Buffer.from(salt), '$1$')}`;
    case 'phpass':
      return `$P$B${salt}${await phpassChecksum(Buffer.from(pw), salt, 13)}`;
    case 'sha512-crypt':
      return `$6$${salt}$${await shaCryptChecksum('sha512', Buffer.from(pw), Buffer.from(salt, 'latin1'), 5000)}`;
    case 'bcrypt':
      return bcrypt.hashSync(pw, 10);
  }
}

const pct = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]!;
};

interface Figure {
  what: string;
  n: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** Runs `n` tasks with `concurrency` workers; returns per-task latencies and the wall time. */
async function run(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<{ lat: number[]; seconds: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        await task(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, seconds: (performance.now() - t0) / 1000 };
}

function figure(what: string, r: { lat: number[]; seconds: number }): Figure {
  return { what, n: r.lat.length, perSecond: r.lat.length / r.seconds, p50: pct(r.lat, 0.5), p99: pct(r.lat, 0.99) };
}

/** Drops this run's two databases. */
async function dropDatabases(dbName: string): Promise<void> {
  const my = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  try {
    await my.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
  } finally {
    await my.end();
  }
  const drop = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await drop.connect();
  try {
    await drop.query(`DROP DATABASE IF EXISTS ${dbName}_new WITH (FORCE)`);
  } finally {
    await drop.end();
  }
}

async function main(): Promise<void> {
  const dbName = `tandem_bench_identity_${randomBytes(4).toString('hex')}`;
  try {
    await bench(dbName);
  } finally {
    await dropDatabases(dbName);
  }
}

async function bench(dbName: string): Promise<void> {
  const my = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql`, multipleStatements: true });
  await my.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE \`${dbName}\`;
    CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(254) NOT NULL UNIQUE, password_hash VARCHAR(255) NOT NULL, name VARCHAR(100) NOT NULL, version INT NOT NULL)`);
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}_new`);
  await admin.end();
  const pgUrl = `${PG_BASE}/${dbName}_new`;
  const pgc = new pg.Client({ connectionString: pgUrl });
  await pgc.connect();
  await pgc.query(`CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, password_hash text NOT NULL, name text NOT NULL);
    CREATE INDEX users_lower_email ON users (lower(email))`);

  // users: `migrated` ones (Argon2id in both the legacy table and the new store, as after their first login), then
  // PER_SCHEME legacy-only users per scheme
  const hasher = new Argon2idHasher({ limiter: getDefaultLimiter() });
  const migratedCount = 50;
  const rows: [number, string, string, string, number][] = [];
  const pw = (id: number) => `bench-password-${id}`;
  process.stderr.write(
    `setting up ${migratedCount} migrated users and ${PER_SCHEME} legacy users for each of ${SCHEMES.length} schemes…\n`,
  );
  const migrated: { id: number; email: string; phc: string }[] = [];
  for (let id = 1; id <= migratedCount; id++) {
    const phc = await hasher.hash(pw(id));
    migrated.push({ id, email: `m${id}@example.com`, phc });
    rows.push([id, `m${id}@example.com`, phc, `User ${id}`, 1]);
  }
  const legacy: Record<Scheme, { id: number; email: string }[]> = Object.fromEntries(
    SCHEMES.map((s) => [s, []]),
  ) as never;
  let id = 1000;
  for (const s of SCHEMES) {
    for (let i = 0; i < PER_SCHEME; i++, id++) {
      legacy[s].push({ id, email: `${s}.${i}@Example.com` });
      rows.push([id, `${s}.${i}@Example.com`, await legacyHash(s, pw(id)), `User ${id}`, 1]);
    }
  }
  await my.query('INSERT INTO users VALUES ?', [rows]);
  for (const m of migrated)
    await pgc.query('INSERT INTO users VALUES ($1, $2, $3, $4)', [m.id, m.email, m.phc, `User ${m.id}`]);

  const config = parseConfig({
    source: `${MYSQL_BASE}/${dbName}`,
    target: pgUrl,
    entities: {
      users: {
        table: 'users',
        key: 'id',
        version: 'version',
        targets: [
          { table: 'users', columns: { id: 'id', email: 'email', password_hash: 'password_hash', name: 'name' } },
        ],
        identity: { identifier: 'email', password: 'password_hash', rawHex: { algorithm: 'md5' } },
      },
    },
  });
  const log = createLogger({ level: 'warn' });
  // what openIdentityBridge opens (a legacy store that refuses writes), kept open to build bridges of several floors
  const m = await openMigration(config, { entities: ['users'], legacyWrites: 'never', log });
  const { legacy: source, new: target } = m.stores;
  await ensureControlSchema(target);
  const [entity] = m.entities;
  const bridge = async (floorMs?: number): Promise<IdentityBridge> =>
    createIdentityBridge({
      source,
      target,
      entity: entity!,
      logger: log,
      ...(floorMs !== undefined ? { floorMs } : {}),
      legacyBudget: { perSecond: 10_000, burst: 10_000 },
    });
  const b = await bridge();
  const figures: Figure[] = [];

  // warm up (JIT, pools, Argon2 memory)
  for (let i = 0; i < 10; i++) await b.authenticate({ identifier: migrated[i]!.email, password: pw(migrated[i]!.id) });

  // bare Argon2id verify of the same hashes vs (a) migrated users: interleaved one by one (rotating which goes
  // first) so that both see the same machine load; the concurrent figures alternate blocks for the same reason
  const bareTask = (i: number) => hasher.verify(migrated[i % migratedCount]!.phc, pw(migrated[i % migratedCount]!.id));
  const loginTask = async (i: number) => {
    const m = migrated[i % migratedCount]!;
    const r = await b.authenticate({ identifier: m.email, password: pw(m.id) });
    if (!r.ok || r.source !== 'new') throw new Error('(a) login failed');
  };
  const bareLat: number[] = [];
  const aLat: number[] = [];
  let bareSec = 0;
  let aSec = 0;
  for (let i = 0; i < LOGINS; i++) {
    for (const which of i % 2 ? (['a', 'bare'] as const) : (['bare', 'a'] as const)) {
      const s0 = performance.now();
      await (which === 'bare' ? bareTask(i) : loginTask(i));
      const ms = performance.now() - s0;
      if (which === 'bare') {
        bareLat.push(ms);
        bareSec += ms / 1000;
      } else {
        aLat.push(ms);
        aSec += ms / 1000;
      }
    }
  }
  const bare = figure('bare Argon2id verify', { lat: bareLat, seconds: bareSec });
  const a = figure('(a) migrated user, sequential', { lat: aLat, seconds: aSec });
  figures.push(bare, a);
  const blocks = { bare: { lat: [] as number[], seconds: 0 }, a: { lat: [] as number[], seconds: 0 } };
  for (let k = 0; k < 4; k++) {
    for (const which of k % 2 ? (['a', 'bare'] as const) : (['bare', 'a'] as const)) {
      const r = await run(Math.ceil(LOGINS / 4), CONCURRENCY, which === 'bare' ? bareTask : loginTask);
      blocks[which].lat.push(...r.lat);
      blocks[which].seconds += r.seconds;
    }
  }
  const bareC = figure(`bare Argon2id verify, ${CONCURRENCY} concurrent`, blocks.bare);
  const aC = figure(`(a) migrated user, ${CONCURRENCY} concurrent`, blocks.a);
  figures.push(bareC, aC);
  // what the bridge adds over a bare verify is essentially one round trip to the new store: its cost for scale
  const lookupOnly = figure(
    '    one new-store round trip (a lookup by lower(email))',
    await run(LOGINS, 1, (i) => {
      const m = migrated[i % migratedCount]!;
      return target.query('SELECT id, email, password_hash FROM users WHERE lower(email) = $1', [m.email]);
    }),
  );
  figures.push(lookupOnly);
  // (b) legacy users, first login = migration
  for (const s of SCHEMES) {
    figures.push(
      figure(
        `(b) legacy ${s} → migrated`,
        await run(PER_SCHEME, 1, async (i) => {
          const u = legacy[s][i]!;
          const r = await b.authenticate({ identifier: u.email.toLowerCase(), password: pw(u.id) });
          if (!r.ok || r.source !== 'legacy') throw new Error(`(b) ${s} login failed`);
        }),
      ),
    );
  }
  // (c) unknown users
  const unknownN = Math.min(LOGINS, 100);
  figures.push(
    figure(
      '(c) unknown user, default floor 250 ms',
      await run(unknownN, 1, (i) => b.authenticate({ identifier: `nobody${i}@example.com`, password: 'guess' })),
    ),
  );
  figures.push(
    figure(
      `(c) unknown user, floor 250 ms, ${CONCURRENCY * 4} concurrent`,
      await run(unknownN * 2, CONCURRENCY * 4, (i) =>
        b.authenticate({ identifier: `nobody-c${i}@example.com`, password: 'guess' }),
      ),
    ),
  );
  const b0 = await bridge(0);
  figures.push(
    figure(
      '(c) unknown user, floor off (the work)',
      await run(unknownN, 1, (i) => b0.authenticate({ identifier: `nobody-w${i}@example.com`, password: 'guess' })),
    ),
  );

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    `\nidentity bridge benchmark — ${availableParallelism()} CPUs (${cpu}), Node ${process.version}, Argon2id m=19456 KiB t=2 p=1\n`,
  );
  process.stdout.write(
    `${'case'.padEnd(48)}${'n'.padStart(6)}${'logins/s'.padStart(11)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}\n`,
  );
  for (const f of figures) {
    process.stdout.write(
      `${f.what.padEnd(48)}${String(f.n).padStart(6)}${f.perSecond.toFixed(1).padStart(11)}${f.p50.toFixed(2).padStart(10)}${f.p99.toFixed(2).padStart(10)}\n`,
    );
  }
  const overhead = (a.p50 / bare.p50 - 1) * 100;
  const overheadC = (1 - aC.perSecond / bareC.perSecond) * 100;
  process.stdout.write(
    `\nbridge overhead for migrated users: p50 ${overhead.toFixed(1)} % over a bare Argon2id verify (${(a.p50 - bare.p50).toFixed(2)} ms); ` +
      `throughput at ${CONCURRENCY} concurrent ${overheadC.toFixed(1)} % lower; aim < 10 %: ${overhead < 10 ? 'met' : 'NOT met'}\n`,
  );
  process.stdout.write(
    `identity overhead_p50_pct=${overhead.toFixed(1)} migrated_p50_ms=${a.p50.toFixed(2)} bare_p50_ms=${bare.p50.toFixed(2)} unknown_p50_ms=${figures.find((f) => f.what.startsWith('(c) unknown user, default'))!.p50.toFixed(2)}\n`,
  );

  await m.close();
  await pgc.end();
  await my.end();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
  process.exitCode = 1;
});
