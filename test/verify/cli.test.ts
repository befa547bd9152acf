import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';

interface Diff {
  entity: string;
  key: string;
  kind: string;
  columns: { table: string; column: string }[];
}
const summary = (ds: Diff[]) =>
  ds.map((d) => `${d.entity} ${d.key} ${d.kind} ${d.columns.map((c) => `${c.table}.${c.column}`).join(',')}`).sort();

/** String keys whose byte order differs from utf8mb4_unicode_ci's order (case, accents, digits, punctuation). */
const WORDS = [
  'Zeta',
  'alpha',
  'Émile',
  'beta',
  'Ärger',
  'zulu',
  'ñandu',
  'Omega',
  '_under',
  '10x',
  '9x',
  'éclair',
  'Apfel',
  '😀smile',
];
const tagKey = (i: number) => `${WORDS[i % WORDS.length]}-${i}`;

describe('tandem verify --mode checksum|quick|sample, --continuous, tandem repair (MariaDB → PostgreSQL)', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let c: pg.Client;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_vc_src');
    await createLegacyMysql(src.url, 600);
    const m = await mysql.createConnection({ uri: src.url });
    await m.query(
      `CREATE TABLE tags (code VARCHAR(40) NOT NULL PRIMARY KEY, label VARCHAR(100) NULL, weight DECIMAL(8,3) NOT NULL, made DATETIME(3) NOT NULL) COLLATE utf8mb4_unicode_ci`,
    );
    await m.query('INSERT INTO tags VALUES ?', [
      Array.from({ length: 700 }, (_, i) => [
        tagKey(i),
        i % 7 ? `label ${i} ☃` : null,
        (i * 1.25).toFixed(3),
        `2020-01-01 00:00:${String(i % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}`,
      ]),
    ]);
    await m.end();
    tgt = await createPgDatabase('tandem_vc');
    await createNewPostgres(tgt.url);
    c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    await c.query(
      `CREATE TABLE tags (code varchar(40) PRIMARY KEY, label text, weight numeric(8,3) NOT NULL, made timestamp(6) NOT NULL)`,
    );
    const text = fixtureConfig(src.url, tgt.url).replace(
      '  entities: {\n',
      `  entities: {\n    tags: { table: 'tags', key: 'code', targets: [{ table: 'tags', columns: { code: 'code', label: 'label', weight: 'weight', made: 'made' } }] },\n`,
    );
    cfg = writeConfig(text);
    const bf = await runCli(['backfill', '--config', cfg]);
    expect(bf.code, bf.stderr).toBe(0);
  });
  afterAll(async () => {
    await c?.end();
    await src?.drop();
    await tgt?.drop();
  });

  it('checksum exits 0 at parity, quick and sample 8 (not every row compared); checksum pushes down where the mapping is declarative', async () => {
    const v = await runCli(['verify', '--config', cfg, '--mode', 'checksum', '--json']);
    expect(v.code, v.stderr).toBe(0);
    const r = JSON.parse(v.stdout);
    expect(r).toMatchObject({ mode: 'checksum', ok: true, complete: true, exitCode: 0 });
    const by = Object.fromEntries(r.entities.map((e: { entity: string }) => [e.entity, e]));
    expect(by.users).toMatchObject({
      sourceRows: 600,
      targetRows: 600,
      differingSegments: 0,
      parity: 100,
      pushdown: { source: 'stream', targets: { users: 'sql', user_profiles: 'sql' } },
    });
    expect(by.users.notes.join(' ')).toMatch(/display_name is a TypeScript transform; source side streamed/);
    expect(by.memberships).toMatchObject({
      sourceRows: 200,
      pushdown: { source: 'sql', targets: { memberships: 'sql' } },
    });
    expect(by.tags).toMatchObject({
      sourceRows: 700,
      targetRows: 700,
      pushdown: { source: 'sql', targets: { tags: 'sql' } },
    });

    const text = await runCli(['verify', '--config', cfg, '--mode', 'checksum']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /entity\s+source rows\s+target rows\s+segments\s+diff segments\s+missing\s+extra\s+different\s+parity\s+time/,
    );
    expect(text.stdout).toMatch(/tags\s+700\s+700\s+\d+\s+0\s+0\s+0\s+0\s+100\.000%/);

    const q = await runCli(['verify', '--config', cfg, '--mode', 'quick', '--json']);
    expect(q.code, q.stdout + q.stderr).toBe(8);
    const qr = JSON.parse(q.stdout);
    // rows ×2 tables, sums, status values
    expect(qr.entities.find((e: { entity: string }) => e.entity === 'users').aggregates).toBeGreaterThanOrEqual(4);
    const s = await runCli(['verify', '--config', cfg, '--mode', 'sample', '--sample', '50', '--json']);
    expect(s.code, s.stderr).toBe(8);
    expect(JSON.parse(s.stdout).entities.find((e: { entity: string }) => e.entity === 'users')).toMatchObject({
      sampled: 50,
      parity: 100,
    });
  });

  it('finds exactly the keys and columns the full verify finds, records them, and repair fixes them', async () => {
    await c.query(`UPDATE users SET balance = balance + 0.01 WHERE id = 3`);
    await c.query(`UPDATE users SET password_hash = 'tampered' WHERE id = 8`);
    await c.query(`UPDATE user_profiles SET bio = CASE WHEN bio IS NULL THEN '' ELSE NULL END WHERE user_id = 9`);
    await c.query(`UPDATE users SET created_at = created_at + interval '1 microsecond' WHERE id = 10`);
    await c.query(`DELETE FROM memberships WHERE user_id = 12`);
    await c.query(`DELETE FROM user_profiles WHERE user_id = 12`);
    await c.query(`DELETE FROM users WHERE id = 12`);
    await c.query(
      `INSERT INTO users SELECT 100000, organisation_id, 'extra@example.com', password_hash, status, balance, created_at, updated_at, origin FROM users WHERE id = 1`,
    );
    await c.query(`UPDATE tags SET label = 'LABEL' WHERE code = $1`, [tagKey(5)]);
    await c.query(`UPDATE tags SET made = made + interval '1 millisecond' WHERE code = $1`, [tagKey(13)]);
    await c.query(`DELETE FROM tags WHERE code = $1`, [tagKey(300)]);
    await c.query(`INSERT INTO tags VALUES ('Zeta-9999', NULL, 1, '2020-01-01')`);

    // the streamed comparison is the reference the checksum tier must agree with
    const full = await runCli(['verify', '--config', cfg, '--mode', 'full', '--json', '--max-differences', '100']);
    const cs = await runCli(['verify', '--config', cfg, '--mode', 'checksum', '--json']);
    expect(cs.code, cs.stderr).toBe(1);
    const f = JSON.parse(full.stdout);
    const r = JSON.parse(cs.stdout);
    expect(summary(r.differences)).toEqual(summary(f.differences));
    expect(r.differences.length).toBe(11);
    const users = r.entities.find((e: { entity: string }) => e.entity === 'users');
    expect(users).toMatchObject({ sourceRows: 600, missing: 1, extra: 1, different: 4, complete: true });
    expect(users.parity).toBeCloseTo((595 / 601) * 100, 6);
    expect(users.differingSegments).toBeGreaterThanOrEqual(1);
    expect(r.entities.find((e: { entity: string }) => e.entity === 'tags')).toMatchObject({
      missing: 1,
      extra: 1,
      different: 2,
    });
    expect(cs.stdout).not.toContain('tampered');

    // budgets: a partial report, exit bit 4
    const b = await runCli(['verify', '--config', cfg, '--mode', 'checksum', '--max-differences', '2', '--json']);
    expect(b.code).toBe(5);
    const br = JSON.parse(b.stdout);
    expect(br).toMatchObject({ ok: false, complete: false, exitCode: 5 });
    expect(br.differences.length).toBeGreaterThanOrEqual(2);
    const t0 = await runCli(['verify', '--config', cfg, '--mode', 'checksum', '--max-seconds', '0']);
    expect(t0.code).toBe(4);
    expect(t0.stdout).toContain('partial');

    // quick finds the aggregates that moved; sample over every key finds the rows
    const q = await runCli(['verify', '--config', cfg, '--mode', 'quick', '--json']);
    expect(q.code).toBe(1 | 8);
    const aggs = JSON.parse(q.stdout).aggregates.map(
      (a: { table: string; column: string; aggregate: string }) => `${a.table}.${a.column}:${a.aggregate}`,
    );
    expect(aggs).toEqual(expect.arrayContaining(['users.balance:sum', 'memberships.(rows):count', 'tags.weight:sum']));
    const s = await runCli([
      'verify',
      '--config',
      cfg,
      '--mode',
      'sample',
      '--sample',
      '700',
      '--entity',
      'users',
      '--json',
    ]);
    expect(s.code).toBe(1 | 8);
    expect(JSON.parse(s.stdout).entities[0]).toMatchObject({ sampled: 600, missing: 1, different: 4 });

    // the differences are confirmed mismatches (no lag window): dry run, then repair
    const dry = await runCli(['repair', '--config', cfg, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would insert ["12"]');
    expect(dry.stdout).toContain('would delete ["100000"]');
    expect(dry.stdout).toMatch(/would update \["3"\]: users\.balance/);
    expect(dry.stdout).toContain(`would update ["${tagKey(5)}"]: tags.label`);
    expect(dry.stdout).not.toContain('tampered');
    const rep = await runCli(['repair', '--config', cfg, '--json']);
    expect(rep.code, rep.stdout + rep.stderr).toBe(0);
    const rr = JSON.parse(rep.stdout);
    const ru = rr.entities.find((e: { entity: string }) => e.entity === 'users');
    expect(ru).toMatchObject({ keys: 6, repaired: 6, deleted: 1, stillDifferent: [], failed: [] });
    expect((await c.query(`SELECT password_hash FROM users WHERE id = 8`)).rows[0].password_hash).not.toBe('tampered');

    const after = await runCli(['verify', '--config', cfg, '--mode', 'checksum']);
    expect(after.code, after.stdout).toBe(0);
    const fullAfter = await runCli(['verify', '--config', cfg, '--mode', 'full']);
    expect(fullAfter.code).toBe(0);
    const states = (await c.query(`SELECT state, count(*)::int AS n FROM tandem.mismatches GROUP BY state`)).rows;
    expect(states).toEqual([{ state: 'repaired', n: 11 }]);
    const audit = (await c.query(`SELECT command, outcome FROM tandem.audit_log ORDER BY id DESC LIMIT 3`)).rows;
    expect(audit.map((a) => `${a.command}:${a.outcome}`)).toEqual(['verify:ok', 'verify:ok', 'repair:ok']);
  });

  it('--continuous records pending keys, confirms them after the lag window, publishes parity; exits 1 with confirmed mismatches', async () => {
    await c.query(`UPDATE users SET status = 'tampered2' WHERE id = 20`);
    const pending = await runCli([
      'verify',
      '--config',
      cfg,
      '--continuous',
      '--cycles',
      '1',
      '--lag-seconds',
      '60',
      '--entity',
      'users',
      '--json',
    ]);
    expect(pending.code, pending.stderr).toBe(0);
    const p1 = JSON.parse(pending.stdout.trim().split('\n').pop()!);
    expect(p1.mismatches.users).toMatchObject({ pending: 1, confirmed: 0 });
    const v = await runCli([
      'verify',
      '--config',
      cfg,
      '--continuous',
      '--cycles',
      '2',
      '--interval',
      '0',
      '--lag-seconds',
      '0',
      '--entity',
      'users',
      '--json',
    ]);
    expect(v.code, v.stderr).toBe(1);
    const lines = v.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBe(2);
    expect(lines[1].mismatches.users).toMatchObject({ confirmed: 1 });
    expect(lines[1].pass.entities[0].parity).toBeCloseTo((599 / 600) * 100, 6);
    expect(lines[1].metrics.tandem_verify_parity_ratio).toEqual([{ labels: { entity: 'users' }, value: 599 / 600 }]);
    const text = await runCli([
      'verify',
      '--config',
      cfg,
      '--continuous',
      '--cycles',
      '1',
      '--lag-seconds',
      '0',
      '--entity',
      'users',
    ]);
    expect(text.stdout).toMatch(/^cycle 1 .*users parity 99\.833%.*confirmed 1/m);
    const rep = await runCli(['repair', '--config', cfg, '--entity', 'users']);
    expect(rep.code, rep.stdout + rep.stderr).toBe(0);
    expect(rep.stdout).toMatch(/users: 1 key\(s\): 1 re-applied, 0 deleted, 1 repaired/);
  });

  it('--continuous takes its interval and lag window from the config (verify.intervalSeconds, verify.lagSeconds); the flags override them', async () => {
    await c.query(`UPDATE users SET status = 'tampered3' WHERE id = 21`);
    const withVerify = (block: string) =>
      writeConfig(readFileSync(cfg, 'utf8').replace('  entities: {\n', `  verify: ${block},\n  entities: {\n`));
    const cycles = (out: string) =>
      out
        .trim()
        .split('\n')
        .map(
          (l) => JSON.parse(l) as { startedAt: string; mismatches: { users: { pending: number; confirmed: number } } },
        );
    // from the config: passes 1.5 s apart (the default is 60 s), and no lag window: confirmed at once (the
    // default window, 30 s, would leave the key pending in both passes and exit 0)
    const fromConfig = await runCli([
      'verify',
      '--config',
      withVerify('{ intervalSeconds: 1.5, lagSeconds: 0 }'),
      '--continuous',
      '--cycles',
      '2',
      '--entity',
      'users',
      '--json',
    ]);
    expect(fromConfig.code, fromConfig.stderr).toBe(1);
    const a = cycles(fromConfig.stdout);
    expect(a).toHaveLength(2);
    // the interval is measured start to start on one clock (Date.now of one process): a 1 ms grid at most
    expect(Date.parse(a[1]!.startedAt) - Date.parse(a[0]!.startedAt)).toBeGreaterThanOrEqual(1499);
    expect(a.map((x) => x.mismatches.users)).toMatchObject([
      { pending: 0, confirmed: 1 },
      { pending: 0, confirmed: 1 },
    ]);
    // the flags override a config that says 10 minutes apart and a 10-minute lag: done within this test's time
    const overridden = await runCli([
      'verify',
      '--config',
      withVerify('{ intervalSeconds: 600, lagSeconds: 600 }'),
      '--continuous',
      '--cycles',
      '2',
      '--interval',
      '0',
      '--lag-seconds',
      '0',
      '--entity',
      'users',
      '--json',
    ]);
    expect(overridden.code, overridden.stderr).toBe(1);
    expect(cycles(overridden.stdout).map((x) => x.mismatches.users.confirmed)).toEqual([1, 1]);
    // and without a flag the config's lag applies: a key first seen now stays pending
    await runCli(['repair', '--config', cfg, '--entity', 'users']);
    await c.query(`UPDATE users SET status = 'tampered4' WHERE id = 22`);
    const lagged = await runCli([
      'verify',
      '--config',
      withVerify('{ lagSeconds: 600 }'),
      '--continuous',
      '--cycles',
      '2',
      '--interval',
      '0',
      '--entity',
      'users',
      '--json',
    ]);
    expect(lagged.code, lagged.stderr).toBe(0);
    expect(cycles(lagged.stdout).map((x) => x.mismatches.users)).toMatchObject([
      { pending: 1, confirmed: 0 },
      { pending: 1, confirmed: 0 },
    ]);
    const rep = await runCli(['repair', '--config', cfg, '--entity', 'users']);
    expect(rep.code, rep.stdout + rep.stderr).toBe(0);
  });

  it('rejects bad options with TANDEM_ERR_USAGE and exit 2', async () => {
    for (const args of [
      ['--mode', 'nope'],
      ['--continuous', '--mode', 'full'],
      ['--max-seconds', '-1'],
      ['--interval', '5'],
    ]) {
      const v = await runCli(['verify', '--config', cfg, ...args]);
      expect(v.code, args.join(' ')).toBe(2);
      expect(v.stderr).toMatch(/^TANDEM_ERR_USAGE: /);
    }
  });
});
