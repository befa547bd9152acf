/**
 * Issue 8 §2 end to end: `tandem init` never writes a password (URLs with one are read from the environment)
 * and proposes `sensitive` columns; a `sensitive` typo is refused with a suggestion; a password hash refused by
 * the target's type reaches neither stderr nor the audit log, and the error names entity, table and column.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, runCli, writeConfig } from './helpers.js';

const HASHES = [
  '$2y$10$abcdefghijklmnopqrstuuJ9Q5V0Y1Xw8xYzZ7m3c7b1oP6Z0x8aW',
  '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/',
  '$P$BpHYqCBrGJ6ZZiPy3lHe3bFq0Kz3Q71',
];

function legacySqlite(dir: string): string {
  const file = join(dir, 'legacy.sqlite');
  const db = new Database(file);
  db.exec(
    `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, password_hash TEXT NOT NULL, api_key TEXT, legacy_digest TEXT)`,
  );
  const ins = db.prepare('INSERT INTO users VALUES (?, ?, ?, ?, ?)');
  for (let i = 1; i <= 30; i++) ins.run(i, `u${i}@example.com`, HASHES[i % 3], `key-${i}`, HASHES[(i + 1) % 3]);
  db.close();
  return file;
}

describe('secrets never leave (CLI, real SQLite → PostgreSQL)', () => {
  let dir: string;
  let legacy: string;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tandem-secrets-'));
    legacy = legacySqlite(dir);
    tgt = await createPgDatabase('tandem_secrets');
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    await c.query(
      'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, password_hash text NOT NULL, api_key text, legacy_digest text)',
    );
    await c.query(
      'CREATE TABLE strict_users (id bigint PRIMARY KEY, email text NOT NULL, password_hash uuid NOT NULL)',
    );
    await c.end();
  });
  afterAll(async () => tgt.drop());

  it('init writes no part of a password, reads such URLs from the environment, and the config runs', async () => {
    const password = 'Zq9:p@ssWRONG';
    const withPassword = tgt.url.replace(
      'postgres://postgres@',
      `postgres://postgres:${encodeURIComponent(password)}@`,
    );
    const out = join(dir, 'init.config.ts');
    const r = await runCli(['init', '--source', `sqlite:${legacy}`, '--target', withPassword, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    for (let i = 0; i + 3 <= password.length; i++) expect(text).not.toContain(password.slice(i, i + 3));
    expect(text).not.toContain(encodeURIComponent(password).slice(0, 6));
    expect(text).not.toContain('***');
    expect(text).toContain("target: env('TARGET_URL')");
    expect(text).toContain(`source: process.env.SOURCE_URL ?? 'sqlite:${legacy}'`);
    // names that hold secrets, and a column whose values are password hashes whatever its name
    expect(text).toMatch(/sensitive: \['password_hash', 'api_key', 'legacy_digest'\]/);

    const unset = await runCli(['backfill', '--config', out], { env: { TARGET_URL: '' } });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/^TANDEM_ERR_CONFIG_INVALID: .*TARGET_URL is not set/m);
    const ok = await runCli(['backfill', '--config', out], { env: { TARGET_URL: withPassword } });
    expect(ok.stderr).not.toMatch(/TANDEM_ERR/);
    expect(ok.code).toBe(0);
    const v = await runCli(['verify', '--config', out], { env: { TARGET_URL: withPassword } });
    expect(v.code).toBe(0);
  });

  it('a sensitive name that is no column is refused with a suggestion, before anything is written', async () => {
    const cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(`sqlite:${legacy}`)},
  target: ${JSON.stringify(tgt.url)},
  entities: { users: { table: 'users', key: 'id', sensitive: ['pasword_hash'], targets: [{ table: 'users', columns: { id: 'id', email: 'email', password_hash: 'password_hash' } }] } },
});
`);
    const r = await runCli(['verify', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^TANDEM_ERR_CONFIG_INVALID: entity users: sensitive column "pasword_hash" .*did you mean "password_hash"/m,
    );
  });

  it('a password hash the target type refuses: stderr and the audit log hold no part of it, the error names entity, table and column', async () => {
    const cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(`sqlite:${legacy}`)},
  target: ${JSON.stringify(tgt.url)},
  entities: { accounts: { table: 'users', key: 'id', sensitive: ['password_hash'], targets: [{ table: 'strict_users', columns: { id: 'id', email: 'email', password_hash: 'password_hash' } }] } },
});
`);
    const r = await runCli(['backfill', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TANDEM_ERR_\w+: .*accounts/);
    expect(r.stderr).toMatch(/strict_users/);
    expect(r.stderr).toMatch(/password_hash/);
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    const audit = (
      await c
        .query(`SELECT coalesce(string_agg(args || ' ' || coalesce(detail, ''), ' '), '') AS t FROM tandem.audit_log`)
        .catch(() => ({ rows: [{ t: '' }] }))
    ).rows[0].t as string;
    await c.end();
    for (const h of HASHES) {
      for (const part of [h.slice(7, 19), h.slice(-12), h.slice(3, 12)]) {
        expect(r.stderr).not.toContain(part);
        expect(audit).not.toContain(part);
      }
    }
  });
});
