/**
 * `tandem identity check | wrap | report | sunset` as real child processes, against MariaDB → PostgreSQL: outputs,
 * exit codes, audit entries, and no password or hash on stdout/stderr (logs at level trace).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { createLogger } from '../../src/core/logger.js';
import { Semaphore, createIdentityBridge, formatIdentityReport, hashPassword } from '../../src/identity/index.js';
import { openStore } from '../../src/stores/index.js';
import { runCli } from '../helpers.js';
import { FAST_ARGON2, createIdentityStores, type IdentityStores } from './stores.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Runs the CLI with `input` on stdin. */
function runWithInput(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(input);
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

describe('tandem identity check', () => {
  it('verifies JSON lines and answers one line each', async () => {
    const argon = await hashPassword('h\u00e9llo', FAST_ARGON2);
    const lines = [
      { password: 'password', hash: '5f4dcc3b5aa765d61d8327deb882cf99' }, // bare md5: needs --raw-hex
      { password: 'U*U*U*U*', hash: '$1$dXc3I7Rw$ctlgjDdWJLMT.qwHsWhXR1' },
      { password: 'wrong', hash: '$1$dXc3I7Rw$ctlgjDdWJLMT.qwHsWhXR1' },
      { password: 'h\u00e9llo', hash: argon },
      { password: 'x', hash: '$2b$04$short' },
      { password: 'x', hash: '$2b$31$' + 'a'.repeat(53) },
      { password: 'x', hash: 'no-such-format' },
    ].map((l) => JSON.stringify(l));
    const r = await runWithInput(
      ['identity', 'check', '--raw-hex', 'md5'],
      `${lines.join('\n')}\nnot json\n\n{"password": 1}\n`,
    );
    expect(r.code).toBe(1);
    const out = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out).toEqual([
      { ok: true, scheme: 'hex-md5' },
      { ok: true, scheme: 'md5-crypt' },
      { ok: false, scheme: 'md5-crypt' },
      { ok: true, scheme: 'argon2id' },
      { ok: false, scheme: 'bcrypt', error: 'TANDEM_ERR_HASH_MALFORMED' },
      { ok: false, scheme: 'bcrypt', error: 'TANDEM_ERR_HASH_WORK_FACTOR' },
      { ok: false, scheme: null, error: 'TANDEM_ERR_HASH_UNSUPPORTED' },
      { ok: false, scheme: null, error: 'TANDEM_ERR_USAGE' },
      { ok: false, scheme: null, error: 'TANDEM_ERR_USAGE' },
    ]);
    expect(r.stdout).not.toContain('U*U*U*U*');
    const ok = await runWithInput(['identity', 'check'], `${lines[1]}\n${lines[3]}\n`);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(2);
  });
});

