import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_MARKER } from '../src/demo/folder.js';
import { runCli } from './helpers.js';

describe('tandem demo (SQLite → PGlite, no server)', () => {
  it('migrates synthetic users into a split schema and proves parity; its config runs again', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tandem-demo-')), 'demo');
    const r = await runCli(['demo', '--rows', '3000', '--dir', dir]);
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
    const r = await runCli(['demo', '--rows', '10', '--dir', '.'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_USAGE: --dir .* not empty and was not created by tandem demo/);
    expect(tree(dir)).toEqual(before);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses a file, and a demo folder into which something else was put', async () => {
    const base = mkdtempSync(join(tmpdir(), 'tandem-demo-own-'));
    const file = join(base, 'a-file');
    writeFileSync(file, 'x');
    const f = await runCli(['demo', '--rows', '10', '--dir', file]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/^TANDEM_ERR_USAGE: --dir .* is not a folder/);
    expect(readFileSync(file, 'utf8')).toBe('x');

    const dir = join(base, 'demo');
    const first = await runCli(['demo', '--rows', '20', '--dir', dir]);
    expect(first.code).toBe(0);
    expect(existsSync(join(dir, DEMO_MARKER))).toBe(true);
    // the demo's own folder runs again (its files replaced)
    const again = await runCli(['demo', '--rows', '30', '--dir', dir]);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/rows\s+30 source, 30 target/);
    // …but not once the user put something of their own into it
    writeFileSync(join(dir, 'important.csv'), 'keep me');
    const before = tree(dir);
    const r = await runCli(['demo', '--rows', '10', '--dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_USAGE: .*important\.csv/);
    expect(tree(dir)).toEqual(before);
  });
});
