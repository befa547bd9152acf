import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { runBackfill } from '../backfill/backfill.js';
import { TandemError } from '../core/errors.js';
import { formatDuration } from '../backfill/progress.js';
import { loadConfig } from '../config/load.js';
import { resolveConfig } from '../config/resolve.js';
import { audit, ensureControlSchema } from '../control/control.js';
import { openStore } from '../stores/index.js';
import { assess } from '../verify/headline.js';
import { formatParity } from '../verify/report.js';
import { verifyEntities, type VerifyResult } from '../verify/verify.js';
import { prepareDemoDir } from './folder.js';
import { syntheticUser } from './users.js';

/** What the demo did, for its closing report and for tests. */
export interface DemoResult {
  dir: string;
  configPath: string;
  rows: number;
  generateSeconds: number;
  backfillSeconds: number;
  verifySeconds: number;
  rowsPerSecond: number;
  verify: VerifyResult;
}

const LEGACY_DDL = `CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email VARCHAR(254) NOT NULL UNIQUE,
  first_name VARCHAR(100) NOT NULL,
  last_name VARCHAR(100) NOT NULL,
  bio TEXT,
  status VARCHAR(16) NOT NULL,
  balance DECIMAL(12,2) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  last_login_at DATETIME,
  version INTEGER NOT NULL DEFAULT 1
)`;

const NEW_DDL = [
  `CREATE TABLE users (
    id bigint PRIMARY KEY,
    email_address varchar(254) NOT NULL UNIQUE,
    password_hash text NOT NULL,
    status varchar(16) NOT NULL,
    balance numeric(12,2) NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    legacy_version bigint NOT NULL,
    origin varchar(16) NOT NULL
  )`,
  `CREATE TABLE user_profiles (
    user_id bigint PRIMARY KEY REFERENCES users (id),
    given_name varchar(100) NOT NULL,
    family_name varchar(100) NOT NULL,
    display_name varchar(201) NOT NULL,
    bio text,
    last_login_at timestamptz
  )`,
];

/** The demo's config file: users split into `users` + `user_profiles`, renamed columns, a constant, a transform. */
function demoConfig(legacy: string, target: string, road = false): string {
  // the whole road runs in seconds: short guard windows, a fast routing refresh, the identity bridge's columns
  const extra = road
    ? `
  routing: { refreshMs: 200 },
  guard: { windowSeconds: 5, minSamples: 20, maxErrorRate: 0.05, cooldownSeconds: 5, intervalSeconds: 0.5, publishSeconds: 0.5 },
  // a demo minute sees hundreds of shadow comparisons, not thousands; the last canary step dwells 2 s
  gates: { minSamples: 200, dwellSeconds: 2 },`
    : '';
  return `// Written by \`tandem demo\`: the legacy SQLite users table → a new PGlite schema.
import { defineConfig } from 'tandem';

export default defineConfig({
  source: ${JSON.stringify(`sqlite:${legacy}`)},
  target: ${JSON.stringify(`pglite:${target}`)},${extra}
  entities: {
    users: {
      table: 'users',
      key: 'id',
      version: 'version',
      sensitive: ['password_hash'],${road ? "\n      identity: { identifier: 'email', password: 'password_hash', rawHex: { algorithm: 'md5' } }," : ''}
      targets: [
        {
          table: 'users',
          columns: {
            id: 'id',
            email_address: 'email',
            password_hash: 'password_hash',
            status: 'status',
            balance: 'balance',
            created_at: 'created_at',
            updated_at: 'updated_at',
            legacy_version: 'version',
            origin: { value: 'legacy' },
          },
        },
        {
          table: 'user_profiles',
          columns: {
            user_id: 'id',
            given_name: 'first_name',
            family_name: 'last_name',
            display_name: { transform: (u) => \`\${u.first_name} \${u.last_name}\` },
            bio: 'bio',
            last_login_at: 'last_login_at',
          },
        },
      ],
    },
  },
});
`;
}

/** Writes `rows` synthetic users into a new SQLite file (one transaction, prepared statement). */
export function createLegacyDatabase(file: string, rows: number, seed = 42): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(LEGACY_DDL);
  const ins =
    db.prepare(`INSERT INTO users (id, email, first_name, last_name, bio, status, balance, password_hash, created_at, updated_at, last_login_at, version)
    VALUES (@id, @email, @first_name, @last_name, @bio, @status, @balance, @password_hash, @created_at, @updated_at, @last_login_at, @version)`);
  db.transaction(() => {
    for (let id = 1; id <= rows; id++) ins.run(syntheticUser(id, seed));
  })();
  db.close();
}

/**
 * Prepares the demo's folder (see {@link prepareDemoDir}): a legacy SQLite database of `rows` synthetic users,
 * an empty new PGlite database with the new schema, and the config file (`road`: with the short guard windows,
 * routing refresh and identity block of the whole road, src/demo/road.ts). Returns the config's path and how long
 * the legacy database took to write (seconds).
 */
