import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from './fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';

describe('verify', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let secretHash: string;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_vf_src');
    await createLegacyMysql(src.url, 600);
    tgt = await createPgDatabase('tandem_vf');
    await createNewPostgres(tgt.url);
    cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    const bf = await runCli(['backfill', '--config', cfg]);
    expect(bf.code).toBe(0);
  });
  afterAll(async () => {
    await src?.drop();
    await tgt?.drop();
  });

  it('exits 0 at full parity', async () => {
    const v = await runCli(['verify', '--config', cfg]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/users\s+600\s+600\s+0\s+0\s+0\s+100\.000%/);
  });

  it('finds missing, extra and different rows, names the columns, redacts sensitive ones, exits 1', async () => {
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    secretHash = (await c.query(`SELECT password_hash FROM users WHERE id = 8`)).rows[0].password_hash;
    await c.query(`UPDATE users SET balance = balance + 0.01 WHERE id = 3`);
    await c.query(`UPDATE users SET password_hash = 'tampered' WHERE id = 8`);
    await c.query(`UPDATE user_profiles SET bio = CASE WHEN bio IS NULL THEN '' ELSE NULL END WHERE user_id = 9`); // NULL and '' differ
    await c.query(`UPDATE users SET created_at = created_at + interval '1 microsecond' WHERE id = 10`);
    await c.query(`DELETE FROM memberships WHERE user_id = 12`);
    await c.query(`DELETE FROM user_profiles WHERE user_id = 12`);
    await c.query(`DELETE FROM users WHERE id = 12`);
    await c.query(
      `INSERT INTO users SELECT 100000, organisation_id, 'extra@example.com', password_hash, status, balance, created_at, updated_at, origin FROM users WHERE id = 1`,
    );
    await c.end();

    const v = await runCli(['verify', '--config', cfg, '--entity', 'users', '--json']);
    expect(v.code).toBe(1);
    const r = JSON.parse(v.stdout);
    expect(r.ok).toBe(false);
    expect(r.entities[0]).toMatchObject({
      entity: 'users',
      sourceRows: 600,
      targetRows: 600,
      missing: 1,
      extra: 1,
      different: 4,
    });
    expect(r.entities[0].parity).toBeCloseTo((595 / 601) * 100, 6);
    const byKey = Object.fromEntries(r.differences.map((d: { key: string }) => [d.key, d]));
    expect(byKey['["3"]'].columns).toEqual([
      { table: 'users', column: 'balance', source: expect.any(String), target: expect.any(String) },
    ]);
    expect(byKey['["8"]'].columns).toEqual([
      { table: 'users', column: 'password_hash', source: '[redacted]', target: '[redacted]' },
    ]);
    expect(byKey['["9"]'].columns.map((x: { column: string }) => x.column)).toEqual(['bio']);
    expect(byKey['["10"]'].columns[0]).toMatchObject({ column: 'created_at' });
    expect(byKey['["10"]'].columns[0].target).not.toBe(byKey['["10"]'].columns[0].source);
    expect(byKey['["12"]'].kind).toBe('missing');
    expect(byKey['["100000"]'].kind).toBe('extra');
    // the sensitive values appear nowhere in the output
    expect(v.stdout).not.toContain(secretHash);
    expect(v.stdout).not.toContain('tampered');

    const text = await runCli(['verify', '--config', cfg, '--entity', 'users']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/users\s+600\s+600\s+1\s+1\s+4\s+99\.001%/);
    expect(text.stdout).toContain('users ["3"]: users.balance');
    expect(text.stdout).toContain('missing in target');
  });

  it('exits 2 on an error', async () => {
    const bad = writeConfig(fixtureConfig(src.url, tgt.url.replace(/\/[^/]+$/, '/tandem_no_such_db')));
    const v = await runCli(['verify', '--config', bad]);
    expect(v.code).toBe(2);
    expect(v.stderr.trim()).toMatch(/^TANDEM_ERR_STORE_DATABASE_NOT_FOUND: /);
  });
});
