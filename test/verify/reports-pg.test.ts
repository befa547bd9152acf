import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, runCli, spawnCli, writeConfig } from '../helpers.js';

/**
 * Guarantee 8 on MariaDB → PostgreSQL: a verify stopped by SIGINT says how much it compared and exits with bit
 * 4, never "match"; full parity exits 0 "match"; differences exit 1; a sample that misses them and a quick run
 * whose aggregates cannot see them exit 8 without "match".
 */
const BIG = 300_000;
const SMALL = 2_000;
const noMatch = /\bmatch\b/;

describe('verify reports on MariaDB → PostgreSQL', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let c: pg.Client;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_rp_src');
    const m = await mysql.createConnection({ uri: src.url });
    for (const t of ['big', 'small'])
      await m.query(
        `CREATE TABLE ${t} (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount DECIMAL(12,2) NOT NULL, version INT NOT NULL)`,
      );
    await m.query(`INSERT INTO big SELECT seq, CONCAT('n', seq), (seq % 1000) + 0.5, 1 FROM seq_1_to_${BIG}`);
    await m.query(`INSERT INTO small SELECT seq, CONCAT('n', seq), (seq % 1000) + 0.5, 1 FROM seq_1_to_${SMALL}`);
    await m.end();
    tgt = await createPgDatabase('tandem_rp');
    c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    for (const [t, n] of [
      ['big', BIG],
      ['small', SMALL],
    ] as const) {
      await c.query(
        `CREATE TABLE ${t} (id bigint PRIMARY KEY, name varchar(64) NOT NULL, amount numeric(12,2) NOT NULL, legacy_version int NOT NULL)`,
      );
      await c.query(`INSERT INTO ${t} SELECT g, 'n' || g, (g % 1000) + 0.5, 1 FROM generate_series(1, ${n}) g`);
    }
    const entity = (t: string) =>
      `${t}: { table: '${t}', key: 'id', version: 'version', targets: [{ table: '${t}', columns: { id: 'id', name: 'name', amount: 'amount', legacy_version: 'version' } }] }`;
    cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(src.url)},
  target: ${JSON.stringify(tgt.url)},
  entities: { ${entity('big')}, ${entity('small')} },
});
`);
  });
  afterAll(async () => {
    await c?.end();
    await src?.drop();
    await tgt?.drop();
  });

  it('SIGINT during a full verify: exit bit 4, "partial: compared N of M rows", never "match"', async () => {
    const child = spawnCli(['verify', '--config', cfg, '--entity', 'big', '--mode', 'full']);
    let stdout = '',
      stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    // the verify is reading the target's pages: its keyset query on big is (or was last) on a backend
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await c.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND query LIKE '%FROM "public"."big"%ORDER BY%'`,
        [tgt.name],
      );
      if (r.rows[0].n > 0) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`verify never started reading: ${stderr}`);
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    child.kill('SIGINT');
    const code = await exited;
    expect(code! & 4, stdout + stderr).toBe(4);
    expect(code! & 2).toBe(0);
    const m = stdout.match(
      /^partial: compared ([\d,]+) of 300,000 rows \(([\d.]+) %\), 0 differences so far — not a proof of parity$/m,
    );
    expect(m, stdout).not.toBeNull();
    const n = Number(m![1]!.replace(/,/g, ''));
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(BIG);
    expect(stdout).not.toMatch(noMatch);
    expect(stdout).not.toContain('parity: 100%');
    expect(stdout).toMatch(/big\s+[\d,]+\s+[\d,]+\s+0\s+0\s+0\s+100\.000% so far/);
    const audit = (await c.query(`SELECT outcome, detail FROM tandem.audit_log ORDER BY id DESC LIMIT 1`)).rows[0];
    expect(audit.outcome).toBe('interrupted');
    expect(JSON.parse(audit.detail)).toMatchObject({ complete: false, exhaustive: true, compared: n, rowsTotal: BIG });
  });

  it('checksum stopped by --max-seconds 0: exit 4, nothing claimed', async () => {
    const v = await runCli(['verify', '--config', cfg, '--mode', 'checksum', '--max-seconds', '0', '--json']);
    expect(v.code, v.stderr).toBe(4);
    const j = JSON.parse(v.stdout);
    expect(j).toMatchObject({ complete: false, exhaustive: true, compared: 0, rowsTotal: BIG + SMALL, exitCode: 4 });
    expect(j.headline).toBe(
      `partial: compared 0 of ${(BIG + SMALL).toLocaleString('en-US')} rows (0.0 %), 0 differences so far — not a proof of parity`,
    );
  });

  it('full parity exits 0 "match"; two changed names: full 1, quick 8 "counts equal", sample of 5 exits 8 or 9 — never "match"', async () => {
    const ok = await runCli(['verify', '--config', cfg, '--entity', 'small']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('parity: 100% — source and target match (every row compared: 2,000 source rows)');

    await c.query(`UPDATE small SET name = name || 'x' WHERE id IN (1500, 1700)`);
    const full = await runCli(['verify', '--config', cfg, '--entity', 'small', '--mode', 'full']);
    expect(full.code).toBe(1);
    expect(full.stdout).toContain(
      'parity: differences found — 2 differing keys in 2,000 source rows compared (every row)',
    );
    expect(full.stdout).not.toMatch(noMatch);

    const q = await runCli(['verify', '--config', cfg, '--entity', 'small', '--mode', 'quick']);
    expect(q.code, q.stderr).toBe(8);
    expect(q.stdout).toMatch(
      /^counts equal \(1 table\); sums equal \(3 columns\) — rows not compared one by one, not a proof of parity$/m,
    );
    expect(q.stdout).not.toMatch(noMatch);

    const s = await runCli([
      'verify',
      '--config',
      cfg,
      '--entity',
      'small',
      '--mode',
      'sample',
      '--sample',
      '5',
      '--json',
    ]);
    const sj = JSON.parse(s.stdout);
    expect(s.code).toBe(sj.differenceCount ? 9 : 8);
    expect(sj.exhaustive).toBe(false);
    expect(sj.headline).not.toMatch(noMatch);
    const audit = (await c.query(`SELECT outcome FROM tandem.audit_log ORDER BY id DESC LIMIT 2`)).rows.map(
      (r) => r.outcome,
    );
    expect(audit).toEqual([sj.differenceCount ? 'differences' : 'not_exhaustive', 'not_exhaustive']);
  });
});