export async function prepareDemoStores(
  dir: string,
  rows: number,
  road = false,
): Promise<{ configPath: string; legacy: string; pglite: string; generateSeconds: number }> {
  prepareDemoDir(dir);
  const legacy = join(dir, 'legacy.sqlite');
  const pglite = join(dir, 'new-pglite');
  const configPath = join(dir, 'tandem.config.ts');
  const t = performance.now();
  createLegacyDatabase(legacy, rows);
  const generateSeconds = (performance.now() - t) / 1000;
  const target = await openStore(`pglite:${pglite}`);
  for (const s of NEW_DDL) await target.execute(s);
  await target.close();
  writeFileSync(configPath, demoConfig(legacy, pglite, road));
  return { configPath, legacy, pglite, generateSeconds };
}

/**
 * The demo: a legacy SQLite database of `rows` synthetic users, a new PGlite database with another schema,
 * backfill with progress, full verify, and a closing report. Needs no server. Files go to `dir`
 * (default `./.tandem-demo`): a new or empty folder, or one an earlier demo run created (only the demo's own files
 * are removed, see {@link prepareDemoDir}); any other folder is refused with `TANDEM_ERR_USAGE`, untouched.
 */
export async function runDemo(o: {
  rows: number;
  dir?: string;
  log: Logger;
  out: NodeJS.WriteStream;
  signal?: AbortSignal;
}): Promise<DemoResult> {
  const say = (s: string) => o.out.write(`${s}\n`);
  const dir = resolve(o.dir ?? '.tandem-demo');
  say(
    `tandem demo: ${o.rows.toLocaleString('en-US')} legacy users (SQLite) → new schema users + user_profiles (PGlite), in ${dir}`,
  );
  const { configPath, generateSeconds } = await prepareDemoStores(dir, o.rows);
  say(`1/3 legacy database written in ${generateSeconds.toFixed(1)}s`);
  let t = performance.now();

  const config = await loadConfig(configPath);
  const source = await openStore(config.source);
  const tgt = await openStore(config.target);
  try {
    const entities = await resolveConfig(config, source, tgt);
    await ensureControlSchema(tgt);
    say('2/3 backfill');
    t = performance.now();
    const [bf] = await runBackfill({
      config,
      source,
      target: tgt,
      entities,
      log: o.log,
      progressOut: o.out.isTTY ? o.out : null,
      signal: o.signal,
    });
    const backfillSeconds = (performance.now() - t) / 1000;
    if (bf!.status === 'interrupted') {
      // stopped by SIGINT/SIGTERM after a committed chunk: audited; the backfill resumes where it stopped
      await audit(tgt, {
        command: 'demo',
        args: { rows: o.rows },
        outcome: 'interrupted',
        detail: JSON.stringify({ copied: bf!.copied }),
      });
      throw new TandemError(
        'BACKFILL_INTERRUPTED',
        `demo stopped after ${bf!.copiedTotal.toLocaleString('en-US')} of ${o.rows.toLocaleString('en-US')} rows copied; resume with: npx tandem backfill --config ${configPath}`,
      );
    }
    await audit(tgt, {
      command: 'demo',
      args: { rows: o.rows },
      outcome: 'ok',
      detail: JSON.stringify({ copied: bf!.copied }),
    });
    say(`    ${bf!.copied.toLocaleString('en-US')} rows copied in ${backfillSeconds.toFixed(1)}s`);
    say('3/3 verify');
    t = performance.now();
    const verify = await verifyEntities(source, tgt, entities, {
      pageRows: config.verify.pageRows,
      maxReportedDifferences: config.verify.maxReportedDifferences,
    });
    const verifySeconds = (performance.now() - t) / 1000;
    const e = verify.entities[0]!;
    const rowsPerSecond = bf!.copied / backfillSeconds;
    say('');
    say(
      `rows       ${e.sourceRows.toLocaleString('en-US')} source, ${e.targetRows.toLocaleString('en-US')} target (users) + user_profiles`,
    );
    say(`backfill   ${formatDuration(backfillSeconds)} (${Math.round(rowsPerSecond).toLocaleString('en-US')} rows/s)`);
    say(
      `verify     ${formatDuration(verifySeconds)}, missing ${e.missing}, extra ${e.extra}, different ${e.different}`,
    );
    say(`parity     ${formatParity(e.parity)}`);
    // the same headline as tandem verify: "match" only for a complete comparison of every row
    say(
      `result     ${
        assess(
          'full',
          verify.entities.map((x) => ({ ...x, mode: 'full' as const })),
          verify.complete,
          entities.length,
          null,
        ).headline
      }`,
    );
    say('');
    say(`Explore: npx tandem status --config ${configPath}   |   npx tandem verify --config ${configPath}`);
    return { dir, configPath, rows: o.rows, generateSeconds, backfillSeconds, verifySeconds, rowsPerSecond, verify };
  } finally {
    await source.close();
    await tgt.close();
  }
}
