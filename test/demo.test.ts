import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_MARKER } from '../src/demo/folder.js';
import { runCli } from './helpers.js';

describe('tandem demo --only-backfill (SQLite → PGlite, no server)', () => {
  it('migrates synthetic users into a split schema and proves parity; its config runs again', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tandem-demo-')), 'demo');
    const r = await runCli(['demo', '--only-backfill', '--rows', '3000', '--dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rows\s+3,000 source, 3,000 target/);
    expect(r.stdout).toMatch(/parity\s+100\.000%/);
    const cfg = join(dir, 'tandem.config.ts');
    const v = await runCli(['verify', '--config', cfg, '--json']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).entities[0]).toMatchObject({
      entity: 'users',
      sourceRows: 3000,
      targetRows: 3000,
      parity: 100,
    });
    const s = await runCli(['status', '--config', cfg, '--json']);
    const status = JSON.parse(s.stdout);
    expect(status.entities).toEqual([
      expect.objectContaining({ entity: 'users', status: 'done', copied: 3000, total: 3000 }),
    ]);
    expect(status.audit.map((a: { command: string }) => a.command)).toEqual(['verify', 'demo']);
  });
});

describe('tandem demo --dir: removes only what the demo created', () => {
  const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

  it('refuses a folder holding anything it did not create (a repository with .git), leaving it exactly as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-demo-repo-'));
    mkdirSync(join(dir, '.git', 'objects'), { recursive: true });
    writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const before = tree(dir);
    const r = await runCli(['demo', '--only-backfill', '--rows', '10', '--dir', '.'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_USAGE: --dir .* not empty and was not created by tandem demo/);
    expect(tree(dir)).toEqual(before);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses a file, and a demo folder into which something else was put', async () => {
    const base = mkdtempSync(join(tmpdir(), 'tandem-demo-own-'));
    const file = join(base, 'a-file');
    writeFileSync(file, 'x');
    const f = await runCli(['demo', '--only-backfill', '--rows', '10', '--dir', file]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/^TANDEM_ERR_USAGE: --dir .* is not a folder/);
    expect(readFileSync(file, 'utf8')).toBe('x');

    const dir = join(base, 'demo');
    const first = await runCli(['demo', '--only-backfill', '--rows', '20', '--dir', dir]);
    expect(first.code).toBe(0);
    expect(existsSync(join(dir, DEMO_MARKER))).toBe(true);
    // the demo's own folder runs again (its files replaced)
    const again = await runCli(['demo', '--only-backfill', '--rows', '30', '--dir', dir]);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/rows\s+30 source, 30 target/);
    // …but not once the user put something of their own into it
    writeFileSync(join(dir, 'important.csv'), 'keep me');
    const before = tree(dir);
    const r = await runCli(['demo', '--only-backfill', '--rows', '10', '--dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_USAGE: .*important\.csv/);
    expect(tree(dir)).toEqual(before);
  });
});

describe('tandem demo: the whole road', () => {
  it('runs an application throughout backfill → … → cutover → rollback → cutover → legacy read-only; no lost write, parity 100 %', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tandem-road-')), 'demo');
    const t = performance.now();
    const r = await runCli(['demo', '--rows', '5000', '--dir', dir]);
    const seconds = (performance.now() - t) / 1000;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const line = (label: string) => {
      const l = r.stdout.split('\n').find((x) => x.startsWith(label.padEnd(14)));
      expect(l, `report line "${label}"`).toBeDefined();
      return l!.slice(14);
    };
    const lost = /^(\d[\d,]*) of (\d[\d,]*) committed$/.exec(line('lost writes'));
    expect(lost).not.toBeNull();
    expect(lost![1]).toBe('0');
    expect(Number(lost![2]!.replaceAll(',', ''))).toBeGreaterThan(1000);
    const pause = /^cutover p99 (\d+) ms, max (\d+) ms; rollback p99 (\d+) ms, max (\d+) ms$/.exec(line('write pause'));
    expect(pause).not.toBeNull();
    const [cp99, cmax, rp99, rmax] = pause!.slice(1).map(Number) as [number, number, number, number];
    expect(cp99).toBeLessThanOrEqual(cmax);
    expect(rp99).toBeLessThanOrEqual(rmax);
    // held writes wait at most cutover.fenceMs (2000) before running or failing
    expect(Math.max(cmax, rmax)).toBeLessThan(3000);
    const rto = /^(\d+\.\d{1,2}) s$/.exec(line('rollback RTO'));
    expect(rto).not.toBeNull();
    expect(Number(rto![1])).toBeGreaterThanOrEqual(0);
    expect(Number(rto![1])).toBeLessThan(30);
    expect(line('parity')).toBe('100.000%');
    expect(r.stdout).toMatch(/the guard tripped and rolled the canary back to 0 % by itself/);
    expect(r.stdout).toMatch(/canary resumed at 10 %/);
    expect(r.stdout).toMatch(/rehearsal passed/);
    expect(r.stdout).toMatch(/a write on legacy is refused by the database/);
    expect(line('ends in')).toMatch(/^legacy_read_only/);
    expect(seconds).toBeLessThan(120);
    const s = await runCli(['status', '--config', join(dir, 'tandem.config.ts'), '--json']);
    expect(JSON.parse(s.stdout).phase).toBe('legacy_read_only');
  }, 180_000);
});
