import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeConfig } from '../helpers.js';

/**
 * Guarantee 8 ("nothing claimed that was not proven") on real stores, SQLite → SQLite: only an exhaustive mode
 * run to the end may say "match" and exit 0; a partial run says how much it compared (bit 4), a sample or a
 * quick run states its strength (bit 8).
 */
const ROWS = 20_000;

describe('verify reports say only what was proven (SQLite → SQLite)', () => {
  let dir: string;
  let cfg: string;
  let tgtFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tandem-reports-'));
    const srcFile = join(dir, 'src.db');
    tgtFile = join(dir, 'tgt.db');
    const ddl = `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, status VARCHAR(16) NOT NULL, balance DECIMAL(12,2) NOT NULL, version INTEGER NOT NULL)`;
    const s = new Database(srcFile);
    s.exec(ddl);
    const ins = s.prepare('INSERT INTO users VALUES (?, ?, ?, ?, 1)');
    s.transaction(() => {
      for (let i = 1; i <= ROWS; i++)
        ins.run(i, `user${i}@example.com`, i % 3 ? 'active' : 'blocked', ((i * 7) % 1000) + 0.25);
    })();
    s.close();
    const t = new Database(tgtFile);
    t.exec(ddl.replace('version INTEGER NOT NULL', 'legacy_version INTEGER NOT NULL'));
    t.close();
    cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(`sqlite:${srcFile}`)},
  target: ${JSON.stringify(`sqlite:${tgtFile}`)},
  entities: {
    users: { table: 'users', key: 'id', version: 'version',
      targets: [{ table: 'users', columns: { id: 'id', email: 'email', status: 'status', balance: 'balance', legacy_version: 'version' } }] },
  },
});
`);
    const bf = await runCli(['backfill', '--config', cfg]);
    expect(bf.code, bf.stderr).toBe(0);
  });
  afterAll(() => {});

  it('full and checksum at parity: exit 0, "match", exhaustive and complete in the JSON', async () => {
    for (const mode of ['full', 'checksum']) {
      const v = await runCli(['verify', '--config', cfg, '--mode', mode]);
      expect(v.code, mode + v.stderr).toBe(0);
      expect(v.stderr, 'no progress off a terminal').toBe('');
      expect(v.stdout).toContain(
        `parity: 100% — source and target match (every row compared: ${ROWS.toLocaleString('en-US')} source rows)`,
      );
      const j = JSON.parse((await runCli(['verify', '--config', cfg, '--mode', mode, '--json'])).stdout);
      expect(j).toMatchObject({
        mode,
        ok: true,
        complete: true,
        exhaustive: true,
        compared: ROWS,
        rowsTotal: ROWS,
        differenceCount: 0,
        exitCode: 0,
      });
      expect(j.headline).toMatch(/source and target match/);
    }
  });

  it('quick and sample at parity exit 8 and never say "match"', async () => {
    const q = await runCli(['verify', '--config', cfg, '--mode', 'quick']);
    expect(q.code, q.stderr).toBe(8);
    expect(q.stdout).toContain('counts equal (1 table); sums equal (');
    expect(q.stdout).not.toMatch(/\bmatch\b/);
    const s = await runCli(['verify', '--config', cfg, '--mode', 'sample', '--sample', '1000', '--json']);
    expect(s.code, s.stderr).toBe(8);
    const j = JSON.parse(s.stdout);
    expect(j).toMatchObject({ ok: true, complete: true, exhaustive: false, compared: 1000, exitCode: 8 });
    // exact one-sided Clopper–Pearson with no failure: alpha^(1/n)
    expect(j.parityLowerBound).toBeCloseTo(100 * 0.05 ** (1 / 1000), 9);
    expect(j.entities[0].parityLowerBound).toBeCloseTo(100 * 0.05 ** (1 / 1000), 9);
    expect(j.headline).toBe('sample of 1,000 rows: 0 differences; parity ≥ 99.70 % at 95 % confidence');
    const text = await runCli(['verify', '--config', cfg, '--mode', 'sample', '--sample', '1000']);
    expect(text.code).toBe(8);
    expect(text.stdout).toMatch(/^sample of 1,000 rows: 0 differences; parity ≥ 99\.70 % at 95 % confidence$/m);
    expect(text.stdout).not.toMatch(/\bmatch\b/);
    // the audit log keeps it apart from a proof of parity
    const a = new Database(tgtFile, { readonly: true });
    const last = a.prepare(`SELECT outcome, detail FROM "tandem_audit_log" ORDER BY id DESC LIMIT 1`).get() as
      | { outcome: string; detail: string }
      | undefined;
    a.close();
    expect(last?.outcome).toBe('not_exhaustive');
    expect(JSON.parse(last!.detail)).toMatchObject({ exhaustive: false, headline: j.headline });
  });

  it('a partial run (--max-seconds 0) exits with bit 4 and says how much it compared, never "match"', async () => {
    for (const mode of ['full', 'checksum']) {
      const v = await runCli(['verify', '--config', cfg, '--mode', mode, '--max-seconds', '0']);
      expect(v.code, mode + v.stderr).toBe(4);
      expect(v.stdout).toContain(
        `partial: compared 0 of ${ROWS.toLocaleString('en-US')} rows (0.0 %), 0 differences so far — not a proof of parity`,
      );
      expect(v.stdout).not.toMatch(/\bmatch\b/);
      expect(v.stdout).not.toMatch(/parity: 100%/);
    }
    const s = await runCli(['verify', '--config', cfg, '--mode', 'sample', '--max-seconds', '0']);
    expect(s.code).toBe(4 | 8);
    expect(s.stdout).toMatch(/^partial: sampled 0 rows in 0 of 1 entities/m);
    expect(s.stdout).not.toMatch(/\bmatch\b/);
  });

  it('two differing rows in a column quick does not aggregate: full exits 1, quick 8 "counts equal", sample 8 or 9 — never "match"', async () => {
    const t = new Database(tgtFile);
    t.prepare(`UPDATE users SET email = 'changed' || email WHERE id IN (15001, 17001)`).run();
    t.close();
    const f = await runCli(['verify', '--config', cfg, '--mode', 'full', '--json']);
    expect(f.code, f.stderr).toBe(1);
    expect(JSON.parse(f.stdout)).toMatchObject({
      exhaustive: true,
      complete: true,
      differenceCount: 2,
      headline: `parity: differences found — 2 differing keys in ${ROWS.toLocaleString('en-US')} source rows compared (every row)`,
    });
    const c = await runCli(['verify', '--config', cfg, '--mode', 'checksum']);
    expect(c.code).toBe(1);
    expect(c.stdout).not.toMatch(/\bmatch\b/);

    const q = await runCli(['verify', '--config', cfg, '--mode', 'quick', '--json']);
    expect(q.code, q.stderr).toBe(8);
    const qj = JSON.parse(q.stdout);
    expect(qj).toMatchObject({ ok: true, exhaustive: false, compared: 0, exitCode: 8 });
    expect(qj.headline).toMatch(
      /^counts equal \(1 table\); sums equal \(\d+ columns?\); value counts equal \(1 column\) — rows not compared one by one, not a proof of parity$/,
    );
    expect((await runCli(['verify', '--config', cfg, '--mode', 'quick'])).stdout).not.toMatch(/\bmatch\b/);

    // 5 random keys of 20,000 rarely hit one of the two: then 0 differences and exit 8; if they do, exit 9
    const s = await runCli(['verify', '--config', cfg, '--mode', 'sample', '--sample', '5', '--json']);
    const sj = JSON.parse(s.stdout);
    const hit = sj.differenceCount;
    expect(s.code).toBe(hit ? 9 : 8);
    expect(sj.headline).toBe(
      hit
        ? expect.stringMatching(/^sample of 5 rows: [12] differences?; parity ≥ /)
        : 'sample of 5 rows: 0 differences; parity ≥ 54.92 % at 95 % confidence',
    );
    const st = await runCli(['verify', '--config', cfg, '--mode', 'sample', '--sample', '5']);
    expect(st.code! & 8).toBe(8);
    expect(st.stdout).not.toMatch(/\bmatch\b/);
    expect(st.stdout).toMatch(/not every row compared \(--mode sample\): exit code bit 8/);

    // a continuous cycle stopped by its budget states no parity for what it did not compare
    const cy = await runCli([
      'verify',
      '--config',
      cfg,
      '--continuous',
      '--cycles',
      '1',
      '--lag-seconds',
      '0',
      '--max-seconds',
      '0',
    ]);
    expect(cy.code! & 4, cy.stderr).toBe(4);
    expect(cy.stdout).toMatch(
      /^cycle 1 .* \(partial\): users partial: compared 0 rows, 0 differences so far.* — partial: compared 0 of 20,000 rows \(0\.0 %\), 0 differences so far — not a proof of parity$/m,
    );
    expect(cy.stdout).not.toMatch(/parity 100\.000%/);

    // repair with a --limit below the recorded mismatches is partial: bit 4, and says so
    const r1 = await runCli(['repair', '--config', cfg, '--limit', '1']);
    expect(r1.code, r1.stdout + r1.stderr).toBe(4);
    expect(r1.stdout).toContain(
      'users: 1 key(s) (first 1 by --limit; more remain: partial, run repair again): 1 re-applied',
    );
    const r2 = await runCli(['repair', '--config', cfg, '--json']);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout).entities[0]).toMatchObject({ keys: 1, repaired: 1, truncated: false });
    const after = await runCli(['verify', '--config', cfg]);
    expect(after.code).toBe(0);
  });
});