describe('tandem identity wrap | report | sunset', () => {
  let S: IdentityStores;
  const tmp = mkdtempSync(join(tmpdir(), 'tandem-identity-'));

  beforeAll(async () => {
    S = await createIdentityStores(24);
    const source = await openStore(S.mysqlUrl);
    const target = await openStore(S.pgUrl);
    try {
      const entities = await resolveConfig(S.config, source, target);
      const users = entities.find((e) => e.name === 'users')!;
      // users 1..4 log in (migrated), then the backfill copies the others' legacy hashes
      const b = await createIdentityBridge({
        source,
        target,
        entity: users,
        argon2: { ...FAST_ARGON2, limiter: new Semaphore(2, 100) },
        floorMs: 0,
        pepper: null,
        logger: createLogger({ level: 'silent' }),
      });
      for (const u of S.users.slice(0, 4))
        expect(await b.authenticate({ identifier: u.email, password: u.password })).toMatchObject({ ok: true });
      await runBackfill({
        config: S.config,
        source,
        target,
        entities: [entities.find((e) => e.name === 'orgs')!, users],
        log: createLogger({ level: 'silent' }),
        progressOut: null,
      });
    } finally {
      await source.close();
      await target.close();
    }
  });

  afterAll(async () => {
    await S?.drop();
  });

  const env = { TANDEM_LOG_LEVEL: 'trace', TANDEM_IDENTITY_PEPPER: 'cli-pepper' };
  const noSecrets = (text: string) => {
    for (const u of S.users) {
      expect(text.includes(u.password), `password of ${u.id}`).toBe(false);
      expect(text.includes(u.hash), `hash of ${u.id}`).toBe(false);
    }
    expect(text).not.toContain('$argon2id$');
    expect(text).not.toContain('$tandem-wrap$');
    expect(text).not.toContain('cli-pepper');
  };

  it('wrap: dry run, then wraps the fast hashes (bcrypt left as is), audited', async () => {
    const dry = await runCli(['--config', S.configPath, 'identity', 'wrap', '--dry-run', '--json'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    const d = JSON.parse(dry.stdout);
    expect(d).toMatchObject({ scanned: 24, argon2: 4 });
    const r = await runCli(
      [
        '--config',
        S.configPath,
        'identity',
        'wrap',
        '--json',
        '--memory-cost',
        '1024',
        '--time-cost',
        '1',
        '--concurrency',
        '2',
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const w = JSON.parse(r.stdout);
    expect(w.wrapped).toBe(d.wrapped);
    expect(w.wrapped + w.argon2 + (w.slow.bcrypt ?? 0)).toBe(24);
    noSecrets(r.stdout + r.stderr + dry.stdout + dry.stderr);
    const hashes = (await S.pg.query('SELECT password_hash FROM users')).rows.map((x) => x.password_hash as string);
    expect(hashes.filter((h) => h.startsWith('$tandem-wrap$v=1$'))).toHaveLength(w.wrapped);
    const audit = await S.pg.query(
      `SELECT command, outcome, args FROM tandem.audit_log WHERE command = 'identity wrap' ORDER BY id`,
    );
    expect(audit.rows.map((x) => [x.outcome, JSON.parse(x.args).dryRun])).toEqual([
      ['ok', true],
      ['ok', false],
    ]);
  });

  it('report: states, schemes, new-store hashes, migrations per day', async () => {
    const r = await runCli(['--config', S.configPath, 'identity', 'report', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.legacyUsers).toBe(24);
    expect(rep.states.migrated).toBe(4);
    expect(rep.states.wrapped + rep.states.legacy_only).toBe(20);
    expect(rep.states.legacy_only).toBeGreaterThan(0); // the bcrypt users
    expect(rep.migratedPerDay).toEqual([{ day: new Date().toISOString().slice(0, 10), count: 4 }]);
    const text = formatIdentityReport(rep);
    expect(text).toContain('identity report — entity users');
    expect(text).toMatch(/migrated\s+4/);
    expect(text).toMatch(/bcrypt\s+\d+\s+0\s+\d+\s+0/); // bcrypt users are never wrapped
    noSecrets(r.stdout + r.stderr);
  });

  it('sunset: refuses a future date; exports identifiers only (CSV, JSON); marks reset-required', async () => {
    const future = await runCli(['--config', S.configPath, 'identity', 'sunset', '--before', '2999-01-01'], { env });
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/^TANDEM_ERR_CONFIG_INVALID: sunset: the date .* is in the future/m);
    const dry = await runCli(
      ['--config', S.configPath, 'identity', 'sunset', '--before', '2020-01-01', '--format', 'json', '--dry-run'],
      { env },
    );
    expect(dry.code, dry.stderr).toBe(0);
    const list = JSON.parse(dry.stdout) as { key: string; identifier: string; previousState: string }[];
    expect(list).toHaveLength(20);
    expect(Object.keys(list[0]!).sort()).toEqual(['identifier', 'key', 'previousState']);
    expect(
      (await S.pg.query(`SELECT count(*)::int AS n FROM tandem.identity_ledger WHERE state = 'reset_required'`)).rows[0]
        .n,
    ).toBe(0);
    const out = join(tmp, 'reset.csv');
    const r = await runCli(['--config', S.configPath, 'identity', 'sunset', '--before', '2020-01-01', '--out', out], {
      env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/20 users are reset-required \(0 already were\), 4 migrated users kept; list written to/);
    const csv = readFileSync(out, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('key,identifier,previous_state');
    expect(csv).toHaveLength(21);
    expect(new Set(csv.slice(1).map((l) => l.split(',')[1]))).toEqual(new Set(S.users.slice(4).map((u) => u.email)));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    noSecrets(readFileSync(out, 'utf8') + r.stdout + r.stderr + dry.stdout + dry.stderr);
    expect(
      (await S.pg.query(`SELECT count(*)::int AS n FROM tandem.identity_ledger WHERE state = 'reset_required'`)).rows[0]
        .n,
    ).toBe(20);
    const audit = await S.pg.query(
      `SELECT outcome, args FROM tandem.audit_log WHERE command = 'identity sunset' ORDER BY id`,
    );
    expect(audit.rows.map((x) => x.outcome)).toEqual(['error', 'ok', 'ok']);
  });
});
