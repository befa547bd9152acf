import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
    expect(JSON.parse(v.stdout).entities[0]).toMatchObject({ entity: 'users', sourceRows: 3000, targetRows: 3000, parity: 100 });
    const s = await runCli(['status', '--config', cfg, '--json']);
    const status = JSON.parse(s.stdout);
    expect(status.entities).toEqual([expect.objectContaining({ entity: 'users', status: 'done', copied: 3000, total: 3000 })]);
    expect(status.audit.map((a: { command: string }) => a.command)).toEqual(['verify', 'demo']);
  });
});
